// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { ProvenanceDrawer } from './provenancedrawer.js';
import { fromLocal } from './provenance.js';

const ring = (x, y) => [{ x, y }, { x: x + 0.1, y }, { x: x + 0.1, y: y + 0.1 }, { x, y: y + 0.1 }];
const obj = (extra = {}) => ({
  id: 'o1', version: 2, status: 'done', accepted: true, savedTolerance: 0, review: '', label: 'cat',
  prompt: { points: [{ x: 0.1, y: 0.1, label: 1 }], box: null },
  segments: [{ score: 0.9, polygons: [{ vertices: ring(0.1, 0.1) }] }], segIndex: 0, ...extra,
});

/** A stand-in Annotator with one selected object; no drawer element (the tests call draw). */
function setup(o) {
  const a = { model: { selected: o, selectedId: o?.id ?? null }, W: 100, H: 100, requestRender: () => {} };
  const d = new ProvenanceDrawer({ querySelector: () => null }, a, { errorMessage: async () => '', signedOut: () => {} });
  return { a, d };
}

/** A 2D context that takes every call and records nothing. */
const ctx = new Proxy({}, { get: (t, k) => (k in t ? t[k] : () => {}), set: (t, k, v) => ((t[k] = v), true) });
const view = { scale: 1, tx: 0, ty: 0 };

test('ProvenanceDrawer.provKey changes with what the drawer shows; forget only drops its own object', () => {
  const o = obj();
  const { d } = setup(o);
  assert.equal(d.provKey(o), 'o1:2:done:::true');
  o.review = 'approved';
  o.save = { state: 'saving', version: 2, error: '' };
  assert.equal(d.provKey(o), 'o1:2:done:approved:saving:true');
  d.key = d.provKey(o);
  d.data = fromLocal(o);
  d.forget('o10');
  assert.notEqual(d.data, null);
  d.forget('o1');
  assert.equal(d.data, null);
});

test('ProvenanceDrawer.draw: the raw and saved vertices of the selected object, while open and overlaid', () => {
  const o = obj();
  const { a, d } = setup(o);
  d.data = fromLocal(o, { W: 100, H: 100 });
  assert.equal(d.draw(ctx, view, 100, 100), ''); // closed
  d.open = true;
  assert.equal(d.draw(ctx, view, 100, 100), '4,4');
  d.overlay = { checked: false };
  assert.equal(d.draw(ctx, view, 100, 100), '');
  d.overlay = { checked: true };
  a.model.selected = obj({ id: 'o2' });
  assert.equal(d.draw(ctx, view, 100, 100), ''); // the data is another object's
  a.model.selected = o;
  d.data = fromLocal(obj({ accepted: false }), { W: 100, H: 100 });
  assert.equal(d.draw(ctx, view, 100, 100), '4,0');
});
