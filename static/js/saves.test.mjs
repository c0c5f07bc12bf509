// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { normaliseSave, mergeSave, applySave, saveState, saveBadge, saveError, canRetrySave } from './saves.js';

test('normaliseSave reads snapshot and live states into one vocabulary', () => {
  assert.deepEqual(normaliseSave({ version: 2, op: 'create', state: 'pending', error: '', annotationIds: null }),
    { version: 2, op: 'create', state: 'saving', error: '', annotationIds: [] });
  assert.equal(normaliseSave({ version: 2, state: 'done', annotationIds: [7, 'x', 8] }).state, 'saved');
  assert.deepEqual(normaliseSave({ version: 2, state: 'done', annotationIds: [7, 'x', 8] }).annotationIds, [7, 8]);
  assert.equal(normaliseSave({ version: 1, state: 'saved' }).state, 'saved');
  assert.equal(normaliseSave({ version: 1, state: 'saving' }).state, 'saving');
  const f = normaliseSave({ version: 1, op: 'review', state: 'failed', error: 'CDF is down' });
  assert.equal(f.state, 'failed');
  assert.equal(f.op, 'review');
  assert.equal(f.error, 'CDF is down');
  assert.equal(normaliseSave({ version: 1, state: 'failed' }).error, 'CDF refused the write.');
  // An error on a state that is not failed is not shown.
  assert.equal(normaliseSave({ version: 1, state: 'done', error: 'old' }).error, '');
  for (const bad of [null, 'x', {}, { version: 0, state: 'done' }, { version: 1, state: 'weird' }, { version: 1.5, state: 'done' }]) {
    assert.equal(normaliseSave(bad), null, JSON.stringify(bad));
  }
  assert.equal(normaliseSave({ version: 1, state: 'saving', op: 'drop' }).op, 'create');
});

test('mergeSave: newer versions win, older ones are ignored, ids are kept within a version', () => {
  const v2saved = normaliseSave({ version: 2, state: 'saved', annotationIds: [5] });
  const v1failed = normaliseSave({ version: 1, state: 'failed', error: 'late' });
  assert.equal(mergeSave(v2saved, v1failed), v2saved);
  assert.equal(mergeSave(null, v1failed), v1failed);
  assert.equal(mergeSave(v1failed, null), v1failed);
  assert.equal(mergeSave(null, null), null);
  const review = normaliseSave({ version: 2, op: 'review', state: 'saving' });
  assert.deepEqual(mergeSave(v2saved, review), { ...review, annotationIds: [5] });
  const v3 = normaliseSave({ version: 3, state: 'saving' });
  assert.equal(mergeSave(v2saved, v3), v3);
});

test('the save state machine of one object: saving → failed → saving → saved, then a new version', () => {
  const obj = { version: 1, accepted: true };
  assert.equal(saveState(obj), '');
  assert.equal(saveBadge(obj), null);
  assert.ok(applySave(obj, { version: 1, op: 'create', state: 'saving' }));
  assert.deepEqual(saveBadge(obj), { state: 'saving', text: 'saving…' });
  assert.equal(canRetrySave(obj), false);
  assert.ok(applySave(obj, { version: 1, op: 'create', state: 'failed', error: 'HTTP 503' }));
  assert.deepEqual(saveBadge(obj), { state: 'failed', text: 'save failed' });
  assert.equal(saveError(obj), 'Not saved to CDF: HTTP 503');
  assert.ok(canRetrySave(obj));
  applySave(obj, { version: 1, state: 'saving' });
  applySave(obj, { version: 1, state: 'saved', annotationIds: [42] });
  assert.deepEqual(saveBadge(obj), { state: 'saved', text: 'saved' });
  assert.equal(saveError(obj), '');
  assert.deepEqual(obj.save.annotationIds, [42]);
  // A report about an older version changes nothing.
  assert.equal(applySave(obj, { version: 0, state: 'failed' }), false);
  // A review write of the same version.
  applySave(obj, { version: 1, op: 'review', state: 'failed', error: 'forbidden' });
  assert.deepEqual(saveBadge(obj), { state: 'failed', text: 'review not saved' });
  assert.equal(saveError(obj), 'The review did not reach CDF: forbidden');
  assert.deepEqual(obj.save.annotationIds, [42]);
  // A relabel of the same version: its own words.
  applySave(obj, { version: 1, op: 'relabel', state: 'saving' });
  assert.deepEqual(saveBadge(obj), { state: 'saving', text: 'saving label…' });
  applySave(obj, { version: 1, op: 'relabel', state: 'failed', error: 'forbidden' });
  assert.equal(saveError(obj), 'The new label did not reach CDF: forbidden');
  // The object moves on to version 2: the version-1 save no longer describes it.
  obj.version = 2;
  assert.equal(saveState(obj), '');
  assert.equal(canRetrySave(obj), false);
  // An undone accept removes the annotations again; the badge says so, and a failed removal
  // can be retried like a save.
  applySave(obj, { version: 2, op: 'delete', state: 'saving' });
  assert.deepEqual(saveBadge(obj), { state: 'saving', text: 'removing from CDF…' });
  applySave(obj, { version: 2, op: 'delete', state: 'failed', error: 'x' });
  assert.deepEqual(saveBadge(obj), { state: 'failed', text: 'not removed from CDF' });
  assert.equal(saveError(obj), 'Not removed from CDF: x');
  assert.equal(canRetrySave(obj), true);
  applySave(obj, { version: 2, op: 'delete', state: 'saved' });
  assert.deepEqual(saveBadge(obj), { state: 'saved', text: 'removed from CDF' });
});
