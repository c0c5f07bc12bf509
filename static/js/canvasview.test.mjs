// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { CanvasView, HIT_RADIUS } from './canvasview.js';
import { DETAIL_TOLERANCES } from './geometry.js';

/** A 2D context that records the calls named in `keep` and takes every other call. */
function recordingCtx(keep = ['drawImage', 'fill', 'strokeRect', 'fillText', 'arc']) {
  const calls = [];
  const ctx = new Proxy({}, {
    get: (t, k) => (k in t ? t[k] : (...args) => {
      if (keep.includes(k)) calls.push([k, ...args]);
      return k === 'measureText' ? { width: 10 } : undefined;
    }),
    set: (t, k, v) => ((t[k] = v), true),
  });
  return { ctx, calls };
}

/** A CanvasView on a stand-in 200×100 stage; frames run when flush() is called. */
function setup(t) {
  const frames = [];
  globalThis.requestAnimationFrame = (fn) => frames.push(fn);
  t.after(() => delete globalThis.requestAnimationFrame);
  const { ctx, calls } = recordingCtx();
  const canvas = { getContext: () => ctx, getBoundingClientRect: () => ({ left: 0, top: 0 }), classList: { toggle() {} }, width: 0, height: 0 };
  const stage = { getBoundingClientRect: () => ({ width: 200, height: 100 }) };
  let drawn = 0;
  const v = new CanvasView(canvas, stage, { draw: () => drawn++ });
  v.resize();
  const flush = () => {
    while (frames.length) frames.shift()();
    return drawn;
  };
  return { v, calls, flush, canvas };
}

const square = (x, y, s) => ({ vertices: [{ x, y }, { x: x + s, y }, { x: x + s, y: y + s }, { x, y: y + s }] });
const doneObj = (id, x, extra = {}) => ({
  id, status: 'done', color: '#f00', label: '', prompt: { points: [{ x: x + 0.05, y: 0.45, label: 1 }], box: null },
  segments: [{ score: 1, polygons: [square(x, 0.4, 0.1)] }], segIndex: 0, boundingBox: null, ...extra,
});

test('setImage fits the image into the stage; zoom and pan leave "fitted", fit comes back', (t) => {
  const { v, flush } = setup(t);
  v.setImage({ width: 100, height: 100 });
  const fitted = { ...v.view };
  assert.ok(fitted.scale > 0 && fitted.scale <= 1, `scale ${fitted.scale}`);
  assert.equal(v.fitted, true);
  v.zoomBy(2, 100, 50);
  assert.equal(v.fitted, false);
  assert.ok(Math.abs(v.view.scale - 2 * fitted.scale) < 1e-9);
  v.panBy(10, 0);
  v.fit();
  assert.deepEqual(v.view, fitted);
  assert.equal(flush(), 1, 'one frame for a burst of changes');
});

test('a resize keeps a fitted image fitted and sizes the backing store by the device pixel ratio', (t) => {
  const { v, canvas } = setup(t);
  globalThis.devicePixelRatio = 2;
  t.after(() => delete globalThis.devicePixelRatio);
  v.setImage({ width: 400, height: 100 });
  v.resize();
  assert.equal(canvas.width, 400);
  assert.equal(canvas.height, 200);
  assert.equal(v.fitted, true);
});

test('setDetail clamps to the levels and reports the tolerance; raw is 0', (t) => {
  const { v } = setup(t);
  assert.equal(v.tolerancePx(), DETAIL_TOLERANCES.at(-1));
  assert.equal(v.setDetail(-5), DETAIL_TOLERANCES[0]);
  assert.equal(v.detail, 0);
  assert.equal(v.setDetail(99), DETAIL_TOLERANCES.at(-1));
});

test('objectAt finds the topmost done object under a screen point; hitPoint the point within reach', (t) => {
  const { v } = setup(t);
  v.setImage({ width: 100, height: 100 });
  const a = doneObj('a', 0.4);
  const b = doneObj('b', 0.42);
  const pending = { ...doneObj('c', 0.4), status: 'running' };
  const s = v.toScreen(0.45, 0.45);
  assert.equal(v.objectAt([a, b, pending], s), b);
  assert.equal(v.objectAt([a], v.toScreen(0.9, 0.9)), null);
  const p = v.toScreen(0.45, 0.45);
  assert.equal(v.hitPoint(a.prompt.points, { x: p.x + HIT_RADIUS - 1, y: p.y }), 0);
  assert.equal(v.hitPoint(a.prompt.points, { x: p.x + HIT_RADIUS + 2, y: p.y }), -1);
});

