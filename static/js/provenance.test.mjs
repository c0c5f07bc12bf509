// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseProvenance, countVertices, promptText, verticesText, writeText, provenanceRows, fromLocal, annotationProvenanceURL, rerunPrompt } from './provenance.js';

const ring = (n, x = 0.1) => Array.from({ length: n }, (_, i) => ({ x: x + 0.01 * Math.cos(i), y: 0.5 + 0.01 * Math.sin(i) }));
const fmt = (d) => d.toISOString().slice(11, 19);

const server = {
  objectId: 'o1', fileId: 9, version: 3, label: 'cat', authorName: 'Ana',
  prompt: { points: [{ x: 0.6, y: 0.5, label: 1 }, { x: 0.1, y: 0.1, label: 0 }, { x: 0.7, y: 0.5, label: 1 }], box: { xMin: 0.1, yMin: 0.2, xMax: 0.8, yMax: 0.9 } },
  jobId: 1234, backend: 'lasso-local', status: 'done', score: 0.91234,
  rawPolygons: [ring(120), ring(30, 0.5)], savedPolygons: [ring(20), ring(6, 0.5)], annotationIds: [11, 12],
  accepted: true, review: 'approved', reviewerName: 'Ben', reviewedAt: '2026-11-28T15:55:11Z', deleted: false,
  writes: [
    { op: 'review', version: 3, state: 'done', attempts: 1, lastError: '', annotationIds: [11, 12], createdAt: '2026-11-28T15:55:11Z', updatedAt: '2026-11-28T15:55:12Z' },
    { op: 'create', version: 3, state: 'done', attempts: 2, lastError: 'HTTP 503 once', annotationIds: [11, 12], createdAt: '2026-11-28T15:50:00Z', updatedAt: '2026-11-28T15:50:03Z' },
  ],
};

test('parseProvenance keeps what has the right shape and drops the rest', () => {
  const p = parseProvenance(server);
  assert.equal(p.version, 3);
  assert.equal(p.rawPolygons.length, 2);
  assert.equal(p.savedPolygons.length, 2);
  assert.equal(p.writes.length, 2);
  const bad = parseProvenance({ rawPolygons: [[{ x: 1, y: 'a' }], 'x'], savedPolygons: null, prompt: '{"points":[{"x":0.5,"y":0.5,"label":0}]}', writes: [null, { op: 3 }], annotationIds: [1, 'two'] });
  assert.deepEqual(bad.rawPolygons, []);
  assert.equal(bad.savedPolygons, null);
  assert.deepEqual(bad.prompt, { points: [{ x: 0.5, y: 0.5, label: 0 }], box: null });
  assert.equal(bad.writes.length, 1);
  assert.equal(bad.writes[0].op, 'create');
  assert.deepEqual(bad.annotationIds, [1]);
  assert.equal(parseProvenance(null).version, 0);
  assert.equal(parseProvenance({ prompt: '{nope' }).prompt.points.length, 0);
});

test('prompt, vertices and writes in words', () => {
  const p = parseProvenance(server);
  assert.equal(countVertices(p.rawPolygons), 150);
  assert.equal(promptText(p.prompt), '2 +, 1 − and a box');
  assert.equal(promptText({ points: [{ x: 0, y: 0, label: 1 }], box: null }), '1 +');
  assert.equal(promptText({ points: [], box: { xMin: 0, yMin: 0, xMax: 1, yMax: 1 } }), 'a box');
  assert.equal(promptText({ points: [], box: null }), 'empty');
  assert.equal(verticesText(p), '150 raw → 26 saved (2 parts)');
  assert.equal(verticesText({ ...p, savedPolygons: null }), '150 raw; not saved yet');
  assert.equal(verticesText({ ...p, rawPolygons: [] }), 'no outline');
  assert.equal(verticesText({ ...p, savedPolygons: [ring(9)] }), '150 raw → 9 saved');
  assert.equal(writeText(p.writes[1], fmt), 'create v3 · done · 2 attempts · ids 11, 12 · 15:50:03 — HTTP 503 once');
  assert.equal(writeText({ op: 'delete', version: 1, state: 'pending', attempts: 0, lastError: '', annotationIds: [], createdAt: '', updatedAt: '' }, fmt), 'delete v1 · waiting');
});

