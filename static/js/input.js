// Input: the annotation page's pointer and keys, turned into commands (docs/UX.md). It owns
// the gesture in progress (a click, a box drag, a pan, a grab of a CDF shape's handle), the
// Space-to-pan state and the hover point; what a command does is the caller's.
//
// keyCommand is the key map (pure); Input listens on the canvas and the document and calls
// the commands object it was given:
//   run(name, {t, hold, e}) → false when the command did not apply (the key then keeps its
//     browser meaning); names are those keyCommand returns, plus 'flush' (Ctrl released,
//     the window left)
//   click(s, {negative, t, hold})  a click at screen point s (CSS px of the canvas)
//   box(s0, s1, {t, hold})         a box dragged from s0 to s1
//   hover(s)                       the pointer moved to s (null: it left the canvas)
//   redraw()                       the gesture was cancelled
//   grab(e, s) → true when a CDF shape took the gesture; grabMove(s); grabEnd()
//   wheel(e); pan(dx, dy); ready() → true once there is an image to prompt on
//   reviewKey(e, key) → true when review mode took the key
//   helpOpen() / closeHelp()

import * as g from './geometry.js';

/** How soon a second click on the point just placed counts as part of a double-click, ms. */
export const DOUBLE_CLICK_MS = 500;
/** How near (CSS px) a second click must land to count as the same place. */
export const DOUBLE_CLICK_PX = 6;

/** True when a key press belongs to a form control rather than to the canvas. */
export function isTyping(target, key) {
  if (typeof Element === 'undefined' || !(target instanceof Element)) return false;
  if (target.isContentEditable || target.matches('textarea, select')) return true;
  if (target.matches('input')) {
    const type = (target.getAttribute('type') || 'text').toLowerCase();
    if (['range', 'checkbox', 'radio', 'button', 'submit'].includes(type)) {
      return /^(Arrow|Home|End|Page)/.test(key);
    }
    return true;
  }
  return false;
}

/**
 * The command of a key press on the canvas (no form control focused), or null for a key the
 * page leaves alone. e: {key, shiftKey, ctrlKey, metaKey, altKey}; inRoom: the page is a room's.
 * Labels come back as "label:N".
 */
export function keyCommand(e, { inRoom = false } = {}) {
  const k = e.key;
  const mod = e.ctrlKey || e.metaKey;
  if (mod && !e.altKey && (k === 'z' || k === 'Z')) return e.shiftKey ? 'redo' : 'undo';
  if (mod && !e.altKey && (k === 'y' || k === 'Y')) return 'redo';
  if (mod || e.altKey) return null; // leave browser shortcuts alone
  switch (k) {
    case 'Enter':
      return 'accept';
    case 'Escape':
      return 'clear';
    case 'n':
    case 'N':
      return inRoom && e.shiftKey ? 'next-image' : 'new';
    case 'f':
    case 'F':
      return 'fit';
    case '+':
    case '=':
      return 'zoom-in';
    case '-':
    case '_':
      return 'zoom-out';
    case 'a':
    case 'A':
    case 'ArrowLeft':
      return 'prev-image';
    case 'd':
    case 'D':
    case 'ArrowRight':
      return 'next-image';
    case 'Delete':
    case 'Backspace':
      return 'delete';
    case '[':
      return 'detail-down';
    case ']':
      return 'detail-up';
    case '?':
      return 'help';
    case 'i':
    case 'I':
      return 'provenance';
    case 'v':
    case 'V':
      return inRoom ? 'review' : null;
    case 'Tab':
      return e.shiftKey ? null : 'cycle';
  }
  return /^[1-9]$/.test(k) ? `label:${k}` : null;
}

/**
 * Is a click at (x, y) at time t the second click of a double-click on the point the click
 * before it placed? last: {x, y, t, placed} of that click (placed: it added a point).
 */
export function isDoubleClick(last, x, y, t) {
  if (!last || !last.placed) return false;
  return t - last.t >= 0 && t - last.t < DOUBLE_CLICK_MS && Math.hypot(x - last.x, y - last.y) <= DOUBLE_CLICK_PX;
}

/** The pointer and keyboard of one annotation canvas. */
export class Input {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {HTMLElement} stage the canvas's container (its classes show pan states)
   * @param {object} commands see the top of this file
   * @param {object} opts inRoom
   */
  constructor(canvas, stage, commands, { inRoom = false } = {}) {
    this.canvas = canvas;
    this.stage = stage;
    this.cmd = commands;
    this.inRoom = inRoom;
    this.drag = null; // the pointer gesture in progress
    this.hover = null; // last pointer position on the canvas, screen px
    this.spaceDown = false;
    this.lastClick = null; // {x, y, t, placed} of the last click, for double-clicks
  }

