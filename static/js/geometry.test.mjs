// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import * as g from './geometry.js';

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

test('fitView centres and fits both landscape and portrait images', () => {
  const cases = [
    { w: 1000, h: 500, vw: 1032, vh: 1032, scale: 1, tx: 16, ty: 266 },
    { w: 500, h: 1000, vw: 1032, vh: 532, scale: 0.5, tx: 391, ty: 16 },
    { w: 16, h: 16, vw: 980, vh: 600, scale: 35.5, tx: 206, ty: 16 }, // a small image fills the stage
    { w: 100, h: 100, vw: 10000, vh: 10000, scale: 64, tx: 1800, ty: 1800 }, // never past MAX_SCALE
  ];
  for (const c of cases) {
    const v = g.fitView(c.w, c.h, c.vw, c.vh);
    close(v.scale, c.scale);
    close(v.tx, c.tx);
    close(v.ty, c.ty);
  }
  assert.deepEqual(g.fitView(0, 0, 100, 100), { scale: 1, tx: 0, ty: 0 });
});

test('zoomAt keeps the image point under the cursor fixed', () => {
  const v = { scale: 0.5, tx: 40, ty: -10 };
  const cursor = { x: 300, y: 200 };
  const before = g.screenToImage(v, cursor.x, cursor.y);
  for (const f of [2, 0.3, 1.1, 1000, 1e-6]) {
    const z = g.zoomAt(v, f, cursor.x, cursor.y);
    const after = g.screenToImage(z, cursor.x, cursor.y);
    close(after.x, before.x, 1e-7);
    close(after.y, before.y, 1e-7);
    assert.ok(z.scale >= g.MIN_SCALE && z.scale <= g.MAX_SCALE);
  }
});

test('panBy moves by screen pixels and keeps the scale', () => {
  assert.deepEqual(g.panBy({ scale: 2, tx: 1, ty: 2 }, 10, -5), { scale: 2, tx: 11, ty: -3 });
});

test('wheelZoomFactor zooms in on negative delta and normalises line/page modes', () => {
  assert.ok(g.wheelZoomFactor(-100) > 1);
  assert.ok(g.wheelZoomFactor(100) < 1);
  close(g.wheelZoomFactor(-100) * g.wheelZoomFactor(100), 1);
  close(g.wheelZoomFactor(3, 1), g.wheelZoomFactor(48, 0));
  assert.ok(g.wheelZoomFactor(-1e9) <= Math.exp(0.22) + 1e-12, 'one event cannot zoom absurdly');
});

test('client → image → normalised uses the natural size, not the CSS size', () => {
  const rect = { left: 100, top: 50 };
  // A 4000×3000 photo shown at 0.2 scale, offset by (10, 20) inside the canvas.
  const view = { scale: 0.2, tx: 10, ty: 20 };
  const n = g.clientToNorm(100 + 10 + 400, 50 + 20 + 300, rect, view, 4000, 3000);
  close(n.x, 0.5);
  close(n.y, 0.5);
  const s = g.normToScreen(view, 0.5, 0.5, 4000, 3000);
  assert.deepEqual(s, { x: 410, y: 320 });
  const back = g.screenToNorm(view, s.x, s.y, 4000, 3000);
  close(back.x, 0.5);
  close(back.y, 0.5);
  assert.deepEqual(g.normToImage(0.25, 1, 800, 600), { x: 200, y: 600 });
  assert.deepEqual(g.imageToNorm(200, 600, 800, 600), { x: 0.25, y: 1 });
  assert.ok(g.insideNorm({ x: 0, y: 1 }));
  assert.ok(!g.insideNorm({ x: -0.01, y: 0.5 }));
});

test('isDrag: shorter than the threshold is a click', () => {
  const cases = [
    [0, 0, 0, 0, false],
    [0, 0, 3, 0, false],
    [0, 0, 2, 2, false], // 2.83 px
    [0, 0, 3, 3, true], // 4.24 px
    [10, 10, 10, 14, true],
  ];
  for (const [x0, y0, x1, y1, want] of cases) assert.equal(g.isDrag(x0, y0, x1, y1), want, `${x0},${y0}→${x1},${y1}`);
});

test('normaliseBox orders, clamps and rejects zero area', () => {
  const cases = [
    { a: { x: 0.6, y: 0.7 }, b: { x: 0.2, y: 0.1 }, want: { xMin: 0.2, yMin: 0.1, xMax: 0.6, yMax: 0.7 } },
    { a: { x: -0.5, y: 0.2 }, b: { x: 0.5, y: 1.5 }, want: { xMin: 0, yMin: 0.2, xMax: 0.5, yMax: 1 } },
    { a: { x: 0.3, y: 0.2 }, b: { x: 0.3, y: 0.9 }, want: null }, // a line
    { a: { x: 1.2, y: 0.2 }, b: { x: 1.5, y: 0.9 }, want: null }, // entirely off the image
    { a: { x: NaN, y: 0.2 }, b: { x: NaN, y: 0.9 }, want: null },
  ];
  for (const c of cases) assert.deepEqual(g.normaliseBox(c.a, c.b), c.want);
});

