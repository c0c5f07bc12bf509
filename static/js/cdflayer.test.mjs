// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { CdfLayer, parseItem, shapeVertices, drawable, provenance, madeByLasso, STATUSES } from './cdflayer.js';

// An identity view of a 100×100 image: screen px = image px = 100 × normalised.
const view = { scale: 1, tx: 0, ty: 0 };
const W = 100;
const H = 100;

const polygonItem = {
  id: 11, annotationType: 'images.ObjectDetection', status: 'suggested', label: 'cat', confidence: 0.9,
  creatingApp: 'lasso', creatingAppVersion: '0.1.0', creatingUser: 'Ana', createdTime: 1, lastUpdatedTime: 2,
  polygon: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]], polyline: null, boundingBox: null, editable: true,
};
const boxItem = {
  id: 12, annotationType: 'images.ObjectDetection', status: 'approved', label: 'dog', confidence: null,
  creatingApp: 'other-tool', creatingAppVersion: '1.0.0', creatingUser: null, createdTime: 1, lastUpdatedTime: 2,
  polygon: null, polyline: null, boundingBox: { xMin: 0.3, yMin: 0.3, xMax: 0.9, yMax: 0.9 }, editable: true,
};
const lineItem = {
  id: 13, annotationType: 'images.ObjectDetection', status: 'rejected', label: 'wire', creatingApp: 'x', creatingUser: null,
  polygon: null, polyline: [[0.1, 0.8], [0.9, 0.8]], boundingBox: null, editable: false,
};
const classItem = { id: 14, annotationType: 'images.Classification', status: 'suggested', label: 'day', polygon: null, boundingBox: null, editable: false };

function loaded() {
  const l = new CdfLayer();
  l.load({ items: [polygonItem, boxItem, lineItem, classItem], truncated: false });
  return l;
}

test('parseItem keeps the server shape and refuses what it cannot trust', () => {
  const p = parseItem(polygonItem);
  assert.equal(p.id, 11);
  assert.equal(p.label, 'cat');
  assert.deepEqual(p.polygon[1], { x: 0.5, y: 0.1 });
  assert.equal(p.box, null);
  assert.equal(p.editable, true);
  assert.equal(parseItem({ id: 'x' }), null);
  assert.equal(parseItem({ id: -1 }), null);
  assert.equal(parseItem(null), null);
  const odd = parseItem({ id: 5, status: 'weird', polygon: [[0, 0], [2, 0], [1, 1]], boundingBox: { xMin: 0.5, xMax: 0.4, yMin: 0, yMax: 1 }, editable: true });
  assert.equal(odd.status, 'suggested');
  assert.equal(odd.polygon, null, 'a vertex outside the image: not drawn');
  assert.equal(odd.box, null, 'an inverted box: not drawn');
  assert.equal(odd.editable, false, 'nothing to edit');
  assert.deepEqual(STATUSES, ['suggested', 'approved', 'rejected']);
});

test('load lists every item once, keeps order and the truncated flag', () => {
  const l = new CdfLayer();
  assert.equal(l.state, 'idle');
  assert.equal(l.load({ items: [polygonItem, boxItem, polygonItem, { bad: 1 }], truncated: true }), 2);
  assert.deepEqual(l.items.map((i) => i.id), [11, 12]);
  assert.equal(l.truncated, true);
  assert.equal(l.state, 'ready');
  assert.equal(new CdfLayer().load(null), 0);
});

test('drawable, shapeVertices and provenance', () => {
  const l = loaded();
  assert.deepEqual(l.items.map(drawable), [true, true, true, false]);
  assert.deepEqual(shapeVertices(l.byId(12)), [
    { x: 0.3, y: 0.3 }, { x: 0.9, y: 0.3 }, { x: 0.9, y: 0.9 }, { x: 0.3, y: 0.9 },
  ]);
  assert.equal(provenance(l.byId(11)), 'lasso · Ana');
  assert.equal(provenance(l.byId(12)), 'other-tool · a service');
});

test('madeByLasso: only annotations whose creatingApp is lasso', () => {
  const l = loaded();
  assert.equal(madeByLasso(l.byId(11)), true);
  assert.equal(madeByLasso(l.byId(12)), false);
  assert.equal(madeByLasso({ ...l.byId(11), creatingApp: 'Lasso' }), false);
  assert.equal(madeByLasso(null), false);
});

test('hitTest finds the topmost drawn annotation; the selected one is on top', () => {
  const l = loaded();
  assert.equal(l.hitTest(20, 20, view, W, H)?.id, 11, 'inside the polygon only');
  assert.equal(l.hitTest(80, 40, view, W, H)?.id, 12, 'inside the box only');
  assert.equal(l.hitTest(40, 40, view, W, H)?.id, 12, 'both: the later one is drawn on top');
  l.select(11);
  assert.deepEqual(l.drawOrder().map((i) => i.id), [12, 13, 11]);
  assert.equal(l.hitTest(40, 40, view, W, H)?.id, 11, 'the selected one is drawn on top');
  assert.equal(l.hitTest(50, 82, view, W, H, 4)?.id, 13, 'near the polyline');
  assert.equal(l.hitTest(50, 70, view, W, H, 4)?.id, 12);
  assert.equal(l.hitTest(5, 95, view, W, H), null);
  // Zoomed in ×2 and panned: the same image point is found at its new screen place.
  const zoomed = { scale: 2, tx: -50, ty: 10 };
  assert.equal(l.hitTest(-50 + 2 * 20, 10 + 2 * 20, zoomed, W, H)?.id, 11);
});

