// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { LiveEvents } from './events.js';
import { Annotations } from './objects.js';
import { Outbox } from './outbox.js';

const square = (x, y, s) => ({ vertices: [{ x, y }, { x: x + s, y }, { x: x + s, y: y + s }, { x, y: y + s }] });

function setup({ room = null, pending = () => false } = {}) {
  let n = 0;
  const model = new Annotations({ newId: () => `o${++n}`, now: () => 0 });
  const log = { updates: 0, flashes: [], saved: [], done: [], notices: [], resent: 0, snapshots: 0, removed: 0, roles: 0 };
  const session = { restored: [], resendRestored: () => log.resent++, pending, outbox: new Outbox() };
  const ev = new LiveEvents({
    model, session, fileId: '7', me: 'u1', roomState: room,
    flash: (t) => log.flashes.push(t), update: () => log.updates++,
    savedToCdf: (obj, live) => log.saved.push([obj.id, live]),
    setDone: (d) => log.done.push(d), afterSnapshot: () => log.snapshots++,
    roleChanged: () => log.roles++, removed: () => log.removed++,
    notice: (text) => log.notices.push(text),
  });
  return { ev, model, session, log };
}

test('job.status events move the object on; a stale version changes nothing and redraws nothing', () => {
  const { ev, model, log } = setup();
  const obj = model.addPoint({ x: 0.5, y: 0.5, label: 1 });
  ev.apply({ type: 'job.status', data: { objectId: obj.id, version: 1, status: 'running' } });
  assert.equal(obj.status, 'running');
  assert.equal(log.updates, 1);
  ev.apply({ type: 'job.status', data: { objectId: obj.id, version: 0, status: 'done' } });
  assert.equal(obj.status, 'running');
  assert.equal(log.updates, 1);
});

test('a job.status notice and a segment.notice are handed to the notice banner', () => {
  const { ev, log } = setup();
  ev.apply({ type: 'job.status', data: { notice: 'engine' } });
  ev.apply({ type: 'segment.notice', data: { notice: 'again' } });
  assert.deepEqual(log.notices, ['engine', 'again']);
});

test('outside rooms a snapshot replays jobs and re-sends restored prompts it did not answer', () => {
  const { ev, model, session, log } = setup();
  const obj = model.addPoint({ x: 0.5, y: 0.5, label: 1 });
  session.restored = [obj];
  ev.apply({ type: 'snapshot', data: { objects: [{ objectId: obj.id, version: 1, status: 'queued' }] } });
  assert.equal(obj.status, 'queued');
  assert.equal(log.resent, 1);
});

test('a saved create leaves the page (it is in CDF now); a failed one is told with its reason', () => {
  const { ev, model, log } = setup();
  const a = model.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.label = 'cat';
  model.newObject();
  const b = model.addPoint({ x: 0.2, y: 0.2, label: 1 });
  ev.apply({ type: 'object.saved', data: { objectId: a.id, version: 1, op: 'create', state: 'saved' } });
  assert.equal(model.byId(a.id), null);
  assert.deepEqual(log.saved, [[a.id, true]]);
  assert.match(log.flashes.at(-1), /Saved cat to CDF/);
  ev.apply({ type: 'object.saved', data: { objectId: b.id, version: 1, op: 'create', state: 'failed', error: 'CDF said no.' } });
  assert.ok(model.byId(b.id));
  assert.equal(b.accepted, true, 'a report of a write means it was accepted');
  assert.match(log.flashes.at(-1), /was not saved to CDF: CDF said no\./);
});

test('a room snapshot draws others\' objects, drops what the room lost, keeps own pending ones', () => {
  const room = { apply: () => new Set(), colorOf: () => '#abc', noteActivity() {} };
  const pendingIds = new Set(['o2']);
  const { ev, model, log } = setup({ room, pending: (id) => pendingIds.has(id) });
  const gone = model.addPoint({ x: 0.1, y: 0.1, label: 1 });
  gone.known = true;
  model.newObject();
  const queued = model.addPoint({ x: 0.2, y: 0.2, label: 1 });
  queued.known = true;
  const prompt = { points: [{ x: 0.6, y: 0.6, label: 1 }], box: null };
  ev.apply({
    type: 'snapshot',
    data: {
      objects: [
        { objectId: 'x1', fileId: 7, version: 2, authorId: 'u2', authorName: 'Ana', prompt, status: 'done', segments: [{ score: 1, polygons: [square(0.5, 0.5, 0.2)] }] },
        { objectId: 'x2', fileId: 8, version: 1, authorId: 'u2', prompt }, // another image
      ],
      images: [{ fileId: 7, status: 'done' }],
    },
  });
  assert.equal(model.byId(gone.id), null, 'known to the room, not in its snapshot: deleted meanwhile');
  assert.ok(model.byId(queued.id), 'still queued: kept');
  const x1 = model.byId('x1');
  assert.ok(x1 && x1.remote && x1.status === 'done');
  assert.equal(model.byId('x2'), null);
  assert.deepEqual(log.done, [true]);
  assert.equal(log.snapshots, 1);
});

test('in a room, a take-over of an own object is told, and removal ends the page', () => {
  const changes = [new Set(), new Set(['removed'])];
  const room = { apply: () => changes.shift(), colorOf: () => '#abc', noteActivity() {} };
  const { ev, model, log } = setup({ room });
  const own = model.addPoint({ x: 0.1, y: 0.1, label: 1 });
  own.label = 'lime';
  ev.apply({ type: 'object.updated', data: { objectId: own.id, fileId: 7, version: 2, authorId: 'u2', authorName: 'Ana', prompt: { points: [], box: { xMin: 0, yMin: 0, xMax: 0.5, yMax: 0.5 } } } });
  assert.equal(model.byId(own.id).remote, true);
  assert.match(log.flashes.at(-1), /Ana took over lime/);
  ev.apply({ type: 'member.removed', data: {} });
  assert.equal(log.removed, 1);
});
