#!/usr/bin/env node
// Runs one of gracevisor's built engines (from dist/) in its own process for the benchmark.
// Usage: node bench/engine-proxy.mjs ENGINE LISTEN_PORT TARGET_PORT [OPTIONS_JSON]   (prints "ready PORT")
// ENGINE is a registry key of the built-in engines plugin: http, tcp, splice. OPTIONS_JSON adds to the
// engine's options, e.g. the splice tunables: '{"splice":{"pipeSize":1048576,"edgeTriggered":false}}'.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [engineName, listenPort, targetPort, optionsJson] = process.argv.slice(2);
const dist = fileURLToPath(new URL('../dist/engines/index.js', import.meta.url));
if (!existsSync(dist)) {
  process.stderr.write('dist/ is missing: run `npm run build` first\n');
  process.exit(2);
}
const { enginesPlugin } = await import(pathToFileURL(dist).href);
const def = enginesPlugin.engines[engineName];
if (!def) {
  process.stderr.write(`no engine ${engineName}\n`);
  process.exit(2);
}
const reason = def.unavailable?.() ?? null;
if (reason) {
  process.stderr.write(`engines.${engineName} is unavailable: ${reason}\n`);
  process.exit(3);
}
const engine = def.create({
  app: 'bench', host: '127.0.0.1', port: Number(listenPort), queueTimeoutMs: 5_000,
  log: (level, msg, fields) => { if (level === 'error') process.stderr.write(`${msg} ${JSON.stringify(fields ?? {})}\n`); },
  ...(optionsJson ? JSON.parse(optionsJson) : {}),
});
await engine.listen();
engine.setTargets([{ id: 'bench#1', host: '127.0.0.1', port: Number(targetPort) }]);
process.stdout.write(`ready ${engine.address().port}\n`);
process.on('SIGTERM', async () => {
  await engine.close(1_000);
  process.exit(0);
});
