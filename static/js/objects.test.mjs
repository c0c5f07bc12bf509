// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { Annotations, requestBody, promptIsEmpty, currentPolygons, MAX_RECENT, roomPromptBody, parsePrompt } from './objects.js';

function fresh() {
  let n = 0;
  let t = 0;
  return new Annotations({ newId: () => `obj-${++n}`, now: () => (t += 10) });
}

const square = (x, y, s) => ({ vertices: [{ x, y }, { x: x + s, y }, { x: x + s, y: y + s }, { x, y: y + s }] });
const done = (obj, extra = {}) => ({
  objectId: obj.id, version: obj.version, status: 'done', elapsedMs: 900,
  segments: [{ score: 0.9, polygons: [square(0.1, 0.1, 0.2), square(0.5, 0.5, 0.1)] }],
  boundingBox: { xMin: 0.1, yMin: 0.1, xMax: 0.6, yMax: 0.6 }, ...extra,
});

test('the first point creates a selected object with version 1 and the sticky label', () => {
  const a = fresh();
  a.sticky = 'car';
  const obj = a.addPoint({ x: 0.5, y: 0.25, label: 1 });
  assert.equal(a.objects.length, 1);
  assert.equal(a.selected, obj);
  assert.equal(obj.version, 1);
  assert.equal(obj.label, 'car');
  assert.deepEqual(requestBody(obj), {
    objectId: 'obj-1', version: 1, points: [{ x: 0.5, y: 0.25, label: 1 }], box: null,
  });
  a.setBox({ xMin: 0.1, yMin: 0.2, xMax: 0.3, yMax: 0.4 });
  assert.equal(obj.version, 2);
  assert.deepEqual(requestBody(obj).box, { xMin: 0.1, yMin: 0.2, xMax: 0.3, yMax: 0.4 });
});

test('events drive status forward; the trail lists distinct statuses of this version', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  const ev = (status, extra) => ({ objectId: obj.id, version: 1, status, ...extra });
  assert.equal(a.applyEvent(ev('queued')), obj);
  assert.equal(a.applyEvent(ev('running', { elapsedMs: 100 })), obj);
  assert.equal(a.applyEvent(ev('running', { elapsedMs: 600 })), obj, 'elapsed updates');
  assert.equal(obj.elapsedMs, 600);
  assert.equal(a.applyEvent(ev('queued')), null, 'never backwards');
  assert.equal(a.applyEvent(done(obj)), obj);
  assert.equal(a.applyEvent(ev('failed', { error: 'late' })), null, 'terminal is terminal');
  assert.equal(obj.status, 'done');
  assert.deepEqual(obj.trail, ['queued', 'running', 'done']);
  assert.equal(currentPolygons(obj).length, 2);
});

test('a newer prompt clears the old result at once and stale events are ignored', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  const v1 = obj.version;
  a.applyEvent({ objectId: obj.id, version: v1, status: 'running' });
  a.addPoint({ x: 0.6, y: 0.5, label: 0 });
  assert.equal(obj.status, 'idle');
  assert.deepEqual(obj.trail, []);
  // The old job finishes after the new prompt: never drawn.
  assert.equal(a.applyEvent(done(obj, { version: v1 })), null);
  assert.equal(currentPolygons(obj).length, 0);
  assert.equal(obj.boundingBox, null);
  // Even a done that arrives for v1 after v2 is done is ignored.
  assert.ok(a.applyEvent(done(obj)));
  const drawn = obj.segments;
  assert.equal(a.applyEvent(done(obj, { version: v1, segments: [] })), null);
  assert.equal(obj.segments, drawn);
});

test('events for unknown objects and malformed events are ignored', () => {
  const a = fresh();
  a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  assert.equal(a.applyEvent({ objectId: 'someone-else', version: 1, status: 'done' }), null);
  assert.equal(a.applyEvent(null), null);
  assert.equal(a.applyEvent({ objectId: 'obj-1', version: 1, status: 'exploded' }), null);
  assert.equal(a.applyEvent({ objectId: 'obj-1', version: '1', status: 'done' }), null);
});

test('failed events keep the reason; retry bumps the version and clears', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.applyEvent({ objectId: obj.id, version: 1, status: 'failed', error: 'CDF is throttling', retryable: true });
  assert.equal(obj.error, 'CDF is throttling');
  assert.equal(obj.retryable, true);
  assert.equal(a.retry(obj), obj);
  assert.equal(obj.version, 2);
  assert.equal(obj.status, 'idle');
  assert.deepEqual(obj.prompt.points, [{ x: 0.5, y: 0.5, label: 1 }]);
});

