// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { badgeFor, infoFor, backendName } from './panel.js';
import { Annotations } from './objects.js';

const square = { vertices: [{ x: 0, y: 0 }, { x: 0.1, y: 0 }, { x: 0.1, y: 0.1 }, { x: 0, y: 0.1 }] };

test('badgeFor follows the object through a job', () => {
  let t = 1000;
  const a = new Annotations({ newId: () => 'o1', now: () => t });
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  assert.deepEqual(badgeFor(obj, t), { state: 'sending', text: 'sending…' });
  a.markSent(obj, 1);
  assert.deepEqual(badgeFor(obj, t), { state: 'queued', text: 'queued' });
  a.applyEvent({ objectId: 'o1', version: 1, status: 'running', elapsedMs: 1200 });
  // Elapsed time ticks locally from the event's elapsedMs.
  assert.deepEqual(badgeFor(obj, t + 500), { state: "running", text: "running 1.7 s" });
  a.applyEvent({ objectId: 'o1', version: 1, status: 'done', segments: [{ score: 0.5, polygons: [] }] });
  assert.deepEqual(badgeFor(obj, t), { state: 'empty', text: 'nothing found' });
  a.retry(obj);
  a.applyEvent({ objectId: 'o1', version: 2, status: 'done', segments: [{ score: 0.87, polygons: [square, square] }, { score: 0.5, polygons: [square] }] });
  assert.deepEqual(badgeFor(obj, t), { state: 'done', text: 'done' });
  assert.equal(infoFor(obj), '1+ · 2 parts · score 0.87 · candidate 1/2 (Tab)');
  a.accept();
  assert.deepEqual(badgeFor(obj, t), { state: 'accepted', text: 'accepted' });
  // In a room the write to CDF reports back; a report about another version is ignored.
  obj.save = { state: 'saving', version: obj.version, error: '' };
  assert.deepEqual(badgeFor(obj, t), { state: 'saving', text: 'saving…' });
  obj.save = { state: 'saved', version: obj.version, error: '' };
  assert.deepEqual(badgeFor(obj, t), { state: 'accepted', text: 'saved' });
  obj.save = { state: 'failed', version: obj.version, error: 'CDF said no' };
  assert.deepEqual(badgeFor(obj, t), { state: 'failed', text: 'save failed' });
  obj.save = { state: 'saved', version: obj.version - 1, error: '' };
  assert.deepEqual(badgeFor(obj, t), { state: 'accepted', text: 'accepted' });
  a.select('o1');
  a.addPoint({ x: 0.1, y: 0.1, label: 0 });
  a.markFailed(obj, obj.version, 'nope');
  assert.deepEqual(badgeFor(obj, t), { state: 'failed', text: 'failed' });
  assert.equal(infoFor(obj), '1+ · 1−');
});

test('a prompt waiting for the connection says so; others\' objects name their author', () => {
  const a = new Annotations({ newId: () => 'o1', now: () => 0 });
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  obj.offline = true;
  assert.deepEqual(badgeFor(obj, 0), { state: 'sending', text: 'waiting for connection' });
  const { obj: theirs } = a.applyRemote({ objectId: 'r', version: 1, authorId: 'ana', authorName: 'Ana', prompt: { points: [{ x: 0.1, y: 0.1, label: 1 }], box: null }, status: 'queued' }, 'me');
  assert.equal(infoFor(theirs), 'Ana · 1+');
  assert.deepEqual(badgeFor(theirs, 0), { state: 'queued', text: 'queued' });
});

test('backendName says which segment backend answered, in words', () => {
  assert.equal(backendName('cdf'), 'CDF vision API');
  assert.equal(backendName('local'), 'Lasso engine');
  assert.equal(backendName('url'), 'segment service');
  assert.equal(backendName('lasso-local'), 'lasso-local', 'another value is shown as given');
  assert.equal(backendName('toString'), 'toString', 'not a property of every object');
  for (const none of [undefined, null, '', 3]) assert.equal(backendName(none), '');
});

test('a finished job\'s badge names the backend that answered; the others do not', () => {
  let t = 0;
  const a = new Annotations({ newId: () => 'o1', now: () => t });
  const obj = a.addPoint({ x: 0.5, y: 0.5, label: 1 });
  a.markSent(obj, 1);
  a.applyEvent({ objectId: 'o1', version: 1, status: 'queued', backend: 'local' });
  assert.deepEqual(badgeFor(obj, t), { state: 'queued', text: 'queued' });
  a.applyEvent({ objectId: 'o1', version: 1, status: 'running', elapsedMs: 100, backend: 'local' });
  assert.deepEqual(badgeFor(obj, t), { state: 'running', text: 'running 0.1 s' });
  a.applyEvent({ objectId: 'o1', version: 1, status: 'done', backend: 'local', segments: [{ score: 0.9, polygons: [square] }] });
  assert.deepEqual(badgeFor(obj, t), { state: 'done', text: 'done · Lasso engine', by: 'Lasso engine' });
  assert.equal(infoFor(obj), '1+ · score 0.90');
  // A new prompt's job may run elsewhere: nothing is said until its events say so.
  a.retry(obj);
  a.applyEvent({ objectId: 'o1', version: 2, status: 'failed', error: 'CDF said no', backend: 'cdf' });
  assert.deepEqual(badgeFor(obj, t), { state: 'failed', text: 'failed · CDF vision API', by: 'CDF vision API' });
  a.retry(obj);
  a.applyEvent({ objectId: 'o1', version: 3, status: 'done', backend: 'url', segments: [{ score: 0.1, polygons: [] }] });
  assert.deepEqual(badgeFor(obj, t), { state: 'empty', text: 'nothing found · segment service', by: 'segment service' });
  a.retry(obj);
  a.applyEvent({ objectId: 'o1', version: 4, status: 'done', backend: 'mystery', segments: [{ score: 0.9, polygons: [square] }] });
  assert.deepEqual(badgeFor(obj, t), { state: 'done', text: 'done · mystery', by: 'mystery' });
  // Accepted, the badge is about the write to CDF.
  a.accept(obj);
  assert.deepEqual(badgeFor(obj, t), { state: 'accepted', text: 'accepted' });
  a.select('o1');
  a.addPoint({ x: 0.2, y: 0.2, label: 1 });
  a.applyEvent({ objectId: 'o1', version: 5, status: 'done', segments: [{ score: 0.9, polygons: [square] }] });
  assert.deepEqual(badgeFor(obj, t), { state: 'done', text: 'done' }, 'no backend: nothing');
  // A room object carries its backend.
  const { obj: theirs } = a.applyRemote({ objectId: 'r', version: 1, authorId: 'ana', authorName: 'Ana', prompt: { points: [{ x: 0.1, y: 0.1, label: 1 }], box: null }, status: 'done', backend: 'cdf', segments: [{ score: 1, polygons: [square] }] }, 'me');
  assert.deepEqual(badgeFor(theirs, t), { state: 'done', text: 'done · CDF vision API', by: 'CDF vision API' });
});
