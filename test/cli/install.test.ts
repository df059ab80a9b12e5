// The published package, installed the way a user installs it: `npm pack`, then `npm install -g`
// into a temporary prefix (from the npm cache: .ci/run makes the install with the registry first and
// passes its prefix in GRACEVISOR_INSTALL_PREFIX). Its bins run from PATH, and a plugin in a folder
// outside the repo that imports `gracevisor` and `gracevisor/engines` wraps engines.tcp and serves
// traffic, both under the global install and under this checkout's own build.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEMOAPP, GRACEVISORCTL, GRACEVISORD, NODE_BARE, ROOT, TestDaemon, ensureBuild, freePort, run, waitFor } from './harness.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const hasNpm = spawnSync('npm', ['--version'], { stdio: 'ignore' }).status === 0;

/** GET http://127.0.0.1:port/ once; the status, or the error's code. */
function get(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** A folder outside the repo holding a plugin that wraps engines.tcp, importing gracevisor by name. */
async function outsidePlugin(t: Tap.Test): Promise<{ dir: string; file: string; marker: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'gv-outside-plugin-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.notOk(realpathSync(dir).startsWith(realpathSync(ROOT)), 'the plugin folder is outside the repo');
  const file = join(dir, 'tcp-wrap.mjs');
  await writeFile(file, `import { appendFileSync } from 'node:fs';
import { API_VERSION, definePlugin } from 'gracevisor';
import { tcpEngine } from 'gracevisor/engines';

export default definePlugin({
  name: 'outside-tcp-wrap',
  apiVersion: API_VERSION,
  engines: {
    'counted-tcp': {
      ...tcpEngine,
      description: 'engines.tcp, wrapped by a plugin that lives outside the repository',
      create(options) {
        appendFileSync(process.env.GV_WRAP_MARKER, 'create ' + options.app + ' ' + import.meta.resolve('gracevisor') + '\\n');
        return tcpEngine.create(options);
      },
    },
  },
});
`);
  return { dir, file, marker: join(dir, 'marker.txt') };
}

/** Run a daemon (`gracevisord` at `bin`) with the outside plugin on one app; check it serves through the wrapper. */
async function servesThroughPlugin(t: Tap.Test, bin: { gracevisord: string; gracevisorctl: string }, expectResolved: RegExp): Promise<void> {
  const plugin = await outsidePlugin(t);
  const d = await TestDaemon.create(t);
  const port = await freePort();
  await d.writeConfig([{ name: 'web', port, command: `${NODE_BARE} ${DEMOAPP} --port={port}`, extra: ['proxy: counted-tcp'] }], `plugins: [${JSON.stringify(plugin.file)}]`);

  // Without a daemon, plugins list reads the plugin from --conf.
  const offline = await run(process.execPath, [bin.gracevisorctl, '--conf', d.confFile, 'plugins', 'list', '--json'], { env: { ...process.env, GV_WRAP_MARKER: plugin.marker } });
  t.equal(offline.code, 0, offline.stderr);
  const entry = (JSON.parse(offline.stdout) as { id: string; plugin: string; usedBy?: string[] }[]).find((e) => e.id === 'engines.counted-tcp');
  t.match(entry, { plugin: 'outside-tcp-wrap', usedBy: ['web'] }, 'plugins list finds the outside plugin without a daemon');

  const env = { ...process.env, GV_WRAP_MARKER: plugin.marker };
  await d.start({ env, gracevisord: bin.gracevisord });
  t.equal(await get(port), 200, 'traffic flows through the wrapped tcp engine');
  const marker = readFileSync(plugin.marker, 'utf8');
  t.match(marker, /^create web /m, 'the wrapper built the engine');
  t.match(marker, expectResolved, "the plugin's `gracevisor` is the running copy");
  const status = await d.status('web');
  t.equal(status[0].engine, 'counted-tcp', 'status names the wrapped engine');
  process.kill(d.child!.pid!, 'SIGTERM');
  t.equal((await d.exited()).code, 0);
}

t.before(() => ensureBuild());

t.test('a plugin outside the repo imports gracevisor from this checkout\'s build', async (t) => {
  await servesThroughPlugin(t, { gracevisord: GRACEVISORD, gracevisorctl: GRACEVISORCTL }, new RegExp(`create web file://${realpathSync(ROOT)}/dist/index\\.js`));
});

t.test('npm pack and npm install -g give working bins and an importable gracevisor', { skip: !hasNpm && 'npm is not on PATH' }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'gv-install-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  // The tarball, as `npm publish` would make it (dist/ is built already; prepack's rebuild is skipped).
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  t.equal(pack.status, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  for (const must of ['package.json', 'LICENSE', 'README.md', 'dist/cli/gracevisord.js', 'dist/cli/gracevisorctl.js', 'dist/public/engines.js', 'init/gracevisord.service', 'conf/gracevisor.conf', 'native/binding.gyp', 'scripts/build-native.mjs']) {
    t.ok(files.includes(must), `the package holds ${must}`);
  }
  t.same(files.filter((f) => /^(test|bench|src|fuzz|\.ci|coverage|\.tap)\//.test(f) || f.endsWith('.map')), [], 'no tests, benches, sources or source maps');

  let prefix = process.env.GRACEVISOR_INSTALL_PREFIX;
  if (!prefix) {
    prefix = join(work, 'prefix');
    // From the npm cache only: a test reaches no registry.
    const inst = spawnSync('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, join(work, info!.filename)], { encoding: 'utf8', timeout: 300_000 });
    if (inst.status !== 0 && /ENOTCACHED/.test(inst.stderr)) {
      t.skip(`the npm cache lacks gracevisor's dependencies (run .ci/run, which installs with the registry first): ${inst.stderr.split('\n')[0]}`);
      return;
    }
    t.equal(inst.status, 0, inst.stderr);
  }
  const bin = join(prefix, 'bin');
  const installed = realpathSync(join(prefix, 'lib', 'node_modules', 'gracevisor'));
  t.ok(existsSync(join(bin, 'gracevisord')) && existsSync(join(bin, 'gracevisorctl')), 'both bins are on the prefix\'s PATH');
  const PATH = `${bin}:${process.env.PATH}`;
  const v = spawnSync('gracevisord', ['--version'], { env: { ...process.env, PATH }, encoding: 'utf8' });
  t.equal(v.stdout.trim(), VERSION, 'gracevisord --version from PATH');
  const h = spawnSync('gracevisorctl', ['help'], { env: { ...process.env, PATH }, encoding: 'utf8' });
  t.equal(h.status, 0);
  t.match(h.stdout, /gracevisorctl restart/);
  await servesThroughPlugin(t, { gracevisord: join(installed, 'dist', 'cli', 'gracevisord.js'), gracevisorctl: join(installed, 'dist', 'cli', 'gracevisorctl.js') }, new RegExp(`create web file://${installed}/dist/index\\.js`));
});
