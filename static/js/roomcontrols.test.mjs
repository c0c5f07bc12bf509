// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { roomLabels, nextLockExpiry, RoomControls } from './roomcontrols.js';
import { LOCK_MS } from './roomstate.js';

test('roomLabels reads the room\'s label buttons: name, key and colour', () => {
  const b = (name, key, color) => ({ dataset: { roomLabel: name, labelKey: String(key), color } });
  const root = { querySelectorAll: (sel) => (sel === '[data-room-label]' ? [b('orange', 1, '#f90'), b('lime', 2, '#9f0')] : []) };
  assert.deepEqual(roomLabels(root), [{ name: 'orange', key: 1, color: '#f90' }, { name: 'lime', key: 2, color: '#9f0' }]);
});

test('nextLockExpiry: the soonest end of a lock held on another member\'s object', () => {
  const author = (id) => ({ id, name: id });
  const objs = [
    { id: 'a', remote: true, author: author('ana') },
    { id: 'b', remote: true, author: author('ben') },
    { id: 'c', remote: false, author: null }, // own: no lock
    { id: 'd', remote: true, author: author('cy') }, // not locked any more
  ];
  const roomState = {
    lastActive: new Map([['ana', 5000], ['ben', 2000], ['cy', 100]]),
    lockOf: (o) => (o.id === 'a' || o.id === 'b' ? o.author.name : ''),
  };
  assert.equal(nextLockExpiry([], roomState), Infinity);
  assert.equal(nextLockExpiry(objs, roomState), 2000 + LOCK_MS);
  assert.equal(nextLockExpiry(objs.slice(2), roomState), Infinity);
});

test('the Done toggle is shown at once and put back when the server refuses', async (t) => {
  const saved = globalThis.fetch;
  globalThis.fetch = async () => ({ ok: false, status: 403, json: async () => ({ error: { message: 'Closed.' } }) });
  t.after(() => (globalThis.fetch = saved));
  const attrs = {};
  const toggle = { setAttribute: (k, v) => (attrs[k] = v) };
  const root = { querySelector: (sel) => (sel === '[data-done-toggle]' ? toggle : null), querySelectorAll: () => [] };
  const flashes = [];
  const rc = new RoomControls(root, { roomId: 'r1', fileId: '7', session: { removed: false, closed: false }, flash: (x) => flashes.push(x) });
  const p = rc.toggleDone();
  assert.equal(attrs['aria-pressed'], 'true');
  await p;
  assert.equal(attrs['aria-pressed'], 'false');
  assert.deepEqual(flashes, ['Closed.']);
});
