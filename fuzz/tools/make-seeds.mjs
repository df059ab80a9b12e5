/**
 * Builds the seed corpus from the repo's real configs: conf/gracevisor.{yaml,conf}, the config files in test/fixtures/, the ```yaml and
 * ```nginx blocks of README.md, and the config texts in test/config/*.test.ts (read with the
 * TypeScript compiler API and a small static evaluator: string literals, templates, `+`,
 * `[...].join('\n')` and calls of the file's own helper arrows such as app(body) / yamlApp(name, port)).
 * A test text's syntax is the file name next to it (`file: 'g.conf'`, `'x.yaml': text`, a tuple
 * `['g.yaml', text, ...]`) or the loader it is handed to; an unlabelled text is a seed of the syntax
 * it parses in. Writes seed-<source>-<hash>.<yaml|conf> into corpus/yaml and corpus/dsl.
 *
 *   node fuzz/tools/make-seeds.mjs
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const out = { yaml: join(repo, 'fuzz/corpus/yaml'), dsl: join(repo, 'fuzz/corpus/dsl') };
const { loadYaml } = await import(join(repo, 'dist/config/yaml-loader.js'));
const { parseDsl } = await import(join(repo, 'dist/config/dsl-loader.js'));

const seeds = new Map(); // key: syntax+hash
function add(syntax, source, text) {
  if (typeof text !== 'string' || text.length === 0 || text.length > 8192) return;
  const hash = createHash('sha1').update(text).digest('hex').slice(0, 10);
  const key = `${syntax}:${hash}`;
  if (!seeds.has(key)) seeds.set(key, { syntax, name: `seed-${source}-${hash}.${syntax === 'yaml' ? 'yaml' : 'conf'}`, text });
}
const syntaxOfName = (n) => (/\.conf$/i.test(n) ? 'dsl' : /\.ya?ml$/i.test(n) ? 'yaml' : null);
const parsesAs = (text) => {
  if (parseDsl(text, 'x.conf').errors.length === 0 && /[;{]/.test(text)) return 'dsl';
  const y = loadYaml(text, 'x.yaml');
  if (y.errors.length === 0 && y.value?.kind === 'map' && y.value.entries.length > 0) return 'yaml';
  return null;
};

// 1. conf/
add('yaml', 'conf', readFileSync(join(repo, 'conf/gracevisor.yaml'), 'utf8'));
add('dsl', 'conf', readFileSync(join(repo, 'conf/gracevisor.conf'), 'utf8'));

// 1b. test/fixtures config files
const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
for (const f of walk(join(repo, 'test/fixtures')).sort()) {
  const syn = syntaxOfName(f);
  if (syn) add(syn, 'fixture', readFileSync(f, 'utf8'));
}

// 2. README.md fenced blocks
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
for (const m of readme.matchAll(/^```(yaml|yml|nginx|conf)\n([\s\S]*?)^```/gm)) add(m[1].startsWith('y') ? 'yaml' : 'dsl', 'readme', m[2]);

// 3. test/config/*.test.ts
const LOADERS = { loadDslMain: 'dsl', parseDsl: 'dsl', loadDslAppFile: 'dsl', loadYaml: 'yaml' };
for (const name of readdirSync(join(repo, 'test/config')).filter((n) => n.endsWith('.test.ts')).sort()) {
  const source = `test-${name.replace(/\.test\.ts$/, '')}`;
  const sf = ts.createSourceFile(name, readFileSync(join(repo, 'test/config', name), 'utf8'), ts.ScriptTarget.Latest, true);
  const helpers = new Map(); // const f = (a, b = 1) => expr
  const visitDecl = (n) => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer && ts.isArrowFunction(n.initializer) && !ts.isBlock(n.initializer.body)) helpers.set(n.name.text, n.initializer);
    ts.forEachChild(n, visitDecl);
  };
  visitDecl(sf);
  const NONE = Symbol('none');
  const evalExpr = (e, env = new Map(), depth = 0) => {
    if (depth > 20) return NONE;
    if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e)) return evalExpr(e.expression, env, depth + 1);
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
    if (ts.isNumericLiteral(e)) return Number(e.text);
    if (ts.isIdentifier(e)) return env.has(e.text) ? env.get(e.text) : NONE;
    if (ts.isTemplateExpression(e)) {
      let s = e.head.text;
      for (const span of e.templateSpans) {
        const v = evalExpr(span.expression, env, depth + 1);
        if (v === NONE) return NONE;
        s += String(v) + span.literal.text;
      }
      return s;
    }
    if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      const a = evalExpr(e.left, env, depth + 1);
      const b = evalExpr(e.right, env, depth + 1);
      return a === NONE || b === NONE ? NONE : a + b;
    }
    if (ts.isCallExpression(e)) {
      const callee = e.expression;
      if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'join' && ts.isArrayLiteralExpression(callee.expression)) {
        const parts = callee.expression.elements.map((x) => evalExpr(x, env, depth + 1));
        const sep = e.arguments[0] ? evalExpr(e.arguments[0], env, depth + 1) : ',';
        return parts.includes(NONE) || sep === NONE ? NONE : parts.join(sep);
      }
      if (ts.isIdentifier(callee) && helpers.has(callee.text)) {
        const fn = helpers.get(callee.text);
        const inner = new Map();
        fn.parameters.forEach((p, i) => {
          if (!ts.isIdentifier(p.name)) return;
          const arg = e.arguments[i];
          const v = arg ? evalExpr(arg, env, depth + 1) : p.initializer ? evalExpr(p.initializer, env, depth + 1) : NONE;
          inner.set(p.name.text, v);
        });
        return evalExpr(fn.body, inner, depth + 1);
      }
    }
    return NONE;
  };
  const labelled = new Set();
  const visit = (n) => {
    // { file: 'g.conf', text: ... }
    if (ts.isObjectLiteralExpression(n)) {
      const prop = (k) => n.properties.find((p) => ts.isPropertyAssignment(p) && p.name && ts.isIdentifier(p.name) && p.name.text === k);
      const f = prop('file');
      const t = prop('text');
      if (f && t) {
        const fname = evalExpr(f.initializer);
        const text = evalExpr(t.initializer);
        const syn = typeof fname === 'string' ? syntaxOfName(fname) : null;
        if (syn && typeof text === 'string') { add(syn, source, text); labelled.add(t.initializer); }
      }
      // testdir-style { 'x.conf': text, ... }
      for (const p of n.properties) {
        if (!ts.isPropertyAssignment(p) || !ts.isStringLiteral(p.name)) continue;
        const syn = syntaxOfName(p.name.text);
        const text = evalExpr(p.initializer);
        if (syn && typeof text === 'string') { add(syn, source, text); labelled.add(p.initializer); }
      }
    }
    // ['g.yaml', text, ...]
    if (ts.isArrayLiteralExpression(n) && n.elements.length >= 2) {
      const fname = evalExpr(n.elements[0]);
      const syn = typeof fname === 'string' ? syntaxOfName(fname) : null;
      const text = evalExpr(n.elements[1]);
      if (syn && typeof text === 'string') { add(syn, source, text); labelled.add(n.elements[1]); }
    }
    // loadYaml(text, ...), loadDslMain(text, ...)
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && LOADERS[n.expression.text] && n.arguments[0]) {
      const text = evalExpr(n.arguments[0]);
      if (typeof text === 'string') { add(LOADERS[n.expression.text], source, text); labelled.add(n.arguments[0]); }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  // Unlabelled multi-line or directive-looking texts (e.g. [text, code, line, col] tuples): by what they parse as.
  const rest = (n) => {
    if ((ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateExpression(n) || ts.isCallExpression(n) || ts.isBinaryExpression(n)) && !labelled.has(n)) {
      const text = evalExpr(n);
      if (typeof text === 'string' && /[\n;{]/.test(text) && !/^GV_ERR_/.test(text)) {
        const syn = parsesAs(text);
        if (syn) add(syn, source, text);
      }
    }
    ts.forEachChild(n, rest);
  };
  rest(sf);
}

const count = { yaml: 0, dsl: 0 };
for (const { syntax, name, text } of seeds.values()) {
  mkdirSync(out[syntax], { recursive: true });
  writeFileSync(join(out[syntax], name), text);
  count[syntax]++;
}
console.log(`seeds: ${count.yaml} yaml, ${count.dsl} dsl`);
