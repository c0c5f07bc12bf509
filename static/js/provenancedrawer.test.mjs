// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { ProvenanceDrawer, followSubject } from './provenancedrawer.js';
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

test('followSubject: the drawer stays on an annotation until an object is selected, and follows Lasso\'s annotations', () => {
  const sub = { id: 11, objectSel: null, cdfSel: 11 };
  assert.equal(followSubject(null, { objectId: 'o1', cdfId: 11, cdfLasso: true }), null);
  assert.deepEqual(followSubject(sub, { objectId: null, cdfId: 11, cdfLasso: true }), sub);
  assert.equal(followSubject(sub, { objectId: 'o1', cdfId: 11, cdfLasso: true }), null, 'an object selected: back to objects');
  assert.deepEqual(followSubject(sub, { objectId: null, cdfId: 12, cdfLasso: true }), { id: 12, objectSel: null, cdfSel: 12 });
  assert.deepEqual(followSubject(sub, { objectId: null, cdfId: 13, cdfLasso: false }), { id: 11, objectSel: null, cdfSel: 13 }, 'another tool\'s: stays');
  assert.deepEqual(followSubject(sub, { objectId: null, cdfId: null, cdfLasso: false }), { id: 11, objectSel: null, cdfSel: null });
  // Opened while an object was selected: that selection going away or staying keeps the annotation.
  const withObj = { id: 11, objectSel: 'o1', cdfSel: 11 };
  assert.deepEqual(followSubject(withObj, { objectId: 'o1', cdfId: 11 }), withObj);
  const deselected = followSubject(withObj, { objectId: null, cdfId: 11 });
  assert.deepEqual(deselected, { id: 11, objectSel: null, cdfSel: 11 });
  assert.equal(followSubject(deselected, { objectId: 'o1', cdfId: 11 }), null, 'selected again: the object');
});

/** A stand-in element: enough of the DOM for render(). */
function fakeEl() {
  const el = { hidden: false, textContent: '', title: '', disabled: false, dataset: {}, children: [] };
  el.replaceChildren = (...c) => (el.children = c);
  return el;
}

/** A drawer with a stand-in DOM, an In CDF layer with annotations 11 and 13 (lasso) and 12 (another tool), and fetch answering answer(url). */
function setupDrawer(answer) {
  const els = {};
  const find = (sel) => (sel === '[data-prov-overlay]' ? null : (els[sel] ||= fakeEl()));
  const root = { querySelector: find };
  find('[data-provenance]').querySelector = find;
  const items = [
    { id: 11, label: 'cat', type: 'images.ObjectDetection', creatingApp: 'lasso' },
    { id: 12, label: 'dog', type: 'images.ObjectDetection', creatingApp: 'other' },
    { id: 13, label: '', type: 'images.ObjectDetection', creatingApp: 'lasso' },
  ];
  const layer = { selectedId: null, byId: (id) => items.find((i) => i.id === id) || null, get selected() { return this.byId(this.selectedId); } };
  const flashes = [];
  let updates = 0;
  const a = {
    model: { selected: null, selectedId: null, select() {} }, cdfLayer: layer, fileId: '7', W: 100, H: 100,
    reviewing: () => false, closed: false, removed: false,
    requestRender: () => {}, flash: (t) => flashes.push(t), update: () => { updates++; d.render(); },
  };
  const d = new ProvenanceDrawer(root, a, { errorMessage: async (res) => (await res.json()).error.message, signedOut: () => {} });
  const urls = [];
  globalThis.document = { createElement: () => ({ dataset: {} }) };
  globalThis.fetch = async (url) => {
    urls.push(url);
    return answer(url);
  };
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { a, d, els, layer, flashes, urls, settle, updates: () => updates };
}

const json = (status, body) => ({ ok: status < 300, status, json: async () => body });
const kept = {
  objectId: 'o9', fileId: 7, version: 2, label: 'cat', authorName: 'Ana', prompt: { points: [{ x: 0.2, y: 0.2, label: 1 }], box: null },
  jobId: 42, backend: 'lasso-local', status: 'done', score: 0.9, rawPolygons: [ring(0.1, 0.1), ring(0.5, 0.5)], savedPolygons: [ring(0.1, 0.1)],
  annotationIds: [11], accepted: true, review: '', reviewerName: '', deleted: false,
  writes: [{ op: 'create', version: 2, state: 'done', attempts: 1, lastError: '', annotationIds: [11], createdAt: '', updatedAt: '' }],
};

