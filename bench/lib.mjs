// Helpers shared by the benchmark's subjects (bench/subjects.mjs, bench/splice-subjects.mjs):
// free loopback ports, child processes that print "ready PORT", throwaway nginx/haproxy configs, and
// the keep-alive load the daemon benchmarks (daemon-restart, soak, restart-load) send through a restart.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** True when `cmd` is on PATH. */
export function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** A loopback TCP port nothing listens on right now. */
export async function freePort() {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Resolve once 127.0.0.1:port accepts a connection (or throw after `ms`). */
export async function waitForPort(port, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port }, () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port} after ${ms} ms`);
    await sleep(20);
  }
}

/**
 * Start a child process and return { child, stop }. When `readyLine` is true the child must print
 * `ready PORT` on stdout; otherwise pass `port` to wait until it accepts connections.
 */
export async function startProcess(cmd, args, { port, readyLine = false, env } = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = once(child, 'exit').then(([code, signal]) => { throw new Error(`${cmd} exited (${code ?? signal}) before it was ready: ${stderr.trim()}`); });
  exited.catch(() => {});
  let readyPort = port;
  if (readyLine) {
    const lines = createInterface({ input: child.stdout });
    const ready = new Promise((resolve) => lines.on('line', (l) => { const m = /^ready (\d+)/.exec(l); if (m) resolve(Number(m[1])); }));
    readyPort = await Promise.race([ready, exited]);
  } else {
    child.stdout.resume();
    await Promise.race([waitForPort(port), exited]);
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = once(child, 'exit');
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await gone;
    clearTimeout(t);
  };
  return { child, port: readyPort, stop };
}

/** The temp paths every throwaway nginx config needs, under `dir`, tagged with its port. */
function nginxTemps(dir, tag) {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${dir}/nginx-${tag}-${k};`).join('\n');
}

/**
 * Start nginx (one worker) answering every request on 127.0.0.1:listen with a fixed 200 body: the
 * benchmark's fast backend, so that the proxy, not the backend, is what is measured.
 */
export async function startNginxBackend(dir, listen) {
  const conf = join(dir, `nginx-backend-${listen}.conf`);
  writeFileSync(conf, `worker_processes 1;
daemon off;
pid ${dir}/nginx-backend-${listen}.pid;
error_log ${dir}/nginx-backend-${listen}-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
${nginxTemps(dir, `backend-${listen}`)}
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:${listen} backlog=4096;
    location / { return 200 "hello\n"; }
  }
}
`);
  return startProcess('nginx', ['-e', `${dir}/nginx-backend-${listen}-error.log`, '-p', dir, '-c', conf], { port: listen });
}

/** Start Caddy (`reverse_proxy`, GOMAXPROCS=1, admin and automatic HTTPS off) on 127.0.0.1:listen to 127.0.0.1:upstream. */
export async function startCaddy(dir, listen, upstream) {
  const conf = join(dir, `Caddyfile-${listen}`);
  writeFileSync(conf, `{
  admin off
  auto_https off
}
http://127.0.0.1:${listen} {
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:${upstream}
}
`);
  return startProcess('caddy', ['run', '--adapter', 'caddyfile', '--config', conf], { port: listen, env: { GOMAXPROCS: '1', XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir, HOME: dir } });
}

/**
 * CPU seconds (user + system) used so far by process `pid` and every descendant it has now (nginx's
 * workers, the daemon's apps), from /proc; Linux only (NaN elsewhere). Clock ticks are 100 a second
 * on Linux (USER_HZ).
 */
export function treeCpuSeconds(pid) {
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    return NaN;
  }
  const children = new Map();
  const ticks = new Map();
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after "(comm) ": state ppid … utime (12th) stime (13th).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(f[1]);
    ticks.set(Number(d), Number(f[11]) + Number(f[12]));
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(d));
  }
  if (!ticks.has(pid)) return NaN;
  let total = 0;
  for (const stack = [pid]; stack.length > 0;) {
    const p = stack.pop();
    total += ticks.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total / 100;
}

/** Start nginx (one worker) proxying 127.0.0.1:listen to 127.0.0.1:upstream with upstream keep-alive. */
export async function startNginx(dir, listen, upstream) {
  const conf = join(dir, `nginx-${listen}.conf`);
  writeFileSync(conf, `worker_processes 1;
daemon off;
pid ${dir}/nginx-${listen}.pid;
error_log ${dir}/nginx-${listen}-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
${nginxTemps(dir, listen)}
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:${upstream}; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${listen};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`);
  return startProcess('nginx', ['-e', `${dir}/nginx-${listen}-error.log`, '-p', dir, '-c', conf], { port: listen });
}

