// ReviewMode: the review-mode controller of the annotation page (annotate.js), for the room's
// owner and reviewers. It is entered with V, the toolbar's Review button ([data-review-toggle])
// or ?review=1 in the URL (once the room's snapshot tells the role), and shows the review bar
// ([data-review-bar]): the counts and, when nothing is left on the image, the way on.
//
// In review mode clicks select instead of prompting; Tab / Shift+Tab (J / K) step through the
// accepted objects awaiting review, A approves, R rejects, U takes the decision back, and after
// each decision the next awaiting object is selected; ← / → (D) go to the previous / next image
// that may hold objects awaiting review (an image opened in review mode with nothing to review
// is left on its own; ?from= keeps where such a run of skips began, so it stops there).
// Decisions are POSTed to …/objects/{objectId}/review. The order and the counts come from
// review.js (pure).
//
// annotate.js creates it, hands it the keys, clicks and toolbar actions while `on`, and writes
// the review-mode test hooks (data-reviewing, data-reviews) with each frame.

import { mayReview, isReviewable, stepReview, reviewCounts, nextReviewImage, reviewHref } from './review.js';

const AUTO_SKIP_MS = 600; // an image with nothing to review is left after this
const NOT_REVIEWER = 'Only the room\'s owner and reviewers review objects.';
const REVIEW_ONLY = 'Review mode: A approves, R rejects — press V to leave it and edit objects.';
const EDIT_ACTIONS = ['undo', 'redo', 'clear', 'new', 'accept', 'delete']; // toolbar actions review mode refuses

/** The review-mode controller of one annotator. */
export class ReviewMode {
  /**
   * @param {HTMLElement} root the annotator element
   * @param {object} a what review mode may see of the page (annotate.js reviewHost): model,
   *   roomState, me, fileId, roomId, inRoom, removed, closed, canvas, and flash(text), update(),
   *   flush(t), postJSON(url, body) (api.js), objectURL(id, suffix)
   * @param {object} opts errorMessage(res) → the text of a failed request, signedOut(message) after a 401
   */
  constructor(root, a, opts) {
    this.root = root;
    this.a = a;
    this.opts = opts;
    this.role = root.dataset.role || ''; // as the page was rendered; member.role events override it
    this.on = false;
    const params = new URLSearchParams(window.location.search);
    this.wanted = a.inRoom && params.get('review') === '1'; // entered once the snapshot tells the role
    this.from = a.inRoom ? params.get('from') || '' : ''; // where a run of automatic skips began
    this.doneText = ''; // what the review bar says when nothing awaits review here
    this.skipTimer = 0;
    this.going = false; // leaving for another image
    this.button = root.querySelector('[data-review-toggle]');
    this.bar = root.querySelector('[data-review-bar]');
  }

  /** The user's role in the room, live (member.role), else as the page was rendered. */
  myRole() {
    const a = this.a;
    return (a.inRoom && a.roomState.roleOf(a.me)) || this.role;
  }

  canReview() {
    const a = this.a;
    return a.inRoom && !a.removed && !a.closed && mayReview(this.myRole());
  }

  /** After a member change: the review toggle follows the user's role. */
  roleChanged() {
    const may = this.canReview();
    if (this.button) this.button.hidden = !may;
    if (!may && this.on) {
      this.setReviewing(false);
      this.a.flash('You are no longer a reviewer of this room: review mode is off.');
    }
  }

  /** After the room's snapshot: enters review mode when the page was opened in it (?review=1). */
  afterSnapshot() {
    if (!this.wanted) return;
    this.wanted = false;
    if (this.canReview()) this.setReviewing(true, { arrived: true });
    else this.a.flash(NOT_REVIEWER);
  }

