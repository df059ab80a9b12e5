#!/usr/bin/env node
// Runs the built splice engine (dist/) in its own process with explicit tunables, for the benchmark.
// Usage: node bench/splice-proxy.mjs LISTEN_PORT TARGET_PORT [TUNING_JSON]   (prints "ready PORT")
// TUNING_JSON: {"pipeSize":1048576,"chunkSize":1048576,"edgeTriggered":true,"spliceMore":true}
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [listenPort, targetPort, tuningJson] = process.argv.slice(2);
const dist = fileURLToPath(new URL('../dist/engines/splice.js', import.meta.url));
if (!existsSync(dist)) {
  process.stderr.write('dist/ is missing: run `npm run build` first\n');
  process.exit(2);
}
const { spliceEngine } = await import(pathToFileURL(dist).href);
const reason = spliceEngine.unavailable();
if (reason) {
  process.stderr.write(`engines.splice is unavailable: ${reason}\n`);
  process.exit(3);
}
const engine = spliceEngine.create({
  app: 'bench', host: '127.0.0.1', port: Number(listenPort), queueTimeoutMs: 5_000,
  log: (level, msg, fields) => { if (level === 'error') process.stderr.write(`${msg} ${JSON.stringify(fields ?? {})}\n`); },
  splice: tuningJson ? JSON.parse(tuningJson) : {},
});
await engine.listen();
engine.setTargets([{ id: 'bench#1', host: '127.0.0.1', port: Number(targetPort) }]);
process.stdout.write(`ready ${engine.address().port}\n`);
process.on('SIGTERM', async () => {
  await engine.close(1_000);
  process.exit(0);
});
