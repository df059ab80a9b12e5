// End-to-end harness: a real gracevisord (the build output) on a temporary config, driven by the real
// gracevisorctl binary. The daemon and every app instance it starts are tracked
// (test/helpers/registry.ts): its run_dir's state.json is watched from before it starts, so an
// instance is known from the moment it is spawned; in teardown, and synchronously when the test
// process exits (tap's timeout included), the daemon is stopped with its whole tree and every instance
// process group is SIGKILLed. The internal port range is a claimed, collision-free slot
// (test/helpers/ports.ts).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { procStart } from '../helpers/leftovers.mjs';
import { claimPortRange } from '../helpers/ports.js';
import { killNow, killRunDir, track, trackRunDir } from '../helpers/registry.js';
import { within } from '../helpers/wait.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const GRACEVISORD = join(ROOT, 'dist', 'cli', 'gracevisord.js');
export const GRACEVISORCTL = join(ROOT, 'dist', 'cli', 'gracevisorctl.js');
export const DEMOAPP = join(ROOT, 'examples', 'demoapp.mjs');
/** The purpose-built test app (test/fixtures/apps/behave.mjs). */
export const BEHAVE = join(ROOT, 'test', 'fixtures', 'apps', 'behave.mjs');
/**
 * How app commands run node: without tap's NODE_OPTIONS (its process-info hook) an app starts several
 * times faster; `env` execs, so the pid is the app's.
 */
export const NODE_BARE = `/usr/bin/env -u NODE_OPTIONS ${process.execPath}`;

/**
 * The freshness check and the build, as one script run under a lock file: suites starting in
 * parallel build at most once between them (the later ones find dist/ fresh once they get the lock),
 * and never run tsc into one dist/ at the same time.
 */
const BUILD_IF_STALE = `
const { existsSync, statSync, readdirSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');
const newest = (dir) => readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
  const p = join(dir, e.name);
  return Math.max(m, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') || e.name.endsWith('.js') ? statSync(p).mtimeMs : 0);
}, 0);
const bins = ['dist/cli/gracevisord.js', 'dist/cli/gracevisorctl.js'];
const fresh = bins.every((b) => existsSync(b) && statSync(b).mtimeMs >= newest('src') - 1);
if (!fresh) {
  const r = spawnSync('npm', ['run', 'build'], { stdio: 'pipe', encoding: 'utf8' });
  process.stdout.write(r.stdout + r.stderr);
}
`;

/**
 * Build when dist/ is missing or older than src/. tsc writes dist/ even when another part of the
 * tree has a type error; the two binaries existing is what these tests need.
 */
export function ensureBuild(): void {
  let r = spawnSync('flock', ['/tmp/gv-build.lock', process.execPath, '-e', BUILD_IF_STALE], { cwd: ROOT, encoding: 'utf8' });
  // No flock(1) on this machine: build without the lock.
  if (r.error) r = spawnSync(process.execPath, ['-e', BUILD_IF_STALE], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(GRACEVISORD) || !existsSync(GRACEVISORCTL)) throw new Error(`npm run build produced no binaries:\n${r.stdout}\n${r.stderr}`);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * An internal port range below Linux's ephemeral range (32768+) so that no outgoing connection holds
 * one of its ports, claimed with a lock file so that no other test process on the machine gets an
 * overlapping one (test/helpers/ports.ts). Held until the process exits; TestDaemon releases its own
 * at teardown.
 */
export function randomPortRange(width = 40): { from: number; to: number } {
  const { from, to } = claimPortRange(width);
  return { from, to };
}

/** True while `pid` is a live (non-zombie) process. */
export function alive(pid: number): boolean {
  return procStart(pid) !== null;
}

/** Poll `cond` every 50 ms until true or `ms` passes (generous: other suites may load the machine); resolves with the last answer. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (bounded: SIGKILLed after `timeoutMs`), collecting its output. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CtlResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** One line of the daemon's log: `<time> <LEVEL> <message> key=value…`. */
export interface LogLine {
  time: string;
  level: string;
  msg: string;
  /** The key=value fields (JSON-quoted values unquoted), e.g. `event`, `code`, `signal`. */
  fields: Record<string, string>;
  line: string;
}

const LOG_LINE = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (DEBUG|INFO|WARN|ERROR) (.*)$/;
const FIELD = / ([a-zA-Z_][\w]*)=("(?:[^"\\]|\\.)*"|[^\s"=]+)/g;

