import t from 'tap';
import { formatPlugins, formatStatus, shortDuration, table } from '../../src/cli/format.js';
import type { AppStatus } from '../../src/supervisor/api.js';

t.test('shortDuration is short and never negative', async (t) => {
  t.equal(shortDuration(-5), '0ms');
  t.equal(shortDuration(850), '850ms');
  t.equal(shortDuration(12_300), '12s');
  t.equal(shortDuration(302_000), '5m02s');
  t.equal(shortDuration(3 * 3600_000 + 7 * 60_000), '3h07m');
  t.equal(shortDuration(52 * 3600_000), '2d04h');
});

t.test('table aligns columns and trims trailing spaces', async (t) => {
  t.equal(table([['a', 'bb', ''], ['ccc', 'd', 'e']]), 'a    bb\nccc  d   e\n');
});

const app: AppStatus = {
  name: 'web', address: '127.0.0.1:8080', engine: 'http', state: 'restarting', restarts: 2, lastError: 'GV_ERR_START_TIMEOUT: not ready',
  instances: [
    { id: 'web#3', pid: 300, port: 10003, state: 'serving', sinceMs: 65_000, uptimeMs: 65_000, cpuSeconds: 1.25, rssBytes: 48 * 1024 * 1024, active: true, startedAt: '', lastError: null },
    { id: 'web#2', pid: 200, port: 10002, state: 'draining', sinceMs: 1200, uptimeMs: 3_600_000, cpuSeconds: 30, rssBytes: 1536 * 1024, active: false, startedAt: '', lastError: null },
    { id: 'web#4', pid: null, port: 10004, state: 'failed', sinceMs: 10, uptimeMs: 0, cpuSeconds: null, rssBytes: null, active: false, startedAt: '', lastError: 'exited with code 1' },
  ],
  stats: {
    connections: 4, requests: 1234, errors: 1, bytesIn: 0, bytesOut: 0,
    targets: [
      { id: 'web#3', connections: 3, inFlight: 2, total: 34, bytesIn: 0, bytesOut: 0 },
      { id: 'web#2', connections: 1, inFlight: 1, total: 1200, bytesIn: 0, bytesOut: 0 },
    ],
  },
};

t.test('formatStatus shows the app line, the active marker, engine counters per instance and last errors', async (t) => {
  t.equal(formatStatus([app]), [
    'web  http on 127.0.0.1:8080  restarting  restarts 2  connections 4  requests 1234  errors 1',
    '  last error: GV_ERR_START_TIMEOUT: not ready',
    '     INSTANCE  PID  PORT   STATE     SINCE  UPTIME  CPU    RSS   IN FLIGHT  HANDLED  LAST ERROR',
    '  *  web#3     300  10003  serving   1m05s  1m05s   1.3s   48M   2          34       -',
    '     web#2     200  10002  draining  1s     1h00m   30.0s  1.5M  1          1200     -',
    '     web#4     -    10004  failed    10ms   0ms     -      -     -          -        exited with code 1',
    '',
  ].join('\n'));
  t.equal(formatStatus([]), 'no apps\n');
  t.match(formatStatus([{ ...app, instances: [] }]), '  (no instances)\n');
});

t.test('formatPlugins says why an entry is unavailable, and what each does', async (t) => {
  const out = formatPlugins([
    { id: 'engines.http', kind: 'engines', plugin: 'gracevisor:engines', description: 'HTTP/1.1 reverse proxy', available: true, reason: null },
    { id: 'engines.splice', kind: 'engines', plugin: 'gracevisor:engines', description: 'splice(2) proxy', available: false, reason: 'native addon not built' },
  ]);
  t.match(out, /^engines\.splice\s+gracevisor:engines\s+-\s+no: native addon not built\s+splice\(2\) proxy$/m);
  t.match(out, /^engines\.http\s+gracevisor:engines\s+-\s+yes\s+HTTP\/1\.1 reverse proxy$/m);
});
