// An example third-party gracevisor plugin. Load it from a config:
//
//   plugins: ["./examples/plugin-example/index.mjs"]        (gracevisor.yaml)
//   plugins ./examples/plugin-example/index.mjs;            (gracevisor.conf)
//
// It contributes `healthchecks.body` (GET a path, healthy when the body contains a string) and
// `alerters.file` (append one JSON line per alert to a file). In TypeScript you would wrap the object
// in `definePlugin(...)` from 'gracevisor' for type checking; at run time it is just this object.
import { appendFile } from 'node:fs/promises';
import http from 'node:http';

/** @type {import('gracevisor').Plugin} */
const plugin = {
  name: 'gracevisor-plugin-example',
  apiVersion: 1,
  healthchecks: {
    body: {
      description: 'GET a path; healthy when the response body contains `contains`',
      parse(options) {
        for (const key of Object.keys(options)) {
          if (key !== 'path' && key !== 'contains') throw new Error(`unknown option ${key}`);
        }
        if (typeof options.contains !== 'string' || options.contains === '') throw new Error('contains is required');
        const path = options.path ?? '/';
        if (typeof path !== 'string' || !path.startsWith('/')) throw new Error('path must start with "/"');
        return { path, contains: options.contains };
      },
      probe(target, check, signal) {
        return new Promise((resolve) => {
          const req = http.get({ host: target.host, port: target.port, path: check.path, signal, agent: false }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => { body += chunk; });
            res.on('end', () => {
              const ok = body.includes(String(check.contains));
              resolve({ ok, detail: ok ? `${res.statusCode}, body matches` : `${res.statusCode}, body lacks ${JSON.stringify(check.contains)}` });
            });
          });
          req.on('error', (err) => resolve({ ok: false, detail: err.code ?? err.message }));
        });
      },
    },
  },
  alerters: {
    // Use it with `alerts: [{ type: file, path: /var/log/alerts.jsonl }]` (DSL: `alert file { path …; }`).
    file: {
      description: 'append one JSON line per alert to `path`',
      parse(options) {
        for (const key of Object.keys(options)) if (key !== 'path') throw new Error(`unknown option ${key}`);
        if (typeof options.path !== 'string' || options.path === '') throw new Error('path is required');
        return { path: options.path };
      },
      create(options) {
        const path = String(options.path);
        // The router calls send for each alert routed here; a rejection is retried, then logged.
        return { send: (alert) => appendFile(path, JSON.stringify(alert) + '\n') };
      },
    },
  },
  hooks: {
    onInstanceReady(ctx, e) {
      ctx.log('info', 'instance ready (seen by the example plugin)', { instance: e.instance.id, readyMs: e.readyMs });
    },
  },
};

export default plugin;