  /**
   * Enters or leaves review mode. arrived: the page was opened in review mode; when nothing
   * on it awaits review, it walks on to the next image that may hold some.
   */
  setReviewing(on, { arrived = false } = {}) {
    const a = this.a;
    if (on && !this.canReview()) {
      return a.flash(a.inRoom ? NOT_REVIEWER : 'Review happens in rooms.');
    }
    if (on === this.on && !arrived) return;
    this.on = on;
    this.root.classList.toggle('is-reviewing', on);
    this.button?.setAttribute('aria-pressed', String(on));
    if (this.bar) this.bar.hidden = !on;
    clearTimeout(this.skipTimer);
    this.doneText = '';
    // The URL keeps the mode, so a reload (or the back button) comes back to it.
    const url = new URL(window.location.href);
    if (on) url.searchParams.set('review', '1');
    else {
      url.searchParams.delete('review');
      url.searchParams.delete('from');
      this.from = '';
    }
    history.replaceState(history.state, '', url);
    if (on) {
      a.flush(performance.now());
      const id = stepReview(a.model.objects, null, 1);
      a.model.select(id);
      if (id) {
        // Something to review here: a run of automatic skips ends.
        this.setFrom('');
        a.flash('Review mode: A approves, R rejects, U takes back, Tab the next one.');
      } else if (arrived) {
        this.skipTimer = setTimeout(() => this.go(1, { auto: true }), AUTO_SKIP_MS);
        this.doneText = 'Nothing to review on this image — opening the next one…';
      } else {
        this.doneText = 'Nothing left to review on this image.';
      }
    } else {
      a.flash('Review mode off: clicks prompt again.');
    }
    a.update();
  }

  setFrom(from) {
    this.from = from;
    const url = new URL(window.location.href);
    if (from) url.searchParams.set('from', from);
    else url.searchParams.delete('from');
    history.replaceState(history.state, '', url);
  }

  /** A toolbar action: true (and a word why) when review mode refuses it because it edits objects. */
  refuses(action) {
    if (!this.on || !EDIT_ACTIONS.includes(action)) return false;
    this.a.flash(REVIEW_ONLY);
    return true;
  }

  /** A click in review mode on obj (null: on nothing) selects it; the reviewer prompts nothing. */
  click(obj) {
    const a = this.a;
    a.model.select(obj ? obj.id : null);
    if (obj && !isReviewable(obj)) a.flash(`${obj.label || 'This object'} is not accepted yet: nothing to review.`);
    a.update();
  }

  /** A review-mode key; returns true when it was one. */
  onKey(e, k) {
    const a = this.a;
    switch (k) {
      case 'Tab':
        // From a control (the panel's buttons), Tab moves the focus as usual.
        if (e.target instanceof Element && e.target !== a.canvas && e.target.closest('button, a, input, select, textarea, summary')) return false;
        this.step(e.shiftKey ? -1 : 1);
        return true;
      case 'j':
      case 'J':
        this.step(1);
        return true;
      case 'k':
      case 'K':
        this.step(-1);
        return true;
      case 'a':
      case 'A':
        this.decide('approved');
        return true;
      case 'r':
      case 'R':
        this.decide('rejected');
        return true;
      case 'u':
      case 'U':
        this.decide('');
        return true;
      case 'ArrowRight':
      case 'd':
      case 'D':
        this.go(1);
        return true;
      case 'ArrowLeft':
        this.go(-1);
        return true;
      case 'v':
      case 'V':
        this.setReviewing(false);
        return true;
      case 'Escape':
        a.model.newObject();
        a.update();
        return true;
      case 'Enter':
      case 'n':
      case 'N':
      case 'Delete':
      case 'Backspace':
        a.flash(REVIEW_ONLY);
        return true;
    }
    if (/^[1-9]$/.test(k)) {
      a.flash('Review mode: labels stay as they are — press V to leave it and edit objects.');
      return true;
    }
    return false;
  }

  /** Tab / Shift+Tab: the next (previous) object awaiting review, wrapping around. */
  step(dir) {
    const m = this.a.model;
    const cur = m.selectedId;
    const id = stepReview(m.objects, cur, dir) || stepReview(m.objects, cur, dir, { all: true });
    if (!id) {
      this.a.flash('No accepted object on this image to review — → opens the next image to review.');
      return;
    }
    m.select(id);
    this.a.update();
  }

