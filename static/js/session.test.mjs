// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { ObjectSession } from './session.js';
import { Annotations } from './objects.js';
import { Outbox } from './outbox.js';

const square = (x, y, s) => ({ vertices: [{ x, y }, { x: x + s, y }, { x: x + s, y: y + s }, { x, y: y + s }] });

/** fetch answering answer(url, body) (default 200 {}); the calls are recorded. */
function fakeFetch(t, answer = () => ({ status: 200, body: {} })) {
  const calls = [];
  const saved = globalThis.fetch;
  globalThis.document = { querySelector: () => ({ content: 'tok' }) };
  globalThis.fetch = async (url, init) => {
    const body = init?.body ? JSON.parse(init.body) : undefined;
    calls.push({ url, init, body });
    const a = answer(url, body);
    if (a instanceof Error) throw a;
    return { status: a.status, ok: a.status < 300, json: async () => a.body };
  };
  t.after(() => {
    globalThis.fetch = saved;
    delete globalThis.document;
  });
  return calls;
}

const settle = () => new Promise((r) => setTimeout(r, 0));

/** A session outside rooms (roomId '') or in room r1, with a real model and recorded flashes. */
function session({ roomId = '', open = true, lockOf = () => '' } = {}) {
  let n = 0;
  const model = new Annotations({ newId: () => `o${++n}`, now: () => 0 });
  const flashes = [];
  const signedOut = [];
  const s = new ObjectSession({
    model, fileId: '7', roomId,
    roomState: roomId ? { lockOf } : null,
    outbox: roomId ? new Outbox() : null,
    storage: { loadObjects: () => [], saveLabels() {}, saveObjects() {} },
    socketOpen: () => open,
    tolerancePx: () => 2,
    flash: (text) => flashes.push(text),
    update: () => {},
    signedOut: (msg) => signedOut.push(msg),
  });
  return { s, model, flashes, signedOut };
}

test('a prompt outside rooms is POSTed to the image\'s segment endpoint with the object\'s id and version', async (t) => {
  const calls = fakeFetch(t);
  const { s, model } = session();
  s.addPoint({ x: 0.5, y: 0.25, label: 1 }, 10, false);
  await settle();
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, '/api/images/7/segment');
  assert.equal(calls[0].init.headers['X-CSRF-Token'], 'tok');
  assert.deepEqual(calls[0].body, { objectId: 'o1', version: 1, points: [{ x: 0.5, y: 0.25, label: 1 }], box: null });
  assert.equal(model.selected.promptAt, 10);
});

test('prompts made while Ctrl is held go out once, on flush, as the last version', async (t) => {
  const calls = fakeFetch(t);
  const { s } = session();
  s.addPoint({ x: 0.1, y: 0.1, label: 1 }, 1, true);
  s.addPoint({ x: 0.2, y: 0.2, label: 0 }, 2, true);
  await settle();
  assert.equal(calls.length, 0);
  s.flush(3);
  await settle();
  assert.equal(calls.length, 1);
  assert.equal(calls[0].body.version, 2);
  assert.equal(calls[0].body.points.length, 2);
});

test('a refused prompt fails its object with the server\'s words; a 401 shows the sign-in banner', async (t) => {
  fakeFetch(t, () => ({ status: 401, body: { error: { message: 'Signed out.' } } }));
  const { s, model, signedOut } = session();
  s.addPoint({ x: 0.5, y: 0.5, label: 1 }, 1, false);
  await settle();
  await settle();
  assert.equal(model.selected.status, 'failed');
  assert.equal(model.selected.error, 'Signed out.');
  assert.deepEqual(signedOut, ['Signed out.']);
});

test('Enter outside rooms waits for a done job, then POSTs accept with the label, detail and prompt', async (t) => {
  const calls = fakeFetch(t);
  const { s, model, flashes } = session();
  s.addPoint({ x: 0.5, y: 0.5, label: 1 }, 1, false);
  await settle();
  const obj = model.selected;
  await s.accept();
  assert.match(flashes.at(-1), /wait until the segment is done/);
  model.applyEvent({ objectId: obj.id, version: 1, status: 'done', segments: [{ score: 1, polygons: [square(0.4, 0.4, 0.2)] }] });
  s.setLabel(obj, 'cat', true); // typed here: the label is chosen
  await s.accept();
  const accept = calls.find((c) => c.url === '/api/images/7/objects/o1/accept');
  assert.ok(accept, 'accept was posted');
  assert.deepEqual(accept.body, { version: 1, label: 'cat', tolerancePx: 2, points: [{ x: 0.5, y: 0.5, label: 1 }], box: null });
  assert.equal(obj.save.state, 'saving');
  assert.equal(model.selected, null, 'the next click starts a new object');
});

/** A solo session with one done object (label as given); askLabel calls are recorded. */
async function doneObject(t, label) {
  const calls = fakeFetch(t);
  const ctx = session();
  const asked = [];
  ctx.s.askLabel = (obj) => asked.push(obj.id);
  ctx.s.addPoint({ x: 0.5, y: 0.5, label: 1 }, 1, false);
  await settle();
  const obj = ctx.model.selected;
  obj.label = label;
  ctx.model.applyEvent({ objectId: obj.id, version: 1, status: 'done', segments: [{ score: 1, polygons: [square(0.4, 0.4, 0.2)] }] });
  const accepts = () => calls.filter((c) => c.url.endsWith('/accept'));
  return { ...ctx, obj, asked, accepts };
}

