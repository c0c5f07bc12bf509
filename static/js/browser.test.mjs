// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';

// browser.js boots on document; give it an empty one.
globalThis.document = { querySelectorAll: () => [], querySelector: () => null };
const { gridStep } = await import('./browser.js');

test('gridStep moves in a 4-column grid of 10 and stops at the edges', () => {
  const cases = [
    [0, 'ArrowRight', 1],
    [3, 'ArrowRight', 4], // wraps to the next row, like reading order
    [0, 'ArrowLeft', -1],
    [1, 'ArrowDown', 5],
    [6, 'ArrowDown', -1], // no item below
    [5, 'ArrowUp', 1],
    [2, 'ArrowUp', -1],
    [7, 'Home', 0],
    [2, 'End', 9],
    [2, 'Enter', -1],
  ];
  for (const [i, key, want] of cases) assert.equal(gridStep(i, key, 10, 4), want, `${i} ${key}`);
});
