// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { Input, keyCommand, isDoubleClick, DOUBLE_CLICK_MS } from './input.js';

const key = (k, mods = {}) => ({ key: k, shiftKey: false, ctrlKey: false, metaKey: false, altKey: false, ...mods });

test('keyCommand: the bindings of docs/UX.md', () => {
  const cases = [
    ['Enter', 'accept'], ['Escape', 'clear'], ['n', 'new'], ['N', 'new'], ['f', 'fit'], ['+', 'zoom-in'], ['=', 'zoom-in'],
    ['-', 'zoom-out'], ['a', 'prev-image'], ['ArrowLeft', 'prev-image'], ['d', 'next-image'], ['ArrowRight', 'next-image'],
    ['Delete', 'delete'], ['Backspace', 'delete'], ['[', 'detail-down'], [']', 'detail-up'], ['?', 'help'], ['i', 'provenance'],
    ['Tab', 'cycle'], ['1', 'label:1'], ['9', 'label:9'],
  ];
  for (const [k, want] of cases) assert.equal(keyCommand(key(k)), want, k);
  assert.equal(keyCommand(key('z', { ctrlKey: true })), 'undo');
  assert.equal(keyCommand(key('z', { metaKey: true })), 'undo');
  assert.equal(keyCommand(key('Z', { ctrlKey: true, shiftKey: true })), 'redo');
  assert.equal(keyCommand(key('y', { ctrlKey: true })), 'redo');
});

test('keyCommand leaves browser shortcuts, Shift+Tab, 0 and V outside rooms alone; Shift+N is next image in a room', () => {
  assert.equal(keyCommand(key('r', { ctrlKey: true })), null);
  assert.equal(keyCommand(key('d', { altKey: true })), null);
  assert.equal(keyCommand(key('Tab', { shiftKey: true })), null);
  assert.equal(keyCommand(key('0')), null);
  assert.equal(keyCommand(key('v')), null);
  assert.equal(keyCommand(key('v'), { inRoom: true }), 'review');
  assert.equal(keyCommand(key('N', { shiftKey: true })), 'new');
  assert.equal(keyCommand(key('N', { shiftKey: true }), { inRoom: true }), 'next-image');
});

test('isDoubleClick: only a quick second click near the point the first one placed', () => {
  const last = { x: 100, y: 100, t: 1000, placed: true };
  assert.equal(isDoubleClick(last, 102, 101, 1200), true);
  assert.equal(isDoubleClick(last, 102, 101, 1000 + DOUBLE_CLICK_MS), false, 'too late: a removal');
  assert.equal(isDoubleClick(last, 120, 100, 1200), false, 'elsewhere: a new point');
  assert.equal(isDoubleClick({ ...last, placed: false }, 100, 100, 1100), false, 'the first click placed nothing');
  assert.equal(isDoubleClick(null, 100, 100, 1100), false);
});

/** An Input on a stand-in canvas whose client rect starts at (10, 20); commands are recorded. */
function setup({ ready = true, grab = false, review = false, clickResult = 'added' } = {}) {
  const calls = [];
  const classes = new Set();
  const canvas = { focus() {}, setPointerCapture() {}, getBoundingClientRect: () => ({ left: 10, top: 20 }) };
  const stage = { classList: { add: (c) => classes.add(c), remove: (c) => classes.delete(c), toggle: (c, on) => (on ? classes.add(c) : classes.delete(c)) } };
  const rec = (name) => (...args) => {
    calls.push([name, ...args]);
  };
  const cmd = {
    run: (name, o) => {
      calls.push(['run', name, o.hold]);
      return name !== 'cycle';
    },
    click: (s, o) => {
      calls.push(['click', s, o.negative, o.hold]);
      return clickResult;
    },
    box: rec('box'), hover: () => {}, redraw: rec('redraw'), grab: () => grab, grabMove: rec('grabMove'), grabEnd: rec('grabEnd'),
    wheel: rec('wheel'), pan: rec('pan'), ready: () => ready, reviewKey: () => review, helpOpen: () => false, closeHelp: rec('closeHelp'),
  };
  return { input: new Input(canvas, stage, cmd), calls, classes };
}

const pe = (x, y, extra = {}) => ({ clientX: x + 10, clientY: y + 20, button: 0, pointerId: 1, timeStamp: 1000, preventDefault() {}, ...extra });

