// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { StatusLine, FLASH_MS, labelText, announcement, canvasStatus } from './statusline.js';
import { Annotations } from './objects.js';

/** A StatusLine with a hand-driven clock and timers. */
function setup() {
  let t = 0;
  const timers = [];
  const els = { hover: { textContent: '' }, label: { textContent: '' }, live: { textContent: '' } };
  const s = new StatusLine(els, {
    now: () => t,
    setTimeout: (fn, ms) => timers.push({ fn, at: t + ms }) ,
    clearTimeout: () => {},
  });
  const advance = (ms) => {
    t += ms;
    for (const tm of timers.splice(0)) {
      if (tm.at <= t) tm.fn();
      else timers.push(tm);
    }
  };
  return { s, els, advance };
}

test('a message goes away by itself: after a box is done the bar no longer says "New object"', () => {
  const { s, els, advance } = setup();
  s.hover('');
  s.flash('New object: click the image.');
  assert.equal(els.hover.textContent, 'New object: click the image.');
  s.hover('cat'); // the pointer moves while the message shows: it stays
  assert.equal(els.hover.textContent, 'New object: click the image.');
  advance(FLASH_MS + 1);
  assert.equal(els.hover.textContent, 'cat', 'back to what is under the pointer');
});

test('clearFlash ends a message at once; a later flash starts its own time', () => {
  const { s, els, advance } = setup();
  s.flash('New object: click the image.');
  s.clearFlash();
  assert.equal(els.hover.textContent, '');
  assert.equal(s.flashing, false);
  s.flash('Label: cat');
  advance(FLASH_MS - 10);
  assert.equal(els.hover.textContent, 'Label: cat');
});

test('the current label is always shown: the selected object\'s, else the sticky one', () => {
  const m = new Annotations();
  assert.equal(labelText(m), 'Label: none yet (Enter asks)');
  m.sticky = 'orange';
  assert.equal(labelText(m), 'Label: orange (next objects)');
  const obj = m.addPoint({ x: 0.5, y: 0.5, label: 1 });
  assert.equal(labelText(m), 'Label: orange');
  obj.label = '';
  assert.equal(labelText(m), 'Label: none yet (Enter asks)');
});

test('screen readers hear each status change of the current object once, not each tick', () => {
  const { s, els } = setup();
  const m = new Annotations({ now: () => 0 });
  const obj = m.addPoint({ x: 0.5, y: 0.5, label: 1 });
  obj.label = 'lime';
  s.render(m, 0);
  assert.equal(els.live.textContent, '', 'idle: nothing to tell');
  m.applyEvent({ objectId: obj.id, version: 1, status: 'running', elapsedMs: 100 });
  s.render(m, 0);
  assert.equal(els.live.textContent, 'lime: running');
  els.live.textContent = 'read';
  m.applyEvent({ objectId: obj.id, version: 1, status: 'running', elapsedMs: 900 });
  s.render(m, 500);
  assert.equal(els.live.textContent, 'read', 'elapsed time is not re-announced');
  m.applyEvent({ objectId: obj.id, version: 1, status: 'failed', error: 'CDF is busy.' });
  s.render(m, 600);
  assert.equal(els.live.textContent, 'lime: failed: CDF is busy.');
  assert.equal(els.label.textContent, 'Label: lime');
});

test('announcement of a done object says what was found', () => {
  const m = new Annotations({ now: () => 0 });
  const obj = m.addPoint({ x: 0.5, y: 0.5, label: 1 });
  m.applyEvent({ objectId: obj.id, version: 1, status: 'done', segments: [] });
  assert.equal(announcement(obj, 0), 'Object: nothing found');
  assert.equal(announcement(null, 0), '');
});

test('canvasStatus: queued, running with its time, failed; nothing once done or for others\' objects', () => {
  const m = new Annotations({ now: () => 0 });
  const obj = m.addPoint({ x: 0.5, y: 0.5, label: 1 });
  assert.equal(canvasStatus(obj, 0), 'sending…');
  m.applyEvent({ objectId: obj.id, version: 1, status: 'queued' });
  assert.equal(canvasStatus(obj, 0), 'queued');
  m.applyEvent({ objectId: obj.id, version: 1, status: 'running', elapsedMs: 200 });
  assert.equal(canvasStatus(obj, 1000), 'running 1.2 s');
  m.applyEvent({ objectId: obj.id, version: 1, status: 'done', segments: [] });
  assert.equal(canvasStatus(obj, 0), '');
  assert.equal(canvasStatus({ ...obj, status: 'running', remote: true }, 0), '');
});

test('the default timers are the global ones, called without the StatusLine as `this`', async () => {
  const saved = globalThis.setTimeout;
  const seen = [];
  globalThis.setTimeout = function (fn, ms) {
    seen.push(this === undefined || this === globalThis);
    return saved(fn, ms);
  };
  try {
    const s = new StatusLine({ hover: { textContent: '' } });
    s.flash('hello');
  } finally {
    globalThis.setTimeout = saved;
  }
  assert.deepEqual(seen, [true], 'window.setTimeout throws "Illegal invocation" on another this');
});
