// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { badgeFor, infoFor } from './panel.js';
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
