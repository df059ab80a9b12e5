/**
 * What the http engine counts per response, for metrics: responses by status class, the answers it
 * gave itself, and a latency histogram. Plain integers and one small array walk per response: the
 * hot path pays no metrics library (metrics read these at scrape time; see docs/engines.md).
 */
import type { HttpStats } from '../../plugins/engine.js';

/** Latency bucket bounds, seconds (Prometheus' usual defaults, a little finer below 10 ms). */
export const LATENCY_BOUNDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The counters of one http engine. */
export class HttpCounters {
  /** Index = status / 100 (1..5). */
  readonly #classes = [0, 0, 0, 0, 0, 0];
  readonly #answered = new Map<number, number>();
  readonly #buckets = new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
  #sum = 0;
  #count = 0;

  /** A response of `status` started. */
  response(status: number): void {
    const c = (status / 100) | 0;
    if (c >= 1 && c <= 5) this.#classes[c]!++;
  }

  /** The engine answered `status` itself (it also counts as a response). */
  answer(status: number): void {
    this.#answered.set(status, (this.#answered.get(status) ?? 0) + 1);
    this.response(status);
  }

  /** A request took `seconds` from arrival to the end of its response. */
  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS.length && seconds > LATENCY_BOUNDS[i]!) i++;
    this.#buckets[i]!++;
    this.#sum += seconds;
    this.#count++;
  }

  /** A copy for stats(). */
  snapshot(): HttpStats {
    const c = this.#classes;
    return {
      responses: { '1xx': c[1]!, '2xx': c[2]!, '3xx': c[3]!, '4xx': c[4]!, '5xx': c[5]! },
      answered: Object.fromEntries([...this.#answered].map(([k, v]) => [String(k), v])),
      latency: { bounds: [...LATENCY_BOUNDS], counts: [...this.#buckets], sum: this.#sum, count: this.#count },
    };
  }
}