test('markFailed applies only to the current version', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.addPoint({ x: 0.2, y: 0.5, label: 1 });
  assert.equal(a.markFailed(obj, 1, 'old'), false);
  assert.equal(a.markFailed(obj, 2, 'Your sign-in expired', false), true);
  assert.equal(obj.status, 'failed');
  assert.deepEqual(obj.trail, ['failed']);
});

test('removing every point leaves an empty prompt with a new version and no result', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.applyEvent(done(obj));
  assert.equal(a.removePoint(0), obj);
  assert.ok(promptIsEmpty(obj.prompt));
  assert.equal(obj.version, 2);
  assert.equal(currentPolygons(obj).length, 0);
  assert.equal(a.removePoint(0), null);
  assert.equal(a.clearPrompt(), null, 'nothing to clear');
});

test('Esc clears the prompt; undo brings it back as a new version', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.addPoint({ x: 0.6, y: 0.5, label: 0 });
  a.clearPrompt();
  assert.ok(promptIsEmpty(obj.prompt));
  const u = a.undo();
  assert.deepEqual(u, { obj, prompt: true });
  assert.equal(obj.prompt.points.length, 2);
  assert.equal(obj.version, 4);
  const r = a.redo();
  assert.deepEqual(r, { obj, prompt: true });
  assert.ok(promptIsEmpty(obj.prompt));
});

test('undo walks prompts first, then objects; redo mirrors it', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.addPoint({ x: 0.1, y: 0.1, label: 0 });
  assert.equal(a.undo().prompt, true); // 1 point
  assert.equal(a.undo().prompt, true); // empty
  assert.ok(promptIsEmpty(obj.prompt));
  const u = a.undo(); // the object itself
  assert.equal(u.prompt, undefined);
  assert.equal(a.objects.length, 0);
  assert.equal(a.undo(), null);
  a.redo();
  assert.equal(a.objects.length, 1);
  assert.equal(a.selected, obj);
  assert.equal(a.redo().prompt, true);
  assert.equal(obj.prompt.points.length, 1);
  assert.equal(a.redo().prompt, true);
  assert.equal(obj.prompt.points.length, 2);
  assert.equal(a.redo(), null);
});

test('accept deselects and keeps the label sticky; undo reopens; delete is undoable', () => {
  const a = fresh();
  const first = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.setLabel(first, 'person');
  assert.equal(a.accept(), first);
  assert.equal(first.accepted, true);
  assert.equal(a.selected, null);
  assert.deepEqual(a.recent, ['person']);
  const second = a.addPoint({ x: 0.2, y: 0.2, label: 1 });
  assert.notEqual(second, first);
  assert.equal(second.label, 'person', 'sticky label');
  assert.notEqual(second.color, first.color, 'own colour');
  assert.equal(a.accept(second), second);
  // Nothing selected: undo is object-level.
  a.undo();
  assert.equal(second.accepted, false);
  assert.equal(a.selected, second);
  assert.equal(a.remove(), second);
  assert.equal(a.objects.length, 1);
  a.undo();
  assert.equal(a.objects.length, 2);
  assert.equal(a.selected, second);
  // Changing an accepted object's prompt reopens it.
  a.select(first.id);
  a.addPoint({ x: 0.7, y: 0.7, label: 0 });
  assert.equal(first.accepted, false);
});

test('accepting an empty object does nothing; N deselects', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.clearPrompt();
  assert.equal(a.accept(), null);
  a.newObject();
  assert.equal(a.selected, null);
  assert.equal(a.current, obj, 'hooks fall back to the last object');
});

test('recent labels keep their slots; 1–9 pick and apply', () => {
  const a = fresh();
  for (let i = 1; i <= MAX_RECENT; i++) a.useLabel(`l${i}`);
  a.useLabel('l1'); // l2 is now the stalest
  a.useLabel('new');
  assert.equal(a.recent.length, MAX_RECENT);
  assert.equal(a.recent[0], 'l1');
  assert.equal(a.recent[1], 'new');
  assert.equal(a.recent[2], 'l3');
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  assert.equal(a.pickRecent(3), 'l3');
  assert.equal(obj.label, 'l3');
  assert.equal(a.sticky, 'l3');
  assert.equal(a.pickRecent(9 + 1), null);
  a.useLabel('  ');
  assert.ok(!a.recent.includes(''));
});

