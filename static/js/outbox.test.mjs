// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { Outbox } from './outbox.js';

test('a newer prompt version replaces the queued one; an older one is refused', () => {
  const o = new Outbox();
  assert.ok(o.putPrompt('a', 1, { version: 1 }));
  assert.ok(o.putPrompt('a', 3, { version: 3 }));
  assert.equal(o.putPrompt('a', 2, { version: 2 }), false);
  assert.equal(o.size, 1);
  assert.deepEqual(o.take(), [{ kind: 'prompt', objectId: 'a', version: 3, body: { version: 3 } }]);
});

test('take hands every command out once, prompts before edits', () => {
  const o = new Outbox();
  o.putEdit('a', { label: 'car' });
  o.putPrompt('a', 1, { v: 1 });
  o.putPrompt('b', 2, { v: 2 });
  o.putEdit('a', { accepted: true });
  const got = o.take();
  assert.deepEqual(got.map((c) => [c.kind, c.objectId]), [['prompt', 'a'], ['prompt', 'b'], ['edit', 'a']]);
  assert.deepEqual(got[2].body, { label: 'car', accepted: true });
  assert.equal(o.size, 0);
  assert.deepEqual(o.take(), [], 'exactly once');
});

test('requeue keeps a failed command unless something newer was queued', () => {
  const o = new Outbox();
  o.putPrompt('a', 1, { v: 1 });
  o.putEdit('a', { label: 'car', accepted: true });
  const [p, e] = o.take();
  o.putPrompt('a', 2, { v: 2 }); // a newer prompt while the old one was in flight
  o.putEdit('a', { label: 'bus' });
  assert.equal(o.requeue(p), false);
  o.requeue(e);
  const again = o.take();
  assert.deepEqual(again.map((c) => c.version ?? c.body), [2, { label: 'bus', accepted: true }]);
  o.putPrompt('x', 1, {});
  o.putEdit('x', { deleted: true });
  o.drop('x');
  assert.equal(o.size, 0);
});
