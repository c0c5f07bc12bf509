// Annotator: the controller for [data-annotator] — the annotation page.
// It loads the image, draws it and the objects on a <canvas>, turns pointer
// and keyboard input into prompts (docs/UX.md), POSTs each prompt change, and
// applies live job.status events from the room's WebSocket.
//
// Test hooks on the <canvas> (read by the browser test; keep them exact):
//   data-image-loaded  "true" once the image has been drawn
//   data-objects       number of objects
//   for the current object (the selected one, else the last one):
//   data-status        idle|queued|running|done|failed (from job.status events
//                      and HTTP errors; "idle" until the first event)
//   data-status-trail  distinct statuses seen for the current prompt version
//   data-polygons      polygons drawn for it
//   data-bbox          drawn box, normalised "xMin,yMin,xMax,yMax" (4 decimals), "" if none
//   data-version       its prompt version
//   data-latency-ms    ms from the input event that sent the prompt to the
//                      animation frame that drew its result
//   data-view          "scale,tx,ty,W,H": image pixel (ix, iy) of the W×H image is
//                      drawn at CSS pixel (tx + ix*scale, ty + iy*scale) of the canvas

import * as g from './geometry.js';
import { Annotations, requestBody, promptIsEmpty, currentPolygons } from './objects.js';
import { LiveSocket } from './socket.js';
import { ObjectPanel } from './panel.js';

const POINT_RADIUS = 5;
const HIT_RADIUS = 9;
const FILL_ALPHA = 0.4;
const LABELS_KEY = 'lasso.labels';
const OBJECTS_KEY = 'lasso.objects.'; // + file id, in sessionStorage (this tab only)
const RESEND_AFTER_MS = 2000; // restored prompts without a snapshot result are re-sent after this

/** Message for a failed fetch, from the server's {"error":{"message"}} or by status. */
async function errorMessage(res) {
  try {
    const body = await res.json();
    const msg = body?.error?.message;
    if (typeof msg === 'string' && msg) return msg;
  } catch {
    // not JSON: fall through to the status
  }
  switch (res.status) {
    case 401:
      return 'Your sign-in expired — sign in again; your prompts are kept.';
    case 403:
      return 'The server refused the request — reload the page and try again.';
    case 404:
      return 'This image no longer exists — go back to the images.';
    case 413:
      return 'The prompt is too large — remove some points.';
    case 429:
      return 'Too many requests — wait a moment, then retry.';
    default:
      return res.status >= 500
        ? `The server failed (HTTP ${res.status}) — retry in a moment.`
        : `The request was refused (HTTP ${res.status}).`;
  }
}

/**
 * Tells the user their sign-in ended and links to signing in again, back to this page. The
 * prompts are kept in sessionStorage and re-sent after the reload.
 */
function showSignInNotice(message) {
  if (document.querySelector('[data-signin-notice]')) return;
  const banner = document.createElement('div');
  banner.className = 'warning-banner';
  banner.dataset.signinNotice = '';
  banner.setAttribute('role', 'alert');
  const text = document.createElement('p');
  text.textContent = message + ' ';
  const link = document.createElement('a');
  link.href = '/auth/login?return_to=' + encodeURIComponent(location.pathname + location.search);
  link.textContent = 'Sign in again';
  text.append(link);
  banner.append(text);
  document.querySelector('.app-header')?.after(banner);
}