test('hitPoint finds the nearest marker within a screen radius at any zoom', () => {
  const pts = [
    { x: 0.1, y: 0.1, label: 1 },
    { x: 0.5, y: 0.5, label: 0 },
    { x: 0.52, y: 0.5, label: 1 },
  ];
  const view = { scale: 1, tx: 0, ty: 0 };
  assert.equal(g.hitPoint(pts, 100, 100, view, 1000, 1000), 0);
  assert.equal(g.hitPoint(pts, 106, 100, view, 1000, 1000), 0);
  assert.equal(g.hitPoint(pts, 110, 100, view, 1000, 1000), -1);
  assert.equal(g.hitPoint(pts, 512, 500, view, 1000, 1000), 2, 'nearest wins');
  assert.equal(g.hitPoint(pts, 508, 500, view, 1000, 1000), 1);
  // Zoomed out 10×: the same 8 px radius now covers 80 image px.
  assert.equal(g.hitPoint(pts, 15, 10, { scale: 0.1, tx: 0, ty: 0 }, 1000, 1000), 0);
  assert.equal(g.hitPoint([], 0, 0, view, 1, 1), -1);
});

test('bboxOfPolygons spans every part', () => {
  const polys = [
    [{ x: 0.2, y: 0.3 }, { x: 0.4, y: 0.3 }, { x: 0.3, y: 0.5 }],
    [{ x: 0.6, y: 0.1 }, { x: 0.7, y: 0.2 }, { x: 0.65, y: 0.25 }],
  ];
  assert.deepEqual(g.bboxOfPolygons(polys), { xMin: 0.2, yMin: 0.1, xMax: 0.7, yMax: 0.5 });
  assert.equal(g.bboxOfPolygons([]), null);
  assert.equal(g.bboxOfPolygons([[]]), null);
});

test('pointInPolygon is even-odd, and holes are outside', () => {
  const square = [{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }, { x: 0, y: 10 }];
  const hole = [{ x: 3, y: 3 }, { x: 7, y: 3 }, { x: 7, y: 7 }, { x: 3, y: 7 }];
  const concave = [{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }, { x: 5, y: 2 }, { x: 0, y: 10 }];
  const cases = [
    [square, { x: 5, y: 5 }, true],
    [square, { x: 11, y: 5 }, false],
    [square, { x: -1, y: 5 }, false],
    [concave, { x: 5, y: 6 }, false], // in the notch
    [concave, { x: 1, y: 1 }, true],
  ];
  for (const [poly, p, want] of cases) assert.equal(g.pointInPolygon(p, poly), want, JSON.stringify(p));
  assert.equal(g.pointInPolygons({ x: 5, y: 5 }, [square, hole]), false);
  assert.equal(g.pointInPolygons({ x: 1, y: 1 }, [square, hole]), true);
});

test('simplifyPolyline keeps endpoints and drops vertices within tolerance', () => {
  const line = [{ x: 0, y: 0 }, { x: 1, y: 0.1 }, { x: 2, y: -0.1 }, { x: 3, y: 5 }, { x: 4, y: 6 }, { x: 5, y: 7 }];
  const s = g.simplifyPolyline(line, 0.5);
  assert.deepEqual(s[0], line[0]);
  assert.deepEqual(s.at(-1), line.at(-1));
  assert.ok(s.length < line.length);
  assert.ok(s.some((p) => p.x === 2), 'keeps the corner');
  assert.deepEqual(g.simplifyPolyline(line, 0), line);
  assert.notEqual(g.simplifyPolyline(line, 0), line, 'returns a copy');
});

test('simplifyRing reduces a noisy circle, never below 3 vertices, never mutating the input', () => {
  const ring = [];
  for (let i = 0; i < 1000; i++) {
    const a = (i / 1000) * 2 * Math.PI;
    const r = 100 + (i % 2 ? 0.2 : -0.2);
    ring.push({ x: 200 + r * Math.cos(a), y: 200 + r * Math.sin(a) });
  }
  const copy = JSON.parse(JSON.stringify(ring));
  const counts = g.DETAIL_TOLERANCES.map((t) => g.simplifyRing(ring, t).length);
  assert.equal(counts.at(-1), 1000, 'tolerance 0 is the raw ring');
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i] >= counts[i - 1], `monotonic: ${counts}`);
  assert.ok(counts[0] < 40, `coarsest is coarse: ${counts[0]}`);
  assert.ok(g.simplifyRing(ring, 1e6).length >= 3);
  assert.deepEqual(ring, copy);
  // Every simplified vertex is an original vertex.
  const set = new Set(ring.map((v) => `${v.x},${v.y}`));
  for (const v of g.simplifyRing(ring, 2)) assert.ok(set.has(`${v.x},${v.y}`));
});

test('simplifyNormPolygons uses image px tolerance on normalised rings', () => {
  const ring = [{ x: 0, y: 0 }, { x: 0.5, y: 0.001 }, { x: 1, y: 0 }, { x: 1, y: 1 }, { x: 0, y: 1 }];
  // 0.001 of a 1000 px image is 1 px: dropped at tolerance 2 px, kept at 0.5 px.
  assert.equal(g.simplifyNormPolygons([ring], 2, 1000, 1000)[0].length, 4);
  assert.equal(g.simplifyNormPolygons([ring], 0.5, 1000, 1000)[0].length, 5);
  assert.equal(g.simplifyNormPolygons([ring], 0, 1000, 1000)[0].length, 5);
});

test('formatBox prints 4 decimals', () => {
  assert.equal(g.formatBox({ xMin: 0.1, yMin: 0.25, xMax: 0.123456, yMax: 1 }), '0.1000,0.2500,0.1235,1.0000');
  assert.equal(g.formatBox(null), '');
});
