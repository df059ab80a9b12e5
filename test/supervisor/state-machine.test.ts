import t from 'tap';
import { APP_TRANSITIONS } from '../../src/supervisor/app.js';
import { INSTANCE_TRANSITIONS } from '../../src/supervisor/instance.js';
import { StateMachine, type TransitionTable } from '../../src/supervisor/state-machine.js';

t.test('a state machine moves only along its table and throws GV_ERR_INTERNAL on anything else', async (t) => {
  const table: TransitionTable<'a' | 'b' | 'c'> = { a: ['b'], b: ['c'], c: [] };
  const m = new StateMachine('test thing', table, 'a');
  t.equal(m.to('a'), null, 'staying put is no transition');
  t.equal(m.to('b'), 'a', 'returns the state it left');
  t.ok(m.is('b'));
  t.ok(m.can('c'));
  t.notOk(m.can('a'));
  t.throws(() => m.to('a'), { code: 'GV_ERR_INTERNAL', details: { machine: 'test thing', from: 'b', to: 'a' } });
  t.equal(m.state, 'b', 'an illegal transition changes nothing');
  m.to('c');
  t.throws(() => m.to('b'), { code: 'GV_ERR_INTERNAL' }, 'a terminal state has no way out');
});

t.test('the instance table is the documented machine', async (t) => {
  const paths: string[][] = [
    ['new', 'starting', 'serving', 'draining', 'stopping', 'stopped'],
    ['new', 'starting', 'serving', 'draining', 'stopping', 'killed'],
    ['new', 'starting', 'failed'],
    ['new', 'starting', 'timed_out'],
    ['new', 'failed'],
    ['new', 'starting', 'serving', 'exited'],
    ['new', 'starting', 'serving', 'unhealthy', 'draining', 'stopping', 'stopped'],
    ['new', 'starting', 'stopping', 'killed'],
  ];
  for (const path of paths) {
    const m = new StateMachine('i', INSTANCE_TRANSITIONS, 'new');
    for (const s of path.slice(1)) m.to(s as keyof typeof INSTANCE_TRANSITIONS);
    t.equal(m.state, path.at(-1), path.join(' → '));
  }
  for (const terminal of ['stopped', 'killed', 'failed', 'timed_out', 'exited'] as const) t.same(INSTANCE_TRANSITIONS[terminal], [], `${terminal} is terminal`);
  const m = new StateMachine('i', INSTANCE_TRANSITIONS, 'serving');
  t.throws(() => m.to('starting'), { code: 'GV_ERR_INTERNAL' }, 'a serving instance never starts again');
});

t.test('the app table lets every state be stopped and removed, and removed is final', async (t) => {
  for (const s of ['starting', 'running', 'restarting', 'fatal'] as const) {
    t.ok(APP_TRANSITIONS[s].includes('stopping') && APP_TRANSITIONS[s].includes('removed'), `${s} can be stopped and removed`);
  }
  t.same(APP_TRANSITIONS.removed, []);
  t.notOk(APP_TRANSITIONS.stopped.includes('running'), 'a stopped app starts before it runs');
});