test('Tab cycles candidate segments', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  assert.equal(a.cycleSegment(obj), false);
  a.applyEvent(done(obj, { segments: [{ score: 0.9, polygons: [square(0, 0, 0.1)] }, { score: 0.5, polygons: [] }] }));
  assert.equal(a.cycleSegment(obj), true);
  assert.equal(obj.segIndex, 1);
  assert.equal(currentPolygons(obj).length, 0);
  a.cycleSegment(obj);
  assert.equal(obj.segIndex, 0);
});

test('save/load keeps prompts, labels and versions, not results; malformed entries are skipped', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.setBox({ xMin: 0.1, yMin: 0.1, xMax: 0.2, yMax: 0.2 });
  a.setLabel(obj, 'cat');
  a.applyEvent(done(obj));
  a.accept();
  const saved = JSON.parse(JSON.stringify(a.save()));
  saved.objects.push({ id: 'bad', version: 1, prompt: { points: [{ x: 'no', y: 0, label: 1 }], box: null } }, null, { id: 7 });
  const b = fresh();
  const restored = b.load(saved);
  assert.equal(restored.length, 1);
  const r = b.objects[0];
  assert.equal(r.id, obj.id);
  assert.equal(r.label, 'cat');
  assert.equal(r.color, obj.color);
  assert.equal(r.version, obj.version);
  assert.equal(r.accepted, true);
  assert.deepEqual(r.prompt, obj.prompt);
  assert.equal(r.status, 'idle');
  assert.equal(currentPolygons(r).length, 0);
  // The room's snapshot for the same version restores the result.
  assert.equal(b.applyEvent(done(r)), r);
  // New objects don't reuse the colour of restored ones.
  assert.notEqual(b.addPoint({ x: 0.1, y: 0.1, label: 1 }).color, r.color);
  assert.deepEqual(fresh().load(null), []);
  assert.deepEqual(fresh().load({ objects: 'x' }), []);
});

// ——— room mode ———

const remote = (extra = {}) => ({
  objectId: 'r1', fileId: 7, authorId: 'ana', authorName: 'Ana', label: 'car', version: 1,
  prompt: { points: [{ x: 0.2, y: 0.3, label: 1 }], box: null }, status: '', accepted: false, deleted: false, ...extra,
});
const colour = (id) => (id === 'ana' ? '#aa0000' : '#00bb00');

test('other members\' objects are added read-only in their colour and follow their job', () => {
  const a = fresh();
  const mine = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  let r = a.applyRemote(remote(), 'me', colour);
  assert.equal(r.change, 'added');
  assert.ok(r.prompted);
  const obj = r.obj;
  assert.equal(obj.remote, true);
  assert.deepEqual(obj.author, { id: 'ana', name: 'Ana' });
  assert.equal(obj.color, '#aa0000');
  assert.equal(obj.label, 'car');
  assert.deepEqual(a.own, [mine]);
  assert.deepEqual(a.others, [obj]);
  assert.equal(a.current, mine, 'hooks describe own objects');
  assert.equal(a.history.length, 1, 'not in the undo history');
  r = a.applyRemote(remote({ status: 'running' }), 'me', colour);
  assert.equal(r.prompted, false);
  assert.equal(obj.status, 'running');
  a.applyRemote(remote({ status: 'done', segments: [{ score: 1, polygons: [square(0.1, 0.1, 0.2)] }], boundingBox: { xMin: 0.1, yMin: 0.1, xMax: 0.3, yMax: 0.3 } }), 'me', colour);
  assert.equal(currentPolygons(obj).length, 1);
  // A new prompt from Ana clears the result; a stale event is ignored.
  r = a.applyRemote(remote({ version: 2, prompt: '{"points":[{"x":0.4,"y":0.4,"label":0}],"box":null}' }), 'me', colour);
  assert.ok(r.prompted);
  assert.equal(obj.status, 'idle');
  assert.equal(obj.prompt.points[0].label, 0);
  assert.equal(a.applyRemote(remote({ version: 1, status: 'done' }), 'me', colour).change, '');
  assert.equal(obj.status, 'idle');
  assert.deepEqual(a.save().objects.map((o) => o.id), ['obj-1'], 'only own objects are kept across reloads');
  r = a.applyRemote(remote({ version: 2, deleted: true }), 'me', colour);
  assert.equal(r.change, 'removed');
  assert.equal(a.byId('r1'), null);
  assert.equal(a.applyRemote({ objectId: 'x', version: 1, prompt: { points: [{ x: 'no' }] } }, 'me').change, '', 'malformed');
});

