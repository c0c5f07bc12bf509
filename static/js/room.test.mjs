// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { nextImage } from './room.js';

function fakeFetch(t, status, body) {
  const calls = [];
  globalThis.fetch = async (url, init) => {
    calls.push({ url, init });
    return { status, ok: status >= 200 && status < 300, json: async () => body };
  };
  t.after(() => delete globalThis.fetch);
  return calls;
}

test('nextImage posts the current image and returns the href', async (t) => {
  const calls = fakeFetch(t, 200, { fileId: 9, href: '/rooms/r1/images/9' });
  assert.deepEqual(await nextImage('r1', 7), { href: '/rooms/r1/images/9', fileId: 9 });
  assert.equal(calls[0].url, '/api/rooms/r1/next');
  assert.equal(calls[0].init.method, 'POST');
  assert.deepEqual(JSON.parse(calls[0].init.body), { current: 7 });
});

test('nextImage explains 204, errors and odd answers', async (t) => {
  fakeFetch(t, 204, null);
  assert.match((await nextImage('r1')).message, /No untouched image/);
  fakeFetch(t, 403, { error: { message: 'You are not a member of this room.' } });
  assert.equal((await nextImage('r1')).message, 'You are not a member of this room.');
  fakeFetch(t, 200, { href: 'https://evil.example/' });
  assert.equal((await nextImage('r1')).href, undefined, 'only same-site paths are followed');
  globalThis.fetch = async () => {
    throw new TypeError('offline');
  };
  assert.match((await nextImage('r1')).message, /could not be reached/);
});
