// RoomControls: the room's part of the annotation page — who is here (avatars), the soft-lock
// banner ("Ana is segmenting this", or the conflict of a refused prompt) with a wake-up for
// when a lock frees itself, the image's done toggle, "next untouched image", and the page
// after the user was removed from the room (docs/ROOMS.md).

import { lockExpiry, initials, LOCK_MS } from './roomstate.js';
import { paintColors, renderAvatars, paint } from './avatars.js';
import { nextImage } from './room.js';
import { postJSON, errorMessage } from './api.js';

/** The room's labels as the page lists them ([data-room-label] buttons): {name, key, color}. */
export function roomLabels(root) {
  return [...root.querySelectorAll('[data-room-label]')].map((b) => ({
    name: b.dataset.roomLabel, key: Number(b.dataset.labelKey), color: b.dataset.color,
  }));
}

/** The room controls of one annotation page. */
export class RoomControls {
  /**
   * @param {HTMLElement} root the annotator element
   * @param {object} opts roomId, fileId, me, imageDone, doneHref, roomState, session (the
   *   ObjectSession: removed, closed), model, reviewing(), flash(text), update(), stop() (closes the socket)
   */
  constructor(root, opts) {
    this.root = root;
    this.opts = opts;
    this.imageDone = !!opts.imageDone;
    this.goingNext = false;
    this.lockTimer = 0;
    this.here = root.querySelector('[data-here]');
    this.lockBanner = root.querySelector('[data-lock-banner]');
    this.doneToggle = root.querySelector('[data-done-toggle]');
    paintColors(root);
  }

  setDone(done) {
    this.imageDone = !!done;
    if (this.doneToggle) this.doneToggle.setAttribute('aria-pressed', String(this.imageDone));
  }

  /** The toolbar's Done toggle: shown at once, put back when the server refuses. */
  async toggleDone() {
    const { session, roomId, fileId, flash } = this.opts;
    if (session.removed || session.closed) return;
    const want = !this.imageDone;
    this.setDone(want);
    let res;
    try {
      res = await postJSON(`/api/rooms/${encodeURIComponent(roomId)}/images/${encodeURIComponent(fileId)}/done`, { done: want });
    } catch {
      this.setDone(!want);
      return flash('The server could not be reached — try again when the connection is back.');
    }
    if (!res.ok) {
      this.setDone(!want);
      return flash(await errorMessage(res));
    }
    flash(want ? 'Marked done: D or → opens the next untouched image.' : 'Reopened: the image is in progress again.');
  }

  /** D / → / Shift+N in a room: the next untouched image nobody else is on. */
  async next() {
    if (this.opts.session.removed || this.goingNext) return;
    this.goingNext = true;
    const r = await nextImage(this.opts.roomId, Number(this.opts.fileId));
    this.goingNext = false;
    if (r.href) return window.location.assign(r.href);
    this.opts.flash(r.message);
    if (this.opts.doneHref && /no untouched image/i.test(r.message)) setTimeout(() => window.location.assign(this.opts.doneHref), 1500);
  }

  /** The user was removed from the room: the page says so and stops listening. */
  showRemoved(connection) {
    this.opts.session.removed = true;
    this.opts.stop();
    this.root.querySelector('[data-removed]').hidden = false;
    connection.dataset.state = 'closed';
    connection.textContent = 'removed';
    this.opts.update();
  }

  /** Who is here, the soft-lock banner, and a wake-up for when a lock frees itself. */
  render() {
    const { roomState, model, me } = this.opts;
    const reviewing = this.opts.reviewing();
    if (this.here) renderAvatars(this.here, roomState.on().filter((p) => p.userId !== me));
    const sel = model.selected;
    const lock = sel && sel.remote && !reviewing ? roomState.lockOf(sel) : '';
    const conflict = sel && !sel.remote && sel.conflict && !reviewing ? sel.conflict : '';
    if (this.lockBanner) {
      this.lockBanner.hidden = !lock && !conflict;
      this.lockBanner.querySelector('[data-lock-text]').textContent = lock ? `${lock} is segmenting this` : conflict;
      const av = this.lockBanner.querySelector('[data-lock-avatar]');
      av.hidden = !lock;
      if (lock) {
        av.textContent = initials(sel.author?.name || lock);
        paint(av, sel.color);
      }
    }
    clearTimeout(this.lockTimer);
    const wake = nextLockExpiry(model.objects, roomState);
    if (wake < Infinity) {
      const ms = Math.min(LOCK_MS, Math.max(50, wake - Date.now() + 50));
      this.lockTimer = setTimeout(() => this.opts.update(), ms);
    }
  }
}

/** When the first soft lock held on another member's object frees itself (ms since the epoch), or Infinity. */
export function nextLockExpiry(objects, roomState) {
  let wake = Infinity;
  for (const obj of objects) {
    if (!obj.remote || !roomState.lockOf(obj)) continue;
    wake = Math.min(wake, lockExpiry(obj, roomState) ?? Infinity);
  }
  return wake;
}
