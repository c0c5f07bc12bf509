// Provenance: "How this was made" for one object — the prompt, the job, the backend, the
// score, the raw and the saved polygons, the annotation ids, the review and every write to
// CDF. In a room it comes from GET …/objects/{objectId}/provenance; on an image opened alone
// the page builds the same shape from what it knows (fromLocal), and once the object is an
// annotation in CDF the server keeps it: GET /api/images/{fileId}/annotations/{annotationId}/provenance
// (annotationProvenanceURL) answers the same shape for its author. Pure: formatting only; the
// annotate controller renders the rows and draws the polygons.

import { currentPolygons } from './objects.js';
import { simplifyNormPolygons } from './geometry.js';

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const str = (v) => (typeof v === 'string' ? v : '');

/** [[{x,y}]] from untrusted JSON: rings of at least 3 finite vertices; null stays null. */
function readRings(raw) {
  if (raw === null || raw === undefined) return null;
  if (!Array.isArray(raw)) return null;
  const out = [];
  for (const ring of raw) {
    if (!Array.isArray(ring)) continue;
    const vs = ring.filter((v) => v && isNum(v.x) && isNum(v.y)).map((v) => ({ x: v.x, y: v.y }));
    if (vs.length >= 3) out.push(vs);
  }
  return out;
}

function readPrompt(p) {
  const points = Array.isArray(p?.points)
    ? p.points.filter((q) => q && isNum(q.x) && isNum(q.y)).map((q) => ({ x: q.x, y: q.y, label: q.label === 0 ? 0 : 1 }))
    : [];
  const b = p?.box;
  const box = b && [b.xMin, b.yMin, b.xMax, b.yMax].every(isNum) ? { xMin: b.xMin, yMin: b.yMin, xMax: b.xMax, yMax: b.yMax } : null;
  return { points, box };
}

function readIds(ids) {
  return Array.isArray(ids) ? ids.filter((id) => Number.isSafeInteger(id)) : [];
}

/** The provenance answer of the server (or of fromLocal) in a shape that can be trusted. */
export function parseProvenance(raw) {
  raw = raw && typeof raw === 'object' ? raw : {};
  let prompt = raw.prompt;
  if (typeof prompt === 'string') {
    try {
      prompt = JSON.parse(prompt);
    } catch {
      prompt = null;
    }
  }
  return {
    objectId: str(raw.objectId),
    version: Number.isInteger(raw.version) ? raw.version : 0,
    label: str(raw.label),
    authorName: str(raw.authorName),
    prompt: readPrompt(prompt),
    jobId: Number.isSafeInteger(raw.jobId) ? raw.jobId : 0,
    backend: str(raw.backend),
    status: str(raw.status),
    score: isNum(raw.score) ? raw.score : null,
    rawPolygons: readRings(raw.rawPolygons) || [],
    savedPolygons: readRings(raw.savedPolygons),
    annotationIds: readIds(raw.annotationIds),
    accepted: raw.accepted === true,
    review: raw.review === 'approved' || raw.review === 'rejected' ? raw.review : '',
    reviewerName: str(raw.reviewerName),
    reviewedAt: str(raw.reviewedAt),
    deleted: raw.deleted === true,
    writes: Array.isArray(raw.writes)
      ? raw.writes.filter((w) => w && typeof w === 'object').map((w) => ({
          op: str(w.op) || 'create',
          version: Number.isInteger(w.version) ? w.version : 0,
          state: str(w.state),
          attempts: Number.isInteger(w.attempts) ? w.attempts : 0,
          lastError: str(w.lastError),
          annotationIds: readIds(w.annotationIds),
          createdAt: str(w.createdAt),
          updatedAt: str(w.updatedAt),
        }))
      : [],
    local: raw.local === true,
    // Made outside a room (an annotation's provenance): no room review to wait for.
    outsideRoom: raw.outsideRoom === true,
  };
}

/** GET URL of how an annotation in CDF was made, when its author made it with Lasso outside rooms. */
export function annotationProvenanceURL(fileId, annotationId) {
  return `/api/images/${encodeURIComponent(fileId)}/annotations/${encodeURIComponent(annotationId)}/provenance`;
}

/** A copy of a stored prompt {points, box} to send again, or null when it has neither points nor a box. */
export function rerunPrompt(prompt) {
  const points = Array.isArray(prompt?.points) ? prompt.points : [];
  const box = prompt?.box || null;
  if (!points.length && !box) return null;
  return { points: points.map((q) => ({ x: q.x, y: q.y, label: q.label })), box: box ? { xMin: box.xMin, yMin: box.yMin, xMax: box.xMax, yMax: box.yMax } : null };
}

/** Number of vertices in rings [[{x,y}]]. */
export function countVertices(rings) {
  return (rings || []).reduce((n, r) => n + r.length, 0);
}

