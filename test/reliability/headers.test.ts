// Item 14 of the reliability issue: request heads through the real daemon. Forged X-Forwarded-*
// replaced, two Host headers refused before the app, an absolute-form target sent in origin form.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Daemon, FIXTURES, NODE_BARE, port, setup } from './fixtures/lib.js';

setup(t);

/** Send `head` on a fresh connection and read until the server closes it (or 10 s); the status and body. */
function raw(p: number, head: string): Promise<{ status: number; body: string; text: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(p, '127.0.0.1', () => s.write(head));
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      text += c;
      // One response is enough: stop at the end of a content-length body.
      const m = /\r\ncontent-length: (\d+)\r\n/i.exec(text);
      const at = text.indexOf('\r\n\r\n');
      if (m && at >= 0 && Buffer.byteLength(text.slice(at + 4)) >= Number(m[1])) s.end();
      if (at >= 0 && text.endsWith('\r\n0\r\n\r\n')) s.end();
    });
    s.setTimeout(10_000, () => s.destroy());
    s.on('error', reject);
    s.on('close', () => {
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const headEnd = text.indexOf('\r\n\r\n');
      let body = text.slice(headEnd + 4);
      if (/\r\ntransfer-encoding: chunked\r\n/i.test(text.slice(0, headEnd + 2))) body = unchunk(body);
      resolve({ status, body, text });
    });
  });
}

/** A chunked body's data (ASCII bodies only: chunk sizes are counted in characters). */
function unchunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, nl), 16);
    if (!(size > 0)) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}

function header(pairs: [string, string][], name: string): string[] {
  return pairs.filter(([k]) => k === name).map(([, v]) => v);
}

t.test('request heads: forged X-Forwarded-Proto/-Host replaced, two Host headers 400 before the app, absolute-form sent in origin form', async (t) => {
  const d = Daemon.create(t);
  const p = await port();
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + 'apps:\n' + [
    '  - name: echo',
    `    command: ${NODE_BARE} ${join(FIXTURES, 'echo.mjs')} --port={port}`,
    '    external_host: 127.0.0.1',
    `    external_port: ${p}`,
    '    stop_timeout: 2s',
  ].join('\n') + '\n');
  await d.start(conf);
  await d.waitServing('echo');
  const host = `127.0.0.1:${p}`;

  t.test('a client\'s X-Forwarded-Proto: https and X-Forwarded-Host: forged are replaced', async (t) => {
    const r = await raw(p, `GET /xf HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: forged\r\nConnection: close\r\n\r\n`);
    t.equal(r.status, 200);
    const seen = JSON.parse(r.body) as { headers: [string, string][] };
    t.same(header(seen.headers, 'x-forwarded-proto'), ['http'], 'the app sees X-Forwarded-Proto: http, once');
    t.same(header(seen.headers, 'x-forwarded-host'), [host], 'and X-Forwarded-Host: the real Host, once');
    t.same(header(seen.headers, 'x-forwarded-for').length, 1, 'one X-Forwarded-For');
    t.match(header(seen.headers, 'x-forwarded-for')[0], /127\.0\.0\.1$/, 'naming the client');
  });

  t.test('two Host headers get 400 and never reach the app', async (t) => {
    const r = await raw(p, `GET /two-hosts HTTP/1.1\r\nHost: ${host}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    t.equal(r.status, 400, '400');
    const after = await raw(p, `GET /after HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    t.equal(after.status, 200);
    const seen = (JSON.parse(after.body) as { seen: string[] }).seen;
    t.notOk(seen.includes('/two-hosts'), `the app never saw it (it saw ${JSON.stringify(seen)})`);
  });

  t.test('an absolute-form request target reaches the app in origin form', async (t) => {
    const r = await raw(p, `GET http://${host}/abs/path?q=1&r=2 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    t.equal(r.status, 200);
    const seen = JSON.parse(r.body) as { url: string; headers: [string, string][] };
    t.equal(seen.url, '/abs/path?q=1&r=2', 'origin form, query kept');
    t.same(header(seen.headers, 'host'), [host], 'one Host header');
  });
});