test('Enter on an object with no label never saves it: the label picker opens, Enter there accepts', async (t) => {
  const { s, obj, asked, accepts, flashes } = await doneObject(t, '');
  await s.accept();
  assert.equal(accepts().length, 0, 'nothing saved as "object"');
  assert.deepEqual(asked, ['o1']);
  assert.match(flashes.at(-1), /no label: type one/);
  await s.accept(obj, { picked: true }); // Enter in the picker, still empty
  assert.equal(accepts().length, 0);
  assert.match(flashes.at(-1), /Type a label first/);
  s.setLabel(obj, 'lime', true);
  await s.accept(obj, { picked: true });
  assert.equal(accepts().length, 1);
  assert.equal(accepts()[0].body.label, 'lime');
});

test('the first accept on an image asks about a sticky label nobody chose here; the next ones do not', async (t) => {
  const { s, model, obj, asked, accepts, flashes } = await doneObject(t, 'orange');
  await s.accept();
  assert.equal(accepts().length, 0, 'a lime is not saved as "orange" unasked');
  assert.match(flashes.at(-1), /Accept as “orange”\?/);
  await s.accept(obj, { picked: true }); // Enter in the picker: yes, orange
  assert.equal(accepts().length, 1);
  s.addPoint({ x: 0.2, y: 0.2, label: 1 }, 5, false);
  await settle();
  const next = model.selected;
  next.label = 'orange';
  model.applyEvent({ objectId: next.id, version: 1, status: 'done', segments: [{ score: 1, polygons: [square(0.1, 0.1, 0.2)] }] });
  await s.accept();
  assert.equal(accepts().length, 2, 'asked once per image');
  assert.equal(asked.length, 1);
});

test('a label picked with 1–9 on this image counts as chosen: Enter accepts at once', async (t) => {
  const { s, model, accepts } = await doneObject(t, '');
  model.useLabel('cat');
  s.pickLabel(1);
  await s.accept();
  assert.equal(accepts().length, 1);
  assert.equal(accepts()[0].body.label, 'cat');
});

test('in a room, a prompt while the socket is down waits in the outbox and goes out on flushOutbox', async (t) => {
  const calls = fakeFetch(t);
  let open = false;
  const { s, model } = session({ roomId: 'r1' });
  s.socketOpen = () => open;
  s.addPoint({ x: 0.3, y: 0.3, label: 1 }, 1, false);
  await settle();
  assert.equal(calls.length, 0);
  assert.equal(model.selected.offline, true);
  assert.equal(s.pending('o1'), true);
  open = true;
  s.flushOutbox();
  await settle();
  await settle();
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, '/api/rooms/r1/images/7/objects/o1/prompt');
  assert.equal(calls[0].body.version, 1);
  assert.equal(model.selected.offline, false);
  assert.equal(model.selected.known, true);
});

test('in a room, one object\'s commands land in order: the label edit waits for its prompt', async (t) => {
  const order = [];
  let release;
  const gate = new Promise((r) => (release = r));
  const saved = globalThis.fetch;
  globalThis.document = { querySelector: () => null };
  globalThis.fetch = async (url) => {
    order.push(`start ${url.endsWith('/prompt') ? 'prompt' : 'edit'}`);
    if (url.endsWith('/prompt')) await gate;
    order.push(`end ${url.endsWith('/prompt') ? 'prompt' : 'edit'}`);
    return { status: 200, ok: true, json: async () => ({}) };
  };
  t.after(() => {
    globalThis.fetch = saved;
    delete globalThis.document;
  });
  const { s, model } = session({ roomId: 'r1' });
  s.addPoint({ x: 0.3, y: 0.3, label: 1 }, 1, false);
  s.setLabel(model.selected, 'dog', true);
  await settle();
  assert.deepEqual(order, ['start prompt']);
  release();
  await settle();
  await settle();
  assert.deepEqual(order, ['start prompt', 'end prompt', 'start edit', 'end edit']);
});

test('another member\'s locked object is not prompted: the flash names who holds it', (t) => {
  fakeFetch(t);
  const { s, model, flashes } = session({ roomId: 'r1', lockOf: () => 'Ana' });
  model.applyRemote({ objectId: 'x1', version: 1, authorId: 'u2', authorName: 'Ana', prompt: { points: [{ x: 0.1, y: 0.1, label: 1 }], box: null } }, 'u1');
  model.select('x1');
  assert.equal(s.mayPrompt(), false);
  assert.match(flashes.at(-1), /Ana is segmenting this/);
  assert.equal(s.mayEdit(model.selected), false);
});

test('delete outside rooms is undoable until written; once its write was asked for, the server deletes it', async (t) => {
  const calls = fakeFetch(t);
  const { s, model, flashes } = session();
  s.addPoint({ x: 0.5, y: 0.5, label: 1 }, 1, false);
  await settle();
  s.remove();
  assert.match(flashes.at(-1), /Ctrl\+Z brings it back/);
  s.undo(2);
  const obj = model.byId('o1');
  assert.ok(obj, 'undo brought it back');
  obj.save = { version: 1, op: 'create', state: 'saving' };
  model.select('o1');
  s.remove();
  await settle();
  assert.ok(calls.some((c) => c.url === '/api/images/7/objects/o1/delete'));
});

test('pickLabel: a room without a label on the key says so; outside rooms the key picks a recent label', (t) => {
  fakeFetch(t);
  const room = session({ roomId: 'r1' });
  room.model.fixedLabels = true;
  room.model.recent = ['orange'];
  room.s.pickLabel(2);
  assert.equal(room.flashes.at(-1), 'The room has no label on 2.');
  const solo = session();
  solo.model.useLabel('cat');
  solo.s.pickLabel(1);
  assert.equal(solo.flashes.at(-1), 'Label: cat');
  assert.equal(solo.model.sticky, 'cat');
});
