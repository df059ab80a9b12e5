// One app: its state and the buttons that change it (restart, stop, start — each confirmed, its
// progress streamed in from the event stream), instances, rates, the restart timeline with each
// step's duration, the live log tail (stdout and stderr, each line marked with its instance), its
// recent activity, and its config as resolved.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { clock, describe, duration } from './format.js';
import { eventsOf, getJson, lastSeq, postAction, state } from './store.js';
import { Facts, Instances, RateCharts, STATE_HELP, StateBadge } from './ui.js';

const ACTIONS = {
  restart: { label: 'Restart', question: 'A new instance starts on a free port; traffic moves to it once it is ready, and the old one drains, then stops.' },
  stop: { label: 'Stop', question: 'Its instances drain, then stop. The public address stays open and answers 503 (http) or refuses (tcp).' },
  start: { label: 'Start', question: 'Its instances start again.' },
};

function allowed(action, appState) {
  if (action === 'start') return appState === 'stopped' || appState === 'fatal';
  if (action === 'stop') return appState !== 'stopped';
  return appState !== 'stopped' && appState !== 'stopping';
}

function Actions({ app }) {
  const [confirm, setConfirm] = useState(null);
  const [action, setAction] = useState(null);
  const busy = action !== null && action.result === null;

  const run = async (kind) => {
    setConfirm(null);
    const since = lastSeq();
    setAction({ kind, since, result: null });
    const r = await postAction(`/api/apps/${encodeURIComponent(app.name)}/${kind}`).catch((err) => ({ ok: false, status: 0, body: { error: { message: String(err) } } }));
    setAction({ kind, since, result: r });
  };

  return html`<div class="actions-box">
    <div class="actions">
      ${Object.entries(ACTIONS).map(([kind, a]) => html`<button type="button" class=${kind === 'stop' ? 'danger' : ''} data-action=${kind}
        disabled=${busy || !allowed(kind, app.state)} onClick=${() => setConfirm(kind)}>${a.label}</button>`)}
    </div>
    ${confirm ? html`<div class="confirm" role="alertdialog" aria-label=${`${ACTIONS[confirm].label} ${app.name}?`}>
      <p><strong>${ACTIONS[confirm].label} ${app.name}?</strong> ${ACTIONS[confirm].question}</p>
      <button type="button" class=${confirm === 'stop' ? 'danger' : 'primary'} data-confirm=${confirm} onClick=${() => run(confirm)}>Yes, ${confirm} ${app.name}</button>
      <button type="button" class="ghost" onClick=${() => setConfirm(null)}>Cancel</button>
    </div>` : ''}
    ${action ? html`<${Progress} app=${app.name} action=${action} onClose=${busy ? null : () => setAction(null)} />` : ''}
  </div>`;
}

/** What an action is doing, step by step, from the events that arrived since it was clicked. */
function Progress({ app, action, onClose }) {
  const lines = eventsOf(app, action.since).map((e) => ({ e, d: describe(e) })).filter((x) => x.d);
  const r = action.result;
  let outcome = null;
  if (r) {
    const b = r.body ?? {};
    if (!r.ok) outcome = { tone: 'bad', text: `${action.kind} refused: ${b.error?.code ?? `HTTP ${r.status}`} ${b.error?.message ?? ''}` };
    else if (action.kind === 'restart') outcome = b.ok ? { tone: 'ok', text: `restarted in ${duration(b.durationMs)}; serving: ${b.serving.join(', ')}${b.coalesced ? ' (joined a restart already running)' : ''}` } : { tone: 'bad', text: `restart failed: ${b.error?.code ?? ''} ${b.error?.message ?? ''}; the old instance keeps serving` };
    else outcome = { tone: 'ok', text: `${action.kind === 'stop' ? 'stopped' : 'started'}: ${b.app?.state ?? ''}` };
  }
  return html`<div class="progress" data-progress=${action.kind} aria-live="polite">
    <div class="progress-head"><strong>${action.kind}</strong>${r ? '' : html`<span class="spinner" aria-label="in progress"></span>`}
      ${onClose ? html`<button type="button" class="ghost small" onClick=${onClose}>dismiss</button>` : ''}</div>
    <ol>${lines.map(({ e, d }) => html`<li key=${e.seq} class=${d.tone ?? ''}><time>${clock(e.at)}</time> ${d.text}</li>`)}</ol>
    ${outcome ? html`<p class=${`outcome ${outcome.tone}`} data-outcome=${outcome.tone}>${outcome.text}</p>` : ''}
  </div>`;
}

