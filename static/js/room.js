// RoomPage: the controller for [data-room-page] — one room's image grid,
// members, progress and share link, kept live from /ws?room=room:{id}
// (docs/ROOMS.md): snapshot, member.presence, image.status, progress,
// member.removed and segment.notice (told once per browser, notice.js). The server renders the first paint; this only updates it.
//
// Test hooks: each image card [data-file-id] carries data-status
// (done|in_progress|untouched) and its presence avatars [data-presence-user];
// each member row [data-member-id] carries data-present ("true"|"false").
// The export form [data-export-form] carries data-state (idle|running|done|error),
// data-events (export.progress events that moved its bar), and after a download
// data-bytes (the file's size) and data-filename.
//
// Export: the form is a plain GET (works without script); with script it is fetched with a
// fresh progress id, the <progress> follows the socket's export.progress events, and the
// file is saved through an object URL under the name Content-Disposition gives.
// Review: the "Review" link (owner and reviewers, also after a live member.role) opens the
// first image with objects in review mode (?review=1).

import { LiveSocket } from './socket.js';
import { postJSON, getJSON, errorMessage, csrfToken } from './api.js';
import { RoomState, imageStatus } from './roomstate.js';
import { paintColors, renderAvatars, avatarEl } from './avatars.js';
import { ExportProgress, newProgressId, exportURL, filenameFrom } from './exporter.js';
import { mayReview, mayAwait, reviewHref } from './review.js';
import { showNotice } from './notice.js';

const STATUS_TEXT = { done: 'done', in_progress: 'in progress', untouched: 'untouched' };

/** The error message of a failed fetch, from {"error":{"message"}} or the status. */
function failure(res) {
  return errorMessage(res, {
    401: 'Your sign-in expired — reload the page to sign in again.',
    403: 'You are not a member of this room any more.',
    other: (s) => `The server refused (HTTP ${s}) — try again in a moment.`,
  });
}

/** Asks the server for the next untouched image nobody else is on; returns {href} or {message}. */
export async function nextImage(roomId, current = null) {
  let res;
  try {
    res = await postJSON(`/api/rooms/${encodeURIComponent(roomId)}/next`, { current });
  } catch {
    return { message: 'The server could not be reached — check your connection, then try again.' };
  }
  if (res.status === 204) return { message: 'No untouched image is left: every image is done or someone is on it.' };
  if (!res.ok) return { message: await failure(res) };
  const body = await res.json().catch(() => null);
  if (!body || typeof body.href !== 'string' || !body.href.startsWith('/')) return { message: 'The server sent no image.' };
  return { href: body.href, fileId: body.fileId };
}

/** The controller for one room page. */
export class RoomPage {
  constructor(root) {
    this.root = root;
    const d = root.dataset;
    this.roomId = d.roomId;
    this.me = d.userId || '';
    this.owner = d.owner === 'true';
    this.closed = d.closed === 'true';
    this.state = new RoomState({ me: this.me });
    this.cards = new Map(); // file id → card <li>
    for (const li of root.querySelectorAll('[data-room-grid] [data-file-id]')) this.cards.set(li.dataset.fileId, li);
    this.memberList = root.querySelector('[data-member-list]');
    this.message = root.querySelector('[data-room-message]');
    this.connection = root.querySelector('[data-connection]');
    this.fetchingState = false;

    this.exportForm = root.querySelector('[data-export-form]');
    this.exporting = null; // the ExportProgress of the export under way
    this.reviewLink = root.querySelector('[data-review-link]');

    paintColors(root);
    this.fillShareURL();
    root.addEventListener('click', (e) => this.onClick(e));
    root.addEventListener('submit', (e) => this.onSubmit(e));
    document.addEventListener('keydown', (e) => this.onKeyDown(e));
    // A broken thumbnail falls back to the placeholder, as on the image browser.
    root.addEventListener('error', (e) => {
      if (e.target instanceof HTMLImageElement) e.target.closest('.thumb')?.classList.add('is-broken');
    }, true);

    this.socket = new LiveSocket(`room:${this.roomId}`, {
      onmessage: (msg) => this.onMessage(msg),
      onstate: (state, info) => this.showConnection(state, info),
      params: (s) => ({ since: s.lastSeq || '' }),
    });
    this.socket.start();
  }

  /** Makes the share link absolute when the server gave a path. */
  fillShareURL() {
    const input = this.root.querySelector('[data-share-url]');
    if (input && input.value.startsWith('/')) input.value = location.origin + input.value;
  }

