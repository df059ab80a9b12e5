// The overview: every app at a glance — state, address, engine, instances, rates, last restart,
// last error — and a summary line counting apps per state.
import { html } from 'htm/preact';
import { Facts, Instances, RateCharts, STATE_HELP, StateBadge } from './ui.js';
import { state } from './store.js';

const ORDER = ['fatal', 'starting', 'stopping', 'restarting', 'stopped', 'running'];

function Summary({ apps }) {
  const counts = {};
  for (const a of apps) counts[a.state] = (counts[a.state] ?? 0) + 1;
  return html`<p class="summary">
    <strong>${apps.length} app${apps.length === 1 ? '' : 's'}</strong>
    ${ORDER.filter((s) => counts[s]).map((s) => html`<span class=${`count state-${s}`}>${counts[s]} ${s}</span>`)}
  </p>`;
}

function AppCard({ app }) {
  const href = `#/app/${encodeURIComponent(app.name)}`;
  return html`<article class=${`card app state-${app.state}`} data-app=${app.name}>
    <header class="card-head">
      <${StateBadge} value=${app.state} big />
      <h2><a href=${href}>${app.name}</a></h2>
      <span class="muted help">${STATE_HELP[app.state] ?? ''}</span>
    </header>
    <${Facts} app=${app} />
    <${RateCharts} name=${app.name} />
    <${Instances} app=${app} />
    ${app.lastError ? html`<p class="last-error"><strong>last error</strong> ${app.lastError}</p>` : ''}
  </article>`;
}

export function Overview() {
  const apps = state.apps;
  if (state.link === 'connecting') return html`<p class="muted">Connecting…</p>`;
  if (apps.length === 0) return html`<p class="muted">This daemon has no apps.</p>`;
  return html`<section>
    <${Summary} apps=${apps} />
    <div class="cards">${apps.map((a) => html`<${AppCard} key=${a.name} app=${a} />`)}</div>
  </section>`;
}
