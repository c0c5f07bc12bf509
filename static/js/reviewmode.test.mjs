// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { ReviewMode } from './reviewmode.js';

const sq = (x, y) => ({ vertices: [{ x, y }, { x: x + 0.1, y }, { x: x + 0.1, y: y + 0.1 }, { x, y: y + 0.1 }] });
const obj = (id, x, y, extra = {}) => ({
  id, version: 1, accepted: true, status: 'done', known: true, prompt: { points: [{ x, y, label: 1 }], box: null },
  segments: [{ score: 0.9, polygons: [sq(x, y)] }], segIndex: 0, boundingBox: null, review: '', ...extra,
});

/** window, history and Element as ReviewMode uses them; url: the page's address. */
function page(t, url) {
  const loc = new URL(url);
  const assigned = [];
  globalThis.window = { location: { get search() { return loc.search; }, get href() { return loc.href; }, assign: (u) => assigned.push(u) } };
  globalThis.history = { state: null, replaceState: (_s, _t, u) => { const n = new URL(u); loc.search = n.search; } };
  globalThis.Element = class {};
  t.after(() => {
    delete globalThis.window;
    delete globalThis.history;
    delete globalThis.Element;
  });
  return { loc, assigned };
}

/** A stand-in Annotator in a room, with the objects given; flashes and posts are recorded. */
function annotator(objects, { role = 'reviewer', post } = {}) {
  const a = {
    inRoom: true, removed: false, closed: false, me: 'u1', fileId: '7', roomId: 'r1', canvas: {},
    flashes: [], posts: [], updates: 0,
    model: {
      objects, selectedId: null,
      get selected() { return this.objects.find((o) => o.id === this.selectedId) || null; },
      select(id) { this.selectedId = id; },
      newObject() { this.selectedId = null; },
    },
    roomState: { roleOf: () => role, nameOf: () => 'Ben', images: new Map([['7', { fileId: '7' }]]) },
    flash: (text) => a.flashes.push(text),
    update: () => a.updates++,
    flush: () => {},
    objectURL: (id, suffix) => `/api/rooms/r1/images/7/objects/${id}${suffix}`,
    postJSON: async (url, body) => {
      a.posts.push({ url, body });
      return post ? post(url, body) : { ok: true, status: 200 };
    },
  };
  return a;
}

const root = (role = 'member') => ({ dataset: { role }, querySelector: () => null, classList: { toggle() {} } });
const opts = { errorMessage: async () => 'refused', signedOut: () => {} };

test('ReviewMode reads ?review=1 and ?from= only in a room; the role from the page until the room tells it', (t) => {
  page(t, 'http://h/rooms/r1/images/7?review=1&from=3');
  const a = annotator([], { role: '' });
  const r = new ReviewMode(root('owner'), a, opts);
  assert.equal(r.wanted, true);
  assert.equal(r.from, '3');
  assert.equal(r.myRole(), 'owner');
  assert.equal(r.canReview(), true);
  a.inRoom = false;
  const solo = new ReviewMode(root('owner'), a, opts);
  assert.equal(solo.wanted, false);
  assert.equal(solo.from, '');
  assert.equal(solo.canReview(), false);
});

test('ReviewMode keys: each one to its action, and what it refuses', (t) => {
  page(t, 'http://h/rooms/r1/images/7');
  const r = new ReviewMode(root(), annotator([]), opts);
  const calls = [];
  r.step = (dir) => calls.push(['step', dir]);
  r.decide = (d) => calls.push(['decide', d]);
  r.go = (dir) => calls.push(['go', dir]);
  r.setReviewing = (on) => calls.push(['set', on]);
  const key = (k, e = {}) => r.onKey({ target: null, shiftKey: false, ...e }, k);
  for (const k of ['Tab', 'j', 'J', 'k', 'K', 'a', 'A', 'r', 'R', 'u', 'U', 'ArrowRight', 'd', 'D', 'ArrowLeft', 'v', 'V']) assert.equal(key(k), true, k);
  assert.equal(key('Tab', { shiftKey: true }), true);
  assert.deepEqual(calls, [
    ['step', 1], ['step', 1], ['step', 1], ['step', -1], ['step', -1],
    ['decide', 'approved'], ['decide', 'approved'], ['decide', 'rejected'], ['decide', 'rejected'], ['decide', ''], ['decide', ''],
    ['go', 1], ['go', 1], ['go', 1], ['go', -1], ['set', false], ['set', false], ['step', -1],
  ]);
  for (const k of ['Enter', 'n', 'Delete', 'Backspace', '3', 'Escape']) assert.equal(key(k), true, k);
  assert.equal(key('f'), false);
  assert.equal(key('+'), false);
  assert.deepEqual(r.a.flashes.slice(0, 2), [
    'Review mode: A approves, R rejects — press V to leave it and edit objects.',
    'Review mode: A approves, R rejects — press V to leave it and edit objects.',
  ]);
  assert.equal(r.a.flashes[4], 'Review mode: labels stay as they are — press V to leave it and edit objects.');
  // Tab from one of the panel's buttons moves the focus as usual.
  const button = Object.assign(new globalThis.Element(), { closest: () => ({}) });
  assert.equal(key('Tab', { target: button }), false);
  // The toolbar's editing actions are refused only while it is on.
  assert.equal(r.refuses('undo'), false);
  r.on = true;
  assert.equal(r.refuses('undo'), true);
  assert.equal(r.refuses('fit'), false);
});

test('ReviewMode.decide: shown at once, the next awaiting one is selected, a refusal puts it back', async (t) => {
  const { loc } = page(t, 'http://h/rooms/r1/images/7?review=1');
  const objects = [obj('a', 0.1, 0.1), obj('b', 0.1, 0.5)];
  let answer = { ok: true, status: 200 };
  const a = annotator(objects, { post: () => answer });
  const r = new ReviewMode(root(), a, opts);
  r.setReviewing(true);
  assert.equal(r.on, true);
  assert.equal(a.model.selectedId, 'a');
  await r.decide('approved');
  assert.deepEqual(a.posts.at(-1), { url: '/api/rooms/r1/images/7/objects/a/review', body: { version: 1, decision: 'approved' } });
  assert.equal(objects[0].review, 'approved');
  assert.equal(objects[0].reviewerName, 'Ben');
  assert.equal(a.model.selectedId, 'b');
  assert.equal(a.flashes.at(-1), 'Approved the object.');
  answer = { ok: false, status: 409 };
  await r.decide('rejected');
  assert.equal(objects[1].review, '');
  assert.equal(a.model.selectedId, 'b');
  assert.equal(a.flashes.at(-1), 'refused');
  answer = { ok: true, status: 200 };
  await r.decide('rejected');
  assert.equal(objects[1].review, 'rejected');
  assert.equal(a.model.selectedId, null);
  assert.equal(r.doneText, 'All reviewed on this image; nothing else to review in this room.');
  r.setReviewing(false);
  assert.equal(loc.search, '');
});