  onClick(e) {
    const el = e.target.closest('[data-action]');
    if (!el) return;
    switch (el.dataset.action) {
      case 'copy-share':
        this.copyShare(el);
        break;
      case 'next-image':
        this.next(el);
        break;
    }
  }

  onSubmit(e) {
    const form = e.target;
    if (form.matches('[data-export-form]')) {
      e.preventDefault();
      this.exportNow(form);
      return;
    }
    if (form.matches('[data-close-form]') && !confirm('Close this room for everyone? It becomes read-only.')) e.preventDefault();
    if (form.matches('[data-remove-form]')) {
      const name = form.closest('[data-member-id]')?.querySelector('.member-name')?.firstChild?.textContent?.trim() || 'this member';
      if (!confirm(`Remove ${name} from the room? They are disconnected at once and can't rejoin by link.`)) e.preventDefault();
    }
  }

  onKeyDown(e) {
    const t = e.target;
    if (t instanceof Element && (t.matches('input, textarea, select') || t.isContentEditable)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if ((e.key === 'n' || e.key === 'N') && !this.closed && !this.state.removed) {
      e.preventDefault();
      this.next(this.root.querySelector('[data-action="next-image"]'));
    }
  }

  async copyShare(button) {
    const input = this.root.querySelector('[data-share-url]');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      // Clipboard API refused (insecure origin, permissions): select it for Ctrl+C.
      input.select();
      this.say('Press Ctrl+C to copy the selected link.');
      return;
    }
    button.textContent = 'Copied';
    setTimeout(() => (button.textContent = 'Copy'), 1500);
  }

  async next(button) {
    if (!button || button.disabled) return;
    button.disabled = true;
    const r = await nextImage(this.roomId);
    button.disabled = false;
    if (r.href) location.assign(r.href);
    else this.say(r.message);
  }

  say(text) {
    this.message.textContent = text;
    this.message.hidden = !text;
    clearTimeout(this.sayTimer);
    if (text) this.sayTimer = setTimeout(() => (this.message.hidden = true), 6000);
  }

  showConnection(state, info) {
    const el = this.connection;
    if (!el) return;
    el.dataset.state = state;
    if (state === 'open') {
      el.textContent = 'live';
      el.title = 'Connected: presence and progress arrive live';
    } else if (state === 'reconnecting') {
      el.textContent = 'reconnecting…';
      const secs = Math.ceil(info.retryInMs / 1000);
      el.title = `Connection lost; retrying${secs ? ` in ${secs} s` : ''} (attempt ${info.attempt}).`;
    } else {
      el.textContent = state === 'connecting' ? 'connecting…' : 'offline';
      el.title = 'Live updates';
    }
  }

  onMessage(msg) {
    if (msg.type === 'export.progress') return this.exportProgress(msg.data);
    if (msg.type === 'segment.notice') return void showNotice(msg.data?.notice);
    const changed = this.state.apply(msg);
    if (msg.type === 'snapshot' && !this.state.hasImages) this.fetchState();
    this.render(changed);
  }

  // ——— export ———

  /** Fetches the export the form describes, with progress, and saves the file. */
  async exportNow(form) {
    if (this.exporting) return;
    const data = new FormData(form);
    const id = newProgressId();
    const p = new ExportProgress(id);
    this.exporting = p;
    form.dataset.events = '0';
    const url = exportURL(this.roomId, { format: data.get('format'), status: data.get('status'), progress: id });
    this.showExport('running', p.text);
    let res;
    try {
      // Accepting JSON makes a refusal come as JSON with its message, not as an HTML page.
      res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json, application/zip' } });
    } catch {
      return this.exportFailed('The server could not be reached — check your connection, then try again.');
    }
    if (!res.ok) return this.exportFailed(await failure(res));
    let blob;
    try {
      blob = await res.blob();
    } catch {
      return this.exportFailed('The download broke off — try again.');
    }
    const fallback = `${this.roomId}-${data.get('format') === 'yolo' ? 'yolo.zip' : 'coco.json'}`;
    const name = filenameFrom(res.headers.get('Content-Disposition'), fallback);
    p.finish();
    this.exporting = null;
    form.dataset.bytes = String(blob.size);
    form.dataset.filename = name;
    this.save(blob, name);
    this.showExport('done', `Downloaded ${name} (${sizeText(blob.size)}).`);
  }

