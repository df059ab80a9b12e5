// End-to-end harness: a real gracevisord (the build output) on a temporary config, driven by the real
// gracevisorctl binary. Every process it starts is killed by pid in teardown, the daemon's app
// instances too (their pids are read from `status --json` before the daemon is killed).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const GRACEVISORD = join(ROOT, 'dist', 'cli', 'gracevisord.js');
export const GRACEVISORCTL = join(ROOT, 'dist', 'cli', 'gracevisorctl.js');
export const DEMOAPP = join(ROOT, 'examples', 'demoapp.mjs');

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
 * A random internal port range, narrow, below Linux's ephemeral range (32768+) so that no outgoing
 * connection holds one of its ports, and random so that parallel suites rarely meet.
 */
export function randomPortRange(width = 40): { from: number; to: number } {
  const from = 20000 + Math.floor(Math.random() * 300) * 40;
  return { from, to: from + width - 1 };
}

/** True while `pid` is a live (non-zombie) process. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie still answers kill(0); it is gone for our purposes.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
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

/** Run a command to completion (bounded), collecting its output. */
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

/** One app entry of a test config. */
export interface TestApp {
  name: string;
  port: number;
  /** The command line; default: the demo app. */
  command?: string;
  /** Default 5s. */
  stopTimeout?: string;
  /** Extra YAML lines for the app, indented by the caller's choice (each one key). */
  extra?: string[];
}

/** The YAML keys of one app, one per line, unindented. */
function appLines(app: TestApp): string[] {
  return [
    `name: ${app.name}`,
    // Without tap's NODE_OPTIONS (its process-info hook) the app starts several times faster; the
    // daemon keeps them, so its coverage is still measured.
    `command: ${app.command ?? `/usr/bin/env -u NODE_OPTIONS ${process.execPath} ${DEMOAPP} --port={port}`}`,
    `healthcheck: /health`,
    `external_host: 127.0.0.1`,
    `external_port: ${app.port}`,
    `stop_timeout: ${app.stopTimeout ?? '5s'}`,
    `drain_timeout: 5s`,
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
  readonly range = randomPortRange();
  child: ChildProcess | null = null;
  output = '';
  exit: Promise<{ code: number | null; signal: string | null }> | null = null;
  /** Every app pid ever seen, so teardown can make sure none survives. */
  readonly seenPids = new Set<number>();
  rpcExtra: string[] = [];

  private constructor(dir: string) {
    this.dir = dir;
    this.socket = join(dir, 'ctl.sock');
  }

  /** A fresh temp folder; `t.teardown` kills everything and removes it. */
  static async create(t: Tap.Test): Promise<TestDaemon> {
    const dir = await mkdtemp(join(tmpdir(), 'gv-e2e-'));
    const d = new TestDaemon(dir);
    t.teardown(async () => {
      await d.kill();
      await rm(dir, { recursive: true, force: true });
    });
    return d;
  }

  get confFile(): string {
    return join(this.dir, 'gracevisor.yaml');
  }

  /** Write the main config with these apps (and any extra top-level YAML). */
  async writeConfig(apps: TestApp[], extraTop = ''): Promise<void> {
    const rpc = ['rpc:', `  socket: ${this.socket}`, ...this.rpcExtra.map((l) => `  ${l}`)].join('\n');
    const text = [
      `port_range: { from: ${this.range.from}, to: ${this.range.to} }`,
      `run_dir: ${join(this.dir, 'run')}`,
      rpc,
      'logger:',
      `  log_dir: ${join(this.dir, 'log')}`,
      extraTop,
      'apps:',
      apps.map(appYaml).join(''),
    ].join('\n');
    await writeFile(this.confFile, text);
  }

  /** Start gracevisord and wait until its control socket answers. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, [GRACEVISORD, '--conf', this.dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    // Safety net for a test process that ends without its teardown (a teardown that threw, tap's
    // timeout): a synchronous kill in 'exit' still runs and leaves no daemon behind.
    const onExit = (): void => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
    process.once('exit', onExit);
    child.once('exit', () => process.off('exit', onExit));
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

  /** Parsed `status --json`, remembering every pid seen. */
  async status(app?: string): Promise<any[]> {
    const r = await this.ctl('status', ...(app ? [app] : []), '--json');
    if (r.code !== 0) throw new Error(`status failed: ${r.stderr}`);
    const apps = JSON.parse(r.stdout) as any[];
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

  /** Kill the daemon and every app pid seen, by pid; never throws. */
  async kill(): Promise<void> {
    await this.recordPids();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await this.exit;
    }
    for (const pid of this.seenPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
