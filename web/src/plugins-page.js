// `gracevisorctl plugins list` as a page, with the loaded configuration's check result: which file,
// since when, and how each reload since went (every problem of one that did not load).
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ago, clock } from './format.js';
import { getJson, state } from './store.js';

function ConfigCheck({ config }) {
  const last = config.reloads[config.reloads.length - 1];
  return html`<article class="card" data-config-check>
    <h2>Configuration</h2>
    <p class=${last && !last.ok ? 'bad' : 'ok'}><strong>${last && !last.ok ? 'the last reload failed; the config loaded before it still runs' : 'configuration ok'}</strong></p>
    <dl class="facts">
      <div class="wide"><dt>file</dt><dd class="mono">${config.file}</dd></div>
      <div><dt>loaded</dt><dd>${ago(config.loadedAt)}</dd></div>
      <div><dt>apps</dt><dd>${config.apps}</dd></div>
    </dl>
    ${config.reloads.length === 0 ? html`<p class="muted">No reload since the daemon started.</p>` : html`<h3>Reloads</h3><ol class="activity">${[...config.reloads].reverse().map((r) => html`<li class=${r.ok ? 'ok' : 'bad'}>
      <time>${clock(r.at)}</time> ${r.ok ? `ok: added ${r.added.length}, removed ${r.removed.length}, changed ${r.changed.length}, unchanged ${r.unchanged.length}` : 'failed, nothing was changed:'}
      ${r.ok ? '' : html`<ul class="problems">${r.errors.map((e) => html`<li class="mono">${e.pos ? `${e.pos.file}:${e.pos.line}:${e.pos.col}: ` : ''}${e.code}: ${e.message}</li>`)}</ul>`}
    </li>`)}</ol>`}
  </article>`;
}

export function PluginsPage() {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const reloads = state.events.filter((e) => e.event === 'config_reloaded' || e.event === 'reload_failed').length;
  useEffect(() => {
    getJson('/api/plugins').then(setData, (e) => setError(e.message));
  }, [reloads]);
  if (error) return html`<p class="bad">${error}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  return html`<section>
    <${ConfigCheck} config=${data.config} />
    <article class="card">
      <h2>Plugins</h2>
      <div class="table-wrap"><table class="plugins">
        <thead><tr><th>id</th><th>plugin</th><th>used by</th><th>available</th><th>description</th></tr></thead>
        <tbody>${data.plugins.map((p) => html`<tr key=${p.id} data-plugin=${p.id}>
          <td class="mono">${p.id}</td>
          <td class="mono">${p.plugin}</td>
          <td>${p.usedBy?.length ? p.usedBy.join(', ') : html`<span class="muted">—</span>`}</td>
          <td>${p.available ? html`<span class="ok">yes</span>` : html`<span class="bad">no${p.reason ? `: ${p.reason}` : ''}</span>`}</td>
          <td>${p.description ?? ''}</td>
        </tr>`)}</tbody>
      </table></div>
    </article>
  </section>`;
}