test('a click is a positive point; right, Shift and Alt clicks are negative; Ctrl holds the request', () => {
  const { input, calls } = setup();
  input.pointerDown(pe(50, 60));
  input.pointerUp(pe(50, 60));
  input.pointerDown(pe(80, 60, { button: 2, timeStamp: 3000 }));
  input.pointerUp(pe(80, 60, { button: 2, timeStamp: 3000 }));
  input.pointerDown(pe(90, 60, { shiftKey: true, timeStamp: 5000 }));
  input.pointerUp(pe(90, 60, { ctrlKey: true, timeStamp: 5000 }));
  assert.deepEqual(calls, [
    ['click', { x: 50, y: 60 }, false, false],
    ['click', { x: 80, y: 60 }, true, false],
    ['click', { x: 90, y: 60 }, true, true],
  ]);
});

test('a drag with the left button is a box from where it started; a right-drag is nothing', () => {
  const { input, calls } = setup();
  input.pointerDown(pe(10, 10));
  input.pointerMove(pe(60, 70));
  assert.equal(input.drag.box, true);
  input.pointerUp(pe(60, 70));
  input.pointerDown(pe(10, 10, { button: 2 }));
  input.pointerMove(pe(60, 70, { button: 2 }));
  input.pointerUp(pe(60, 70, { button: 2 }));
  assert.deepEqual(calls, [['box', { x: 10, y: 10 }, { x: 60, y: 70 }, { t: 1000, hold: false }]]);
});

test('a double-click on the point just placed adds it once and removes nothing', () => {
  const { input, calls } = setup();
  input.pointerDown(pe(50, 60, { timeStamp: 1000 }));
  input.pointerUp(pe(50, 60, { timeStamp: 1000 }));
  input.pointerDown(pe(51, 60, { timeStamp: 1150 }));
  input.pointerUp(pe(51, 60, { timeStamp: 1150 }));
  assert.equal(calls.filter((c) => c[0] === 'click').length, 1);
  // A later click on the same place is a deliberate one again (it removes the point).
  input.pointerDown(pe(50, 60, { timeStamp: 3000 }));
  input.pointerUp(pe(50, 60, { timeStamp: 3000 }));
  assert.equal(calls.filter((c) => c[0] === 'click').length, 2);
});

test('middle-drag and Space+drag pan; nothing prompts before the image is there', () => {
  const { input, calls, classes } = setup({ ready: false });
  input.pointerDown(pe(10, 10));
  assert.equal(input.drag, null, 'no image: no prompt gesture');
  input.pointerDown(pe(10, 10, { button: 1 }));
  assert.ok(classes.has('is-panning'));
  input.pointerMove(pe(15, 30, { button: 1 }));
  input.pointerUp(pe(15, 30, { button: 1 }));
  assert.ok(!classes.has('is-panning'));
  input.keyDown({ key: ' ', repeat: false, target: null, preventDefault() {} });
  assert.ok(classes.has('is-pan-ready'));
  input.pointerDown(pe(0, 0));
  input.pointerMove(pe(-5, 5));
  input.pointerUp(pe(-5, 5));
  input.keyUp({ key: ' ' });
  assert.ok(!classes.has('is-pan-ready'));
  assert.deepEqual(calls, [['pan', 5, 20], ['pan', -5, 5]]);
});

test('keys run their commands and are kept from the browser only when they applied', () => {
  const { input, calls } = setup();
  let prevented = 0;
  const kd = (k, mods = {}) => input.keyDown({ ...key(k, mods), target: null, timeStamp: 5, preventDefault: () => prevented++ });
  kd('Enter');
  kd('Tab'); // nothing to cycle: Tab moves the focus as usual
  kd('z', { ctrlKey: true });
  kd('x');
  assert.deepEqual(calls, [['run', 'accept', false], ['run', 'cycle', false], ['run', 'undo', true]]);
  assert.equal(prevented, 2);
  input.keyUp({ key: 'Control', timeStamp: 9 });
  assert.deepEqual(calls.at(-1), ['run', 'flush', undefined]);
});

test('Esc during a box drag cancels the drag instead of clearing the prompt', () => {
  const { input, calls } = setup();
  input.pointerDown(pe(10, 10));
  input.pointerMove(pe(60, 70));
  input.keyDown({ ...key('Escape'), target: null, preventDefault() {} });
  assert.equal(input.drag, null);
  assert.deepEqual(calls, [['redraw']]);
});

test('review mode takes its keys first', () => {
  const { input, calls } = setup({ review: true });
  let prevented = false;
  input.keyDown({ ...key('a'), target: null, preventDefault: () => (prevented = true) });
  assert.equal(prevented, true);
  assert.deepEqual(calls, []);
});
