// The dashboard's entry: the shell (header, navigation, connection state) and hash routes —
// #/ the overview, #/app/NAME one app, #/plugins plugins and the config check.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { AppPage } from './app-page.js';
import { Overview } from './overview.js';
import { PluginsPage } from './plugins-page.js';
import { connect, loadSession, state, useStore } from './store.js';

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function route(hash) {
  const m = /^#\/app\/(.+)$/.exec(hash);
  if (m) return { page: 'app', name: decodeURIComponent(m[1]) };
  if (hash === '#/plugins') return { page: 'plugins' };
  return { page: 'overview' };
}

async function logout() {
  await fetch('/logout', { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': state.csrf ?? '' } }).catch(() => undefined);
  location.href = '/';
}

function Shell() {
  useStore();
  const r = route(useHash());
  useEffect(() => {
    document.title = r.page === 'app' ? `${r.name} · gracevisor` : 'gracevisor';
    scrollTo(0, 0);
  }, [r.page, r.name]);
  const link = state.link;
  return html`<div class="shell">
    <header class="top">
      <a class="brand" href="#/"><img src="/favicon.svg" alt="" width="22" height="22" />gracevisor</a>
      <nav>
        <a href="#/" class=${r.page === 'overview' ? 'here' : ''}>Overview</a>
        <a href="#/plugins" class=${r.page === 'plugins' ? 'here' : ''}>Plugins</a>
      </nav>
      <span class=${`link link-${link}`} data-link=${link} title="the live event stream"><span class="dot"></span>${link}</span>
      <button type="button" class="ghost small" onClick=${logout}>Log out</button>
    </header>
    <main>
      ${r.page === 'app' ? html`<nav class="crumbs"><a href="#/">Overview</a> / <span>${r.name}</span></nav><${AppPage} name=${r.name} />` : r.page === 'plugins' ? html`<${PluginsPage} />` : html`<${Overview} />`}
    </main>
    <footer class="muted tiny">gracevisor ${state.version}</footer>
  </div>`;
}

loadSession();
connect();
// Preact renders beside what is in the root, not over it: the "Loading…" placeholder goes first.
const root = document.getElementById('root');
root.replaceChildren();
render(html`<${Shell} />`, root);