/** Parse the daemon log lines in `text` (other lines are skipped). */
export function parseLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    const m = LOG_LINE.exec(line);
    if (!m) continue;
    const fields: Record<string, string> = {};
    let msgEnd = m[3]!.length;
    for (const f of m[3]!.matchAll(FIELD)) {
      msgEnd = Math.min(msgEnd, f.index!);
      let v = f[2]!;
      if (v.startsWith('"')) {
        try {
          v = JSON.parse(v) as string;
        } catch {
          // keep as written
        }
      }
      fields[f[1]!] = v;
    }
    out.push({ time: m[1]!, level: m[2]!, msg: m[3]!.slice(0, msgEnd), fields, line });
  }
  return out;
}

/** A field matcher: the exact value, or a pattern it matches. */
export type FieldMatch = Record<string, string | number | RegExp>;

/** True when `l`'s fields match every one of `want`. */
export function matches(l: LogLine, want: FieldMatch): boolean {
  return Object.entries(want).every(([k, v]) => {
    const got = l.fields[k];
    if (got === undefined) return false;
    return v instanceof RegExp ? v.test(got) : got === String(v);
  });
}

/** One app entry of a test config. */
export interface TestApp {
  name: string;
  port: number;
  /** The command line; default: the demo app. */
  command?: string;
  /** Default 5s. */
  stopTimeout?: string;
  /** Default 5s. */
  drainTimeout?: string;
  /** The http health check path (default /health); null: none (readiness is a TCP connect). */
  healthcheck?: string | null;
  /** Extra YAML lines for the app, indented by the caller's choice (each one key). */
  extra?: string[];
}

/** The YAML keys of one app, one per line, unindented. */
function appLines(app: TestApp): string[] {
  const hc = app.healthcheck === undefined ? '/health' : app.healthcheck;
  return [
    `name: ${app.name}`,
    `command: ${app.command ?? `${NODE_BARE} ${DEMOAPP} --port={port}`}`,
    ...(hc === null ? [] : [`healthcheck: ${hc}`]),
    `external_host: 127.0.0.1`,
    `external_port: ${app.port}`,
    `stop_timeout: ${app.stopTimeout ?? '5s'}`,
    `drain_timeout: ${app.drainTimeout ?? '5s'}`,
    // A stopped app answers 503 after this long instead of holding requests for the default 10 s.
    `queue_timeout: 500ms`,
    ...(app.extra ?? []),
  ];
}