test('select: unknown ids are refused; a dirty edit keeps its selection', () => {
  const l = loaded();
  assert.equal(l.select(99), false);
  assert.equal(l.select(12), true);
  assert.equal(l.selected.id, 12);
  assert.equal(l.startEdit(11), true);
  assert.equal(l.selectedId, 11);
  assert.equal(l.select(12), true, 'a clean edit lets go');
  assert.equal(l.edit, null);
  l.startEdit(11);
  l.moveVertex(0, 0.2, 0.2);
  assert.equal(l.select(12), false, 'a dirty edit does not');
  assert.equal(l.selectedId, 11);
  assert.equal(l.startEdit(12), false);
  l.select(null);
  assert.equal(l.selectedId, 11);
});

test('editing a polygon: handles, drag, dirty, cancel restores', () => {
  const l = loaded();
  assert.equal(l.startEdit(13), false, 'a polyline is not editable');
  assert.equal(l.startEdit(14), false, 'a classification is not editable');
  assert.equal(l.startEdit(11), true);
  assert.equal(l.dirty, false);
  assert.equal(l.hitVertex(51, 9, view, W, H), 1, 'the handle at (0.5, 0.1)');
  assert.equal(l.hitVertex(30, 30, view, W, H), -1);
  assert.equal(l.beginDrag(1), true);
  l.moveVertex(1, 0.6, -0.2);
  assert.deepEqual(l.edit.vertices[1], { x: 0.6, y: 0 }, 'kept inside the image');
  l.endDrag();
  assert.equal(l.edit.dragging, -1);
  assert.equal(l.dirty, true);
  assert.deepEqual(l.verticesOf(l.byId(11))[1], { x: 0.6, y: 0 }, 'drawn as edited');
  assert.deepEqual(l.byId(11).polygon[1], { x: 0.5, y: 0.1 }, 'the item is untouched until saved');
  assert.deepEqual(l.saveBody(), { polygon: [[0.1, 0.1], [0.6, 0], [0.5, 0.5], [0.1, 0.5]] });
  l.cancelEdit();
  assert.equal(l.edit, null);
  assert.equal(l.dirty, false);
  assert.deepEqual(l.verticesOf(l.byId(11))[1], { x: 0.5, y: 0.1 });
  // Moving a vertex back where it was is not a change.
  l.startEdit(11);
  l.moveVertex(2, 0.7, 0.7);
  l.moveVertex(2, 0.5, 0.5);
  assert.equal(l.dirty, false);
});

test('a box is edited as its four corners and saved as a polygon', () => {
  const l = loaded();
  l.startEdit(12);
  assert.equal(l.edit.fromBox, true);
  assert.equal(l.verticesOf(l.byId(12)).length, 4);
  l.moveVertex(2, 0.95, 0.85);
  assert.deepEqual(l.saveBody().polygon, [[0.3, 0.3], [0.9, 0.3], [0.95, 0.85], [0.3, 0.9]]);
  assert.equal(l.saveBody().polygon.every((v) => v.length === 2), true);
});

test('a failed save keeps the edit dirty for a retry; a successful one ends it', () => {
  const l = loaded();
  l.startEdit(11);
  l.moveVertex(0, 1 / 3, 0.2);
  l.setSaving(true);
  l.saveFailed('CDF is busy right now (throttled). Try again in a moment.');
  assert.equal(l.edit.saving, false);
  assert.equal(l.edit.error, 'CDF is busy right now (throttled). Try again in a moment.');
  assert.equal(l.dirty, true);
  assert.deepEqual(l.saveBody().polygon[0], [0.333333, 0.2], 'rounded to 6 decimals');
  // A reload of the list while the edit is dirty keeps it.
  l.load({ items: [polygonItem, boxItem] });
  assert.equal(l.dirty, true);
  // The retry succeeds: the server answers the new polygon.
  l.setSaving(true);
  const answered = { ...polygonItem, polygon: l.saveBody().polygon, lastUpdatedTime: 3 };
  assert.equal(l.replace(answered).id, 11);
  assert.equal(l.edit, null);
  assert.deepEqual(l.byId(11).polygon[0], { x: 0.333333, y: 0.2 });
});

test('an answer to another change (label, status) does not end a shape edit', () => {
  const l = loaded();
  l.startEdit(11);
  l.moveVertex(0, 0.2, 0.2);
  l.replace({ ...polygonItem, label: 'tabby', status: 'approved' });
  assert.equal(l.byId(11).label, 'tabby');
  assert.equal(l.byId(11).status, 'approved');
  assert.equal(l.dirty, true, 'the shape edit goes on');
  assert.equal(l.replace({ id: 999 }), null, 'unknown annotations are not added');
});

test('remove forgets the annotation, its selection and its edit', () => {
  const l = loaded();
  l.startEdit(11);
  l.moveVertex(0, 0.2, 0.2);
  assert.equal(l.remove(11), true);
  assert.equal(l.count, 3);
  assert.equal(l.selected, null);
  assert.equal(l.edit, null);
  assert.equal(l.remove(11), false);
  // A reload without a clean edit's annotation drops the edit.
  l.startEdit(12);
  l.load({ items: [polygonItem] });
  assert.equal(l.edit, null);
  assert.equal(l.selected, null);
});
