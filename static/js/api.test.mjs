// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { postJSON, getJSON, errorMessage, csrfToken, signInHref, showSignInNotice } from './api.js';

/** A page whose <meta name="csrf-token"> says token; removed after the test. */
function page(t, token) {
  globalThis.document = { querySelector: (sel) => (sel === 'meta[name="csrf-token"]' && token ? { content: token } : null) };
  t.after(() => delete globalThis.document);
}

function fakeFetch(t, answer = { status: 200, ok: true }) {
  const calls = [];
  const saved = globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    calls.push({ url, init });
    if (answer instanceof Error) throw answer;
    return answer;
  };
  t.after(() => (globalThis.fetch = saved));
  return calls;
}

const res = (status, body) => ({ status, ok: status >= 200 && status < 300, json: async () => (body === undefined ? Promise.reject(new SyntaxError('x')) : body) });

test('postJSON sends JSON with the page\'s CSRF token in the header, never in the URL', async (t) => {
  page(t, 'tok123');
  const calls = fakeFetch(t);
  await postJSON('/api/x', { a: 1 });
  assert.equal(calls.length, 1);
  const { url, init } = calls[0];
  assert.equal(url, '/api/x');
  assert.equal(init.method, 'POST');
  assert.equal(init.credentials, 'same-origin');
  assert.equal(init.headers['X-CSRF-Token'], 'tok123');
  assert.equal(init.headers['Content-Type'], 'application/json');
  assert.equal(init.body, '{"a":1}');
  await postJSON('/api/y');
  assert.equal(calls[1].init.body, undefined, 'no body when none is given');
});

test('csrfToken is empty without a page or a meta tag', (t) => {
  assert.equal(csrfToken(), '');
  page(t, '');
  assert.equal(csrfToken(), '');
});

test('getJSON asks for JSON, same-origin, without a CSRF header', async (t) => {
  page(t, 'tok');
  const calls = fakeFetch(t);
  await getJSON('/api/z');
  assert.deepEqual(calls[0].init, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
});

test('postJSON rejects when the server cannot be reached', async (t) => {
  fakeFetch(t, new TypeError('fetch failed'));
  await assert.rejects(postJSON('/api/x', {}), TypeError);
});

test('errorMessage: the server\'s message first, then the caller\'s words, then the status', async () => {
  assert.equal(await errorMessage(res(400, { error: { message: 'Label too long.' } })), 'Label too long.');
  assert.equal(await errorMessage(res(400, { error: { message: '' } })), 'The request was refused (HTTP 400).');
  assert.match(await errorMessage(res(401)), /sign-in expired/);
  assert.match(await errorMessage(res(413)), /too large/);
  assert.match(await errorMessage(res(429)), /Too many requests/);
  assert.equal(await errorMessage(res(502)), 'The server failed (HTTP 502) — retry in a moment.');
  assert.equal(await errorMessage(res(404), { 404: 'This annotation no longer exists.' }), 'This annotation no longer exists.');
  assert.equal(await errorMessage(res(404, { error: { message: 'gone' } }), { 404: 'mine' }), 'gone', 'the server\'s words win');
  const other = { other: (s) => `refused ${s}` };
  assert.equal(await errorMessage(res(500), other), 'refused 500');
  assert.equal(await errorMessage(res(403), { 403: 'not a member', ...other }), 'not a member');
});

test('signInHref comes back to the same page and query', () => {
  assert.equal(signInHref({ pathname: '/images/7', search: '?review=1' }), '/auth/login?return_to=%2Fimages%2F7%3Freview%3D1');
});

test('showSignInNotice puts one banner with a sign-in link under the header', (t) => {
  const made = [];
  let banner = null;
  const el = (tag) => {
    const e = { tag, dataset: {}, attrs: {}, children: [], setAttribute: (k, v) => (e.attrs[k] = v), append: (...c) => e.children.push(...c) };
    made.push(e);
    return e;
  };
  const header = { after: (b) => (banner = b) };
  const doc = {
    createElement: el,
    querySelector: (sel) => (sel === '[data-signin-notice]' ? banner : sel === '.app-header' ? header : null),
  };
  globalThis.location = { pathname: '/images/7', search: '' };
  t.after(() => delete globalThis.location);
  showSignInNotice('Your sign-in expired.', doc);
  assert.ok(banner);
  assert.equal(banner.attrs.role, 'alert');
  const link = made.find((e) => e.tag === 'a');
  assert.equal(link.href, '/auth/login?return_to=%2Fimages%2F7');
  showSignInNotice('again', doc);
  assert.equal(made.filter((e) => e.tag === 'div').length, 1, 'only one banner');
});
