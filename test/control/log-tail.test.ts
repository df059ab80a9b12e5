import t from 'tap';
import { mkdtemp, rm, writeFile, appendFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followFile, readLastLines } from '../../src/control/log-tail.js';
import { within } from '../helpers/wait.js';

async function tempDir(t: Tap.Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gv-tail-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('readLastLines counts a last line without its newline and reads across chunk boundaries', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'a.log');
  await writeFile(file, 'one\ntwo\nthree');
  t.equal((await readLastLines(file, 2)).text.toString(), 'two\nthree');
  t.equal((await readLastLines(file, 5)).text.toString(), 'one\ntwo\nthree');
  t.equal((await readLastLines(file, 0)).text.toString(), '');
  // Lines longer than the 64 KiB read chunk.
  const long = 'x'.repeat(100_000);
  await writeFile(file, `${long}1\n${long}2\n${long}3\n`);
  const r = await readLastLines(file, 2);
  t.equal(r.text.toString(), `${long}2\n${long}3\n`);
  t.equal(r.position, 3 * 100_002);
  t.equal((await readLastLines(file, 3)).text.length, 3 * 100_002);
  t.same(await readLastLines(join(dir, 'missing.log'), 3), { text: Buffer.alloc(0), position: 0, ino: null });
  await writeFile(file, '\n\n\n');
  t.equal((await readLastLines(file, 2)).text.toString(), '\n\n', 'empty lines are lines');
});

t.test('followFile waits for a file that does not exist yet and stops when aborted', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'later.log');
  const ac = new AbortController();
  let got = '';
  const following = followFile(file, { position: 0, ino: null }, async (c) => { got += c.toString(); }, ac.signal, 10);
  await new Promise((r) => setTimeout(r, 50));
  await writeFile(file, 'hello\n');
  const until = async (s: string) => { for (let i = 0; i < 500 && !got.includes(s); i++) await new Promise((r) => setTimeout(r, 10)); };
  await until('hello\n');
  t.equal(got, 'hello\n');
  // The file vanishing for a while is not an error either.
  await unlink(file);
  await new Promise((r) => setTimeout(r, 50));
  await writeFile(file, 'again\n');
  await appendFile(file, 'more\n');
  await until('more\n');
  t.equal(got, 'hello\nagain\nmore\n');
  ac.abort();
  await t.resolves(within(following, 5_000, 'followFile after abort'), 'followFile resolves once aborted');
  await appendFile(file, 'after abort\n');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(got, 'hello\nagain\nmore\n', 'and reads nothing more');
});