test('draw: nothing without an image; then the image, each object, and the current one\'s hooks', (t) => {
  const { v, calls } = setup(t);
  assert.equal(v.draw({ objects: [] }), null);
  v.setImage({ width: 100, height: 100 });
  const a = doneObj('a', 0.1, { label: 'cat', boundingBox: { xMin: 0.1, yMin: 0.4, xMax: 0.2, yMax: 0.5 } });
  const remote = doneObj('r', 0.6, { remote: true, status: 'running', author: { name: 'Ana' } });
  const layers = [];
  const hooks = v.draw({
    objects: [a, remote], selected: a, current: a, hover: null, drag: null, reviewing: false,
    remoteWord: () => 'running',
    under: () => layers.push('under'),
    over: () => {
      layers.push('over');
      return '4,4';
    },
  });
  assert.deepEqual(hooks, { polygons: 1, bbox: '0.1000,0.4000,0.2000,0.5000', others: 1, provenance: '4,4', status: '' });
  assert.deepEqual(layers, ['under', 'over']);
  assert.equal(calls.filter((c) => c[0] === 'drawImage').length, 1);
  const texts = calls.filter((c) => c[0] === 'fillText').map((c) => c[1]);
  assert.ok(texts.includes('cat'), 'the label tag');
  assert.ok(texts.includes('Ana · running'), 'another member\'s status next to their prompt');
});

test('the latency of a done object is measured once, at the frame that draws it', (t) => {
  const { v } = setup(t);
  v.setImage({ width: 100, height: 100 });
  const a = doneObj('a', 0.1, { promptAt: performance.now() - 50 });
  v.draw({ objects: [a], selected: null, current: a, remoteWord: () => '' });
  const first = a.latencyMs;
  assert.ok(first >= 50, `latency ${first}`);
  v.draw({ objects: [a], selected: null, current: a, remoteWord: () => '' });
  assert.equal(a.latencyMs, first);
});

test('the simplified polygons are cached per segment and detail level', (t) => {
  const { v } = setup(t);
  v.setImage({ width: 1000, height: 1000 });
  const ring = [];
  for (let i = 0; i < 200; i++) ring.push({ x: 0.5 + 0.3 * Math.cos((i / 200) * 2 * Math.PI), y: 0.5 + 0.3 * Math.sin((i / 200) * 2 * Math.PI) });
  const obj = { ...doneObj('a', 0), segments: [{ score: 1, polygons: [{ vertices: ring }] }] };
  v.setDetail(DETAIL_TOLERANCES.length - 1);
  assert.equal(v.polygonsOf(obj)[0].length, 200, 'raw');
  v.setDetail(0);
  const coarse = v.polygonsOf(obj);
  assert.ok(coarse[0].length < 200, `simplified to ${coarse[0].length}`);
  assert.equal(v.polygonsOf(obj), coarse, 'cached');
});

test('the user\'s own job status is drawn by the prompt\'s last click and reported in the hooks', (t) => {
  const { v, calls } = setup(t);
  v.setImage({ width: 100, height: 100 });
  const running = { ...doneObj('a', 0.1), status: 'running', prompt: { points: [{ x: 0.1, y: 0.1, label: 1 }, { x: 0.8, y: 0.2, label: 1 }], box: null } };
  const hooks = v.draw({ objects: [running], selected: running, current: running, remoteWord: () => '', ownStatus: () => 'running 1.2 s' });
  assert.equal(hooks.status, 'running 1.2 s');
  const tag = calls.find((c) => c[0] === 'fillText' && c[1] === 'running 1.2 s');
  assert.ok(tag, 'drawn on the canvas');
  const last = v.toScreen(0.8, 0.2);
  assert.ok(Math.abs(tag[2] - last.x) < 20 && Math.abs(tag[3] - last.y) < 20, `by the last click: ${tag[2]},${tag[3]} vs ${last.x},${last.y}`);
  const reviewing = v.draw({ objects: [running], selected: running, current: running, reviewing: true, remoteWord: () => '', ownStatus: () => 'running 1.2 s' });
  assert.equal(reviewing.status, '', 'review mode shows no prompting status');
});
