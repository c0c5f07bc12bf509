// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { loadImage, loadErrorText, mb } from './imageload.js';

function fakeFetch(t, res) {
  const saved = globalThis.fetch;
  globalThis.fetch = async () => {
    if (res instanceof Error) throw res;
    return res;
  };
  t.after(() => (globalThis.fetch = saved));
}

/** A streaming answer of the given chunks, with or without a Content-Length. */
function streamed(chunks, length) {
  let i = 0;
  const headers = new Map([['Content-Type', 'image/png']]);
  if (length) headers.set('Content-Length', String(length));
  return {
    ok: true, status: 200, headers: { get: (k) => headers.get(k) ?? null },
    body: { getReader: () => ({ read: async () => (i < chunks.length ? { done: false, value: chunks[i++] } : { done: true }) }) },
  };
}

test('loadImage reports progress against the length, then decodes what arrived', async (t) => {
  fakeFetch(t, streamed([new Uint8Array(500000), new Uint8Array(500000)], 1000000));
  const steps = [];
  let blob = null;
  const img = await loadImage('/img', (text) => steps.push(text), async (b) => {
    blob = b;
    return { width: 3, height: 2 };
  });
  assert.deepEqual(img, { width: 3, height: 2 });
  assert.deepEqual(steps, ['Loading image… 50% of 1.0 MB', 'Loading image… 100% of 1.0 MB', 'Decoding…']);
  assert.equal(blob.size, 1000000);
  assert.equal(blob.type, 'image/png');
});

test('without a length the bytes so far are shown', async (t) => {
  fakeFetch(t, streamed([new Uint8Array(2500000)]));
  const steps = [];
  await loadImage('/img', (text) => steps.push(text), async () => ({}));
  assert.equal(steps[0], 'Loading image… 2.5 MB');
});

test('a missing image, an undecodable file and an unreachable server are told apart', async (t) => {
  fakeFetch(t, { ok: false, status: 404, json: async () => ({}) });
  await assert.rejects(loadImage('/img'), /The image was not found/);
  t.mock.method(globalThis, 'fetch', async () => streamed([new Uint8Array(3)]));
  await assert.rejects(loadImage('/img', () => {}, async () => { throw new Error('bad'); }), /could not be decoded as an image/);
  assert.match(loadErrorText(new TypeError('fetch failed')), /could not be reached/);
  assert.equal(loadErrorText(new Error('x')), 'x');
  assert.equal(mb(1400000), '1.4 MB');
});