/**
 * Start haproxy (one thread) on 127.0.0.1:listen to 127.0.0.1:upstream in `mode` ('http' | 'tcp').
 * `extra` lines go into the backend section (the splice subjects add `option splice-auto` there).
 */
export async function startHaproxy(dir, mode, listen, upstream, { extraDefaults = [], extraBackend = [] } = {}) {
  const conf = join(dir, `haproxy-${listen}.cfg`);
  writeFileSync(conf, `global
  maxconn 8192
  nbthread 1
defaults
  mode ${mode}
  timeout connect 5s
  timeout client 60s
  timeout server 60s
${mode === 'http' ? '  option http-keep-alive\n  option forwardfor\n' : ''}${extraDefaults.map((l) => `  ${l}\n`).join('')}frontend in
  bind 127.0.0.1:${listen}
  default_backend app
backend app
${mode === 'http' ? '  http-reuse always\n' : ''}${extraBackend.map((l) => `  ${l}\n`).join('')}  server s1 127.0.0.1:${upstream}
`);
  return startProcess('haproxy', ['-db', '-f', conf], { port: listen });
}

/**
 * gracevisord (from dist/, under its holder) in a throwaway folder with one app "web", the WebSocket
 * test app (test/fixtures/apps/ws-app.mjs: GET /, /slow?ms=N, WebSocket echo). Returns the folder,
 * the app's public port, the port range, the control socket, the holder's child process, what it
 * logged so far, and stop() (SIGTERM; removes the folder). `appKeys`: more YAML keys of the app.
 */
export async function startWsDaemon(tag, appKeys = []) {
  const repo = new URL('..', import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), `gv-${tag}-`));
  const publicPort = await freePort();
  const range = { from: 42000 + Math.floor(Math.random() * 1000) * 10, size: 10 };
  const socket = join(dir, 'control.sock');
  writeFileSync(join(dir, 'gracevisor.yaml'), [
    `run_dir: ${dir}/run`,
    `port_range: { from: ${range.from}, to: ${range.from + range.size - 1} }`,
    `rpc: { socket: ${socket} }`,
    `logger: { log_dir: ${dir}/log }`,
    'apps:',
    '  - name: web',
    `    command: ${process.execPath} ${join(repo, 'test/fixtures/apps/ws-app.mjs')} --port={port}`,
    '    healthcheck: /health',
    '    external_host: 127.0.0.1',
    `    external_port: ${publicPort}`,
    ...appKeys.map((k) => `    ${k}`),
    '',
  ].join('\n'));
  const child = spawn(process.execPath, [join(repo, 'dist/cli/gracevisord.js'), '--conf', join(dir, 'gracevisor.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const stop = () => new Promise((r) => {
    const done = () => { rmSync(dir, { recursive: true, force: true }); r(); };
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', done);
    child.kill('SIGTERM');
  });
  // Interrupted (Ctrl-C, timeout): stop the daemon this script started, then exit.
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void stop().then(() => process.exit(130)));
  await waitForPort(publicPort, 30_000);
  return { dir, publicPort, range, socket, child, log: () => log, stop };
}

/** GET `path` on 127.0.0.1:`port` through `agent` (Node's global agent without one): null for a 200, else what went wrong. */
export function getStatus(port, path, agent) {
  return new Promise((res) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode === 200 ? null : `status ${r.statusCode}`));
      r.on('error', (e) => res(e.code ?? e.message));
    });
    req.on('error', (e) => res(e.code ?? e.message));
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/**
 * `clients` keep-alive clients, each on its own connection, sending GET / to 127.0.0.1:`port` one
 * after another until stop(). `load` counts the requests, the failed ones, and the failures by what
 * went wrong.
 */
export function keepAliveLoad(port, clients) {
  const load = { requests: 0, failed: 0, errors: {} };
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (running) {
      const err = await getStatus(port, '/', agent);
      load.requests++;
      if (err) {
        load.failed++;
        load.errors[err] = (load.errors[err] ?? 0) + 1;
      }
    }
    agent.destroy();
  });
  return {
    load,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
