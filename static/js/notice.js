// Notices: a sentence the server wants the user told once per browser, e.g. that CDF's vision
// API is gone and Lasso now segments with its own engine. They arrive as the `notice` of a
// job.status event and as room messages of type segment.notice (annotate.js, room.js).
//
// Each notice is a banner under the page header with a Dismiss button. A notice is remembered
// when it is shown, in localStorage under noticeKey(text) = "lasso.notice." + the trimmed text,
// so the same text is not shown again on this page nor after a reload; where localStorage
// throws (disabled, private mode, full) it is remembered for this page only.
//
// Test hooks (read by the browser test; keep them exact):
//   [data-notices]        the banners' container (created after .app-header if the page lacks one)
//   [data-notice]         one banner (role="status", aria-live="polite"); the text is inside,
//                         in [data-notice-text]
//   [data-notice-dismiss] its Dismiss button

/** Prefix of the localStorage keys of notices already shown. */
export const NOTICE_KEY = 'lasso.notice.';

/** The localStorage key that remembers a notice: the prefix and the trimmed text. */
export function noticeKey(text) {
  return NOTICE_KEY + String(text).trim();
}

/** The page's localStorage, or null where even looking at it throws. */
function pageStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/** Shows notices once per browser in one document. */
export class Notices {
  /**
   * @param {{doc?: Document, storage?: () => Storage | null, now?: () => Date}} deps
   *   doc is the page; storage returns localStorage (or null when there is none);
   *   now stamps when a notice was first shown.
   */
  constructor({ doc = globalThis.document, storage = pageStorage, now = () => new Date() } = {}) {
    this.doc = doc;
    this.storage = storage;
    this.now = now;
    this.shown = new Set(); // keys shown on this page: the fallback, and no second banner
  }

  /** True when the notice was shown in this browser before (or on this page). */
  seen(text) {
    const key = noticeKey(text);
    if (this.shown.has(key)) return true;
    try {
      return this.storage()?.getItem(key) != null;
    } catch {
      return false;
    }
  }

  /**
   * Shows a banner with text unless it was shown before; returns the banner, or null when
   * nothing was shown (seen already, or no text).
   */
  show(text) {
    if (typeof text !== 'string' || !text.trim()) return null;
    text = text.trim();
    if (this.seen(text)) return null;
    const key = noticeKey(text);
    this.shown.add(key);
    try {
      this.storage()?.setItem(key, this.now().toISOString());
    } catch {
      // remembered for this page only
    }
    const doc = this.doc;
    const banner = doc.createElement('div');
    banner.className = 'info-banner notice-banner';
    banner.dataset.notice = '';
    banner.setAttribute('role', 'status');
    banner.setAttribute('aria-live', 'polite');
    // The live region is in the page before its text is: screen readers then read the text.
    this.container().append(banner);
    const p = doc.createElement('p');
    p.dataset.noticeText = '';
    p.textContent = text;
    const dismiss = doc.createElement('button');
    dismiss.type = 'button';
    dismiss.className = 'btn btn-small';
    dismiss.dataset.noticeDismiss = '';
    dismiss.textContent = 'Dismiss';
    dismiss.addEventListener('click', () => banner.remove());
    banner.append(p, dismiss);
    return banner;
  }

  /** The banners' container: the page's [data-notices], else one made after the header. */
  container() {
    const doc = this.doc;
    let box = doc.querySelector('[data-notices]');
    if (box) return box;
    box = doc.createElement('div');
    box.className = 'notices';
    box.dataset.notices = '';
    const header = doc.querySelector('.app-header');
    if (header) header.after(box);
    else doc.body.prepend(box);
    return box;
  }
}

let page = null;

/** Shows text to the user once per browser (see Notices.show); returns the banner or null. */
export function showNotice(text) {
  page ||= new Notices();
  return page.show(text);
}
