// ObjectPanel: the controller for the side panel of the annotation page —
// the object list (label, status badge, accept/delete/retry) and the recent
// labels on the 1–9 keys. It renders from the Annotations model and reports
// user intent through callbacks; it never talks to the network.

import { promptIsEmpty, currentPolygons } from './objects.js';
import { initials as initialsOf } from './roomstate.js';
import { saveState, saveBadge, saveError, canRetrySave } from './saves.js';
import { reviewBadge, isReviewable } from './review.js';

export { saveState };

const BACKEND_NAMES = { cdf: 'CDF vision API', local: 'Lasso engine', url: 'segment service' };

/**
 * The words for the segment backend that answered a job ("cdf", "local", "url" from the job
 * event or room object); another value is shown as given, none gives "".
 */
export function backendName(backend) {
  if (typeof backend !== 'string' || !backend) return '';
  return Object.hasOwn(BACKEND_NAMES, backend) ? BACKEND_NAMES[backend] : backend;
}

/**
 * A finished job's badge: its status text with the backend that answered it,
 * "done · Lasso engine" (and by: "Lasso engine"); just the text when no backend is known.
 */
function answered(state, text, obj) {
  const by = backendName(obj.backend);
  return by ? { state, text: `${text} · ${by}`, by } : { state, text };
}

/**
 * Badge text and badge state for an object at time `now` (ms, same clock as obj.statusAt);
 * a finished job's badge also has `by`, the words for the backend that answered it.
 */
export function badgeFor(obj, now) {
  if (obj.offline && obj.status === 'idle') return { state: 'sending', text: 'waiting for connection' };
  switch (obj.status) {
    case 'queued':
      return { state: 'queued', text: 'queued' };
    case 'running': {
      const ms = obj.elapsedMs + Math.max(0, now - obj.statusAt);
      return { state: 'running', text: `running ${(ms / 1000).toFixed(1)} s` };
    }
    case 'done':
      if (currentPolygons(obj).length === 0) return answered('empty', 'nothing found', obj);
      // Accepted, the badge tells how the write to CDF goes instead.
      if (!obj.accepted) return answered('done', 'done', obj);
      {
        const save = saveBadge(obj);
        if (save) return { state: save.state === 'saved' ? 'accepted' : save.state, text: save.text };
      }
      return { state: 'accepted', text: 'accepted' };
    case 'failed':
      return answered('failed', 'failed', obj);
  }
  if (promptIsEmpty(obj.prompt)) return { state: 'idle', text: obj.accepted ? 'accepted' : 'empty' };
  if (obj.sent) return { state: 'queued', text: 'queued' };
  return { state: 'sending', text: 'sending…' };
}

/** One-line summary of an object's prompt and result. */
export function infoFor(obj) {
  const parts = [];
  const pos = obj.prompt.points.filter((p) => p.label === 1).length;
  const neg = obj.prompt.points.length - pos;
  if (pos) parts.push(`${pos}+`);
  if (neg) parts.push(`${neg}−`);
  if (obj.prompt.box) parts.push('box');
  if (obj.author) parts.unshift(obj.author.name);
  if (obj.status === 'done') {
    const seg = obj.segments[obj.segIndex];
    const n = currentPolygons(obj).length;
    if (n > 1) parts.push(`${n} parts`);
    if (seg && typeof seg.score === 'number') parts.push(`score ${seg.score.toFixed(2)}`);
    if (obj.segments.length > 1) parts.push(`candidate ${obj.segIndex + 1}/${obj.segments.length} (Tab)`);
  }
  return parts.join(' · ');
}

