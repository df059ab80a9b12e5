/**
 * One proxied request: the undici dispatch handler that streams the upstream response to the client,
 * with backpressure both ways, and decides what a failure means — a retry (idempotent, failed before
 * any response byte), a 502, or a cut connection when the response was already under way.
 */
import type http from 'node:http';
import type { Client, Dispatcher } from 'undici';
import type { Target } from '../../plugins/engine.js';
import { stripResponseHopByHop } from './headers.js';
import { BODY_502, BODY_504 } from './responses.js';
import type { HttpTargetState } from './target-state.js';

/** Methods that may be sent again when the connection failed before any response. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Upstream failures that mean the request never reached the app: safe to retry an idempotent one. */
const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** What an exchange reports back to its engine. */
/**
 * How many times a request may be sent in all: the first try, one more at once (on another target,
 * or on a fresh connection to the same one when a reused keep-alive connection died under it), and a
 * last one only to a target chosen after the failed one had a moment to be replaced.
 */
export const MAX_ATTEMPTS = 3;

export interface ExchangeOwner {
  /** Send `ex` once more, to a current target; `code` is how the last attempt failed. */
  retry(ex: Exchange, code: string): void;
  /** Answer `res` with `status` and `body` itself (502, 504), counted as the engine's own answer. */
  answer(res: http.ServerResponse, status: number, body: string): void;
  /** The app's response to `res` started with `status`. */
  responded(status: number): void;
  /** The response to `res` ended (for the latency histogram). */
  finished(res: http.ServerResponse): void;
  /** An upgrade's target could not be reached (counted; the socket is answered by the caller). */
  countError(): void;
  logUpstreamError(target: Target, err: Error): void;
}

/**
 * One request to one target. A class rather than closures so the hot path allocates one object
 * per request.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly owner: ExchangeOwner;
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly headers: string[];
  readonly hasBody: boolean;
  /** The origin-form path sent upstream. */
  readonly path: string;
  st: HttpTargetState;
  /** 0 for the first try, then 1, 2 (see {@link MAX_ATTEMPTS}). */
  readonly attempt: number;
  /** A one-shot connection of its own (a retry after a reused connection died), closed when done. */
  readonly fresh: Client | null;
  controller: Dispatcher.DispatchController | null = null;
  responded = false;
  done = false;

  constructor(owner: ExchangeOwner, st: HttpTargetState, req: http.IncomingMessage, res: http.ServerResponse, headers: string[], hasBody: boolean, attempt: number, path: string, fresh: Client | null = null) {
    this.owner = owner;
    this.path = path;
    this.st = st;
    this.req = req;
    this.res = res;
    this.headers = headers;
    this.hasBody = hasBody;
    this.attempt = attempt;
    this.fresh = fresh;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.res.destroyed) controller.abort(new Error('client went away'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: http.IncomingHttpHeaders, statusMessage?: string): void {
    this.responded = true;
    const res = this.res;
    if (res.destroyed) {
      controller.abort(new Error('client went away'));
      return;
    }
    stripResponseHopByHop(headers);
    this.owner.responded(statusCode);
    if (statusMessage) res.writeHead(statusCode, statusMessage, headers as http.OutgoingHttpHeaders);
    else res.writeHead(statusCode, headers as http.OutgoingHttpHeaders);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.st.bytesIn += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
    this.finish();
    this.owner.finished(this.res);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.done) return;
    const code = (err as { code?: string }).code ?? '';
    if (!this.responded && this.attempt < MAX_ATTEMPTS - 1 && RETRYABLE_CODES.has(code) && IDEMPOTENT.has(this.req.method ?? '')
      && !this.res.destroyed && (!this.hasBody || !this.req.readableDidRead)) {
      this.finish();
      this.owner.retry(this, code);
      return;
    }
    this.finish();
    const res = this.res;
    if (res.destroyed) return; // the client left first; nothing to answer
    if (!this.responded && !res.headersSent) {
      this.owner.logUpstreamError(this.st.target, err);
      // No response head within upstream_timeout: the instance is there but does not answer.
      if (code === 'UND_ERR_HEADERS_TIMEOUT') this.owner.answer(res, 504, BODY_504);
      else this.owner.answer(res, 502, BODY_502);
    } else {
      // The response was under way: the only honest thing left is to cut the client connection.
      res.destroy();
    }
  }

  /** The client connection closed before the response ended: stop the upstream side too. */
  onClientClose(): void {
    if (!this.done && this.controller && !this.controller.aborted) this.controller.abort(new Error('client went away'));
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.st.inFlight--;
    this.st.settle();
    if (this.fresh) this.fresh.close().catch(() => {});
  }
}
