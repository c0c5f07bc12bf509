// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { PageStorage } from './storage.js';
import { Annotations } from './objects.js';

function memory() {
  const m = new Map();
  return { m, getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
}

test('labels outside rooms survive a new page; a room\'s labels are never stored', () => {
  const local = memory();
  const a = new Annotations();
  a.useLabel('cat');
  a.sticky = 'cat';
  new PageStorage({ fileId: '7', local, session: memory() }).saveLabels(a);
  const b = new Annotations();
  new PageStorage({ fileId: '8', local, session: memory() }).loadLabels(b);
  assert.deepEqual(b.recent, ['cat']);
  assert.equal(b.sticky, 'cat');
  const roomLocal = memory();
  new PageStorage({ fileId: '7', roomId: 'r1', local: roomLocal, session: memory() }).saveLabels(a);
  assert.equal(roomLocal.m.size, 0);
});

test('objects are kept per image (and per room), and the key goes when none is left', () => {
  const session = memory();
  const a = new Annotations();
  a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  const solo = new PageStorage({ fileId: '7', local: memory(), session });
  solo.saveObjects(a);
  assert.deepEqual([...session.m.keys()], ['lasso.objects.7']);
  const room = new PageStorage({ fileId: '7', roomId: 'r1', local: memory(), session });
  assert.equal(room.objectsKey(), 'lasso.objects.room:r1:7');
  const b = new Annotations();
  assert.equal(solo.loadObjects(b).length, 1);
  assert.equal(b.objects[0].prompt.points.length, 1);
  solo.saveObjects(new Annotations());
  assert.equal(session.m.size, 0);
});

test('corrupt or unavailable storage starts empty instead of failing', () => {
  const broken = { getItem: () => '{not json', setItem: () => { throw new Error('quota'); }, removeItem: () => { throw new Error('x'); } };
  const s = new PageStorage({ fileId: '7', local: broken, session: broken });
  const a = new Annotations();
  s.loadLabels(a);
  assert.deepEqual(a.recent, []);
  assert.deepEqual(s.loadObjects(a), []);
  a.addPoint({ x: 0.1, y: 0.1, label: 1 });
  assert.doesNotThrow(() => {
    s.saveLabels(a);
    s.saveObjects(a);
  });
});
