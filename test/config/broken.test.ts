// Broken configs: each must fail with a stable code at an exact file:line:col. The texts are
// inline so the expected position can be read off the case itself.
import { join } from 'node:path';
import t from 'tap';
import { GvConfigError } from '../../src/errors.js';
import { within } from '../helpers/wait.js';
import { loadConfig, type ConfigRegistryView } from '../../src/config/load.js';
import { createRegistry } from '../../src/builtins.js';
import type { RuntimeInfo } from '../../src/config/defaults.js';

const runtime: RuntimeInfo = { uid: 1000, env: {}, tmpdir: '/tmp' };

interface Case {
  name: string;
  /** The main file's name (its extension picks the syntax) and text. */
  file: string;
  text: string;
  /** Other files in the same folder. */
  extra?: Record<string, string>;
  /** Expected first problem: code, file (default: the main file), line, col. */
  code: string;
  at: [line: number, col: number, file?: string];
  /** Expected `details` fields of that problem. */
  details?: Record<string, unknown>;
  /** What phase 3 checks against; default: the built-in plugins' registry. */
  registry?: ConfigRegistryView;
}

const app = (body: string): string => `apps:\n  - name: a\n    command: run --port={port}\n${body}`;

const cases: Case[] = [
  // syntax, DSL
  { name: 'a DSL directive without its semicolon before a closing brace', file: 'g.conf', text: 'app a {\n  command "x {port}"\n}\n', code: 'GV_ERR_CONFIG_SYNTAX', at: [3, 1] },
  { name: 'an unclosed DSL block', file: 'g.conf', text: 'logger {\n  log_dir /tmp;\n', code: 'GV_ERR_CONFIG_SYNTAX', at: [3, 1] },
  { name: 'an unterminated DSL string', file: 'g.conf', text: 'app a {\n  command "x {port};\n}\n', code: 'GV_ERR_CONFIG_SYNTAX', at: [2, 11] },
  { name: 'a stray closing brace in the DSL', file: 'g.conf', text: 'port_range 1 2;\n}\n', code: 'GV_ERR_CONFIG_SYNTAX', at: [2, 1] },
  { name: 'a quoted string where a DSL directive name belongs', file: 'g.conf', text: '# comment\n  "rpc" { port 1; }\n', code: 'GV_ERR_CONFIG_SYNTAX', at: [2, 3] },
  // syntax, YAML
  { name: 'a YAML flow mapping that is never closed', file: 'g.yaml', text: 'port_range: {from: 1\nrpc: {}\n', code: 'GV_ERR_CONFIG_SYNTAX', at: [2, 1] },
  { name: 'a YAML key given twice', file: 'g.yaml', text: 'rpc:\n  port: 1\n  port: 2\n', code: 'GV_ERR_CONFIG_DUPLICATE_KEY', at: [3, 3] },
  { name: 'a DSL directive given twice', file: 'g.conf', text: 'app a {\n  command "x {port}";\n  proxy tcp;\n  proxy http;\n}\n', code: 'GV_ERR_CONFIG_DUPLICATE_KEY', at: [4, 3] },
  { name: 'listen and external_port together in the DSL', file: 'g.conf', text: 'app a {\n  command "x {port}";\n  listen 8081;\n  external_port 8082;\n}\n', code: 'GV_ERR_CONFIG_DUPLICATE_KEY', at: [4, 3] },
  { name: 'a YAML top level that is a list', file: 'g.yaml', text: '- a\n- b\n', code: 'GV_ERR_CONFIG_TYPE', at: [1, 1] },
  // unknown keys
  {
    name: 'an unknown top-level key, with a suggestion',
    file: 'g.yaml',
    text: 'port_rage:\n  from: 1\n',
    code: 'GV_ERR_CONFIG_UNKNOWN_KEY',
    at: [1, 1],
    details: { key: 'port_rage', suggestion: 'port_range' },
  },
  { name: 'an unknown app key, with a suggestion', file: 'g.yaml', text: app('    comand: x\n'), code: 'GV_ERR_CONFIG_UNKNOWN_KEY', at: [4, 5], details: { key: 'comand', suggestion: 'command' } },
  {
    name: 'an unknown key in a DSL logger block, with a suggestion',
    file: 'g.conf',
    text: 'logger {\n  max_log_sise 5M;\n}\n',
    code: 'GV_ERR_CONFIG_UNKNOWN_KEY',
    at: [2, 3],
    details: { key: 'max_log_sise', suggestion: 'max_log_size' },
  },
  {
    name: 'an unknown key in an app logger, with a suggestion',
    file: 'g.conf',
    text: 'app a {\n  command "x {port}";\n  logger { stdout_logfile o.log; }\n}\n',
    code: 'GV_ERR_CONFIG_UNKNOWN_KEY',
    at: [3, 12],
    details: { key: 'stdout_logfile', suggestion: 'stdout_log_file' },
  },
  { name: 'an unknown key in rpc with no near match', file: 'g.yaml', text: 'rpc:\n  banana: 1\n', code: 'GV_ERR_CONFIG_UNKNOWN_KEY', at: [2, 3], details: { key: 'banana', suggestion: null } },
  // wrong types
  { name: 'a port that is a word', file: 'g.yaml', text: app('    external_port: eighty\n'), code: 'GV_ERR_CONFIG_TYPE', at: [4, 20] },
  { name: 'apps that is a mapping', file: 'g.yaml', text: 'apps:\n  name: a\n', code: 'GV_ERR_CONFIG_TYPE', at: [2, 3] },
  { name: 'a command that is a list', file: 'g.yaml', text: 'apps:\n  - name: a\n    command: [run, "{port}"]\n', code: 'GV_ERR_CONFIG_TYPE', at: [3, 14] },
  { name: 'an unquoted multi-word DSL command', file: 'g.conf', text: 'app a {\n  command run --port={port};\n}\n', code: 'GV_ERR_CONFIG_TYPE', at: [2, 11] },
  { name: 'an environment entry without =', file: 'g.yaml', text: app('    environment: ["PORT={port}", "DEBUG"]\n'), code: 'GV_ERR_CONFIG_TYPE', at: [4, 34] },
  { name: 'a fractional instances count', file: 'g.conf', text: 'app a {\n  command "x {port}";\n  instances 1.5;\n}\n', code: 'GV_ERR_CONFIG_TYPE', at: [3, 13] },
  // required
  { name: 'an app without a name', file: 'g.yaml', text: 'apps:\n  - command: run {port}\n', code: 'GV_ERR_CONFIG_REQUIRED', at: [2, 5] },
  { name: 'an app without a command', file: 'g.conf', text: '\napp a {\n  listen 9000;\n}\n', code: 'GV_ERR_CONFIG_REQUIRED', at: [2, 1] },
  { name: 'a user block without username', file: 'g.conf', text: 'user {\n}\n', code: 'GV_ERR_CONFIG_REQUIRED', at: [1, 1] },
  // {port}
  { name: 'neither command nor environment with {port}', file: 'g.yaml', text: 'apps:\n  - name: a\n    command: run\n    environment: [A=1]\n', code: 'GV_ERR_CONFIG_PORT_PLACEHOLDER', at: [3, 14] },
  { name: 'a DSL command without {port}', file: 'g.conf', text: 'app a {\n  command "run";\n}\n', code: 'GV_ERR_CONFIG_PORT_PLACEHOLDER', at: [2, 11] },
  // duplicates across apps
  {
    name: 'two YAML apps with one name',
    file: 'g.yaml',
    text: 'apps:\n  - name: a\n    command: a {port}\n    external_port: 9000\n  - name: a\n    command: b {port}\n    external_port: 9001\n',
    code: 'GV_ERR_CONFIG_DUPLICATE_APP',
    at: [5, 11],
  },
  {
    name: 'two apps with one name',
    file: 'g.conf',
    text: 'app a { command "x {port}"; listen 9000; }\napp a { command "y {port}"; listen 9001; }\n',
    code: 'GV_ERR_CONFIG_DUPLICATE_APP',
    at: [2, 5],
  },
  {
    name: 'two apps on one listen address',
    file: 'g.conf',
    text: 'app a { command "x {port}"; listen localhost:9000; }\napp b { command "y {port}"; listen localhost:9000; }\n',
    code: 'GV_ERR_CONFIG_DUPLICATE_LISTEN',
    at: [2, 46],
  },
  {
    name: 'two apps that both default to port 8080',
    file: 'g.yaml',
    text: 'apps:\n  - name: a\n    command: a {port}\n  - name: b\n    command: b {port}\n',
    code: 'GV_ERR_CONFIG_DUPLICATE_LISTEN',
    at: [4, 5],
  },
  {
    name: 'an app on a wildcard address and another on the same port',
    file: 'g.yaml',
    text: 'apps:\n  - {name: a, command: "a {port}", external_host: 0.0.0.0}\n  - {name: b, command: "b {port}", external_host: 127.0.0.1}\n',
    code: 'GV_ERR_CONFIG_DUPLICATE_LISTEN',
    at: [3, 51],
  },
  // the dashboard (web)
  { name: 'a web listen that is not an address, in the DSL', file: 'g.conf', text: 'web { listen nowhere; }\n', code: 'GV_ERR_CONFIG_TYPE', at: [1, 14] },
  { name: 'a web listen that is not an address, in YAML', file: 'g.yaml', text: 'web:\n  listen: nowhere\n', code: 'GV_ERR_CONFIG_TYPE', at: [2, 11] },
  { name: 'a web listen port out of range, in the DSL', file: 'g.conf', text: 'web { listen 127.0.0.1:99999; }\n', code: 'GV_ERR_CONFIG_TYPE', at: [1, 14] },
  { name: 'a web listen port out of range, in YAML', file: 'g.yaml', text: 'web: { listen: "127.0.0.1:99999" }\n', code: 'GV_ERR_CONFIG_TYPE', at: [1, 16] },
  { name: 'an unknown key in a DSL web block, with a suggestion', file: 'g.conf', text: 'web { listen 9002; behind_ssl on; }\n', code: 'GV_ERR_CONFIG_UNKNOWN_KEY', at: [1, 20], details: { key: 'behind_ssl', suggestion: 'behind_tls' } },
  { name: 'an unknown key in a YAML web section, with a suggestion', file: 'g.yaml', text: 'web:\n  listen: 9002\n  lisen: 127.0.0.1:9003\n', code: 'GV_ERR_CONFIG_UNKNOWN_KEY', at: [3, 3], details: { key: 'lisen', suggestion: 'listen' } },
  { name: 'a YAML web section without listen', file: 'g.yaml', text: 'web:\n  behind_tls: true\n', code: 'GV_ERR_CONFIG_REQUIRED', at: [1, 1] },
  { name: 'a DSL web block without listen', file: 'g.conf', text: 'web { behind_tls on; }\n', code: 'GV_ERR_CONFIG_REQUIRED', at: [1, 1] },
  { name: 'a DSL web behind_tls that is not on or off', file: 'g.conf', text: 'web { listen 9002; behind_tls maybe; }\n', code: 'GV_ERR_CONFIG_TYPE', at: [1, 31] },
  { name: 'a YAML web that is a number, not a section', file: 'g.yaml', text: 'web: 9002\n', code: 'GV_ERR_CONFIG_TYPE', at: [1, 6] },
  { name: 'web on the address of metrics.listen, in YAML', file: 'g.yaml', text: 'metrics: { listen: 127.0.0.1:9002 }\nweb: { listen: 127.0.0.1:9002 }\n', code: 'GV_ERR_CONFIG_DUPLICATE_LISTEN', at: [2, 16] },
  { name: 'web on a wildcard address an app listens on, in the DSL', file: 'g.conf', text: 'web { listen 0.0.0.0:8080; }\napp a { command "a {port}"; listen 127.0.0.1:8080; }\n', code: 'GV_ERR_CONFIG_DUPLICATE_LISTEN', at: [1, 14] },
  // durations and sizes
  { name: 'a duration with an unknown unit', file: 'g.conf', text: 'app a {\n  command "x {port}";\n  drain_timeout 30sec;\n}\n', code: 'GV_ERR_CONFIG_DURATION', at: [3, 17] },
  { name: 'a negative drain_timeout', file: 'g.yaml', text: app('    drain_timeout: -5\n'), code: 'GV_ERR_CONFIG_DURATION', at: [4, 20] },
  { name: 'a max_header_size over 1M (a plain size is megabytes)', file: 'g.conf', text: 'app a {\n  command "x {port}";\n  max_header_size 100;\n}\n', code: 'GV_ERR_CONFIG_RANGE', at: [3, 19] },
  { name: 'a max_header_size under 1K', file: 'g.yaml', text: app('    max_header_size: 0.5K\n'), code: 'GV_ERR_CONFIG_RANGE', at: [4, 22] },
  { name: 'a size with an unknown unit', file: 'g.yaml', text: 'logger:\n  max_log_size: 5 parsecs\n', code: 'GV_ERR_CONFIG_SIZE', at: [2, 17] },
  { name: 'a DSL size with an unknown unit', file: 'g.conf', text: 'logger {\n  max_log_size 5parsecs;\n}\n', code: 'GV_ERR_CONFIG_SIZE', at: [2, 16] },
  { name: 'a zero size', file: 'g.conf', text: 'logger { max_log_size 0; }\n', code: 'GV_ERR_CONFIG_RANGE', at: [1, 23] },
  { name: 'a healthcheck interval that is not a duration', file: 'g.conf', text: 'app a {\n  command "x {port}";\n  healthcheck http /h { interval fast; }\n}\n', code: 'GV_ERR_CONFIG_DURATION', at: [3, 34] },
  // ranges
  { name: 'an inverted port range', file: 'g.conf', text: '\nport_range 11000 10000;\n', code: 'GV_ERR_CONFIG_RANGE', at: [2, 1] },
  { name: 'an out-of-range port', file: 'g.yaml', text: 'rpc:\n  port: 70000\n', code: 'GV_ERR_CONFIG_RANGE', at: [2, 9] },
  { name: 'an out-of-range listen port in the DSL', file: 'g.conf', text: 'app a {\n  command "x {port}";\n  listen localhost:0;\n}\n', code: 'GV_ERR_CONFIG_RANGE', at: [3, 20] },
  { name: 'zero instances', file: 'g.yaml', text: app('    instances: 0\n'), code: 'GV_ERR_CONFIG_RANGE', at: [4, 16] },
  { name: 'max_logs_kept below -1', file: 'g.yaml', text: 'logger:\n  max_logs_kept: -2\n', code: 'GV_ERR_CONFIG_RANGE', at: [2, 18] },
  { name: 'a bad stop_signal, with a suggestion', file: 'g.yaml', text: app('    stop_signal: TREM\n'), code: 'GV_ERR_CONFIG_RANGE', at: [4, 18], details: { suggestion: 'TERM' } },
  { name: 'an app name with a slash', file: 'g.yaml', text: 'apps:\n  - name: a/b\n    command: x {port}\n', code: 'GV_ERR_CONFIG_TYPE', at: [2, 11] },
  // includes
  { name: 'a missing include file', file: 'g.conf', text: 'include apps.d/one.conf;\n', code: 'GV_ERR_CONFIG_INCLUDE_MISSING', at: [1, 9] },
  { name: 'a missing include folder in YAML', file: 'g.yaml', text: 'apps_include:\n  - ./nope\n', code: 'GV_ERR_CONFIG_INCLUDE_MISSING', at: [2, 5] },
  { name: 'a config that includes itself by name', file: 'g.yaml', text: 'apps_include: [g.yaml]\n', code: 'GV_ERR_CONFIG_INCLUDE_CYCLE', at: [1, 16] },
  {
    name: 'an include cycle through two app files',
    file: 'g.conf',
    text: 'include a.conf;\n',
    extra: { 'a.conf': 'include b.conf;\napp a { command "a {port}"; }\n', 'b.conf': '\ninclude a.conf;\napp b { command "b {port}"; listen 9000; }\n' },
    code: 'GV_ERR_CONFIG_INCLUDE_CYCLE',
    at: [2, 9, 'b.conf'],
  },
  { name: 'a broken included YAML file', file: 'g.conf', text: 'include app.yaml;\n', extra: { 'app.yaml': 'name: a\ncommand: [\n' }, code: 'GV_ERR_CONFIG_SYNTAX', at: [3, 1, 'app.yaml'] },
  { name: 'an included YAML file that is a list', file: 'g.yaml', text: 'apps_include: [app.yaml]\n', extra: { 'app.yaml': '- name: a\n' }, code: 'GV_ERR_CONFIG_TYPE', at: [1, 1, 'app.yaml'] },
  // healthchecks
  { name: 'a healthcheck path without a slash', file: 'g.yaml', text: app('    healthcheck: health\n'), code: 'GV_ERR_CONFIG_HEALTHCHECK', at: [4, 18] },
  { name: 'an unknown healthcheck type', file: 'g.conf', text: 'app a {\n  command "x {port}";\n  healthcheck grpc;\n}\n', code: 'GV_ERR_CONFIG_HEALTHCHECK', at: [3, 3] },
  { name: 'a healthcheck that is a number', file: 'g.yaml', text: app('    healthcheck: 200\n'), code: 'GV_ERR_CONFIG_TYPE', at: [4, 18] },
  // engines
  { name: 'an unknown proxy, with a suggestion', file: 'g.yaml', text: app('    proxy: htp\n'), code: 'GV_ERR_CONFIG_ENGINE_UNKNOWN', at: [4, 5], details: { suggestion: 'http' } },
  {
    name: 'an engine the registry does not know',
    file: 'g.conf',
    text: 'app a {\n  command "x {port}";\n  proxy quic;\n}\n',
    code: 'GV_ERR_CONFIG_ENGINE_UNKNOWN',
    at: [3, 3],
    registry: { engine: (n) => (n === 'http' ? { available: true, reason: null } : undefined), healthcheck: () => ({}) },
  },
  {
    name: 'an engine the registry says is unavailable',
    file: 'g.yaml',
    text: app('    proxy: splice\n'),
    code: 'GV_ERR_CONFIG_ENGINE_UNAVAILABLE',
    at: [4, 5],
    details: { reason: 'native addon not built' },
    registry: { engine: (n) => (n === 'splice' ? { available: false, reason: 'native addon not built' } : { available: true, reason: null }), healthcheck: () => ({}) },
  },
  {
    name: 'a DSL app on an engine the registry says is unavailable',
    file: 'g.conf',
    text: 'app a {\n  command "x {port}";\n  proxy splice;\n}\n',
    code: 'GV_ERR_CONFIG_ENGINE_UNAVAILABLE',
    at: [3, 3],
    details: { reason: 'native addon not built' },
    registry: { engine: (n) => (n === 'splice' ? { available: false, reason: 'native addon not built' } : { available: true, reason: null }), healthcheck: () => ({}) },
  },
  {
    name: 'a healthcheck its type parser rejects',
    file: 'g.conf',
    text: 'app a {\n  command "x {port}";\n  healthcheck http /h { expect_status banana; }\n}\n',
    code: 'GV_ERR_CONFIG_HEALTHCHECK',
    at: [3, 3],
    registry: {
      engine: () => ({ available: true, reason: null }),
      healthcheck: () => ({
        parse(options) {
          if (typeof options.expect_status !== 'number') throw new Error('expect_status must be a number');
          return options;
        },
      }),
    },
  },
  // commands: gracevisor runs them without a shell, so shell syntax is refused at the command, naming the operator
  { name: 'a $(…) substitution in a command', file: 'g.yaml', text: 'apps:\n  - name: a\n    command: "x $(date) --port={port}"\n', code: 'GV_ERR_CONFIG_COMMAND', at: [3, 14], details: { operator: '$(' } },
  { name: 'a subshell ( … ) in a command', file: 'g.yaml', text: 'apps:\n  - name: a\n    command: "x ( y ) --port={port}"\n', code: 'GV_ERR_CONFIG_COMMAND', at: [3, 14], details: { operator: '(' } },
  { name: 'a $(…) substitution in a DSL command', file: 'g.conf', text: 'app a {\n  command "x $(date) --port={port}";\n}\n', code: 'GV_ERR_CONFIG_COMMAND', at: [2, 11], details: { operator: '$(' } },
  // values with a fixed set of forms
  { name: 'an unknown logger.log_format', file: 'g.yaml', text: 'logger:\n  log_format: json\n', code: 'GV_ERR_CONFIG_RANGE', at: [2, 15] },
  { name: 'an unknown log_format in the DSL', file: 'g.conf', text: 'logger {\n  log_format json;\n}\n', code: 'GV_ERR_CONFIG_RANGE', at: [2, 14] },
  { name: 'a trusted_proxies entry that is not an address', file: 'g.yaml', text: app('    trusted_proxies: [10.0.0.1, proxy.local]\n'), code: 'GV_ERR_CONFIG_TYPE', at: [4, 33], details: { value: 'proxy.local' } },
  { name: 'a trusted_proxies IPv4 prefix over 32 bits', file: 'g.yaml', text: app('    trusted_proxies: [10.0.0.0/33]\n'), code: 'GV_ERR_CONFIG_TYPE', at: [4, 23], details: { value: '10.0.0.0/33' } },
  { name: 'a trusted_proxies IPv6 prefix over 128 bits', file: 'g.yaml', text: app('    trusted_proxies: ["::1/128", "fd00::/129"]\n'), code: 'GV_ERR_CONFIG_TYPE', at: [4, 34], details: { value: 'fd00::/129' } },
  { name: 'a trusted_proxies prefix that is not a number', file: 'g.yaml', text: app('    trusted_proxies: [10.0.0.0/8x]\n'), code: 'GV_ERR_CONFIG_TYPE', at: [4, 23], details: { value: '10.0.0.0/8x' } },
  { name: 'a trusted_proxies entry with two prefixes', file: 'g.conf', text: 'app a {\n  command "x {port}";\n  trusted_proxies 10.0.0.0/8 10.0.0.0/8/8;\n}\n', code: 'GV_ERR_CONFIG_TYPE', at: [3, 30], details: { value: '10.0.0.0/8/8' } },
];

