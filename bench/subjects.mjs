// What the benchmark measures, as a list run.mjs walks. A subject starts something that listens on
// a loopback port and forwards to the shared backend (or is the backend itself: "direct").
//
//   { name, group: 'http' | 'tcp', needs: ['nginx'], reference: true?, start(ctx) -> { port, stop() } }
//
// ctx: { dir (a throwaway folder), httpBackendPort, iperfPort, root (the repository) }.
// `reference: true` marks the subject the others are compared with in their group (nginx for http,
// haproxy in tcp mode for tcp). Other files may append subjects: run.mjs imports
// bench/splice-subjects.mjs when it exists and adds its `subjects` export to this list.
import { join } from 'node:path';
import { freePort, startHaproxy, startNginx, startProcess } from './lib.mjs';

/** Start one of our engines from dist/ in its own process. */
export async function startEngine(ctx, engine, targetPort) {
  return startProcess(process.execPath, [join(ctx.root, 'bench', 'engine-proxy.mjs'), engine, String(await freePort()), String(targetPort)], { readyLine: true });
}

/** The built-in subjects. */
export const subjects = [
  { name: 'direct', group: 'http', needs: [], direct: true, start: async (ctx) => ({ port: ctx.httpBackendPort, stop: async () => {} }) },
  { name: 'engines.http', group: 'http', needs: [], start: (ctx) => startEngine(ctx, 'http', ctx.httpBackendPort) },
  { name: 'nginx proxy', group: 'http', needs: ['nginx'], reference: true, start: async (ctx) => startNginx(ctx.dir, await freePort(), ctx.httpBackendPort) },
  { name: 'haproxy http', group: 'http', needs: ['haproxy'], start: async (ctx) => startHaproxy(ctx.dir, 'http', await freePort(), ctx.httpBackendPort) },

  { name: 'direct', group: 'tcp', needs: [], direct: true, start: async (ctx) => ({ port: ctx.iperfPort, stop: async () => {} }) },
  { name: 'engines.tcp', group: 'tcp', needs: [], start: (ctx) => startEngine(ctx, 'tcp', ctx.iperfPort) },
  { name: 'haproxy tcp', group: 'tcp', needs: ['haproxy'], reference: true, start: async (ctx) => startHaproxy(ctx.dir, 'tcp', await freePort(), ctx.iperfPort) },
];
