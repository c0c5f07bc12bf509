// Review: which objects a reviewer steps through, in which order, and where to go next.
// Pure: no DOM, no network. The annotate controller calls in (review mode in a room).
//
// An object awaits review when it is accepted, its job is done, it has an outline, and its
// current version has no decision. Objects are visited in reading order (top to bottom, then
// left to right, by their bounding box), so the order does not depend on who made them when.

import { currentPolygons } from './objects.js';
import { bboxOfPolygons } from './geometry.js';

/** The decisions a reviewer can send; "" takes a decision back. */
export const DECISIONS = ['approved', 'rejected', ''];

/** True when a member with this role may review: the owner and reviewers. */
export function mayReview(role) {
  return role === 'owner' || role === 'reviewer';
}

/** True when obj can be reviewed: accepted, done, with an outline, known to the room. */
export function isReviewable(obj) {
  return !!obj && !!obj.accepted && obj.status === 'done' && obj.known !== false && currentPolygons(obj).length > 0;
}

/** True when obj awaits a decision. */
export function isAwaiting(obj) {
  return isReviewable(obj) && !obj.review;
}

/** The box an object is ordered by: its job's box, else its polygons' box, else its prompt's first point. */
function anchorOf(obj) {
  const b = obj.boundingBox || bboxOfPolygons(currentPolygons(obj));
  if (b) return { y: b.yMin, x: b.xMin };
  const p = obj.prompt?.box || obj.prompt?.points?.[0];
  return p ? { y: p.yMin ?? p.y, x: p.xMin ?? p.x } : { y: 2, x: 2 };
}

/** The reviewable objects in reading order (ties: the id, for a stable order everywhere). */
export function reviewOrder(objects) {
  return objects
    .filter(isReviewable)
    .map((obj) => ({ obj, a: anchorOf(obj) }))
    .sort((p, q) => p.a.y - q.a.y || p.a.x - q.a.x || (p.obj.id < q.obj.id ? -1 : p.obj.id > q.obj.id ? 1 : 0))
    .map((p) => p.obj);
}

/**
 * The object to select after currentId when stepping by dir (+1 Tab, −1 Shift+Tab): the next
 * awaiting one in reading order, wrapping around; with all = true any reviewable one (to look
 * at decided objects again). Returns its id or null when there is none (other than the
 * current one, which is returned only when it is the sole candidate).
 */
export function stepReview(objects, currentId, dir = 1, { all = false } = {}) {
  const order = reviewOrder(objects);
  const ok = all ? () => true : (o) => !o.review;
  const n = order.length;
  if (!n) return null;
  let i = order.findIndex((o) => o.id === currentId);
  if (i < 0) {
    // Not on a reviewable object: start before the first (forward) or after the last (back).
    i = dir > 0 ? -1 : n;
  }
  for (let k = 1; k <= n; k++) {
    const j = (((i + dir * k) % n) + n) % n;
    if (ok(order[j])) return order[j].id;
  }
  return null;
}

/** Counts of the image's reviewable objects: {awaiting, approved, rejected}. */
export function reviewCounts(objects) {
  const c = { awaiting: 0, approved: 0, rejected: 0 };
  for (const o of objects) {
    if (!isReviewable(o)) continue;
    if (o.review === 'approved') c.approved++;
    else if (o.review === 'rejected') c.rejected++;
    else c.awaiting++;
  }
  return c;
}

/** The "approved · Ben" / "rejected · Ben" badge of a decided object, or null. */
export function reviewBadge(obj) {
  if (!obj || (obj.review !== 'approved' && obj.review !== 'rejected')) return null;
  const who = obj.reviewerName ? ` · ${obj.reviewerName}` : '';
  return { state: obj.review, text: obj.review + who };
}

/**
 * May an image hold objects awaiting review? From a room snapshot's image entry: its
 * `awaiting` count when the server sends one, else any object at all.
 */
export function mayAwait(im) {
  if (!im) return false;
  if (typeof im.awaiting === 'number') return im.awaiting > 0;
  return typeof im.objects === 'number' ? im.objects > 0 : false;
}

/**
 * The next image (in room order, after current, wrapping around) that may hold objects
 * awaiting review, or null. `from` is the image where the current run of automatic skips
 * began: coming back to it ends the round, so a room with nothing left to review is not
 * walked forever.
 * @param {{fileId:string|number, objects?:number, awaiting?:number}[]} images in room order
 */
export function nextReviewImage(images, current, { from = null, dir = 1 } = {}) {
  const ids = images.map((im) => String(im.fileId));
  const n = ids.length;
  if (!n) return null;
  let i = ids.indexOf(String(current));
  if (i < 0) i = dir > 0 ? -1 : n;
  for (let k = 1; k <= n; k++) {
    const j = (((i + dir * k) % n) + n) % n;
    if (ids[j] === String(current)) return null;
    if (from !== null && from !== '' && ids[j] === String(from)) return null;
    if (mayAwait(images[j])) return ids[j];
  }
  return null;
}

/** The review-mode URL of an image in a room; from marks where the round started. */
export function reviewHref(roomId, fileId, from = '') {
  const q = from !== '' && from !== null && from !== undefined ? `&from=${encodeURIComponent(from)}` : '';
  return `/rooms/${encodeURIComponent(roomId)}/images/${encodeURIComponent(fileId)}?review=1${q}`;
}