// Both syntaxes are one language (README: "every key below behaves identically in both"): each code
// this table covers is shown, with its position, in YAML and in the DSL.
t.test('every code in the table has a case in each syntax', async (t) => {
  const syntaxes = new Map<string, Set<string>>();
  for (const c of cases) {
    const set = syntaxes.get(c.code) ?? new Set<string>();
    set.add(c.file.endsWith('.conf') ? 'dsl' : 'yaml');
    syntaxes.set(c.code, set);
  }
  const oneSided = [...syntaxes].filter(([, set]) => set.size < 2).map(([code, set]) => `${code} (${[...set].join('')} only)`);
  t.same(oneSided, [], 'no code is shown in one syntax only');
  t.same(cases.filter((c, i) => cases.findIndex((o) => o.name === c.name) !== i).map((c) => c.name), [], 'case names are unique (each is its own test)');
});

for (const c of cases) {
  t.test(`${c.name} fails with ${c.code} at its line and column`, async (t) => {
    const dir = t.testdir({ [c.file]: c.text, ...(c.extra ?? {}) });
    // Each case loads in milliseconds: one that loops (an include cycle not seen reads the whole
    // 10 000-file budget, ~45 s) fails here with its name and why, not tens of seconds later.
    const load = loadConfig(join(dir, c.file), { runtime, registry: c.registry ?? createRegistry().configView() });
    const err = await within(load, 10_000, 'loadConfig (a loop: an include cycle not seen?)').then(
      () => null,
      (e: unknown) => e,
    );
    if (!(err instanceof GvConfigError)) {
      t.fail(`expected a GvConfigError, got ${String(err)}`);
      return;
    }
    const first = err.errors[0]!;
    const [line, col, file] = c.at;
    t.same(
      { code: first.code, file: first.pos?.file, line: first.pos?.line, col: first.pos?.col },
      { code: c.code, file: join(dir, file ?? c.file), line, col },
      `${err.errors.length} problem(s); first: ${err.errors.slice(0, 3).map((e) => e.format()).join(' | ')}`,
    );
    if (c.details) t.match(first.details, c.details);
  });
}

