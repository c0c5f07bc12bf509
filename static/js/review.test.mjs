// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { mayReview, isReviewable, isAwaiting, reviewOrder, stepReview, reviewCounts, reviewBadge, nextReviewImage, mayAwait, reviewHref } from './review.js';

const sq = (x, y) => ({ vertices: [{ x, y }, { x: x + 0.1, y }, { x: x + 0.1, y: y + 0.1 }, { x, y: y + 0.1 }] });
const obj = (id, x, y, extra = {}) => ({
  id, accepted: true, status: 'done', known: true, prompt: { points: [{ x, y, label: 1 }], box: null },
  segments: [{ score: 0.9, polygons: [sq(x, y)] }], segIndex: 0, boundingBox: null, review: '', ...extra,
});

test('who may review', () => {
  assert.ok(mayReview('owner'));
  assert.ok(mayReview('reviewer'));
  assert.ok(!mayReview('member'));
  assert.ok(!mayReview(''));
  assert.ok(!mayReview(undefined));
});

test('what can be reviewed and what awaits a decision', () => {
  assert.ok(isAwaiting(obj('a', 0.1, 0.1)));
  assert.ok(!isReviewable(obj('a', 0.1, 0.1, { accepted: false })));
  assert.ok(!isReviewable(obj('a', 0.1, 0.1, { status: 'running' })));
  assert.ok(!isReviewable(obj('a', 0.1, 0.1, { segments: [{ score: 0.1, polygons: [] }] })));
  assert.ok(!isReviewable(obj('a', 0.1, 0.1, { known: false })));
  assert.ok(isReviewable(obj('a', 0.1, 0.1, { review: 'approved' })));
  assert.ok(!isAwaiting(obj('a', 0.1, 0.1, { review: 'rejected' })));
  assert.ok(!isReviewable(null));
});

test('reviewOrder is reading order, whoever made the objects when', () => {
  const objects = [
    obj('low-left', 0.1, 0.7),
    obj('top-right', 0.7, 0.1),
    obj('top-left', 0.1, 0.1),
    obj('not-accepted', 0.0, 0.0, { accepted: false }),
    obj('box', 0.5, 0.4, { boundingBox: { xMin: 0.5, yMin: 0.05, xMax: 0.6, yMax: 0.2 } }),
  ];
  assert.deepEqual(reviewOrder(objects).map((o) => o.id), ['box', 'top-left', 'top-right', 'low-left']);
  // Ties fall back to the id.
  assert.deepEqual(reviewOrder([obj('b', 0.2, 0.2), obj('a', 0.2, 0.2)]).map((o) => o.id), ['a', 'b']);
});

test('stepReview: Tab and Shift+Tab through the awaiting objects, wrapping around', () => {
  const objects = [obj('a', 0.1, 0.1), obj('b', 0.1, 0.3, { review: 'approved' }), obj('c', 0.1, 0.5), obj('d', 0.1, 0.7)];
  assert.equal(stepReview(objects, null, 1), 'a');
  assert.equal(stepReview(objects, null, -1), 'd');
  assert.equal(stepReview(objects, 'a', 1), 'c'); // b is decided
  assert.equal(stepReview(objects, 'c', 1), 'd');
  assert.equal(stepReview(objects, 'd', 1), 'a'); // wraps
  assert.equal(stepReview(objects, 'a', -1), 'd');
  assert.equal(stepReview(objects, 'b', 1), 'c'); // from a decided one
  assert.equal(stepReview(objects, 'a', 1, { all: true }), 'b');
  assert.equal(stepReview(objects, 'unknown', 1), 'a');
  // After deciding on the last awaiting one, none is left.
  const one = [obj('a', 0.1, 0.1, { review: 'rejected' }), obj('b', 0.1, 0.3)];
  assert.equal(stepReview(one, 'b', 1), 'b'); // the only one left is the current one
  one[1].review = 'approved';
  assert.equal(stepReview(one, 'b', 1), null);
  assert.equal(stepReview([], null, 1), null);
});

test('the review sequence after each decision selects the next awaiting object', () => {
  const objects = [obj('a', 0.1, 0.1), obj('b', 0.1, 0.3), obj('c', 0.1, 0.5)];
  let cur = stepReview(objects, null, 1);
  const seen = [];
  while (cur) {
    seen.push(cur);
    objects.find((o) => o.id === cur).review = seen.length % 2 ? 'approved' : 'rejected';
    cur = stepReview(objects, cur, 1);
  }
  assert.deepEqual(seen, ['a', 'b', 'c']);
  assert.deepEqual(reviewCounts(objects), { awaiting: 0, approved: 2, rejected: 1 });
  // Undo (decision "") puts it back in the queue.
  objects[1].review = '';
  assert.equal(stepReview(objects, 'c', 1), 'b');
  assert.deepEqual(reviewCounts(objects), { awaiting: 1, approved: 2, rejected: 0 });
});

test('reviewBadge names the decision and the reviewer', () => {
  assert.deepEqual(reviewBadge(obj('a', 0, 0, { review: 'approved', reviewerName: 'Ben' })), { state: 'approved', text: 'approved · Ben' });
  assert.deepEqual(reviewBadge(obj('a', 0, 0, { review: 'rejected' })), { state: 'rejected', text: 'rejected' });
  assert.equal(reviewBadge(obj('a', 0, 0)), null);
});

test('nextReviewImage walks the room in order, wraps, and ends the round where it began', () => {
  const images = [
    { fileId: 1, objects: 0 }, { fileId: 2, objects: 3 }, { fileId: 3, objects: 0 }, { fileId: 4, objects: 1 },
  ];
  assert.equal(nextReviewImage(images, 1), '2');
  assert.equal(nextReviewImage(images, 2), '4');
  assert.equal(nextReviewImage(images, 4), '2'); // wraps
  assert.equal(nextReviewImage(images, 2, { dir: -1 }), '4');
  assert.equal(nextReviewImage(images, 4, { from: 2 }), null); // back where the run of skips began
  assert.equal(nextReviewImage(images, 3, { from: 4 }), null);
  assert.equal(nextReviewImage(images, 'x'), '2');
  assert.equal(nextReviewImage([{ fileId: 1, objects: 2 }], 1), null); // only itself
  // The server's awaiting count wins when it sends one.
  const counted = [{ fileId: 1, objects: 5, awaiting: 0 }, { fileId: 2, objects: 1, awaiting: 1 }];
  assert.equal(nextReviewImage(counted, 2), null);
  assert.equal(nextReviewImage(counted, 1), '2');
  assert.ok(!mayAwait({ fileId: 1 }));
  assert.ok(!mayAwait(null));
});

test('reviewHref', () => {
  assert.equal(reviewHref('r1', 42), '/rooms/r1/images/42?review=1');
  assert.equal(reviewHref('r1', 42, 7), '/rooms/r1/images/42?review=1&from=7');
});