test('provenanceRows: what the drawer lists, in order', () => {
  const rows = provenanceRows(parseProvenance(server), fmt);
  assert.deepEqual(rows.map((r) => [r.key, r.value]), [
    ['author', 'Ana'],
    ['label', 'cat'],
    ['version', 'v3'],
    ['prompt', '2 +, 1 − and a box'],
    ['job', '1234'],
    ['backend', 'lasso-local'],
    ['status', 'done'],
    ['score', '0.912'],
    ['vertices', '150 raw → 26 saved (2 parts)'],
    ['ids', 'annotation 11, 12'],
    ['review', 'approved by Ben, 15:55:11'],
  ]);
  const pending = provenanceRows(parseProvenance({ ...server, review: '', annotationIds: [], savedPolygons: null, score: null, deleted: true }), fmt);
  const byKey = Object.fromEntries(pending.map((r) => [r.key, r.value]));
  assert.equal(byKey.review, 'awaiting review');
  assert.equal(byKey.ids, 'not yet');
  assert.equal(byKey.score, undefined);
  assert.equal(byKey.deleted, 'yes');
  const draft = Object.fromEntries(provenanceRows(parseProvenance({ ...server, accepted: false, review: '', annotationIds: [] }), fmt).map((r) => [r.key, r.value]));
  assert.equal(draft.ids, 'not accepted');
  assert.equal(draft.review, undefined);
});

test('fromLocal builds the same shape on an image opened alone', () => {
  const square = { vertices: [{ x: 0.1, y: 0.1 }, { x: 0.2, y: 0.1 }, { x: 0.2001, y: 0.15 }, { x: 0.2, y: 0.2 }, { x: 0.1, y: 0.2 }] };
  const obj = {
    id: 'o1', label: 'cat', version: 2, prompt: { points: [{ x: 0.15, y: 0.15, label: 1 }], box: null }, status: 'done',
    segments: [{ score: 0.8, polygons: [square] }], segIndex: 0, accepted: true, savedTolerance: 2, jobId: 77,
    save: { version: 2, op: 'create', state: 'saving', error: '', annotationIds: [] },
  };
  const p = fromLocal(obj, { W: 1000, H: 1000 });
  assert.equal(p.local, true);
  assert.equal(p.jobId, 77);
  assert.equal(countVertices(p.rawPolygons), 5);
  assert.equal(countVertices(p.savedPolygons), 4); // the near-collinear vertex goes at 2 px
  assert.equal(p.writes.length, 1);
  assert.equal(p.writes[0].state, 'saving');
  const rows = Object.fromEntries(provenanceRows(p, fmt).map((r) => [r.key, r.value]));
  assert.equal(rows.review, undefined); // no review outside rooms
  assert.equal(rows.ids, 'not yet');
  assert.equal(writeText(p.writes[0], fmt), 'create v2 · saving…');
  // Not accepted: nothing saved.
  const draft = fromLocal({ ...obj, accepted: false, save: null, jobId: 0 }, { W: 1000, H: 1000 });
  assert.equal(draft.savedPolygons, null);
  assert.equal(provenanceRows(draft, fmt).find((r) => r.key === 'job'), undefined);
});

test('an annotation\'s provenance (made outside rooms) awaits no review', () => {
  const p = parseProvenance({ ...server, review: '', reviewerName: '', reviewedAt: '', outsideRoom: true });
  assert.equal(p.outsideRoom, true);
  assert.equal(parseProvenance(server).outsideRoom, false);
  const rows = Object.fromEntries(provenanceRows(p, fmt).map((r) => [r.key, r.value]));
  assert.equal(rows.review, undefined);
  assert.equal(rows.job, '1234');
  assert.equal(rows.ids, 'annotation 11, 12');
});

test('annotationProvenanceURL', () => {
  assert.equal(annotationProvenanceURL(9, 11), '/api/images/9/annotations/11/provenance');
  assert.equal(annotationProvenanceURL('9/x', 11), '/api/images/9%2Fx/annotations/11/provenance');
});

test('rerunPrompt copies a stored prompt, or null when it is empty', () => {
  const p = parseProvenance(server);
  const copy = rerunPrompt(p.prompt);
  assert.deepEqual(copy, p.prompt);
  copy.points[0].x = 0.99;
  copy.box.xMin = 0.5;
  assert.equal(p.prompt.points[0].x, 0.6, 'a copy');
  assert.equal(p.prompt.box.xMin, 0.1, 'a copy');
  assert.deepEqual(rerunPrompt({ points: [], box: { xMin: 0.1, yMin: 0.2, xMax: 0.3, yMax: 0.4 } }), { points: [], box: { xMin: 0.1, yMin: 0.2, xMax: 0.3, yMax: 0.4 } });
  assert.equal(rerunPrompt({ points: [], box: null }), null);
  assert.equal(rerunPrompt(null), null);
});