test('ProvenanceDrawer.showAnnotation fetches how an In CDF annotation was made and draws its outlines', async () => {
  const { a, d, els, urls, settle } = setupDrawer(() => json(200, kept));
  d.showAnnotation(11);
  assert.equal(d.open, true);
  assert.equal(els['[data-provenance]'].hidden, false);
  assert.equal(els['[data-prov-note]'].textContent, 'Loading…');
  await settle();
  assert.deepEqual(urls, ['/api/images/7/annotations/11/provenance']);
  assert.equal(els['[data-prov-note]'].hidden, true);
  assert.equal(els['[data-prov-object]'].textContent, 'cat · in CDF');
  const rows = Object.fromEntries(els['[data-prov-rows]'].children.filter((c) => c.dataset.prov).map((c) => [c.dataset.prov, c.textContent]));
  assert.equal(rows.job, '42');
  assert.equal(rows.vertices, '8 raw → 4 saved');
  assert.equal(rows.review, undefined, 'no room review outside rooms');
  assert.equal(els['[data-action="rerun"]'].disabled, false);
  assert.equal(d.draw(ctx, view, 100, 100), '8,4');
  // An object selected since: the drawer follows it, and no longer draws the annotation's outlines.
  const o = obj({ id: 'o1' });
  a.model.selected = o;
  a.model.selectedId = 'o1';
  d.render();
  assert.equal(d.annotation, null);
  assert.equal(els['[data-prov-object]'].textContent, 'cat');
  assert.equal(d.dataFor, '');
  // ⓘ again on the annotation, twice: open, then closed.
  d.showAnnotation(11);
  await settle();
  assert.equal(d.draw(ctx, view, 100, 100), '8,4');
  assert.equal(urls.length, 2, 'fetched afresh');
  d.showAnnotation(11);
  assert.equal(d.open, false);
  assert.equal(d.draw(ctx, view, 100, 100), '');
});

test('ProvenanceDrawer: a refusal (404) is shown in the drawer; I opens it for the selected Lasso annotation only', async () => {
  const msg = 'Lasso has no record of how annotation 11 was made here.';
  const { a, d, els, layer, flashes, settle } = setupDrawer(() => json(404, { error: { message: msg } }));
  // I with nothing selected: "select an object".
  d.toggle();
  assert.equal(d.annotation, null);
  assert.deepEqual(flashes, ['Select an object to see how it was made.']);
  d.toggle();
  // I with another tool's annotation selected: the same.
  layer.selectedId = 12;
  d.toggle();
  assert.equal(d.annotation, null);
  d.toggle();
  // I with Lasso's annotation selected and no object: its provenance, here refused.
  layer.selectedId = 11;
  d.toggle();
  assert.equal(d.annotation?.id, 11);
  await settle();
  assert.equal(els['[data-prov-note]'].textContent, msg);
  assert.equal(els['[data-prov-note]'].hidden, false);
  assert.equal(els['[data-prov-body]'].hidden, true);
  assert.equal(els['[data-action="rerun"]'].disabled, true);
  assert.equal(d.draw(ctx, view, 100, 100), '');
  // With an object selected, I is the object's.
  d.toggle();
  a.model.selected = obj();
  a.model.selectedId = 'o1';
  d.toggle();
  assert.equal(d.annotation, null);
});

test('ProvenanceDrawer: unreachable server', async () => {
  const { d, els, settle } = setupDrawer(() => Promise.reject(new TypeError('offline')));
  d.showAnnotation(11);
  await settle();
  assert.match(els['[data-prov-note]'].textContent, /could not be reached/);
});

test('ProvenanceDrawer follows the In CDF selection among Lasso\'s annotations; another ⓘ switches, the same one closes', async () => {
  const { d, els, layer, urls, settle } = setupDrawer((url) => json(200, { ...kept, annotationIds: [Number(url.split('/')[5])] }));
  layer.selectedId = 11; // as the panel does before calling showAnnotation
  d.showAnnotation(11);
  await settle();
  assert.equal(els['[data-prov-object]'].textContent, 'cat · in CDF');
  // Another tool's selected: the drawer stays.
  layer.selectedId = 12;
  d.render();
  assert.equal(d.annotation.id, 11);
  // Lasso's 13 selected: the drawer follows it.
  layer.selectedId = 13;
  d.render();
  await settle();
  assert.equal(d.annotation.id, 13);
  assert.equal(els['[data-prov-object]'].textContent, 'images.ObjectDetection · in CDF');
  assert.equal(urls.at(-1), '/api/images/7/annotations/13/provenance');
  // The ⓘ of 11 while 13 is shown: 11, still open; again: closed.
  layer.selectedId = 11;
  d.showAnnotation(11);
  await settle();
  assert.equal(d.open, true);
  assert.equal(d.annotation.id, 11);
  const rows = Object.fromEntries(els['[data-prov-rows]'].children.filter((c) => c.dataset.prov).map((c) => [c.dataset.prov, c.textContent]));
  assert.equal(rows.ids, 'annotation 11');
  d.showAnnotation(11);
  assert.equal(d.open, false);
});
