// StatusLine: the annotation page's status bar and its spoken twin (docs/UX.md "What the
// annotator sees"). It shows
//   - a short message (flash) for FLASH_MS, then goes back to what is under the pointer, so a
//     hint like "New object: click the image." never outlives the moment it was for;
//   - the label the next accept uses, always: the selected object's, else the sticky one;
//   - the current object's job status, told to screen readers (an aria-live region) when it
//     changes — not every tick of the elapsed time.
// Pure enough for node: the elements are handed in, the clock and timers injectable.

import { badgeFor } from './panel.js';

/** How long a message stays, ms. */
export const FLASH_MS = 2500;

/** The words for the label the next accept uses. */
export function labelText(model) {
  const sel = model.selected;
  if (sel) return sel.label ? `Label: ${sel.label}` : 'Label: none yet (Enter asks)';
  return model.sticky ? `Label: ${model.sticky} (next objects)` : 'Label: none yet (Enter asks)';
}

/**
 * What screen readers are told about obj's job: "" for nothing worth telling (idle), else
 * its status in words, with the reason when it failed.
 */
export function announcement(obj, now) {
  if (!obj || obj.status === 'idle') return '';
  if (obj.status === 'running') return `${obj.label || 'Object'}: running`;
  const badge = badgeFor(obj, now);
  const text = obj.status === 'failed' && obj.error ? `failed: ${obj.error}` : badge.text;
  return `${obj.label || 'Object'}: ${text}`;
}

/**
 * The job status drawn next to the user's own object on the canvas, by its last click: the
 * side panel's badge may be cut off or out of sight. "" once done (the result shows) or before
 * anything was sent.
 */
export function canvasStatus(obj, now) {
  if (!obj || obj.remote || obj.status === 'done') return '';
  const badge = badgeFor(obj, now);
  return badge.state === 'idle' ? '' : badge.text;
}

/** The status bar of one annotation page. */
export class StatusLine {
  /**
   * @param {object} els hover (the message/hover readout), label (the current label), live
   *   (the aria-live region); any may be missing
   * @param {object} opts now() in ms, setTimeout, clearTimeout
   */
  constructor(els, { now = () => performance.now(), setTimeout: st = (fn, ms) => globalThis.setTimeout(fn, ms), clearTimeout: ct = (id) => globalThis.clearTimeout(id) } = {}) {
    // The timers are called as plain functions: a browser's window.setTimeout refuses any other `this`.
    this.els = els;
    this.now = now;
    this.st = st;
    this.ct = ct;
    this.flashUntil = 0;
    this.timer = 0;
    this.hoverText = '';
    this.said = '';
  }

  /** Shows text for FLASH_MS, then what is under the pointer again. */
  flash(text) {
    this.set(text);
    this.flashUntil = this.now() + FLASH_MS;
    this.ct(this.timer);
    this.timer = this.st(() => {
      this.flashUntil = 0;
      this.set(this.hoverText);
    }, FLASH_MS);
  }

  /** Ends the message at once (it was about a moment that has passed). */
  clearFlash() {
    if (!this.flashUntil) return;
    this.ct(this.timer);
    this.flashUntil = 0;
    this.set(this.hoverText);
  }

  /** What is under the pointer; shown unless a message is showing. */
  hover(text) {
    this.hoverText = text || '';
    if (!this.flashUntil || this.now() > this.flashUntil) this.set(this.hoverText);
  }

  /** Is a message showing? */
  get flashing() {
    return !!this.flashUntil && this.now() <= this.flashUntil;
  }

  set(text) {
    if (this.els.hover && this.els.hover.textContent !== text) this.els.hover.textContent = text;
  }

  /** After a model change: the current label, and the job status when it changed. */
  render(model, now) {
    if (this.els.label) {
      const t = labelText(model);
      if (this.els.label.textContent !== t) this.els.label.textContent = t;
    }
    const said = announcement(model.current, now);
    if (said !== this.said) {
      this.said = said;
      if (this.els.live && said) this.els.live.textContent = said;
    }
  }
}
