import t from 'tap';
import { HoldQueue } from '../../src/engines/hold-queue.js';
import { TargetSet, TargetState } from '../../src/engines/targets.js';

class Counted extends TargetState {
  n = 0;
  override open(): number {
    return this.n;
  }
}

t.test('a target set picks round robin, keeps a state while its address stays, and forgets idle old ones', async (t) => {
  const set = new TargetSet((tg) => new Counted(tg));
  const [a, b] = set.set([{ id: 'a', host: 'h', port: 1 }, { id: 'b', host: 'h', port: 2 }]);
  t.same([set.pick(), set.pick(), set.pick()], [a, b, a]);
  a!.n = 1;
  set.set([{ id: 'b', host: 'h', port: 2 }]);
  t.equal(set.get('a'), a, 'a target with work in flight is remembered');
  t.equal(set.set([{ id: 'b', host: 'h', port: 3 }])[0] === b, false, 'a new address is a new state');
  a!.n = 0;
  set.set([]);
  t.equal(set.get('a'), undefined, 'an old target with nothing open is forgotten');
});

t.test('drain waits for a target to go idle, or times out with what is still open', async (t) => {
  const set = new TargetSet((tg) => new Counted(tg));
  const [a] = set.set([{ id: 'a', host: 'h', port: 1 }]);
  a!.n = 2;
  set.set([]);
  const timedOut = await set.drain(a!.target, 30);
  t.same({ drained: timedOut.drained, open: timedOut.open }, { drained: false, open: 2 });
  t.ok(timedOut.elapsedMs >= 25, `waited its timeout (${timedOut.elapsedMs} ms)`);
  const drained = set.drain(a!.target, 60_000);
  a!.n = 1;
  a!.settle();
  a!.n = 0;
  a!.settle();
  t.match(await drained, { drained: true, open: 0 });
  t.equal(set.get('a'), undefined, 'a drained old target is forgotten');
  t.same(await set.drain({ id: 'nope', host: 'h', port: 9 }, 10), { drained: true, open: 0, elapsedMs: 0 });
});

t.test('a hold queue releases in arrival order, forgets removed items and expires the rest', async (t) => {
  const expired: string[] = [];
  const q = new HoldQueue<string>(40, (x) => expired.push(x));
  q.add('one');
  q.add('two');
  q.add('three');
  t.equal(q.remove('two'), true);
  t.equal(q.remove('two'), false, 'removing twice is a no-op');
  t.same(q.takeAll(), ['one', 'three']);
  t.equal(q.size, 0);
  q.add('late');
  await new Promise((r) => setTimeout(r, 120));
  t.same(expired, ['late'], 'only what was still held expired');
});
