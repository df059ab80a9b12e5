/**
 * The check result of the loaded configuration, for the dashboard's plugins page: the config the
 * daemon runs passed every check when it was loaded (a config that does not load changes nothing),
 * so what there is to say is which file, since when, and how each reload since went — its changes,
 * or every problem (code, message, file:line:col) of a config that did not load, as `--check` prints
 * them. Read off the event stream like the restart timelines.
 */
import type { GvEvent } from '../../observe/index.js';
import type { EventFeed } from './restarts.js';

/** Reloads remembered. */
const RELOADS_KEPT = 10;

/** One reload: what changed, or why nothing did. */
export interface ReloadOutcome {
  at: string;
  ok: boolean;
  added?: string[];
  removed?: string[];
  changed?: string[];
  unchanged?: string[];
  errors?: { code: string; message: string; pos?: { file: string; line: number; col: number } }[];
}

/** What the plugins page shows about the configuration. */
export interface ConfigCheck {
  file: string;
  /** When the config now running was loaded: the daemon's start, or the last reload that took effect. */
  loadedAt: string;
  apps: number;
  reloads: ReloadOutcome[];
}

function problems(e: GvEvent): NonNullable<ReloadOutcome['errors']> {
  const list = Array.isArray(e.errors) && e.errors.length > 0 ? (e.errors as unknown[]) : [e.error];
  return list.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null).map((x) => ({
    code: typeof x.code === 'string' ? x.code : 'GV_ERR_INTERNAL',
    message: typeof x.message === 'string' ? x.message.split('\n')[0]! : '',
    ...(typeof x.pos === 'object' && x.pos !== null && { pos: x.pos as { file: string; line: number; col: number } }),
  }));
}

/** The configuration's story since the daemon started. */
export class ConfigHistory {
  readonly #reloads: ReloadOutcome[] = [];
  #loadedAt: string;
  readonly #off: () => void;

  /** `startedAt`: when the daemon loaded its config. */
  constructor(events: EventFeed, startedAt: string) {
    this.#loadedAt = startedAt;
    for (const e of events.recent()) this.feed(e);
    this.#off = events.subscribe((e) => this.feed(e));
  }

  /** The check result now, for a config of `file` with `apps` apps. */
  check(file: string, apps: number): ConfigCheck {
    return { file, loadedAt: this.#loadedAt, apps, reloads: [...this.#reloads] };
  }

  feed(e: GvEvent): void {
    if (e.event === 'config_reloaded') {
      this.#loadedAt = e.at;
      this.#push({ at: e.at, ok: true, added: e.added as string[], removed: e.removed as string[], changed: e.changed as string[], unchanged: e.unchanged as string[] });
    } else if (e.event === 'reload_failed') {
      this.#push({ at: e.at, ok: false, errors: problems(e) });
    }
  }

  close(): void {
    this.#off();
  }

  #push(r: ReloadOutcome): void {
    this.#reloads.push(r);
    if (this.#reloads.length > RELOADS_KEPT) this.#reloads.shift();
  }
}
