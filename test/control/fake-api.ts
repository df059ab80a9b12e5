// A SupervisorApi stand-in for the control server's unit tests: two apps, every call recorded, and
// reload/addApp answering with a config error on demand. No processes, no ports.
import { GvConfigError, GvError } from '../../src/errors.js';
import type { AppStatus, LogFiles, ReloadResult, RestartResult, SupervisorApi } from '../../src/supervisor/api.js';
import type { RegistryEntry } from '../../src/plugins/types.js';

export class FakeApi implements SupervisorApi {
  calls: string[] = [];
  apps = new Map<string, AppStatus>();
  logs: Record<string, LogFiles> = {};
  /** The daemon log file daemonLogFile() reports (null: none). */
  daemonLog: string | null = null;
  reloadError: GvConfigError | null = null;

  constructor(logDir = '/nonexistent') {
    for (const name of ['web', 'worker']) {
      this.apps.set(name, {
        name, address: '127.0.0.1:8080', engine: 'http', state: 'running', restarts: 0, lastError: null,
        instances: [{ id: `${name}#1`, pid: 4242, port: 10001, state: 'serving', sinceMs: 1500, active: true, startedAt: new Date(0).toISOString(), lastError: null }],
        stats: { connections: 0, requests: 3, errors: 0, bytesIn: 0, bytesOut: 0, targets: [] },
      });
      this.logs[name] = { stdout: `${logDir}/${name}.out.log`, stderr: `${logDir}/${name}.err.log` };
    }
  }

  #get(name: string): AppStatus {
    const app = this.apps.get(name);
    if (!app) throw new GvError('GV_ERR_APP_NOT_FOUND', `no app named ${name}`);
    return app;
  }

  status(app?: string): AppStatus[] {
    this.calls.push(`status ${app ?? ''}`.trim());
    if (app === undefined) return [...this.apps.values()];
    const a = this.apps.get(app);
    return a ? [a] : [];
  }
  async startApp(name: string): Promise<AppStatus> { this.calls.push(`start ${name}`); return { ...this.#get(name), state: 'running' }; }
  async stopApp(name: string): Promise<AppStatus> { this.calls.push(`stop ${name}`); return { ...this.#get(name), state: 'stopped' }; }
  async killApp(name: string): Promise<AppStatus> { this.calls.push(`kill ${name}`); return { ...this.#get(name), state: 'stopped' }; }
  async restartApp(name: string): Promise<RestartResult> {
    this.calls.push(`restart ${name}`);
    this.#get(name);
    return { app: name, ok: true, serving: [`${name}#2`], durationMs: 12, coalesced: false };
  }
  async restartAll(): Promise<RestartResult[]> {
    this.calls.push('restartAll');
    return [...this.apps.keys()].map((app) => ({ app, ok: true, serving: [`${app}#2`], durationMs: 12, coalesced: false }));
  }
  async reload(): Promise<ReloadResult> {
    this.calls.push('reload');
    if (this.reloadError) throw this.reloadError;
    return { added: [], removed: [], changed: ['web'], unchanged: ['worker'] };
  }
  async addApp(file: string): Promise<AppStatus> {
    this.calls.push(`add ${file}`);
    if (this.reloadError) throw this.reloadError;
    return this.#get('web');
  }
  async removeApp(name: string): Promise<void> { this.calls.push(`remove ${name}`); this.#get(name); this.apps.delete(name); }
  logFiles(name: string): LogFiles { this.#get(name); return this.logs[name]!; }
  daemonLogFile(): string | null { return this.daemonLog; }
  plugins(): RegistryEntry[] {
    return [
      { id: 'engines.http', kind: 'engines', plugin: 'gracevisor:engines', description: 'HTTP proxy', available: true, reason: null },
      { id: 'engines.splice', kind: 'engines', plugin: 'gracevisor:engines', description: 'splice(2)', available: false, reason: 'native addon missing' },
    ];
  }
  async shutdown(): Promise<void> { this.calls.push('shutdown'); }
}

/** A config error with two problems, the way the config layer reports them. */
export function twoProblemConfigError(file: string): GvConfigError {
  return new GvConfigError([
    new GvError('GV_ERR_CONFIG_UNKNOWN_KEY', 'unknown key "comand"', { pos: { file, line: 3, col: 5 } }),
    new GvError('GV_ERR_CONFIG_REQUIRED', 'app needs a command', { pos: { file, line: 2, col: 3 } }),
  ]);
}