/** True when a key press belongs to a form control rather than to the canvas. */
function isTyping(target, key) {
  if (!(target instanceof Element)) return false;
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

/** Short human size, e.g. "1.4 MB". */
function mb(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1e3)} KB`;
}

/** The controller for one [data-annotator] element. */
export class Annotator {
  constructor(root) {
    this.root = root;
    const d = root.dataset;
    this.fileId = d.fileId;
    this.imageURL = d.imageUrl;
    this.room = d.room;
    this.prevHref = d.prevHref || '';
    this.nextHref = d.nextHref || '';
    this.W = Number(d.width) || 0;
    this.H = Number(d.height) || 0;
    this.csrf = document.querySelector('meta[name="csrf-token"]')?.content || '';

    this.stage = root.querySelector('[data-stage]');
    this.canvas = root.querySelector('[data-canvas]');
    this.ctx = this.canvas.getContext('2d');
    this.loading = root.querySelector('[data-loading]');
    this.loadingText = root.querySelector('[data-loading-text]');
    this.progress = root.querySelector('[data-progress]');
    this.loadError = root.querySelector('[data-load-error]');
    this.loadErrorText = root.querySelector('[data-load-error-text]');
    this.zoomReadout = root.querySelector('[data-zoom]');
    this.cursorReadout = root.querySelector('[data-cursor]');
    this.hoverReadout = root.querySelector('[data-hover]');
    this.sizeReadout = root.querySelector('[data-image-size]');
    this.connection = root.querySelector('[data-connection]');
    this.detailInput = root.querySelector('[data-detail]');
    this.help = root.querySelector('[data-help]');

    this.model = new Annotations({ now: () => performance.now() });
    this.loadLabels();
    this.restored = this.loadObjects();
    this.img = null;
    this.view = { scale: 1, tx: 0, ty: 0 };
    this.fitted = true;
    this.cssW = 0;
    this.cssH = 0;
    this.dpr = 1;
    this.detail = g.DETAIL_TOLERANCES.length - 1; // raw
    this.simplified = new WeakMap(); // segment → {key, polygons}
    this.drag = null; // the pointer gesture in progress
    this.hover = null; // last pointer position on the canvas, screen px
    this.spaceDown = false;
    this.deferred = new Set(); // objects whose prompt changed while Ctrl was held
    this.frame = 0;
    this.ticker = 0;

    this.panel = new ObjectPanel(root, {
      select: (obj) => {
        this.model.select(obj.id);
        this.update();
      },
      label: (obj, text, committed) => {
        if (committed) this.model.setLabel(obj, text);
        else obj.label = text;
        this.saveLabels();
        this.update();
      },
      accept: (obj) => this.accept(obj),
      remove: (obj) => this.remove(obj),
      retry: (obj, e) => this.retry(obj, e),
      pickLabel: (n) => this.pickLabel(n),
      sticky: (text) => {
        this.model.sticky = text;
        this.model.useLabel(text);
        this.saveLabels();
        this.update();
      },
      done: () => this.canvas.focus({ preventScroll: true }),
    });

    this.socket = new LiveSocket(this.room, {
      onmessage: (msg) => this.onMessage(msg),
      onstate: (state, info) => this.showConnection(state, info),
    });

    this.bind();
    this.resize();
    this.update();
    this.loadImage();
    this.socket.start();
    if (this.restored.length) this.resendTimer = setTimeout(() => this.resendRestored(), RESEND_AFTER_MS);
  }

  // ——— wiring ———

  bind() {
    const c = this.canvas;
    c.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    c.addEventListener('pointermove', (e) => this.onPointerMove(e));
    c.addEventListener('pointerup', (e) => this.onPointerUp(e));
    c.addEventListener('pointercancel', () => this.cancelDrag());
    c.addEventListener('pointerleave', () => {
      this.hover = null;
      this.cursorReadout.textContent = '';
      this.hoverReadout.textContent = '';
      this.requestRender();
    });
    c.addEventListener('contextmenu', (e) => e.preventDefault());
    c.addEventListener('auxclick', (e) => e.preventDefault()); // middle-click paste/open on Linux
    c.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    document.addEventListener('keydown', (e) => this.onKeyDown(e));
    document.addEventListener('keyup', (e) => this.onKeyUp(e));
    window.addEventListener('blur', () => {
      this.spaceDown = false;
      this.stage.classList.remove('is-pan-ready');
      this.flush(performance.now());
    });
    this.root.addEventListener('click', (e) => this.onToolbarClick(e));
    this.detailInput?.addEventListener('input', () => this.setDetail(Number(this.detailInput.value)));
    new ResizeObserver(() => this.resize()).observe(this.stage);
    // devicePixelRatio changes (browser zoom, moving between monitors) don't resize the stage.
    const watchDPR = () => {
      matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`).addEventListener(
        'change',
        () => {
          this.resize();
          watchDPR();
        },
        { once: true },
      );
    };
    watchDPR();
  }

  onToolbarClick(e) {
    const el = e.target.closest('[data-action]');
    if (!el || el.closest('[data-object-list]')) return; // the panel handles its own
    const t = e.timeStamp || performance.now();
    switch (el.dataset.action) {
      case 'fit':
        this.fit();
        break;
      case 'zoom-in':
        this.zoomBy(1.25);
        break;
      case 'zoom-out':
        this.zoomBy(0.8);
        break;
      case 'undo':
        this.undo(t);
        break;
      case 'redo':
        this.redo(t);
        break;
      case 'clear':
        this.clearPrompt(t);
        break;
      case 'new':
        this.newObject();
        break;
      case 'accept':
        this.accept();
        break;
      case 'delete':
        this.remove();
        break;
      case 'help':
        this.toggleHelp();
        break;
      case 'close-help':
        this.help.close();
        break;
      case 'reload-image':
        this.loadImage();
        break;
      default:
        return;
    }
    // Keep keyboard flow on the canvas after a toolbar click, except for dialogs.
    if (!['help', 'close-help', 'reload-image'].includes(el.dataset.action)) this.canvas.focus({ preventScroll: true });
  }

  // ——— image ———

  async loadImage() {
    this.loadError.hidden = true;
    this.loading.hidden = false;
    this.loadingText.textContent = 'Loading image…';
    this.progress.removeAttribute('value'); // indeterminate until we know the length
    try {
      const res = await fetch(this.imageURL, { credentials: 'same-origin' });
      if (!res.ok) {
        const msg = await errorMessage(res);
        throw new Error(res.status === 404 ? 'The image was not found — it may have been deleted.' : msg);
      }
      const total = Number(res.headers.get('Content-Length')) || 0;
      const chunks = [];
      let received = 0;
      if (res.body) {
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          received += value.byteLength;
          if (total) {
            this.progress.max = total;
            this.progress.value = received;
            this.loadingText.textContent = `Loading image… ${Math.round((100 * received) / total)}% of ${mb(total)}`;
          } else {
            this.loadingText.textContent = `Loading image… ${mb(received)}`;
          }
        }
      } else {
        chunks.push(new Uint8Array(await res.arrayBuffer()));
      }
      this.loadingText.textContent = 'Decoding…';
      const blob = new Blob(chunks, { type: res.headers.get('Content-Type') || '' });
      let bitmap;
      try {
        bitmap = await createImageBitmap(blob);
      } catch {
        throw new Error('The file could not be decoded as an image (Lasso opens JPEG and PNG).');
      }
      this.img = bitmap;
      this.W = bitmap.width;
      this.H = bitmap.height;
      this.sizeReadout.textContent = `${this.W}×${this.H}`;
      this.loading.hidden = true;
      this.fit();
    } catch (err) {
      this.loading.hidden = true;
      this.loadError.hidden = false;
      this.loadErrorText.textContent =
        err instanceof TypeError ? 'The server could not be reached — check that Lasso is running, then try again.' : err.message;
    }
  }

  // ——— view ———

  resize() {
    const r = this.stage.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width));
    const h = Math.max(1, Math.round(r.height));
    if (w === this.cssW && h === this.cssH && dpr === this.dpr) return;
    this.cssW = w;
    this.cssH = h;
    this.dpr = dpr;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    if (this.fitted) this.fit();
    else this.requestRender();
  }

  fit() {
    if (this.W && this.H) this.view = g.fitView(this.W, this.H, this.cssW, this.cssH);
    this.fitted = true;
    this.requestRender();
  }

  zoomBy(factor, sx = this.cssW / 2, sy = this.cssH / 2) {
    this.view = g.zoomAt(this.view, factor, sx, sy);
    this.fitted = false;
    this.requestRender();
  }

  onWheel(e) {
    e.preventDefault();
    if (!this.img) return;
    const s = g.clientToScreen(e.clientX, e.clientY, this.canvas.getBoundingClientRect());
    if (e.deltaX && !e.deltaY && !e.ctrlKey) {
      // Horizontal-only scroll (trackpad swipe): pan instead of zooming.
      this.view = g.panBy(this.view, -e.deltaX, 0);
    } else {
      this.view = g.zoomAt(this.view, g.wheelZoomFactor(e.deltaY, e.deltaMode), s.x, s.y);
    }
    this.fitted = false;
    this.requestRender();
  }

  setDetail(level) {
    const max = g.DETAIL_TOLERANCES.length - 1;
    this.detail = Math.max(0, Math.min(max, level));
    if (this.detailInput) this.detailInput.value = String(this.detail);
    const tol = g.DETAIL_TOLERANCES[this.detail];
    this.flash(tol === 0 ? 'Polygon detail: raw' : `Polygon detail: simplified to ${tol} px`);
    this.requestRender();
  }

  // ——— pointer ———

  screenOf(e) {
    return g.clientToScreen(e.clientX, e.clientY, this.canvas.getBoundingClientRect());
  }

  onPointerDown(e) {
    this.canvas.focus({ preventScroll: true });
    const s = this.screenOf(e);
    const pan = e.button === 1 || (e.button === 0 && this.spaceDown);
    if (!pan && ![0, 2].includes(e.button)) return;
    if (!pan && !this.img) return;
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.drag = {
      id: e.pointerId,
      mode: pan ? 'pan' : 'prompt',
      button: e.button,
      negative: e.button === 2 || e.shiftKey || e.altKey,
      x0: s.x,
      y0: s.y,
      x: s.x,
      y: s.y,
      box: false,
    };
    if (pan) this.stage.classList.add('is-panning');
  }

  onPointerMove(e) {
    const s = this.screenOf(e);
    this.hover = s;
    this.showCursor(s);
    const d = this.drag;
    if (d && d.id === e.pointerId) {
      if (d.mode === 'pan') {
        this.view = g.panBy(this.view, s.x - d.x, s.y - d.y);
        this.fitted = false;
      } else if (d.button === 0 && g.isDrag(d.x0, d.y0, s.x, s.y)) {
        d.box = true;
      }
      d.x = s.x;
      d.y = s.y;
    }
    this.requestRender();
  }

  onPointerUp(e) {
    const d = this.drag;
    if (!d || d.id !== e.pointerId) return;
    this.drag = null;
    this.stage.classList.remove('is-panning');
    if (d.mode === 'pan') return;
    const t = e.timeStamp || performance.now();
    const s = this.screenOf(e);
    if (d.box) {
      const a = g.screenToNorm(this.view, d.x0, d.y0, this.W, this.H);
      const b = g.screenToNorm(this.view, s.x, s.y, this.W, this.H);
      const box = g.normaliseBox(a, b);
      if (box) this.promptChanged(this.model.setBox(box), t, e.ctrlKey);
      return;
    }
    if (g.isDrag(d.x0, d.y0, s.x, s.y)) return; // a right-drag is neither a point nor a box
    const sel = this.model.selected;
    if (sel) {
      const hit = g.hitPoint(sel.prompt.points, s.x, s.y, this.view, this.W, this.H, HIT_RADIUS);
      if (hit >= 0) {
        this.promptChanged(this.model.removePoint(hit), t, e.ctrlKey);
        return;
      }
    }
    const n = g.screenToNorm(this.view, s.x, s.y, this.W, this.H);
    if (!g.insideNorm(n)) {
      this.flash('Click on the image to add a point.');
      return;
    }
    this.promptChanged(this.model.addPoint({ x: n.x, y: n.y, label: d.negative ? 0 : 1 }), t, e.ctrlKey);
  }

  cancelDrag() {
    this.drag = null;
    this.stage.classList.remove('is-panning');
    this.requestRender();
  }

  showCursor(s) {
    if (!this.W) return;
    const p = g.screenToImage(this.view, s.x, s.y);
    const inside = p.x >= 0 && p.y >= 0 && p.x <= this.W && p.y <= this.H;
    this.cursorReadout.textContent = inside ? `${Math.floor(p.x)}, ${Math.floor(p.y)} px` : '';
    const over = inside ? this.objectAt(s) : null;
    this.hoverObject = over;
    if (!this.flashUntil || performance.now() > this.flashUntil) {
      this.hoverReadout.textContent = over ? over.label || 'unlabelled object' : '';
    }
  }

  /** The topmost object whose drawn polygons contain screen point s. */
  objectAt(s) {
    const n = g.screenToNorm(this.view, s.x, s.y, this.W, this.H);
    for (let i = this.model.objects.length - 1; i >= 0; i--) {
      const obj = this.model.objects[i];
      if (obj.status === 'done' && g.pointInPolygons(n, this.polygonsOf(obj))) return obj;
    }
    return null;
  }

  // ——— keyboard ———

  onKeyDown(e) {
    if (e.key === 'Control' || e.key === 'Meta') return;
    if (this.help.open) {
      if (e.key === '?') {
        e.preventDefault();
        this.help.close();
      }
      return; // the dialog handles Esc itself
    }
    if (isTyping(e.target, e.key)) return;
    const t = e.timeStamp || performance.now();
    const mod = e.ctrlKey || e.metaKey;
    const k = e.key;
    if (mod && !e.altKey && (k === 'z' || k === 'Z')) {
      e.preventDefault();
      if (e.shiftKey) this.redo(t, e.ctrlKey);
      else this.undo(t, e.ctrlKey);
      return;
    }
    if (mod && !e.altKey && (k === 'y' || k === 'Y')) {
      e.preventDefault();
      this.redo(t, e.ctrlKey);
      return;
    }
    if (mod || e.altKey) return; // leave browser shortcuts alone
    // A focused button or link activates on Enter/Space natively.
    if ((k === 'Enter' || k === ' ') && e.target instanceof Element && e.target.closest('button, a, summary')) return;
    let handled = true;
    switch (k) {
      case ' ':
        if (!e.repeat) {
          this.spaceDown = true;
          this.stage.classList.add('is-pan-ready');
        }
        break;
      case 'Enter':
        this.accept();
        break;
      case 'Escape':
        if (this.drag && this.drag.mode === 'prompt') this.cancelDrag();
        else this.clearPrompt(t);
        break;
      case 'n':
      case 'N':
        this.newObject();
        break;
      case 'f':
      case 'F':
        this.fit();
        break;
      case '+':
      case '=':
        this.zoomBy(1.25, ...this.zoomCentre());
        break;
      case '-':
      case '_':
        this.zoomBy(0.8, ...this.zoomCentre());
        break;
      case 'a':
      case 'A':
      case 'ArrowLeft':
        this.go(this.prevHref, 'This is the first image.');
        break;
      case 'd':
      case 'D':
      case 'ArrowRight':
        this.go(this.nextHref, 'This is the last image.');
        break;
      case 'Delete':
      case 'Backspace':
        this.remove();
        break;
      case '[':
        this.setDetail(this.detail - 1);
        break;
      case ']':
        this.setDetail(this.detail + 1);
        break;
      case '?':
        this.toggleHelp();
        break;
      case 'Tab': {
        const obj = this.model.current;
        handled = !e.shiftKey && this.model.cycleSegment(obj);
        if (handled) this.update();
        break;
      }
      default:
        if (/^[1-9]$/.test(k)) this.pickLabel(Number(k));
        else handled = false;
    }
    if (handled) e.preventDefault();
  }

  onKeyUp(e) {
    if (e.key === 'Control' || (e.key === 'Meta' && !e.ctrlKey)) this.flush(e.timeStamp || performance.now());
    if (e.key === ' ') {
      this.spaceDown = false;
      this.stage.classList.remove('is-pan-ready');
    }
  }

  zoomCentre() {
    return this.hover ? [this.hover.x, this.hover.y] : [this.cssW / 2, this.cssH / 2];
  }

  go(href, none) {
    if (href) window.location.assign(href);
    else this.flash(none);
  }

  toggleHelp() {
    if (this.help.open) this.help.close();
    else this.help.showModal();
  }

  // ——— objects ———

  /**
   * Called after every prompt change: sends it now, or holds it while Ctrl is
   * down (one request on release). t is the input event's time, for latency.
   */
  promptChanged(obj, t, hold = false) {
    if (!obj) return;
    obj.promptAt = t;
    if (hold) this.deferred.add(obj);
    else this.send(obj);
    this.update();
  }

  flush(t) {
    if (!this.deferred.size) return;
    const objs = [...this.deferred];
    this.deferred.clear();
    for (const obj of objs) {
      if (!this.model.byId(obj.id)) continue;
      obj.promptAt = t;
      this.send(obj);
    }
    this.update();
  }

  async send(obj) {
    this.deferred.delete(obj);
    if (promptIsEmpty(obj.prompt)) return; // an empty prompt only clears the result
    const version = obj.version;
    let res;
    try {
      res = await fetch(`/api/images/${encodeURIComponent(this.fileId)}/segment`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': this.csrf },
        body: JSON.stringify(requestBody(obj)),
      });
    } catch {
      this.model.markFailed(obj, version, 'The server could not be reached — check your connection, then retry.', true);
      this.update();
      return;
    }
    if (res.ok) {
      this.model.markSent(obj, version);
    } else {
      const msg = await errorMessage(res);
      this.model.markFailed(obj, version, msg, res.status === 429 || res.status >= 500);
      if (res.status === 401) showSignInNotice(msg);
    }
    this.update();
  }

  undo(t, hold = false) {
    const r = this.model.undo();
    if (!r) return this.flash('Nothing to undo.');
    if (r.prompt) this.promptChanged(r.obj, t, hold);
    else this.update();
  }

  redo(t, hold = false) {
    const r = this.model.redo();
    if (!r) return this.flash('Nothing to redo.');
    if (r.prompt) this.promptChanged(r.obj, t, hold);
    else this.update();
  }

  clearPrompt(t) {
    const obj = this.model.clearPrompt();
    if (obj) this.promptChanged(obj, t);
  }

  newObject() {
    this.model.newObject();
    this.flash('New object: click the image.');
    this.update();
  }

  accept(obj) {
    const a = this.model.accept(obj);
    if (!a) return this.flash('Nothing to accept: prompt an object first.');
    this.saveLabels();
    this.update();
  }

  remove(obj) {
    const r = this.model.remove(obj);
    if (!r) return this.flash('Select an object to delete.');
    this.deferred.delete(r);
    this.flash(`Deleted ${r.label || 'object'} — Ctrl+Z brings it back.`);
    this.update();
  }

  retry(obj) {
    if (this.model.retry(obj)) this.promptChanged(obj, performance.now());
  }

  pickLabel(n) {
    const label = this.model.pickRecent(n);
    if (label === null) return this.flash(`No label on ${n} yet: type one in an object's label field.`);
    this.saveLabels();
    this.flash(`Label: ${label}`);
    this.update();
  }

  loadLabels() {
    try {
      const saved = JSON.parse(localStorage.getItem(LABELS_KEY) || 'null');
      if (saved && Array.isArray(saved.recent)) {
        for (const l of saved.recent) if (typeof l === 'string') this.model.useLabel(l);
        if (typeof saved.sticky === 'string') this.model.sticky = saved.sticky;
      }
    } catch {
      // storage unavailable or corrupt: start without labels
    }
  }

  saveLabels() {
    try {
      localStorage.setItem(LABELS_KEY, JSON.stringify({ recent: this.model.recent, sticky: this.model.sticky }));
    } catch {
      // storage full or disabled: labels just won't persist
    }
  }

  /** Restores this tab's objects for this image (kept across a reload, e.g. after signing in again). */
  loadObjects() {
    try {
      return this.model.load(JSON.parse(sessionStorage.getItem(OBJECTS_KEY + this.fileId) || 'null'));
    } catch {
      return [];
    }
  }

  saveObjects() {
    try {
      const key = OBJECTS_KEY + this.fileId;
      if (this.model.objects.length) sessionStorage.setItem(key, JSON.stringify(this.model.save()));
      else sessionStorage.removeItem(key);
    } catch {
      // storage full or disabled: objects just won't survive a reload
    }
  }

  /**
   * Re-sends restored prompts that the room's snapshot did not answer (the
   * server restarted, or the job is gone): results come back without clicks.
   */
  resendRestored() {
    clearTimeout(this.resendTimer);
    const objs = this.restored;
    this.restored = [];
    for (const obj of objs) {
      if (this.model.byId(obj.id) && obj.status === 'idle' && this.model.retry(obj)) this.send(obj);
    }
    this.update();
  }

  // ——— live events ———

  onMessage(msg) {
    let changed = false;
    if (msg.type === 'snapshot') {
      for (const ev of msg.data?.objects || []) if (this.model.applyEvent(ev)) changed = true;
      // Restored objects whose jobs are still queued or running will finish live;
      // those the snapshot doesn't know are re-sent.
      if (this.restored.length) this.resendRestored();
    } else if (msg.type === 'job.status') {
      changed = !!this.model.applyEvent(msg.data);
    }
    if (changed) this.update();
  }

  showConnection(state, info) {
    const el = this.connection;
    el.dataset.state = state;
    if (state === 'open') {
      el.textContent = 'live';
      el.title = 'Connected: job status arrives live';
    } else if (state === 'reconnecting') {
      el.textContent = 'reconnecting…';
      const secs = Math.ceil(info.retryInMs / 1000);
      el.title = `Connection lost; retrying${secs ? ` in ${secs} s` : ''} (attempt ${info.attempt}). Your prompts are kept.`;
    } else {
      el.textContent = state === 'connecting' ? 'connecting…' : 'offline';
      el.title = 'Live updates';
    }
  }

  // ——— state → screen ———

  /** After any model change: panel, hooks, redraw, ticking. */
  update() {
    const now = performance.now();
    this.panel.render(this.model, now);
    this.saveObjects();
    this.requestRender(); // the hooks are written with the frame, so status and drawing agree
    const ticking = this.model.objects.some((o) => o.status === 'running');
    if (ticking && !this.ticker) {
      this.ticker = setInterval(() => this.panel.tick(this.model, performance.now()), 100);
    } else if (!ticking && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = 0;
    }
  }

  /**
   * Writes the test hooks from the frame just drawn, all at once: when a test
   * sees data-status="done", the polygons and box are already on the canvas.
   */
  updateHooks(drawn) {
    const ds = this.canvas.dataset;
    const obj = this.model.current;
    ds.objects = String(this.model.objects.length);
    ds.status = obj ? obj.status : 'idle';
    ds.statusTrail = obj ? obj.trail.join(',') : '';
    ds.version = obj ? String(obj.version) : '0';
    ds.polygons = String(drawn.polygons || 0);
    ds.bbox = drawn.bbox || '';
    ds.latencyMs = obj && obj.latencyMs != null ? obj.latencyMs.toFixed(1) : '';
    const v = this.view;
    ds.view = `${v.scale.toFixed(6)},${v.tx.toFixed(2)},${v.ty.toFixed(2)},${this.W || 0},${this.H || 0}`;
  }

  flash(text) {
    this.hoverReadout.textContent = text;
    this.flashUntil = performance.now() + 2500;
  }

  requestRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** The polygons to draw for obj at the current detail level (the raw ones are kept). */
  polygonsOf(obj) {
    const raw = currentPolygons(obj);
    const tol = g.DETAIL_TOLERANCES[this.detail];
    if (!tol || !raw.length) return raw;
    const seg = obj.segments[obj.segIndex];
    const key = `${tol}:${this.W}x${this.H}`;
    const hit = this.simplified.get(seg);
    if (hit && hit.key === key) return hit.polygons;
    const polygons = g.simplifyNormPolygons(raw, tol, this.W, this.H);
    this.simplified.set(seg, { key, polygons });
    return polygons;
  }

  /** The box drawn for obj: the job's box for the best segment, else the polygons' box. */
  boxOf(obj) {
    if (obj.status !== 'done') return null;
    if (obj.segIndex === 0 && obj.boundingBox) return obj.boundingBox;
    return g.bboxOfPolygons(currentPolygons(obj));
  }

  render() {
    const ctx = this.ctx;
    const { dpr, view } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.cssW, this.cssH);
    this.zoomReadout.textContent = `${Math.round(view.scale * 100)}%`;
    if (!this.img) {
      this.updateHooks({});
      return;
    }

    ctx.save();
    ctx.translate(view.tx, view.ty);
    ctx.scale(view.scale, view.scale);
    // Past 2 device px per image px, show crisp pixels: annotators zoom in to see edges.
    ctx.imageSmoothingEnabled = view.scale * dpr < 2;
    ctx.drawImage(this.img, 0, 0);
    ctx.restore();

    const current = this.model.current;
    const selected = this.model.selected;
    let hook = { polygons: 0, bbox: '' };
    const ordered = this.model.objects.filter((o) => o !== selected);
    if (selected) ordered.push(selected); // the selected object on top
    for (const obj of ordered) {
      const drawn = this.drawObject(obj, obj === selected, obj === this.hoverObject);
      if (obj.status === 'done' && obj.latencyMs == null && typeof obj.promptAt === 'number') {
        obj.latencyMs = performance.now() - obj.promptAt;
      }
      if (obj === current) hook = drawn;
    }
    if (selected) this.drawPrompt(selected);
    this.drawRubberBand();
    this.updateHooks(hook);
    if (this.canvas.dataset.imageLoaded !== 'true') this.canvas.dataset.imageLoaded = 'true';
  }

  /** Draws an object's result; returns what the hooks report about it. */
  drawObject(obj, selected, hovered) {
    const polys = obj.status === 'done' ? this.polygonsOf(obj) : [];
    const box = this.boxOf(obj);
    const ctx = this.ctx;
    const { view, W, H } = this;
    if (polys.length) {
      ctx.beginPath();
      for (const ring of polys) {
        ring.forEach((v, i) => {
          const s = g.normToScreen(view, v.x, v.y, W, H);
          if (i === 0) ctx.moveTo(s.x, s.y);
          else ctx.lineTo(s.x, s.y);
        });
        ctx.closePath();
      }
      ctx.globalAlpha = hovered || selected ? FILL_ALPHA + 0.1 : FILL_ALPHA;
      ctx.fillStyle = obj.color;
      ctx.fill('evenodd'); // holes stay holes
      ctx.globalAlpha = 1;
      ctx.lineJoin = 'round';
      ctx.lineWidth = selected ? 2 : 1.5;
      ctx.strokeStyle = obj.color;
      ctx.stroke();
    }
    if (box) {
      const a = g.normToScreen(view, box.xMin, box.yMin, W, H);
      const b = g.normToScreen(view, box.xMax, box.yMax, W, H);
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = obj.color;
      ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
      ctx.setLineDash([]);
      if (obj.label) this.drawTag(obj.label, obj.color, a.x, a.y);
    }
    return { polygons: polys.length, bbox: g.formatBox(box) };
  }

  drawTag(text, color, x, y) {
    const ctx = this.ctx;
    ctx.font = '600 11px system-ui, -apple-system, "Segoe UI", sans-serif';
    const w = ctx.measureText(text).width + 8;
    const top = y - 17 < 0 ? y : y - 17;
    ctx.fillStyle = color;
    ctx.fillRect(x, top, w, 16);
    ctx.fillStyle = '#0b0d12';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, x + 4, top + 8.5);
  }

  /** The selected object's prompt: box and points (the hovered point shows it will be removed). */
  drawPrompt(obj) {
    const ctx = this.ctx;
    const { view, W, H } = this;
    const p = obj.prompt;
    if (p.box) {
      const a = g.normToScreen(view, p.box.xMin, p.box.yMin, W, H);
      const b = g.normToScreen(view, p.box.xMax, p.box.yMax, W, H);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#ffffff';
      ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
    }
    const hoverHit =
      this.hover && !this.drag ? g.hitPoint(p.points, this.hover.x, this.hover.y, view, W, H, HIT_RADIUS) : -1;
    this.canvas.classList.toggle('is-over-point', hoverHit >= 0);
    p.points.forEach((pt, i) => {
      const s = g.normToScreen(view, pt.x, pt.y, W, H);
      const r = i === hoverHit ? POINT_RADIUS + 2 : POINT_RADIUS;
      ctx.beginPath();
      ctx.arc(s.x, s.y, r + 1.5, 0, 2 * Math.PI);
      ctx.fillStyle = 'rgba(0,0,0,0.55)';
      ctx.fill();
      ctx.beginPath();
      ctx.arc(s.x, s.y, r, 0, 2 * Math.PI);
      ctx.fillStyle = pt.label === 1 ? '#22c55e' : '#ef4444';
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
      if (i === hoverHit) {
        // An × says "click removes this point".
        ctx.beginPath();
        ctx.moveTo(s.x - 3, s.y - 3);
        ctx.lineTo(s.x + 3, s.y + 3);
        ctx.moveTo(s.x + 3, s.y - 3);
        ctx.lineTo(s.x - 3, s.y + 3);
        ctx.stroke();
      }
    });
  }

  drawRubberBand() {
    const d = this.drag;
    if (!d || !d.box) return;
    const ctx = this.ctx;
    const x = Math.min(d.x0, d.x);
    const y = Math.min(d.y0, d.y);
    ctx.fillStyle = 'rgba(255,255,255,0.08)';
    ctx.fillRect(x, y, Math.abs(d.x - d.x0), Math.abs(d.y - d.y0));
    ctx.setLineDash([5, 4]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = '#ffffff';
    ctx.strokeRect(x, y, Math.abs(d.x - d.x0), Math.abs(d.y - d.y0));
    ctx.setLineDash([]);
  }
}

for (const el of document.querySelectorAll('[data-annotator]')) new Annotator(el);