  /** Hands a blob to the browser as a download named name. */
  save(blob, name) {
    const href = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = href;
    a.download = name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60000);
  }

  exportProgress(d) {
    const p = this.exporting;
    if (!p || !p.apply(d)) return;
    this.exportForm.dataset.events = String(Number(this.exportForm.dataset.events || 0) + 1);
    this.showExport('running', p.text);
  }

  exportFailed(message) {
    this.exporting = null;
    this.showExport('error', `The export failed: ${message}`);
  }

  /** The form's state: the bar, the percentage, the message and the button. */
  showExport(state, text) {
    const form = this.exportForm;
    if (!form) return;
    form.dataset.state = state;
    const bar = form.querySelector('[data-export-progress]');
    const pct = form.querySelector('[data-export-percent]');
    const msg = form.querySelector('[data-export-message]');
    const button = form.querySelector('[data-export-button]');
    const p = this.exporting;
    const value = state === 'done' ? 100 : p ? p.percent : 0;
    bar.hidden = pct.hidden = state === 'idle' || state === 'error';
    bar.value = value;
    pct.textContent = `${value}%`;
    msg.textContent = text;
    msg.hidden = !text;
    msg.classList.toggle('is-error', state === 'error');
    button.disabled = state === 'running';
    form.setAttribute('aria-busy', String(state === 'running'));
  }

  /** Image statuses come with GET /state when the snapshot does not list them. */
  async fetchState() {
    if (this.fetchingState) return;
    this.fetchingState = true;
    try {
      const res = await getJSON(`/api/rooms/${encodeURIComponent(this.roomId)}/state`);
      if (res.ok) {
        this.state.applySnapshot(await res.json());
        this.render(new Set(['members', 'presence', 'images', 'progress']));
      }
    } catch {
      // the next snapshot will do
    } finally {
      this.fetchingState = false;
    }
  }

  render(changed) {
    if (changed.has('removed')) return this.showRemoved();
    if (changed.has('presence') || changed.has('members')) {
      this.renderPresence();
      this.renderMembers();
    }
    if (changed.has('members') || changed.has('images')) this.renderReviewLink();
    if (changed.has('images')) this.renderImages();
    if (changed.has('progress') || changed.has('images')) this.renderProgress();
  }

  showRemoved() {
    this.socket.stop();
    this.root.querySelector('[data-removed]').hidden = false;
    this.root.classList.add('is-removed');
    for (const el of this.root.querySelectorAll('button, [data-room-grid] a')) {
      if (el.tagName === 'A') el.removeAttribute('href');
      else el.disabled = true;
    }
    this.connection.dataset.state = 'closed';
    this.connection.textContent = 'removed';
  }

  renderPresence() {
    const on = this.state.byImage();
    for (const [id, li] of this.cards) {
      const box = li.querySelector('[data-presence]');
      if (box) renderAvatars(box, on.get(id) || []);
    }
  }

  renderImages() {
    for (const im of this.state.images.values()) {
      const li = this.cards.get(im.fileId);
      if (!li) continue;
      const status = imageStatus(im.status);
      li.dataset.status = status;
      const badge = li.querySelector('[data-image-badge]');
      badge.dataset.status = status;
      badge.textContent = STATUS_TEXT[status];
      if (typeof im.objects === 'number') {
        li.querySelector('[data-objects]').textContent = `${im.objects} object${im.objects === 1 ? '' : 's'}`;
      }
      const by = status === 'done' && im.doneBy ? this.state.nameOf(im.doneBy) || im.doneBy : '';
      li.querySelector('[data-done-by]').textContent = by ? `by ${by}` : '';
    }
  }

  renderProgress() {
    const p = this.state.progress;
    const c = p.total ? p : this.state.counts();
    const set = (sel, v) => {
      const el = this.root.querySelector(sel);
      if (el) el.textContent = String(v);
    };
    set('[data-count="done"]', c.done);
    set('[data-count="in_progress"]', c.inProgress);
    set('[data-count="untouched"]', c.untouched);
    for (const k of ['awaiting', 'approved', 'rejected']) {
      if (typeof p[k] === 'number') set(`[data-count="${k}"]`, p[k]);
    }
    set('[data-progress-percent]', `${c.total ? Math.floor((100 * c.done) / c.total) : 0}% done`);
    const bar = this.root.querySelector('[data-progress-bar]');
    if (bar) {
      bar.max = Math.max(1, c.total);
      bar.value = c.done;
    }
    const labels = this.root.querySelector('[data-label-counts]');
    if (labels && p.labels) {
      labels.replaceChildren(...p.labels.map((l) => {
        const li = document.createElement('li');
        const dot = document.createElement('span');
        dot.className = 'label-dot';
        dot.dataset.color = l.color || '';
        li.append(dot, span('count-name', l.name || '(no label)'), span('count-value', String(l.objects)));
        return li;
      }));
      paintColors(labels);
    }
    const members = this.root.querySelector('[data-member-counts]');
    if (members && p.members) {
      members.replaceChildren(...p.members.map((m) => {
        const li = document.createElement('li');
        const value = span('count-value', m.done ? `${m.objects} · ${m.done} done` : String(m.objects));
        value.title = 'objects · images done';
        const av = avatarEl(m, 'avatar-xs');
        av.removeAttribute('data-presence-user'); // a count, not presence
        li.append(av, span('count-name', m.name), value);
        return li;
      }));
    }
  }

  /** The "Review" link: shown to the owner and reviewers, to the first image that may need review. */
  renderReviewLink() {
    const a = this.reviewLink;
    if (!a) return;
    const may = !this.closed && mayReview(this.state.roleOf(this.me));
    a.hidden = !may;
    if (!may) return;
    const images = [...this.state.images.values()];
    const first = images.find(mayAwait) || images[0];
    if (first) a.href = reviewHref(this.roomId, first.fileId);
  }

  renderMembers() {
    if (!this.memberList) return;
    const names = new Map([...this.cards].map(([id, li]) => [id, li.dataset.fileName || 'an image']));
    const rows = new Map([...this.memberList.querySelectorAll('[data-member-id]')].map((li) => [li.dataset.memberId, li]));
    for (const [id, li] of rows) {
      if (!this.state.members.has(id)) li.remove(); // removed from the room
    }
    for (const m of this.state.members.values()) {
      let li = rows.get(m.userId);
      if (!li) {
        li = this.memberRow(m);
        this.memberList.append(li);
      }
      const p = this.state.presence.get(m.userId);
      li.dataset.present = String(!!p);
      const where = li.querySelector('[data-where]');
      where.textContent = !p ? 'away' : !p.fileId ? 'in the room' : `on ${names.get(p.fileId) || 'an image'}`;
      this.renderRole(li, m.role);
    }
    const count = this.root.querySelector('[data-member-count]');
    if (count) count.textContent = String(this.state.members.size);
  }

  /** The role chip of a member row ("owner", "reviewer"; none for members), kept live. */
  renderRole(li, role) {
    const name = li.querySelector('.member-name');
    if (!name) return;
    let chip = name.querySelector('.member-role');
    const shown = role === 'owner' || role === 'reviewer' ? role : '';
    if (!shown) return chip?.remove();
    if (!chip) {
      chip = span('member-role', '');
      name.append(chip);
    }
    chip.dataset.role = shown;
    chip.textContent = shown;
  }

  /** A member row for someone who joined after the page was rendered. */
  memberRow(m) {
    const li = document.createElement('li');
    li.className = 'member';
    li.dataset.memberId = m.userId;
    const av = avatarEl(m, '');
    av.removeAttribute('data-presence-user'); // presence avatars are the grid's
    av.setAttribute('aria-hidden', 'true');
    const text = span('member-text', '');
    const name = span('member-name', m.name);
    if (m.userId === this.me) name.append(span('member-you', '(you)'));
    const where = span('member-where', '');
    where.dataset.where = '';
    text.append(name, where);
    li.append(av, text);
    if (this.owner && !this.closed && m.userId !== this.me && m.role !== 'owner') {
      const form = document.createElement('form');
      form.className = 'inline-form';
      form.method = 'post';
      form.action = `/rooms/${encodeURIComponent(this.roomId)}/members/${encodeURIComponent(m.userId)}/remove`;
      form.dataset.removeForm = '';
      const tok = document.createElement('input');
      tok.type = 'hidden';
      tok.name = '_csrf';
      tok.value = csrfToken();
      const b = document.createElement('button');
      b.type = 'submit';
      b.className = 'btn btn-small btn-ghost btn-danger';
      b.dataset.action = 'remove-member';
      b.title = `Remove ${m.name} from the room`;
      b.textContent = 'Remove';
      form.append(tok, b);
      li.append(form);
    }
    return li;
  }
}

/** "1.4 MB", "12 KB", "512 bytes". */
export function sizeText(bytes) {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${Math.round(bytes / 1e3)} KB`;
  return `${bytes} bytes`;
}

function span(cls, text) {
  const el = document.createElement('span');
  el.className = cls;
  el.textContent = text;
  return el;
}

if (globalThis.document) for (const el of document.querySelectorAll('[data-room-page]')) new RoomPage(el);