/** "2 +, 1 − and a box" — the prompt in words. */
export function promptText(prompt) {
  const pos = prompt.points.filter((p) => p.label === 1).length;
  const neg = prompt.points.length - pos;
  const parts = [];
  if (pos) parts.push(`${pos} +`);
  if (neg) parts.push(`${neg} −`);
  if (prompt.box) parts.push('a box');
  if (!parts.length) return 'empty';
  return parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/** "412 → 57 vertices (2 parts)", "412 vertices (raw); not saved yet". */
export function verticesText(p) {
  const raw = countVertices(p.rawPolygons);
  const parts = (n) => (n > 1 ? ` (${n} parts)` : '');
  if (!p.rawPolygons.length) return 'no outline';
  if (!p.savedPolygons) return `${raw} raw; not saved yet`;
  return `${raw} raw → ${countVertices(p.savedPolygons)} saved${parts(p.savedPolygons.length)}`;
}

const STATE_WORDS = { pending: 'waiting', done: 'done', failed: 'failed', saving: 'saving…', saved: 'saved' };

/** A time as the person reads it; fmt is injectable for tests. */
function timeText(iso, fmt) {
  if (!iso) return '';
  const t = Date.parse(iso);
  return Number.isFinite(t) ? fmt(new Date(t)) : '';
}

const defaultTime = (d) => d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });

/** One write, e.g. "create v3 · done · 2 attempts · ids 11, 12 · 28/11/2026, 15:55:11". */
export function writeText(w, fmt = defaultTime) {
  const parts = [`${w.op} v${w.version}`, STATE_WORDS[w.state] || w.state || '?'];
  if (w.attempts) parts.push(`${w.attempts} attempt${w.attempts === 1 ? '' : 's'}`);
  if (w.annotationIds.length) parts.push(`ids ${w.annotationIds.join(', ')}`);
  const at = timeText(w.updatedAt || w.createdAt, fmt);
  if (at) parts.push(at);
  let text = parts.join(' · ');
  if (w.lastError) text += ` — ${w.lastError}`;
  return text;
}

/**
 * The rows of the drawer: [{key, term, value}] in reading order. Rows with nothing to say are
 * left out.
 */
export function provenanceRows(p, fmt = defaultTime) {
  const rows = [];
  const add = (key, term, value) => {
    if (value !== '' && value !== null && value !== undefined) rows.push({ key, term, value: String(value) });
  };
  add('author', 'Made by', p.authorName);
  add('label', 'Label', p.label || '(none)');
  add('version', 'Prompt version', p.version ? `v${p.version}` : '');
  add('prompt', 'Prompt', promptText(p.prompt));
  add('job', 'Job', p.jobId ? String(p.jobId) : p.local ? '' : '—');
  add('backend', 'Backend', p.backend);
  add('status', 'Job status', p.status);
  add('score', 'Score', p.score === null ? '' : p.score.toFixed(3));
  add('vertices', 'Vertices', verticesText(p));
  add('ids', 'In CDF', p.annotationIds.length ? `annotation ${p.annotationIds.join(', ')}` : p.accepted ? 'not yet' : 'not accepted');
  let review = '';
  if (p.review) {
    review = p.review + (p.reviewerName ? ` by ${p.reviewerName}` : '');
    const at = timeText(p.reviewedAt, fmt);
    if (at) review += `, ${at}`;
  } else if (p.accepted && !p.local && !p.outsideRoom) review = 'awaiting review';
  add('review', 'Review', review);
  if (p.deleted) add('deleted', 'Deleted', 'yes');
  return rows;
}

/**
 * The provenance of an object on an image opened alone, from the page's own state: the prompt,
 * the job's result, and, once accepted, the polygons simplified as they were sent.
 */
export function fromLocal(obj, { W = 0, H = 0 } = {}) {
  const seg = obj.segments?.[obj.segIndex || 0];
  const raw = currentPolygons(obj);
  let saved = null;
  if (obj.accepted && typeof obj.savedTolerance === 'number' && raw.length) {
    saved = obj.savedTolerance > 0 && W && H ? simplifyNormPolygons(raw, obj.savedTolerance, W, H) : raw;
  }
  const save = obj.save && obj.save.version === obj.version ? obj.save : null;
  return parseProvenance({
    objectId: obj.id,
    version: obj.version,
    label: obj.label,
    authorName: obj.author?.name || '',
    prompt: obj.prompt,
    jobId: obj.jobId || 0,
    backend: obj.backend || '',
    status: obj.status === 'idle' ? '' : obj.status,
    score: seg && typeof seg.score === 'number' ? seg.score : null,
    rawPolygons: raw,
    savedPolygons: saved,
    annotationIds: save?.annotationIds || [],
    accepted: !!obj.accepted,
    review: obj.review || '',
    reviewerName: obj.reviewerName || '',
    writes: save ? [{ op: save.op, version: save.version, state: save.state, lastError: save.error, annotationIds: save.annotationIds }] : [],
    local: true,
  });
}
