// The page's state, kept live by one server-sent-events stream (GET /api/live): `hello` brings
// everything (status, the kept rates, restart timelines, recent events), then `tick` every second
// (a status snapshot and one rate point per app), `restart` (a timeline that changed) and `event`
// (each daemon event as it happens). Components read `state` and re-render on `subscribe`.
import { useEffect, useReducer } from 'preact/hooks';

/** Rate points kept per app (one a second). */
const POINTS = 300;
/** Events kept for the activity lists and action progress. */
const EVENTS = 500;

export const state = {
  /** 'connecting' | 'live' | 'reconnecting' */
  link: 'connecting',
  apps: [],
  series: {},
  restarts: {},
  events: [],
  /** CPU % per instance id, from two consecutive snapshots. */
  cpu: {},
  sampleMs: 1000,
  csrf: null,
  version: '',
};

const listeners = new Set();
let scheduled = false;

/** Re-render every subscriber, once per animation frame at most. */
function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const fn of listeners) fn();
  });
}

/** Re-render the calling component whenever the state changes. */
export function useStore() {
  const [, force] = useReducer((n) => n + 1, 0);
  useEffect(() => {
    listeners.add(force);
    return () => listeners.delete(force);
  }, []);
  return state;
}

let lastCpu = new Map();

/** CPU % of each instance between the previous snapshot and this one. */
function cpuFrom(apps, at) {
  const next = new Map();
  const out = {};
  for (const a of apps) {
    for (const i of a.instances) {
      if (i.cpuSeconds === null) continue;
      next.set(i.id, { at, cpu: i.cpuSeconds });
      const prev = lastCpu.get(i.id);
      if (prev && at > prev.at) out[i.id] = Math.max(0, ((i.cpuSeconds - prev.cpu) / ((at - prev.at) / 1000)) * 100);
      else if (state.cpu[i.id] !== undefined) out[i.id] = state.cpu[i.id];
    }
  }
  lastCpu = next;
  return out;
}

function onHello(d) {
  state.apps = d.apps;
  state.sampleMs = d.sampleMs;
  state.series = {};
  for (const [name, s] of Object.entries(d.series)) state.series[name] = { t: [...s.t], rps: [...s.rps], err: [...s.err] };
  state.restarts = d.restarts;
  state.events = d.events.slice(-EVENTS);
  state.cpu = cpuFrom(d.apps, d.at);
  state.link = 'live';
}

function onTick(d) {
  state.apps = d.apps;
  state.cpu = cpuFrom(d.apps, d.at);
  for (const [name, [t, rps, err]] of Object.entries(d.points)) {
    const s = (state.series[name] ??= { t: [], rps: [], err: [] });
    s.t.push(t);
    s.rps.push(rps);
    s.err.push(err);
    if (s.t.length > POINTS) {
      s.t.shift();
      s.rps.shift();
      s.err.shift();
    }
  }
  for (const name of Object.keys(state.series)) if (!(name in d.points)) delete state.series[name];
}

function onRestart(r) {
  const list = (state.restarts[r.app] ??= []);
  const i = list.findIndex((x) => x.id === r.id);
  if (i >= 0) list[i] = r;
  else list.push(r);
  if (list.length > 20) list.shift();
}

function onEvent(e) {
  state.events.push(e);
  if (state.events.length > EVENTS) state.events.shift();
}

/** A 401 means the session ended: the page itself answers with the login form then. */
async function checkSession() {
  const r = await fetch('/api/session', { credentials: 'same-origin' }).catch(() => null);
  if (r && r.status === 401) location.reload();
  return r;
}

/** Open the live stream, and keep it open (EventSource reconnects by itself; a refusal gets a new one). */
export function connect() {
  const es = new EventSource('/api/live');
  const on = (name, fn) =>
    es.addEventListener(name, (m) => {
      fn(JSON.parse(m.data));
      changed();
    });
  on('hello', onHello);
  on('tick', onTick);
  on('restart', onRestart);
  on('event', onEvent);
  es.onerror = () => {
    state.link = 'reconnecting';
    changed();
    if (es.readyState === EventSource.CLOSED) {
      // Refused (a 401 or a 503 when too many pages are open): ask why, then try again.
      setTimeout(async () => {
        await checkSession();
        connect();
      }, 3000);
    }
  };
}

/** Load the session's CSRF token (needed by every action). */
export async function loadSession() {
  const r = await checkSession();
  if (r && r.ok) {
    const s = await r.json();
    state.csrf = s.csrf;
    state.version = s.version;
    changed();
  }
}

/** GET a JSON API. Rejects with the server's error message. */
export async function getJson(path) {
  const r = await fetch(path, { credentials: 'same-origin' });
  if (r.status === 401) location.reload();
  const body = await r.json();
  if (!r.ok) throw new Error(body?.error?.message ?? `HTTP ${r.status}`);
  return body;
}

/** POST an action with the session's CSRF token. Resolves with `{ ok, status, body }`. */
export async function postAction(path) {
  if (!state.csrf) await loadSession();
  const r = await fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': state.csrf ?? '' } });
  if (r.status === 401) location.reload();
  let body = null;
  try {
    body = await r.json();
  } catch {
    // an empty answer
  }
  return { ok: r.ok, status: r.status, body };
}

/** The events of one app with a seq above `since`. */
export function eventsOf(app, since = 0) {
  return state.events.filter((e) => e.app === app && e.seq > since);
}

/** The highest event seq seen. */
export function lastSeq() {
  return state.events.length ? state.events[state.events.length - 1].seq : 0;
}