  /**
   * Sends a decision on obj (default: the selected object): "approved", "rejected", or "" to
   * take it back. Shown at once; the next awaiting object is selected; a refusal puts it back.
   */
  async decide(decision, obj = this.a.model.selected) {
    const a = this.a;
    if (!this.canReview()) return a.flash(NOT_REVIEWER);
    if (!obj || !isReviewable(obj)) return a.flash('Select an accepted object to review (Tab goes to the next one).');
    if (decision === '' && !obj.review) return a.flash('Nothing to take back: no decision on this object.');
    if (obj.reviewing) return;
    const before = { review: obj.review, reviewerName: obj.reviewerName };
    const version = obj.version;
    obj.review = decision;
    obj.reviewerName = decision ? a.roomState.nameOf(a.me) || document.querySelector('.user-name')?.textContent?.trim() || '' : '';
    obj.reviewing = true;
    if (decision && a.model.selectedId === obj.id) this.selectNextAwaiting(obj.id);
    a.update();
    let res;
    try {
      res = await a.postJSON(a.objectURL(obj.id, '/review'), { version, decision });
    } catch {
      res = null;
    }
    obj.reviewing = false;
    if (!res || !res.ok) {
      const msg = res ? await this.opts.errorMessage(res) : 'The server could not be reached — the decision was not saved; try again.';
      if (obj.version === version && obj.review === decision) Object.assign(obj, before);
      a.model.select(obj.id);
      this.doneText = '';
      a.flash(msg);
      if (res && res.status === 401) this.opts.signedOut(msg);
      return a.update();
    }
    if (decision) a.flash(`${decision === 'approved' ? 'Approved' : 'Rejected'} ${obj.label || 'the object'}.`);
    else a.flash(`Took the decision on ${obj.label || 'the object'} back: it awaits review again.`);
    a.update();
  }

  /** After a decision: the next object awaiting review, or the offer to go to the next image. */
  selectNextAwaiting(afterId) {
    const a = this.a;
    const id = stepReview(a.model.objects, afterId, 1);
    if (id && id !== afterId) {
      a.model.select(id);
      this.doneText = '';
    } else {
      a.model.newObject();
      this.setFrom('');
      const more = nextReviewImage([...a.roomState.images.values()], a.fileId, { from: String(a.fileId) });
      this.doneText = more ? 'All reviewed on this image.' : 'All reviewed on this image; nothing else to review in this room.';
    }
  }

  /**
   * ← / → in review mode: the previous / next image of the room that may hold objects awaiting
   * review. auto: this image had nothing to review (a run of skips; it ends where it began).
   */
  go(dir, { auto = false } = {}) {
    const a = this.a;
    if (this.going) return;
    clearTimeout(this.skipTimer);
    const from = this.from || String(a.fileId);
    const images = [...a.roomState.images.values()];
    const next = nextReviewImage(images, a.fileId, { dir, from: auto || dir > 0 ? from : '' });
    if (!next) {
      this.doneText = auto || dir > 0 ? 'Nothing else to review in this room.' : 'No earlier image to review.';
      if (auto) this.setFrom('');
      a.flash(this.doneText);
      return a.update();
    }
    this.going = true;
    window.location.assign(reviewHref(a.roomId, next, auto || dir > 0 ? from : ''));
  }

  /** The review bar: counts and, when nothing is left here, the way on. */
  render() {
    if (!this.bar) return;
    this.bar.hidden = !this.on;
    if (!this.on) return;
    const c = reviewCounts(this.a.model.objects);
    this.bar.querySelector('[data-review-counts]').textContent = `${c.awaiting} to review · ${c.approved} approved · ${c.rejected} rejected`;
    const done = this.bar.querySelector('[data-review-done]');
    done.hidden = !this.doneText || c.awaiting > 0;
    done.querySelector('[data-review-done-text]').textContent = this.doneText;
    done.querySelector('[data-action="next-review"]').hidden = /nothing else|no earlier/i.test(this.doneText);
  }
}