/** The YAML of one app, as an entry of `apps:`. */
export function appYaml(app: TestApp): string {
  return appLines(app).map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`)).join('\n') + '\n';
}

/** The YAML of a file holding one app, for `gracevisorctl add FILE`. */
export function appFileYaml(app: TestApp): string {
  return appLines(app).join('\n') + '\n';
}

/** A daemon under test, with its temp folder and the ctl that talks to it. */
export class TestDaemon {
  readonly dir: string;
  readonly socket: string;
  readonly range: { from: number; to: number };
  readonly #t: Tap.Test;
  child: ChildProcess | null = null;
  /** Everything the daemon wrote to stdout and stderr (its log lines go to stderr). */
  output = '';
  exit: Promise<{ code: number | null; signal: string | null }> | null = null;
  /** Every app pid ever seen in `status`, so tests can assert none survives. */
  readonly seenPids = new Set<number>();
  rpcExtra: string[] = [];

  private constructor(t: Tap.Test, dir: string) {
    this.#t = t;
    this.dir = dir;
    this.socket = join(dir, 'ctl.sock');
    const r = claimPortRange(40, t);
    this.range = { from: r.from, to: r.to };
  }

  /** A fresh temp folder; `t.teardown` kills everything and removes it. */
  static async create(t: Tap.Test): Promise<TestDaemon> {
    const dir = await mkdtemp(join(tmpdir(), 'gv-e2e-'));
    const d = new TestDaemon(t, dir);
    t.teardown(async () => {
      d.kill();
      await rm(dir, { recursive: true, force: true });
    });
    return d;
  }

  get confFile(): string {
    return join(this.dir, 'gracevisor.yaml');
  }

  get runDir(): string {
    return join(this.dir, 'run');
  }

  get logDir(): string {
    return join(this.dir, 'log');
  }

  /** Write the main config with these apps (and any extra top-level YAML; `loggerExtra` adds keys to the global logger). */
  async writeConfig(apps: TestApp[], extraTop = '', loggerExtra: string[] = []): Promise<void> {
    const rpc = ['rpc:', `  socket: ${this.socket}`, ...this.rpcExtra.map((l) => `  ${l}`)].join('\n');
    const text = [
      `port_range: { from: ${this.range.from}, to: ${this.range.to} }`,
      `run_dir: ${this.runDir}`,
      rpc,
      'logger:',
      `  log_dir: ${this.logDir}`,
      ...loggerExtra.map((l) => `  ${l}`),
      extraTop,
      'apps:',
      apps.map(appYaml).join(''),
    ].join('\n');
    await writeFile(this.confFile, text);
  }

  /** Start gracevisord and wait until its control socket answers. */
  async start(opts: { env?: NodeJS.ProcessEnv; gracevisord?: string; args?: string[] } = {}): Promise<void> {
    // Watch the run_dir before anything can be spawned: every instance is known the moment it exists.
    trackRunDir(this.#t, this.runDir, `gracevisord ${this.dir}`);
    const child = spawn(process.execPath, [opts.gracevisord ?? GRACEVISORD, '--conf', this.dir, ...(opts.args ?? [])], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    this.child = child;
    track(this.#t, child.pid!, { label: `gracevisord ${this.dir}` });
    child.stdout!.on('data', (c) => (this.output += c));
    child.stderr!.on('data', (c) => (this.output += c));
    this.exit = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    const up = await waitFor(async () => {
      if (child.exitCode !== null) return true;
      return (await this.ctl('status', '--json')).code === 0;
    }, 30_000);
    if (!up || child.exitCode !== null) throw new Error(`gracevisord did not come up:\n${this.output}`);
    await this.recordPids();
  }

  /** Run gracevisorctl against this daemon's socket. */
  ctl(...args: string[]): Promise<CtlResult> {
    return run(process.execPath, [GRACEVISORCTL, '--socket', this.socket, ...args]);
  }

  /** Start gracevisorctl against this daemon without waiting (a `logs -f`, a restart left running); tracked and killed at teardown. */
  spawnCtl(...args: string[]): ChildProcess {
    const child = spawn(process.execPath, [GRACEVISORCTL, '--socket', this.socket, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    track(this.#t, child.pid!, { label: `gracevisorctl ${args.join(' ')}` });
    return child;
  }

  /** Parsed `status --json`, remembering every pid seen. */
  async status(app?: string): Promise<any[]> {
    const r = await this.ctl('status', ...(app ? [app] : []), '--json');
    // The exit status may tell the apps' health (a fatal app); the data is what this wants.
    let apps: any[] | null = null;
    try {
      apps = JSON.parse(r.stdout) as any[];
    } catch {
      // not the data
    }
    if (!Array.isArray(apps)) throw new Error(`status failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
    for (const a of apps) for (const i of a.instances) if (i.pid) this.seenPids.add(i.pid);
    return apps;
  }

  async recordPids(): Promise<void> {
    await this.status().catch(() => undefined);
  }

  /** Pids of the serving instances of `app`. */
  async servingPids(app: string): Promise<number[]> {
    const [a] = await this.status(app);
    return a.instances.filter((i: any) => i.state === 'serving').map((i: any) => i.pid);
  }

  /** The daemon's log lines so far (from its stderr), parsed. */
  log(): LogLine[] {
    return parseLog(this.output);
  }

  /** Log lines carrying `event=<event>` whose fields match `fields`. */
  events(event: string, fields: FieldMatch = {}): LogLine[] {
    return this.log().filter((l) => matches(l, { event, ...fields }));
  }

  /** Wait (bounded) for a log line with `event=<event>` and `fields`; rejects with the log so far. */
  async waitForEvent(event: string, fields: FieldMatch = {}, ms = 30_000): Promise<LogLine> {
    let found: LogLine | undefined;
    const ok = await waitFor(() => (found = this.events(event, fields)[0]) !== undefined, ms);
    if (!ok || !found) throw new Error(`no log line event=${event} ${JSON.stringify(fields, (_, v) => (v instanceof RegExp ? String(v) : v))} within ${ms} ms; the log:\n${this.output.slice(-4000)}`);
    return found;
  }

  /** The daemon's exit, or a rejection after `ms` (a daemon that does not stop is a failure, not a hang). */
  exited(ms = 60_000): Promise<{ code: number | null; signal: string | null }> {
    if (!this.exit) return Promise.reject(new Error('the daemon was not started'));
    return within(this.exit, ms, 'gracevisord exit');
  }

  /**
   * Kill the daemon with everything it started (stopped first, so nothing escapes) and every instance
   * its run_dir ever listed, by process group. Synchronous; never throws.
   */
  kill(): void {
    if (this.child) killNow(this.child.pid!);
    // The daemon the holder runs is in its own process group: found by its command line.
    for (const pid of daemonProcesses(this.dir)) killNow(pid);
    killRunDir(this.runDir);
  }
}

/** Pids of the gracevisord processes (a holder and the daemons it runs) started with `--conf` `dir` or a file in it. */
export function daemonProcesses(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('gracevisord.js')) && argv.some((a) => a === dir || a.startsWith(`${dir}/`))) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out.sort((a, b) => a - b);
}