  /** Starts listening. */
  bind(doc = document, win = window) {
    const c = this.canvas;
    c.addEventListener('pointerdown', (e) => this.pointerDown(e));
    c.addEventListener('pointermove', (e) => this.pointerMove(e));
    c.addEventListener('pointerup', (e) => this.pointerUp(e));
    c.addEventListener('pointercancel', () => this.cancelDrag());
    c.addEventListener('pointerleave', () => {
      this.hover = null;
      this.cmd.hover(null);
    });
    c.addEventListener('contextmenu', (e) => e.preventDefault());
    c.addEventListener('auxclick', (e) => e.preventDefault()); // middle-click paste/open on Linux
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.cmd.wheel(e);
    }, { passive: false });
    doc.addEventListener('keydown', (e) => this.keyDown(e));
    doc.addEventListener('keyup', (e) => this.keyUp(e));
    win.addEventListener('blur', () => {
      this.setSpace(false);
      this.cmd.run('flush', { t: performance.now() });
    });
  }

  screenOf(e) {
    return g.clientToScreen(e.clientX, e.clientY, this.canvas.getBoundingClientRect());
  }

  setSpace(down) {
    this.spaceDown = down;
    this.stage.classList.toggle('is-pan-ready', down);
  }

  pointerDown(e) {
    this.canvas.focus({ preventScroll: true });
    const s = this.screenOf(e);
    const pan = e.button === 1 || (e.button === 0 && this.spaceDown);
    if (!pan && ![0, 2].includes(e.button)) return;
    if (!pan && !this.cmd.ready()) return;
    e.preventDefault();
    this.canvas.setPointerCapture?.(e.pointerId);
    if (!pan && this.cmd.grab(e, s)) {
      // A vertex handle of a CDF shape being edited, or Shift+Alt+click on a CDF annotation.
      this.drag = { id: e.pointerId, mode: 'cdf', x: s.x, y: s.y };
      return;
    }
    this.drag = {
      id: e.pointerId,
      mode: pan ? 'pan' : 'prompt',
      button: e.button,
      negative: e.button === 2 || !!e.shiftKey || !!e.altKey,
      x0: s.x,
      y0: s.y,
      x: s.x,
      y: s.y,
      box: false,
    };
    if (pan) this.stage.classList.add('is-panning');
  }

  pointerMove(e) {
    const s = this.screenOf(e);
    this.hover = s;
    const d = this.drag;
    if (d && d.id === e.pointerId) {
      if (d.mode === 'pan') this.cmd.pan(s.x - d.x, s.y - d.y);
      else if (d.mode === 'cdf') this.cmd.grabMove(s);
      else if (d.button === 0 && g.isDrag(d.x0, d.y0, s.x, s.y)) d.box = true;
      d.x = s.x;
      d.y = s.y;
    }
    this.cmd.hover(s);
  }

  pointerUp(e) {
    const d = this.drag;
    if (!d || d.id !== e.pointerId) return;
    this.drag = null;
    this.stage.classList.remove('is-panning');
    if (d.mode === 'cdf') return this.cmd.grabEnd();
    if (d.mode === 'pan') return;
    const t = e.timeStamp || performance.now();
    const s = this.screenOf(e);
    const hold = !!e.ctrlKey;
    if (d.box) {
      this.lastClick = null;
      this.cmd.box({ x: d.x0, y: d.y0 }, s, { t, hold });
      return;
    }
    if (g.isDrag(d.x0, d.y0, s.x, s.y)) return; // a right-drag is neither a point nor a box
    if (isDoubleClick(this.lastClick, s.x, s.y, t)) {
      // The second click of a double-click on the point just placed: not a removal.
      this.lastClick = null;
      return;
    }
    const placed = this.cmd.click(s, { negative: d.negative, t, hold }) === 'added';
    this.lastClick = { x: s.x, y: s.y, t, placed };
  }

  cancelDrag() {
    if (this.drag?.mode === 'cdf') this.cmd.grabEnd();
    this.drag = null;
    this.stage.classList.remove('is-panning');
    this.cmd.redraw();
  }

  keyDown(e) {
    if (e.key === 'Control' || e.key === 'Meta') return;
    if (this.cmd.helpOpen()) {
      if (e.key === '?') {
        e.preventDefault();
        this.cmd.closeHelp();
      }
      return; // the dialog handles Esc itself
    }
    if (isTyping(e.target, e.key)) return;
    const t = e.timeStamp || performance.now();
    const k = e.key;
    const mod = e.ctrlKey || e.metaKey;
    // A focused button or link activates on Enter/Space natively.
    if (!mod && (k === 'Enter' || k === ' ') && typeof Element !== 'undefined' && e.target instanceof Element && e.target.closest('button, a, summary')) return;
    if (!mod && !e.altKey && this.cmd.reviewKey(e, k)) {
      e.preventDefault();
      return;
    }
    if (k === ' ' && !mod && !e.altKey) {
      if (!e.repeat) this.setSpace(true);
      e.preventDefault();
      return;
    }
    const name = keyCommand(e, { inRoom: this.inRoom });
    if (!name) return;
    if (name === 'clear' && this.drag && this.drag.mode === 'prompt') {
      this.cancelDrag();
      e.preventDefault();
      return;
    }
    const applied = this.cmd.run(name, { t, hold: !!e.ctrlKey, e }) !== false;
    if (applied || mod) e.preventDefault(); // undo/redo: never the browser's
  }

  keyUp(e) {
    if (e.key === 'Control' || (e.key === 'Meta' && !e.ctrlKey)) this.cmd.run('flush', { t: e.timeStamp || performance.now() });
    if (e.key === ' ') this.setSpace(false);
  }
}