/** The controller for the side panel. */
export class ObjectPanel {
  /**
   * @param {HTMLElement} root the annotator element (holds the panel and its <template>)
   * @param {object} on callbacks: select(obj), label(obj, text, committed), accept(obj),
   *   remove(obj), retry(obj), retrySave(obj) (send a failed write to CDF again),
   *   provenance(obj) ("How this was made"), pickLabel(n), sticky(text), done() (return focus
   *   to the canvas), labelEntered(obj) (Enter in obj's label field: accept it), and in a room takeOver(obj), lockOf(obj) → name of the member holding its
   *   soft lock, or "", review(obj, decision) and reviewing() → true in review mode
   * @param {{fixedLabels?: boolean}} opts fixedLabels: the label chips are the room's,
   *   rendered by the server ([data-label-key]); only the sticky one is marked
   */
  constructor(root, on, { fixedLabels = false } = {}) {
    this.on = on;
    this.fixedLabels = fixedLabels;
    this.list = root.querySelector('[data-object-list]');
    this.template = root.querySelector('[data-object-template]');
    this.count = root.querySelector('[data-object-count]');
    this.empty = root.querySelector('[data-objects-empty]');
    this.recentList = root.querySelector('[data-recent-labels]');
    this.options = root.querySelector('[data-label-options]');
    this.stickyInput = root.querySelector('[data-sticky-label]');
    this.items = new Map(); // object id → <li>
    this.objects = new Map(); // object id → object
    this.recentKey = '';

    this.list.addEventListener('click', (e) => this.onClick(e));
    this.list.addEventListener('input', (e) => {
      const obj = this.objectOf(e.target);
      if (obj && e.target.matches('[data-field=label]')) this.on.label(obj, e.target.value, false);
    });
    this.list.addEventListener('change', (e) => {
      const obj = this.objectOf(e.target);
      if (obj && e.target.matches('[data-field=label]')) this.on.label(obj, e.target.value.trim(), true);
    });
    this.list.addEventListener('focusin', (e) => {
      const obj = this.objectOf(e.target);
      if (obj && e.target.matches('[data-field=label]')) this.on.select(obj);
    });
    this.list.addEventListener('keydown', (e) => {
      if (!e.target.matches('[data-field=label]')) return;
      if (e.key === 'Enter' || e.key === 'Escape') {
        e.preventDefault();
        const obj = this.objectOf(e.target);
        e.target.blur(); // commits through "change"
        this.on.done();
        // The label picker: Enter accepts the object with the label it now has (one Enter).
        if (e.key === 'Enter' && obj && !obj.accepted && !obj.remote) this.on.labelEntered?.(obj);
      }
    });
    this.recentList.addEventListener('click', (e) => {
      const b = e.target.closest('[data-label-index], [data-label-key]');
      if (b) this.on.pickLabel(b.dataset.labelKey ? Number(b.dataset.labelKey) : Number(b.dataset.labelIndex) + 1);
    });
    if (this.stickyInput) {
      this.stickyInput.addEventListener('change', () => this.on.sticky(this.stickyInput.value.trim()));
      this.stickyInput.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === 'Escape') {
          e.preventDefault();
          this.stickyInput.blur();
          this.on.done();
        }
      });
    }
  }

  /** The label picker: focuses obj's label field (rendered already), its text selected. */
  focusLabel(obj) {
    const input = this.items.get(obj.id)?.querySelector('[data-field=label]');
    if (!input || input.readOnly) return false;
    input.focus({ preventScroll: false });
    input.select();
    return true;
  }

  objectOf(el) {
    const li = el.closest('[data-object-item]');
    return li ? this.objects.get(li.dataset.objectId) : null;
  }

  onClick(e) {
    const obj = this.objectOf(e.target);
    if (!obj) return;
    const action = e.target.closest('[data-action]')?.dataset.action;
    if (action === 'accept') this.on.accept(obj);
    else if (action === 'delete') this.on.remove(obj);
    else if (action === 'retry') this.on.retry(obj);
    else if (action === 'retry-save') this.on.retrySave?.(obj);
    else if (action === 'provenance') this.on.provenance?.(obj);
    else if (action === 'review') this.on.review?.(obj, e.target.closest('[data-action]').dataset.decision || '');
    else if (action === 'take-over') this.on.takeOver?.(obj);
    else if (!e.target.closest('input')) this.on.select(obj);
  }

  /** Brings the list in line with the model. Cheap enough to call on every change. */
  render(model, now) {
    const seen = new Set();
    model.objects.forEach((obj, i) => {
      seen.add(obj.id);
      this.objects.set(obj.id, obj);
      let li = this.items.get(obj.id);
      if (!li) {
        li = this.template.content.firstElementChild.cloneNode(true);
        li.dataset.objectId = obj.id;
        this.items.set(obj.id, li);
      }
      const swatch = li.querySelector('.swatch');
      if (swatch.dataset.color !== obj.color) {
        swatch.dataset.color = obj.color;
        swatch.style.backgroundColor = obj.color; // CSSOM: allowed by style-src 'self'
      }
      if (this.list.children[i] !== li) this.list.insertBefore(li, this.list.children[i] || null);
      this.renderItem(li, obj, obj.id === model.selectedId, now);
    });
    for (const [id, li] of this.items) {
      if (!seen.has(id)) {
        li.remove();
        this.items.delete(id);
        this.objects.delete(id);
      }
    }
    this.count.textContent = String(model.objects.length);
    this.empty.hidden = model.objects.length > 0;
    this.renderLabels(model);
  }

  renderItem(li, obj, selected, now) {
    li.classList.toggle('is-selected', selected);
    li.classList.toggle('is-accepted', obj.accepted);
    if (selected) li.setAttribute('aria-current', 'true');
    else li.removeAttribute('aria-current');
    const input = li.querySelector('[data-field=label]');
    if (document.activeElement !== input && input.value !== obj.label) input.value = obj.label;
    const badge = badgeFor(obj, now);
    const b = li.querySelector('[data-field=badge]');
    b.textContent = badge.text;
    b.title = badge.text; // the badge may be cut short (ellipsis)
    b.dataset.status = badge.state;
    // Too long for the row with the backend's name: the badge gets a line of its own.
    li.classList.toggle('is-answered', !!badge.by);
    li.querySelector('[data-field=info]').textContent = infoFor(obj);
    const lock = obj.remote ? this.on.lockOf?.(obj) || '' : '';
    li.classList.toggle('is-remote', !!obj.remote);
    li.classList.toggle('is-locked', !!lock);
    const author = li.querySelector('[data-field=author]');
    if (author) {
      author.hidden = !obj.author;
      if (obj.author) {
        author.textContent = initialsOf(obj.author.name);
        author.title = obj.author.name;
        author.style.setProperty('--c', obj.color);
      }
    }
    input.readOnly = !!obj.remote;
    const error = obj.status === 'failed' ? obj.error : saveError(obj);
    li.querySelector('[data-field=error]').textContent = lock ? `${lock} is segmenting this` : error;
    li.querySelector('[data-action=retry]').hidden = obj.status !== 'failed' || !!obj.remote || !!obj.conflict;
    const retrySave = li.querySelector('[data-action=retry-save]');
    if (retrySave) {
      retrySave.hidden = obj.status === 'failed' || !canRetrySave(obj);
      retrySave.disabled = !!obj.retryingSave;
    }
    li.dataset.save = saveState(obj);
    const review = reviewBadge(obj);
    const rb = li.querySelector('[data-field=review]');
    if (rb) {
      rb.hidden = !review;
      rb.textContent = review ? review.text : '';
      rb.dataset.status = review ? review.state : '';
      rb.title = review ? `${review.state === 'approved' ? 'Approved' : 'Rejected'}${obj.reviewerName ? ` by ${obj.reviewerName}` : ''}` : '';
    }
    li.dataset.review = obj.review || (isReviewable(obj) ? 'awaiting' : '');
    const actions = li.querySelector('[data-field=review-actions]');
    if (actions) {
      const show = selected && !!this.on.reviewing?.() && isReviewable(obj);
      actions.hidden = !show;
      if (show) {
        for (const b of actions.querySelectorAll('[data-action=review]')) {
          b.setAttribute('aria-pressed', String(b.dataset.decision !== '' && b.dataset.decision === obj.review));
          b.disabled = !!obj.reviewing || (b.dataset.decision === '' && !obj.review);
        }
      }
    }
    const take = li.querySelector('[data-action=take-over]');
    if (take) take.hidden = (!obj.remote && !obj.conflict) || !!this.on.reviewing?.();
    li.querySelector('[data-action=accept]').disabled = obj.accepted;
    // Accepted, the button has nothing left to do: its room goes to the label and the badge.
    li.querySelector('[data-action=accept]').hidden = !!obj.remote || obj.accepted;
    li.querySelector('[data-action=delete]').hidden = !!obj.remote;
  }

  /** Refreshes the ticking badges only (running elapsed time). */
  tick(model, now) {
    for (const obj of model.objects) {
      if (obj.status !== 'running') continue;
      const b = this.items.get(obj.id)?.querySelector('[data-field=badge]');
      if (b) b.textContent = badgeFor(obj, now).text;
    }
  }

  renderLabels(model) {
    if (this.fixedLabels) {
      for (const b of this.recentList.querySelectorAll('[data-label-key]')) {
        b.classList.toggle('is-sticky', b.dataset.roomLabel === model.sticky);
      }
      return;
    }
    if (this.stickyInput && document.activeElement !== this.stickyInput) this.stickyInput.value = model.sticky;
    const key = JSON.stringify([model.recent, model.sticky]);
    if (key === this.recentKey) return;
    this.recentKey = key;
    this.recentList.replaceChildren(
      ...model.recent.map((label, i) => {
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'label-chip';
        b.dataset.labelIndex = String(i);
        b.title = `Use “${label}” (${i + 1})`;
        if (label === model.sticky) b.classList.add('is-sticky');
        const k = document.createElement('kbd');
        k.textContent = String(i + 1);
        b.append(k, document.createTextNode(label));
        li.append(b);
        return li;
      }),
    );
    this.options.replaceChildren(
      ...model.recent.map((label) => {
        const o = document.createElement('option');
        o.value = label;
        return o;
      }),
    );
  }
}