t.test('every problem is reported, not only the first', async (t) => {
  const dir = t.testdir({
    'g.yaml': [
      'port_range: {from: 2, to: 1}',
      'logger: {max_log_size: big}',
      'apps:',
      '  - name: a',
      '    command: run',
      '    external_port: 0',
      '  - command: x {port}',
      '',
    ].join('\n'),
  });
  const err = await loadConfig(join(dir, 'g.yaml'), { runtime }).catch((e: unknown) => e);
  t.type(err, GvConfigError);
  t.same(
    (err as GvConfigError).errors.map((e) => [e.code, e.pos?.line, e.pos?.col]),
    [
      ['GV_ERR_CONFIG_RANGE', 1, 1],
      ['GV_ERR_CONFIG_SIZE', 2, 24],
      ['GV_ERR_CONFIG_PORT_PLACEHOLDER', 5, 14],
      ['GV_ERR_CONFIG_RANGE', 6, 20],
      ['GV_ERR_CONFIG_REQUIRED', 7, 5],
    ],
  );
});

t.test('problems found against the registry are reported with the others, in line order', async (t) => {
  const dir = t.testdir({
    'g.conf': [
      'app a {',
      '  command "a {port}";',
      '  healthcheck htp /h;',
      '  listen 9001;',
      '}',
      'app b {',
      '  command "b";',
      '  proxy tpc;',
      '  listen 9002;',
      '}',
      '',
    ].join('\n'),
  });
  const err = await loadConfig(join(dir, 'g.conf'), { runtime, registry: createRegistry().configView() }).catch((e: unknown) => e);
  t.type(err, GvConfigError);
  t.same(
    (err as GvConfigError).errors.map((e) => [e.code, e.pos?.line, e.pos?.col, e.details?.suggestion]),
    [
      ['GV_ERR_CONFIG_HEALTHCHECK', 3, 3, 'http'],
      ['GV_ERR_CONFIG_PORT_PLACEHOLDER', 7, 11, undefined],
      ['GV_ERR_CONFIG_ENGINE_UNKNOWN', 8, 3, 'tcp'],
    ],
  );
});

t.test('an option a check type rejects is reported at that option', async (t) => {
  const dir = t.testdir({ 'g.conf': 'app a {\n  command "a {port}";\n  healthcheck http /h {\n    expect_status banana;\n  }\n}\n' });
  await t.rejects(loadConfig(join(dir, 'g.conf'), { runtime, registry: createRegistry().configView() }), {
    code: 'GV_ERR_CONFIG_HEALTHCHECK',
    pos: { line: 4, col: 19 },
    details: { option: 'expect_status' },
  });
});