/** The restarts, newest first: each step's share of the time as a bar, and its duration. */
function Timeline({ name }) {
  const list = [...(state.restarts[name] ?? [])].reverse().slice(0, 8);
  if (list.length === 0) return html`<p class="muted">No restart since the daemon started.</p>`;
  return html`<ol class="timeline">${list.map((r) => {
    const total = r.steps.reduce((n, s) => n + s.ms, 0) || 1;
    return html`<li key=${r.id} data-restart=${r.id}>
      <div class="restart-head">
        <time>${clock(r.startedAt)}</time>
        <span class="muted">${r.reason}</span>
        <span class=${`result ${r.result}`}>${r.result === 'running' ? 'in progress' : r.result}</span>
        <span class="muted">${r.durationMs === null ? '' : duration(r.durationMs)}</span>
        ${r.error ? html`<span class="bad small">${r.error.code}: ${r.error.message}</span>` : ''}
      </div>
      <div class="bar" aria-hidden="true">${r.steps.map((s, i) => html`<span key=${i} class=${`seg seg-${s.step}${s.ok ? '' : ' seg-bad'}`} style=${{ flexGrow: Math.max(s.ms, total * 0.03) }}></span>`)}</div>
      <ul class="steps">${r.steps.map((s, i) => html`<li key=${i} class=${s.ok ? '' : 'bad'} title=${s.detail ?? ''}>
        <span class=${`key seg-${s.step}`}></span>${s.step}${s.instance ? html` <span class="muted">${s.instance}</span>` : ''} <strong>${duration(s.ms)}</strong>
      </li>`)}</ul>
    </li>`;
  })}</ol>`;
}

const LINE = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (\S+) (out|err) (.*)$/;
const MAX_LINES = 500;

/** The live tail of stdout and stderr, merged; each line shows its instance and stream. */
function Logs({ name }) {
  const [lines, setLines] = useState([]);
  const [status, setStatus] = useState('connecting');
  const pre = useRef(null);
  const stick = useRef(true);

  useEffect(() => {
    setLines([]);
    const es = new EventSource(`/api/apps/${encodeURIComponent(name)}/logs?n=200`);
    es.addEventListener('open', () => {
      setStatus('live');
      setLines([]);
    });
    es.addEventListener('lines', (m) => {
      const text = JSON.parse(m.data).text;
      const add = text.split('\n').filter((l) => l !== '');
      setLines((old) => [...old, ...add].slice(-MAX_LINES));
    });
    es.onerror = () => setStatus(es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    return () => es.close();
  }, [name]);

  useEffect(() => {
    const el = pre.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });

  const onScroll = () => {
    const el = pre.current;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  };

  return html`<div>
    <p class="muted tiny">stdout and stderr, merged in time order · ${status}${lines.length ? ` · last ${lines.length} lines` : ''}</p>
    <div class="logs" ref=${pre} onScroll=${onScroll} data-logs=${name}>${lines.length === 0 ? html`<span class="muted">No output yet.</span>` : lines.map((l, i) => {
      const m = LINE.exec(l);
      if (!m) return html`<div key=${i} class="line">${l}</div>`;
      return html`<div key=${i} class=${`line ${m[3]}`}><time>${m[1].slice(11, 19)}</time> <span class="inst">${m[2]}</span> <span class="stream">${m[3]}</span> ${m[4]}</div>`;
    })}</div>
  </div>`;
}

function Activity({ name }) {
  const lines = eventsOf(name).map((e) => ({ e, d: describe(e) })).filter((x) => x.d).slice(-30).reverse();
  if (lines.length === 0) return html`<p class="muted">Nothing yet.</p>`;
  return html`<ol class="activity">${lines.map(({ e, d }) => html`<li key=${e.seq} class=${d.tone ?? ''}><time>${clock(e.at)}</time> ${d.text}</li>`)}</ol>`;
}

function Config({ name }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const reloads = state.events.filter((e) => e.event === 'config_reloaded').length;
  useEffect(() => {
    getJson(`/api/apps/${encodeURIComponent(name)}`).then(setData, (e) => setError(e.message));
  }, [name, reloads]);
  if (error) return html`<p class="bad">${error}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  if (!data.config) return html`<p class="muted">Added at run time (gracevisorctl add), not from the config file.</p>`;
  const at = data.definedAt;
  return html`<div>
    ${at ? html`<p class="muted tiny">defined at <span class="mono">${at.file}:${at.line}</span></p>` : ''}
    <pre class="config">${JSON.stringify(data.config, null, 2)}</pre>
  </div>`;
}

export function AppPage({ name }) {
  const app = state.apps.find((a) => a.name === name);
  if (state.link === 'connecting') return html`<p class="muted">Connecting…</p>`;
  if (!app) return html`<p>No app named <strong>${name}</strong>. <a href="#/">Back to the overview</a></p>`;
  return html`<section class="app-page" data-app=${name}>
    <header class=${`page-head card state-${app.state}`}>
      <div class="title">
        <${StateBadge} value=${app.state} big />
        <h1>${name}</h1>
        <span class="muted help">${STATE_HELP[app.state] ?? ''}</span>
      </div>
      <${Facts} app=${app} requests />
      ${app.lastError ? html`<p class="last-error"><strong>last error</strong> ${app.lastError}</p>` : ''}
      <${Actions} app=${app} />
    </header>
    <div class="grid2">
      <article class="card"><h2>Instances</h2><${Instances} app=${app} /></article>
      <article class="card"><h2>Traffic</h2><${RateCharts} name=${name} height=${80} /></article>
    </div>
    <article class="card"><h2>Restarts</h2><${Timeline} name=${name} /></article>
    <article class="card"><h2>Log</h2><${Logs} name=${name} /></article>
    <div class="grid2">
      <article class="card"><h2>Activity</h2><${Activity} name=${name} /></article>
      <article class="card"><h2>Config, as resolved</h2><${Config} name=${name} /></article>
    </div>
  </section>`;
}