test('own objects from the room (another tab, a reload) become editable own objects', () => {
  const a = fresh();
  const r = a.applyRemote(remote({ authorId: 'me', authorName: 'Me', status: 'queued' }), 'me', colour);
  assert.equal(r.obj.remote, false);
  assert.equal(r.obj.author, null);
  assert.equal(r.obj.status, 'queued');
  assert.ok(r.obj.sent);
  a.select('r1');
  a.addPoint({ x: 0.9, y: 0.9, label: 1 });
  assert.equal(r.obj.version, 2);
  // Our own echo of version 2 changes nothing but the status.
  assert.equal(a.applyRemote(remote({ authorId: 'me', version: 2, prompt: r.obj.prompt, status: 'queued' }), 'me', colour).change, 'updated');
  assert.equal(r.obj.prompt.points.length, 2);
});

test('another member taking over an own object makes it theirs, even at the same version', () => {
  const a = fresh();
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.select(obj.id);
  const r = a.applyRemote(remote({ objectId: obj.id, version: 1, authorId: 'bo', authorName: 'Bo' }), 'me', colour);
  assert.equal(r.change, 'taken');
  assert.equal(obj.remote, true);
  assert.equal(obj.color, '#00bb00');
  assert.equal(obj.prompt.points[0].x, 0.2, "the server kept Bo's prompt");
  assert.equal(a.history.length, 0, 'forgotten by undo');
  assert.equal(a.selected, obj, 'stays selected: the page shows the lock');
});

test('adopt takes another member\'s object over; the next prompt says so', () => {
  const a = fresh();
  const { obj } = a.applyRemote(remote({ version: 4 }), 'me', colour);
  a.select(obj.id);
  a.adopt(obj);
  assert.equal(obj.remote, false);
  assert.equal(obj.takeOver, true);
  a.addPoint({ x: 0.6, y: 0.6, label: 1 });
  assert.deepEqual(roomPromptBody(obj, obj.takeOver), {
    version: 5, points: [{ x: 0.2, y: 0.3, label: 1 }, { x: 0.6, y: 0.6, label: 1 }], box: null, label: 'car', takeOver: true,
  });
  assert.deepEqual(parsePrompt('{"points":[],"box":{"xMin":0,"yMin":0,"xMax":1,"yMax":1}}'), { points: [], box: { xMin: 0, yMin: 0, xMax: 1, yMax: 1 } });
  assert.equal(parsePrompt('nope'), null);
});

test('reviews arrive on everyone\'s objects, belong to one version, and a new prompt clears them', () => {
  const a = fresh();
  const done = { status: 'done', segments: [{ score: 1, polygons: [square(0.1, 0.1, 0.2)] }], accepted: true, jobId: 31, backend: 'lasso-local' };
  const { obj } = a.applyRemote(remote({ ...done, review: 'approved', reviewerName: 'Ben' }), 'me', colour);
  assert.equal(obj.review, 'approved');
  assert.equal(obj.reviewerName, 'Ben');
  assert.equal(obj.jobId, 31);
  assert.equal(obj.backend, 'lasso-local');
  // The user's own object: the review comes in live too.
  const mine = a.applyRemote(remote({ objectId: 'mine', authorId: 'me', authorName: 'Me', ...done }), 'me', colour).obj;
  assert.equal(mine.review, '');
  a.applyRemote(remote({ objectId: 'mine', authorId: 'me', authorName: 'Me', ...done, review: 'rejected', reviewerName: 'Ben' }), 'me', colour);
  assert.equal(mine.review, 'rejected');
  // Taken back.
  a.applyRemote(remote({ objectId: 'mine', authorId: 'me', authorName: 'Me', ...done, review: '', reviewerName: '' }), 'me', colour);
  assert.equal(mine.review, '');
  a.applyRemote(remote({ objectId: 'mine', authorId: 'me', authorName: 'Me', ...done, review: 'approved', reviewerName: 'Ben' }), 'me', colour);
  // A new prompt version awaits review again.
  a.select('mine');
  a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  assert.equal(mine.review, '');
  assert.equal(mine.reviewerName, '');
  // An event about the old version does not bring the old review back.
  a.applyRemote(remote({ objectId: 'mine', authorId: 'me', authorName: 'Me', ...done, review: 'approved', reviewerName: 'Ben' }), 'me', colour);
  assert.equal(mine.review, '');
});
