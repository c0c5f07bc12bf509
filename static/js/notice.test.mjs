// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { Notices, noticeKey, showNotice, NOTICE_KEY } from './notice.js';

const TEXT = "CDF's vision API is no longer available, so Lasso now segments images with its own engine.";

/** A stand-in element: enough of the DOM for notice.js. */
class El {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.parent = null;
    this.dataset = {};
    this.attrs = {};
    this.listeners = {};
    this.className = '';
    this.ownText = '';
  }
  set textContent(t) {
    this.children = [];
    this.ownText = String(t);
  }
  get textContent() {
    return this.ownText + this.children.map((c) => c.textContent).join('');
  }
  setAttribute(k, v) {
    this.attrs[k] = String(v);
  }
  getAttribute(k) {
    return this.attrs[k] ?? null;
  }
  append(...cs) {
    for (const c of cs) {
      c.remove();
      c.parent = this;
      this.children.push(c);
    }
  }
  prepend(c) {
    c.remove();
    c.parent = this;
    this.children.unshift(c);
  }
  after(c) {
    c.remove();
    c.parent = this.parent;
    this.parent.children.splice(this.parent.children.indexOf(this) + 1, 0, c);
  }
  remove() {
    if (!this.parent) return;
    this.parent.children.splice(this.parent.children.indexOf(this), 1);
    this.parent = null;
  }
  addEventListener(type, fn) {
    (this.listeners[type] ||= []).push(fn);
  }
  click() {
    for (const fn of this.listeners.click || []) fn({ type: 'click', target: this });
  }
  matches(sel) {
    if (sel.startsWith('.')) return this.className.split(' ').includes(sel.slice(1));
    const m = /^\[data-([a-z-]+)\]$/.exec(sel);
    if (!m) throw new Error(`the stand-in DOM does not know ${sel}`);
    return m[1].replace(/-([a-z])/g, (_, c) => c.toUpperCase()) in this.dataset;
  }
  querySelectorAll(sel) {
    const out = [];
    const walk = (el) => {
      for (const c of el.children) {
        if (c.matches(sel)) out.push(c);
        walk(c);
      }
    };
    walk(this);
    return out;
  }
  querySelector(sel) {
    return this.querySelectorAll(sel)[0] || null;
  }
}

/** A page with a body holding a header and a main, as layout.templ renders it. */
function page({ header = true } = {}) {
  const body = new El('body');
  if (header) {
    const h = new El('header');
    h.className = 'app-header';
    body.append(h);
  }
  body.append(new El('main'));
  return {
    body,
    createElement: (tag) => new El(tag),
    querySelector: (sel) => body.querySelector(sel),
    querySelectorAll: (sel) => body.querySelectorAll(sel),
  };
}

/** localStorage's interface over a Map. */
function memoryStorage() {
  const m = new Map();
  return { map: m, getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)) };
}

const at = () => new Date('2026-01-02T03:04:05Z');

test('noticeKey is the prefix and the trimmed text', () => {
  assert.equal(NOTICE_KEY, 'lasso.notice.');
  assert.equal(noticeKey(`  ${TEXT}\n`), `lasso.notice.${TEXT}`);
});

test('a notice shows as a banner under the header, with its text and a Dismiss button', () => {
  const doc = page();
  const storage = memoryStorage();
  const n = new Notices({ doc, storage: () => storage, now: at });
  const banner = n.show(TEXT);
  assert.ok(banner);
  const [header, box] = doc.body.children;
  assert.equal(header.className, 'app-header');
  assert.ok(box.matches('[data-notices]'), 'the container is made right after the header');
  assert.deepEqual(box.children, [banner]);
  assert.ok(banner.matches('[data-notice]'));
  assert.equal(banner.getAttribute('role'), 'status');
  assert.equal(banner.getAttribute('aria-live'), 'polite');
  assert.equal(banner.className, 'info-banner notice-banner');
  assert.equal(banner.querySelector('[data-notice-text]').textContent, TEXT);
  const dismiss = banner.querySelector('[data-notice-dismiss]');
  // A real <button type=button>: in the tab order, Enter and Space press it.
  assert.equal(dismiss.tagName, 'BUTTON');
  assert.equal(dismiss.type, 'button');
  assert.equal(dismiss.textContent, 'Dismiss');
  assert.equal(dismiss.getAttribute('tabindex'), null);
  assert.ok(banner.textContent.includes(TEXT));
  assert.equal(storage.getItem(noticeKey(TEXT)), '2026-01-02T03:04:05.000Z');
});

