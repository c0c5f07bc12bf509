// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { newProgressId, exportURL, filenameFrom, ExportProgress } from './exporter.js';

test('progress ids are what the server accepts', () => {
  for (let i = 0; i < 50; i++) assert.match(newProgressId(), /^[A-Za-z0-9_-]{1,64}$/);
  assert.equal(newProgressId(() => 0), 'exp-000000000000');
  assert.notEqual(newProgressId(), newProgressId());
});

test('exportURL', () => {
  assert.equal(exportURL('r1', { format: 'yolo', status: 'accepted', progress: 'exp-1' }), '/rooms/r1/export?format=yolo&status=accepted&progress=exp-1');
  assert.equal(exportURL('r1'), '/rooms/r1/export?format=coco&status=approved');
  assert.equal(exportURL('r 1', { format: 'evil', status: 'all' }), '/rooms/r%201/export?format=coco&status=approved');
});

test('filenameFrom reads Content-Disposition safely', () => {
  assert.equal(filenameFrom('attachment; filename="Samples-coco.json"'), 'Samples-coco.json');
  assert.equal(filenameFrom('attachment; filename=plain.zip'), 'plain.zip');
  assert.equal(filenameFrom(`attachment; filename="a.json"; filename*=UTF-8''caf%C3%A9.json`), 'café.json');
  assert.equal(filenameFrom('attachment; filename="../../etc/passwd"'), 'passwd');
  assert.equal(filenameFrom('attachment; filename="q\\"uote.json"'), 'q"uote.json');
  assert.equal(filenameFrom('attachment', 'room.json'), 'room.json');
  assert.equal(filenameFrom(null, 'x'), 'x');
  assert.equal(filenameFrom('attachment; filename=".."', 'x'), 'x');
  assert.equal(filenameFrom(`attachment; filename*=UTF-8''%E0%A4%A`, 'x'), 'x');
});

test('ExportProgress: two phases fill the bar; only this export, never backwards, 100% at the end', () => {
  const p = new ExportProgress('exp-a');
  assert.equal(p.percent, 0);
  assert.equal(p.text, 'Starting the export…');
  assert.equal(p.apply({ progress: 'exp-b', phase: 'images', done: 1, total: 1 }), false);
  assert.ok(p.apply({ progress: 'exp-a', phase: 'images', done: 2, total: 4 }));
  assert.equal(p.percent, 25);
  assert.equal(p.text, 'Reading image sizes… 2 of 4');
  assert.ok(p.apply({ progress: 'exp-a', phase: 'images', done: 4, total: 4 }));
  assert.equal(p.percent, 50);
  assert.equal(p.apply({ progress: 'exp-a', phase: 'images', done: 3, total: 4 }), false); // late, out of order
  assert.equal(p.percent, 50);
  assert.ok(p.apply({ progress: 'exp-a', phase: 'writing', done: 10, total: 20 }));
  assert.equal(p.percent, 75);
  assert.equal(p.text, 'Writing the file… 10 of 20');
  p.apply({ progress: 'exp-a', phase: 'writing', done: 20, total: 20 });
  assert.equal(p.percent, 99, 'the bar waits for the file');
  p.finish();
  assert.equal(p.percent, 100);
  assert.equal(p.text, 'Downloaded.');
  assert.equal(p.apply({ progress: 'exp-a', phase: 'writing', done: 1, total: 20 }), false);
  // A phase with nothing to do counts as complete; odd events are ignored.
  const q = new ExportProgress('x');
  q.apply({ progress: 'x', phase: 'images', done: 0, total: 0 });
  assert.equal(q.percent, 50);
  assert.equal(q.apply({ progress: 'x', phase: 'other', done: 1, total: 1 }), false);
  assert.equal(q.apply(null), false);
});
