// The parts the overview and the app page share: an app's state badge, its instances table, its
// two rate charts and its last restart.
import { html } from 'htm/preact';
import { Chart } from './chart.js';
import { ago, bytes, duration, latest, percent, rate } from './format.js';
import { state } from './store.js';

/** What each app state means, in a few words (shown beside the badge). */
export const STATE_HELP = {
  running: 'serving',
  restarting: 'restart under way, still serving',
  starting: 'starting: no instance serves yet',
  stopping: 'draining and stopping',
  stopped: 'stopped by an operator',
  fatal: 'gave up: nothing starts until you act',
};

/** The app's state as a coloured badge with its name written out (never colour alone). */
export function StateBadge({ value, big = false }) {
  return html`<span class=${`badge state-${value}${big ? ' big' : ''}`} data-state=${value}><span class="dot" aria-hidden="true"></span>${value}</span>`;
}

/** An instance's state, smaller. */
export function InstanceState({ value }) {
  return html`<span class=${`istate istate-${value}`}>${value}</span>`;
}

/** The instances table: id, pid, port, state, time in state, CPU, RSS. `*` marks those getting new work. */
export function Instances({ app }) {
  if (app.instances.length === 0) return html`<p class="muted small">No instance.</p>`;
  return html`<div class="table-wrap"><table class="instances">
    <thead><tr><th>instance</th><th>pid</th><th class="col-port">port</th><th>state</th><th>in state</th><th>CPU</th><th>RSS</th></tr></thead>
    <tbody>${app.instances.map((i) => html`<tr key=${i.id} data-instance=${i.id}>
      <td class="mono">${i.id}${i.active ? html`<span class="active" title="gets new work">●</span>` : ''}</td>
      <td class="mono" data-field="pid">${i.pid ?? '—'}</td>
      <td class="mono col-port">${i.port}</td>
      <td><${InstanceState} value=${i.state} /></td>
      <td>${duration(i.sinceMs)}</td>
      <td title=${i.cpuSeconds === null ? '' : `${i.cpuSeconds.toFixed(2)} s of CPU in all`}>${percent(state.cpu[i.id])}</td>
      <td>${bytes(i.rssBytes)}</td>
    </tr>`)}</tbody>
  </table></div>`;
}

/** Requests per second and error rate over the last minutes, with their latest values. */
export function RateCharts({ name, height = 64 }) {
  const s = state.series[name] ?? { t: [], rps: [], err: [] };
  const minutes = Math.round((state.sampleMs * 300) / 60000);
  const errNow = latest(s.err);
  return html`<div class="charts">
    <figure>
      <figcaption><span>requests/s</span><strong data-field="rps">${rate(latest(s.rps))}</strong></figcaption>
      <${Chart} t=${s.t} values=${s.rps} color="#2f81f7" minMax=${1} height=${height} label=${`requests per second of ${name}, last ${minutes} minutes`} />
    </figure>
    <figure>
      <figcaption><span>errors</span><strong class=${errNow > 0 ? 'bad' : ''}>${percent(errNow)}</strong></figcaption>
      <${Chart} t=${s.t} values=${s.err} color="#e5534b" minMax=${5} height=${height} label=${`error rate of ${name}, last ${minutes} minutes`} />
    </figure>
  </div>
  <p class="muted tiny">last ${minutes} min, sampled every ${state.sampleMs / 1000} s while a dashboard is open</p>`;
}

/** The last restart: when, how long, result. */
export function LastRestart({ name }) {
  const list = state.restarts[name] ?? [];
  const r = list[list.length - 1];
  if (!r) return html`<span class="muted">no restart yet</span>`;
  const result = r.result === 'running' ? html`<span class="running">in progress</span>` : r.result === 'succeeded' ? html`<span class="ok">ok</span>` : html`<span class="bad">${r.result}${r.error ? `: ${r.error.code}` : ''}</span>`;
  return html`<span data-field="last-restart">${ago(r.startedAt)} · ${r.durationMs === null ? '…' : duration(r.durationMs)} · ${result}</span>`;
}

/** The facts of an app beside its name: address, engine, restarts, connections (and requests), last restart. */
export function Facts({ app, requests = false }) {
  return html`<dl class="facts">
    <div><dt>address</dt><dd class="mono">${app.address}</dd></div>
    <div><dt>engine</dt><dd>${app.engine}</dd></div>
    <div><dt>restarts</dt><dd>${app.restarts}</dd></div>
    <div><dt>connections</dt><dd>${app.stats.connections}</dd></div>
    ${requests ? html`<div><dt>requests</dt><dd>${app.stats.requests}</dd></div>` : ''}
    <div class="wide"><dt>last restart</dt><dd><${LastRestart} name=${app.name} /></dd></div>
  </dl>`;
}
