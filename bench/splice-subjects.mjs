// The splice engine's benchmark subjects, which bench/run.mjs adds to its tcp group when this file
// exists: engines.splice (built dist/, its own process) and haproxy in tcp mode with kernel splicing,
// beside the built-in direct, engines.tcp and plain haproxy tcp. bench/splice.mjs reuses them to
// compare tunings.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startProcess } from './lib.mjs';

/** Start the splice engine from dist/ in its own process, forwarding to `targetPort`. */
export async function startSplice(ctx, targetPort, tuning = {}) {
  return startProcess(process.execPath, [join(ctx.root, 'bench', 'engine-proxy.mjs'), 'splice', String(await freePort()), String(targetPort), JSON.stringify({ splice: tuning })], { readyLine: true });
}

/**
 * haproxy (one thread) in tcp mode with splice(2) both ways (`option splice-request` /
 * `splice-response`). Its own config rather than lib.mjs's: with splicing, haproxy reserves fds for
 * maxpipes (maxconn / 4 pipes) and refuses to start when maxconn 8192 needs more fds than the limit.
 */
export async function startHaproxySplice(ctx, targetPort) {
  const listen = await freePort();
  const conf = join(ctx.dir, `haproxy-splice-${listen}.cfg`);
  writeFileSync(conf, `global
  maxconn 4096
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option splice-request
  option splice-response
frontend in
  bind 127.0.0.1:${listen}
  default_backend app
backend app
  server s1 127.0.0.1:${targetPort}
`);
  return startProcess('haproxy', ['-db', '-f', conf], { port: listen });
}

/** Subjects for run.mjs (see bench/subjects.mjs for the shape). */
export const subjects = [
  { name: 'engines.splice', group: 'tcp', needs: [], start: (ctx) => startSplice(ctx, ctx.iperfPort) },
  { name: 'haproxy tcp splice', group: 'tcp', needs: ['haproxy'], start: (ctx) => startHaproxySplice(ctx, ctx.iperfPort) },
];
