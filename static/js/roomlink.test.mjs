// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { RoomLink } from './roomlink.js';
import { Annotations } from './objects.js';
import { Outbox } from './outbox.js';

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

/** fetch answering answer(url, body); calls recorded. */
function fakeFetch(t, answer) {
  const calls = [];
  const saved = globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    const body = init?.body ? JSON.parse(init.body) : undefined;
    calls.push({ url, body });
    const a = answer(url, body);
    if (a instanceof Error) throw a;
    return { status: a.status, ok: a.status < 300, json: async () => a.body || {} };
  };
  t.after(() => (globalThis.fetch = saved));
  return calls;
}

function setup({ open = true } = {}) {
  let n = 0;
  const model = new Annotations({ newId: () => `o${++n}`, now: () => 0 });
  const flashes = [];
  const signedOut = [];
  const state = { open };
  const link = new RoomLink({
    model, roomId: 'r 1', fileId: '7', outbox: new Outbox(), socketOpen: () => state.open,
    flash: (t) => flashes.push(t), update: () => {}, signedOut: (m) => signedOut.push(m),
  });
  return { link, model, flashes, signedOut, state };
}

test('objectURL escapes the room, file and object ids', () => {
  const { link } = setup();
  assert.equal(link.objectURL('a/b', '/prompt'), '/api/rooms/r%201/images/7/objects/a%2Fb/prompt');
});

test('a prompt lost in transit is requeued and sent once when the socket is back', async (t) => {
  let fail = true;
  const calls = fakeFetch(t, () => (fail ? new TypeError('offline') : { status: 200 }));
  const { link, model } = setup();
  const obj = model.addPoint({ x: 0.5, y: 0.5, label: 1 });
  await link.sendPrompt(obj);
  assert.equal(obj.offline, true);
  assert.equal(link.pending(obj.id), true, 'still queued');
  fail = false;
  link.flush();
  await settle();
  assert.equal(calls.length, 2);
  assert.equal(obj.offline, false);
  assert.equal(obj.known, true);
  link.flush();
  await settle();
  assert.equal(calls.length, 2, 'each command once');
  clearTimeout(link.reflushTimer);
});

test('a refused prompt: 409 offers Take over, 401 shows the sign-in banner', async (t) => {
  let answer = { status: 409, body: { error: { message: 'Ana is segmenting this' } } };
  fakeFetch(t, () => answer);
  const { link, model, signedOut } = setup();
  const obj = model.addPoint({ x: 0.5, y: 0.5, label: 1 });
  await link.sendPrompt(obj);
  assert.equal(obj.conflict, 'Ana is segmenting this');
  assert.equal(obj.status, 'failed');
  answer = { status: 401, body: { error: { message: 'Signed out.' } } };
  model.addPoint({ x: 0.6, y: 0.5, label: 1 });
  await link.sendPrompt(obj);
  assert.deepEqual(signedOut, ['Signed out.']);
});

test('edits wait behind a queued prompt; deleting an object the room never got only drops it', async (t) => {
  const calls = fakeFetch(t, () => ({ status: 200 }));
  const { link, model, state } = setup({ open: false });
  const obj = model.addPoint({ x: 0.5, y: 0.5, label: 1 });
  link.sendPrompt(obj);
  link.sendEdit(obj, { label: 'cat' });
  assert.equal(link.outbox.size, 2);
  link.deleteObject(obj);
  assert.equal(link.outbox.size, 0, 'never reached the room: nothing to send');
  state.open = true;
  link.flush();
  await settle();
  assert.equal(calls.length, 0);
});

test('an edit answered 404 is quiet (the object is gone); another refusal is told', async (t) => {
  let status = 404;
  fakeFetch(t, () => ({ status, body: { error: { message: 'Closed room.' } } }));
  const { link, model, flashes } = setup();
  const obj = model.addPoint({ x: 0.5, y: 0.5, label: 1 });
  await link.sendEdit(obj, { label: 'cat' });
  assert.deepEqual(flashes, []);
  status = 403;
  await link.sendEdit(obj, { label: 'dog' });
  assert.deepEqual(flashes, ['Closed room.']);
});