test('the same text is shown once: on the page and after a reload', () => {
  const storage = memoryStorage();
  const doc = page();
  const n = new Notices({ doc, storage: () => storage, now: at });
  assert.ok(n.show(TEXT));
  assert.equal(n.show(TEXT), null);
  assert.equal(n.show(`  ${TEXT} `), null, 'the same text with other whitespace around it');
  assert.equal(doc.querySelectorAll('[data-notice]').length, 1);
  assert.equal(n.seen(TEXT), true);

  // A reload: a new page and a new Notices over the same localStorage.
  const again = page();
  const m = new Notices({ doc: again, storage: () => storage, now: at });
  assert.equal(m.seen(TEXT), true);
  assert.equal(m.show(TEXT), null);
  assert.equal(again.querySelector('[data-notices]'), null, 'nothing added to the page');
  // Another text is another notice.
  assert.ok(m.show('The segment service is slow today.'));
  assert.equal(again.querySelectorAll('[data-notice]').length, 1);
});

test('Dismiss removes the banner, and the notice does not come back', () => {
  const doc = page();
  const storage = memoryStorage();
  const n = new Notices({ doc, storage: () => storage, now: at });
  const a = n.show(TEXT);
  const b = n.show('Another notice.');
  const box = doc.querySelector('[data-notices]');
  assert.deepEqual(box.children, [a, b]);
  a.querySelector('[data-notice-dismiss]').click();
  assert.deepEqual(box.children, [b], 'only the dismissed banner goes');
  assert.equal(doc.querySelectorAll('[data-notice]').length, 1);
  assert.equal(n.show(TEXT), null);
  b.querySelector('[data-notice-dismiss]').click();
  assert.equal(doc.querySelectorAll('[data-notice]').length, 0);
  assert.equal(n.show('Another notice.'), null);
});

test('never two banners for the same text, whatever arrives how often', () => {
  const doc = page();
  const storage = memoryStorage();
  const n = new Notices({ doc, storage: () => storage, now: at });
  // job.status events of one job each carry the notice, and the room says it too.
  for (let i = 0; i < 5; i++) n.show(TEXT);
  n.show('Other.');
  n.show('Other.');
  const texts = doc.querySelectorAll('[data-notice-text]').map((p) => p.textContent);
  assert.deepEqual(texts, [TEXT, 'Other.']);
  assert.equal(doc.querySelectorAll('[data-notices]').length, 1, 'one container for all');
});

test('when localStorage throws, a notice is remembered for the page only', () => {
  const throwing = {
    getItem() {
      throw new Error('SecurityError');
    },
    setItem() {
      throw new Error('QuotaExceededError');
    },
  };
  for (const storage of [() => throwing, () => null, () => { throw new Error('SecurityError'); }]) {
    const doc = page();
    const n = new Notices({ doc, storage, now: at });
    assert.equal(n.seen(TEXT), false);
    assert.ok(n.show(TEXT));
    assert.equal(n.seen(TEXT), true);
    assert.equal(n.show(TEXT), null);
    assert.equal(doc.querySelectorAll('[data-notice]').length, 1);
    // Nothing outlives the page: after a reload it is shown again.
    assert.ok(new Notices({ doc: page(), storage, now: at }).show(TEXT));
  }
  // setItem failing alone (storage full): still once on the page.
  const full = memoryStorage();
  full.setItem = () => {
    throw new Error('QuotaExceededError');
  };
  const doc = page();
  const n = new Notices({ doc, storage: () => full, now: at });
  assert.ok(n.show(TEXT));
  assert.equal(n.show(TEXT), null);
  assert.equal(doc.querySelectorAll('[data-notice]').length, 1);
});

test('the page\'s own [data-notices] is used; without a header the container opens the body', () => {
  const doc = page();
  const mine = new El('div');
  mine.dataset.notices = '';
  doc.body.append(mine);
  const n = new Notices({ doc, storage: () => memoryStorage(), now: at });
  const banner = n.show(TEXT);
  assert.equal(banner.parent, mine);

  const bare = page({ header: false });
  const m = new Notices({ doc: bare, storage: () => memoryStorage(), now: at });
  m.show(TEXT);
  assert.ok(bare.body.children[0].matches('[data-notices]'));
});

test('no text, no notice', () => {
  const doc = page();
  const storage = memoryStorage();
  const n = new Notices({ doc, storage: () => storage, now: at });
  for (const t of [undefined, null, '', '   ', 42, {}]) assert.equal(n.show(t), null);
  assert.equal(doc.querySelector('[data-notices]'), null);
  assert.equal(storage.map.size, 0);
});

test('showNotice uses the page\'s document and localStorage', (t) => {
  const doc = page();
  const storage = memoryStorage();
  globalThis.document = doc;
  Object.defineProperty(globalThis, 'localStorage', { value: storage, configurable: true });
  t.after(() => {
    delete globalThis.document;
    delete globalThis.localStorage;
  });
  assert.ok(showNotice(TEXT));
  assert.equal(showNotice(TEXT), null);
  assert.equal(doc.querySelectorAll('[data-notice]').length, 1);
  assert.notEqual(storage.getItem(`lasso.notice.${TEXT}`), null);
});
