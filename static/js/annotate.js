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
//   in a room (data-room-id on the root), also:
//   data-others        number of other members' objects drawn
//   data-lock          "" or the name of the member holding the soft lock on the
//                      selected object
//   data-objects then counts the user's own objects only.
//   data-save          how the current object's write to CDF goes: ""|saving|saved|failed
//   data-review        the current object's review: ""|approved|rejected
//   data-reviewing     "true" in review mode
//   data-reviews       "awaiting,approved,rejected": counts of the image's accepted objects
//   data-provenance    "raw,saved" vertices drawn by the "How this was made" overlay, "" when none
//                      (provenancedrawer.js)
//   and the data-cdf-* hooks of the layer of annotations already in CDF (see cdfpanel.js).
//
// Writing to CDF: Enter accepts. In a room the edit carries the polygon detail the user sees
// (tolerancePx); outside rooms it POSTs /api/images/{fileId}/objects/{objectId}/accept with
// the detail and the prompt (points and box, as the segment request has them), which the
// server keeps as the annotation's provenance. Both
// report back as object.saved events (saving → saved | failed, with Retry); outside rooms a
// saved object is then an annotation in CDF: it leaves the object list and the "In CDF" layer
// is reloaded, so it is not drawn twice.
//
// Review mode (room owner and reviewers; V or the toolbar, or ?review=1): clicks select
// instead of prompting, and keys step through and decide on the accepted objects. It is
// ReviewMode (reviewmode.js); annotate.js hands it the keys, clicks and toolbar actions while
// it is on.
//
// "How this was made" (I, or an object's button): the drawer with the selected object's
// provenance and its raw and saved outlines on the canvas. It is ProvenanceDrawer
// (provenancedrawer.js); annotate.js calls its render and draw. It also shows how an In CDF
// annotation Lasso made was made (its ⓘ, or I when it is selected and no object is); Re-run
// prompt then starts a new object with the stored prompt.
//
// Room mode (docs/ROOMS.md): the socket is /ws?room=room:{id}&image={fileId}&since={lastSeq};
// prompts go to POST /api/rooms/{id}/images/{fileId}/objects/{objectId}/prompt and
// label/accept/delete to …/objects/{objectId}; other members' objects arrive as
// object.updated events and are drawn read-only in their author's colour. Prompts made
// while the socket is down wait in an Outbox and are sent once it is back.
//
// Notices: the `notice` of a job.status event and a room's segment.notice message (e.g. CDF's
// vision API is gone, Lasso segments with its own engine) are told once per browser, in a
// banner under the header (notice.js).

import * as g from './geometry.js';
import { Annotations, requestBody, roomPromptBody, promptIsEmpty, currentPolygons } from './objects.js';
import { LiveSocket } from './socket.js';
import { ObjectPanel } from './panel.js';
import { RoomState, lockExpiry, initials, LOCK_MS } from './roomstate.js';
import { Outbox } from './outbox.js';
import { paintColors, renderAvatars, paint } from './avatars.js';
import { nextImage } from './room.js';
import { CdfPanel } from './cdfpanel.js';
import { applySave, saveState, canRetrySave } from './saves.js';
import { isAwaiting, reviewCounts } from './review.js';
import { ReviewMode } from './reviewmode.js';
import { ProvenanceDrawer } from './provenancedrawer.js';
import { rerunPrompt } from './provenance.js';
import { showNotice } from './notice.js';

const POINT_RADIUS = 5;
const HIT_RADIUS = 9;
const FILL_ALPHA = 0.4;
const LABELS_KEY = 'lasso.labels';
const OBJECTS_KEY = 'lasso.objects.'; // + file id, in sessionStorage (this tab only)
const RESEND_AFTER_MS = 2000; // restored prompts without a snapshot result are re-sent after this
const REFLUSH_MS = 3000; // queued room commands that failed in transit are retried after this
const STATUS_WORDS = { idle: 'prompting', queued: 'queued', running: 'running', done: 'done', failed: 'failed' };
const REVIEW_COLORS = { approved: '#4ade80', rejected: '#f87171', awaiting: '#fbbf24' };

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
    // Room mode: the same page, with the room's labels, members and commands.
    this.roomId = d.roomId || '';
    this.inRoom = !!this.roomId;
    this.me = d.userId || '';
    this.imageDone = d.imageDone === 'true';
    this.doneHref = d.doneHref || '';
    this.closed = d.closed === 'true';
    this.removed = false;

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
    const failures = { errorMessage, signedOut: (msg) => showSignInNotice(msg) };
    this.reviewMode = new ReviewMode(root, this, failures);
    this.provDrawer = new ProvenanceDrawer(root, this, failures); // "How this was made"

    this.model = new Annotations({ now: () => performance.now() });
    if (this.inRoom) this.setupRoom();
    else this.loadLabels();
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
        if (committed) {
          this.model.setLabel(obj, text);
          if (this.inRoom) this.sendEdit(obj, { label: text });
        } else obj.label = text;
        this.saveLabels();
        this.update();
      },
      accept: (obj) => this.accept(obj),
      remove: (obj) => this.remove(obj),
      retry: (obj, e) => this.retry(obj, e),
      retrySave: (obj) => this.retrySave(obj),
      provenance: (obj) => this.provDrawer.toggle(obj),
      review: (obj, decision) => this.reviewMode.decide(decision, obj),
      reviewing: () => this.reviewMode.on,
      takeOver: (obj) => this.takeOver(obj),
      // Review mode looks at objects, it does not prompt them: soft locks don't apply.
      lockOf: (obj) => (this.inRoom && !this.reviewMode.on ? this.roomState.lockOf(obj) : ''),
      pickLabel: (n) => this.pickLabel(n),
      sticky: (text) => {
        this.model.sticky = text;
        this.model.useLabel(text);
        this.saveLabels();
        this.update();
      },
      done: () => this.canvas.focus({ preventScroll: true }),
    }, { fixedLabels: this.inRoom && this.model.fixedLabels });

    this.socket = new LiveSocket(this.room, {
      onmessage: (msg) => this.onMessage(msg),
      onstate: (state, info) => this.showConnection(state, info),
      params: this.inRoom ? (sock) => ({ image: this.fileId, since: sock.lastSeq || '' }) : () => ({}),
    });

    // The image's annotations already in CDF: listed in the panel, drawn under the objects.
    this.cdf = new CdfPanel(root, {
      fileId: this.fileId,
      roomId: this.roomId,
      csrf: this.csrf,
      canvas: this.canvas,
      render: () => this.requestRender(),
      flash: (text) => this.flash(text),
      signedOut: (msg) => showSignInNotice(msg),
      provenance: (id) => this.provDrawer.showAnnotation(id),
      changed: () => this.provDrawer.render(), // the drawer follows the In CDF selection
    });

    this.bind();
    this.resize();
    this.update();
    this.loadImage();
    this.cdf.load();
    if (this.inRoom) {
      // Restored prompts are queued: the server answers a version it already has with 200
      // and starts nothing, so sending them again is safe.
      for (const obj of this.restored) {
        if (!promptIsEmpty(obj.prompt)) this.outbox.putPrompt(obj.id, obj.version, roomPromptBody(obj));
      }
      this.restored = [];
    }
    this.socket.start();
    if (this.restored.length) this.resendTimer = setTimeout(() => this.resendRestored(), RESEND_AFTER_MS);
  }

  /** Room mode: the room's state, the outbox, the room's labels on the 1–9 keys. */
  setupRoom() {
    this.roomState = new RoomState({ me: this.me, fileId: this.fileId });
    this.outbox = new Outbox();
    this.chains = new Map(); // object id → the promise of its last command: one object's commands stay in order
    this.here = this.root.querySelector('[data-here]');
    this.lockBanner = this.root.querySelector('[data-lock-banner]');
    this.doneToggle = this.root.querySelector('[data-done-toggle]');
    this.roomLabels = [...this.root.querySelectorAll('[data-room-label]')].map((b) => ({
      name: b.dataset.roomLabel, key: Number(b.dataset.labelKey), color: b.dataset.color,
    }));
    if (this.roomLabels.length) {
      this.model.fixedLabels = true;
      this.model.recent = [];
      for (const l of this.roomLabels) if (l.key >= 1 && l.key <= 9) this.model.recent[l.key - 1] = l.name;
      this.model.sticky = this.roomLabels[0].name;
    }
    paintColors(this.root);
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
    if (this.reviewMode.refuses(el.dataset.action)) {
      this.canvas.focus({ preventScroll: true });
      return;
    }
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
      case 'next-image':
        this.nextInRoom();
        break;
      case 'toggle-done':
        this.toggleDone();
        break;
      case 'take-over':
        this.takeOver(this.model.selected);
        break;
      case 'leave-lock':
        this.model.newObject();
        this.update();
        break;
      case 'toggle-review':
        this.reviewMode.setReviewing(!this.reviewMode.on);
        break;
      case 'next-review':
        this.reviewMode.go(1);
        break;
      case 'close-provenance':
        this.provDrawer.toggle(null, false);
        break;
      case 'rerun':
        this.rerun();
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
    if (!pan && this.cdf.pointerDown(e, s, this.view, this.W, this.H)) {
      // A vertex handle of a CDF shape being edited, or Shift+Alt+click on a CDF annotation.
      this.drag = { id: e.pointerId, mode: 'cdf', x: s.x, y: s.y };
      return;
    }
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
      } else if (d.mode === 'cdf') {
        this.cdf.pointerMove(s, this.view, this.W, this.H);
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
    if (d.mode === 'cdf') return this.cdf.pointerUp();
    if (d.mode === 'pan') return;
    const t = e.timeStamp || performance.now();
    const s = this.screenOf(e);
    if (this.reviewMode.on) {
      // Review mode: a click selects the object under it (the reviewer prompts nothing).
      if (!d.box && !g.isDrag(d.x0, d.y0, s.x, s.y)) this.reviewMode.click(this.objectAt(s));
      return;
    }
    if (!this.mayPrompt()) return;
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
    if (this.drag?.mode === 'cdf') this.cdf.pointerUp();
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
    const cdfText = inside ? this.cdf.hoverAt(s, this.view, this.W, this.H) : '';
    if (!this.flashUntil || performance.now() > this.flashUntil) {
      this.hoverReadout.textContent = over ? over.label || 'unlabelled object' : cdfText;
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
    if (this.reviewMode.on && this.reviewMode.onKey(e, k)) {
      e.preventDefault();
      return;
    }
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
        if (this.inRoom && e.shiftKey) this.nextInRoom();
        else this.newObject();
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
        if (this.inRoom) this.nextInRoom();
        else this.go(this.nextHref, 'This is the last image.');
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
      case 'i':
      case 'I':
        this.provDrawer.toggle();
        break;
      case 'v':
      case 'V':
        if (this.inRoom) this.reviewMode.setReviewing(true);
        else handled = false;
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
    if (this.inRoom) return this.sendRoom(obj);
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
    if (this.inRoom && !this.mayPrompt()) return;
    const r = this.model.undo();
    if (!r) return this.flash('Nothing to undo.');
    if (r.prompt) this.promptChanged(r.obj, t, hold);
    else this.objectChanged(r.obj);
  }

  redo(t, hold = false) {
    if (this.inRoom && !this.mayPrompt()) return;
    const r = this.model.redo();
    if (!r) return this.flash('Nothing to redo.');
    if (r.prompt) this.promptChanged(r.obj, t, hold);
    else this.objectChanged(r.obj);
  }

  /** After an object-level undo/redo: in a room, tell the server what the object is now. */
  objectChanged(obj) {
    if (this.inRoom) {
      if (!this.model.byId(obj.id)) {
        // An undone creation deletes the object for everyone; the room can't bring it back.
        this.deleteInRoom(obj);
        this.model.forget(obj);
      } else {
        this.sendEdit(obj, { accepted: obj.accepted });
      }
    }
    this.update();
  }

  clearPrompt(t) {
    const sel = this.model.selected;
    if (sel && sel.remote) {
      // Esc on another member's object just lets go of it.
      this.model.newObject();
      this.update();
      return;
    }
    const obj = this.model.clearPrompt();
    if (obj) this.promptChanged(obj, t);
  }

  newObject() {
    this.model.newObject();
    this.flash('New object: click the image.');
    this.update();
  }

  /** The polygon detail the user sees, as the simplification tolerance in image pixels. */
  tolerancePx() {
    return g.DETAIL_TOLERANCES[this.detail] || 0;
  }

  accept(obj) {
    if (!this.inRoom) return this.acceptSolo(obj || this.model.selected);
    if (!this.mayEdit(obj || this.model.selected)) return;
    const a = this.model.accept(obj);
    if (!a) return this.flash('Nothing to accept: prompt an object first.');
    this.saveLabels();
    a.savedTolerance = this.tolerancePx();
    this.sendEdit(a, { accepted: true, label: a.label, tolerancePx: a.savedTolerance });
    this.update();
  }

  /**
   * Outside rooms, Enter writes the object to CDF: its current job must be done. The write goes
   * through the server's outbox; object.saved events say how it goes.
   */
  async acceptSolo(obj) {
    if (!obj) return this.flash('Nothing to accept: prompt an object first.');
    const state = saveState(obj);
    if (state === 'saving' || state === 'saved') return this.flash('Already being saved to CDF.');
    if (obj.status !== 'done' || !currentPolygons(obj).length) {
      return this.flash(obj.status === 'done' ? 'Nothing to save: the segment found no outline — add points.' : 'Nothing to save yet: wait until the segment is done, then press Enter.');
    }
    if (!obj.accepted) this.model.accept(obj);
    else if (this.model.selectedId === obj.id) this.model.newObject();
    this.model.forget(obj); // written to CDF: no undo (delete it from the In CDF list instead)
    this.saveLabels();
    obj.savedTolerance = this.tolerancePx();
    const version = obj.version;
    applySave(obj, { version, op: 'create', state: 'saving' });
    this.update();
    // The prompt goes with it, shaped as for the segment request: the server keeps it as provenance.
    const { points, box } = requestBody(obj);
    let res;
    try {
      res = await this.postJSON(this.soloURL(obj.id, '/accept'), { version, label: obj.label || '', tolerancePx: obj.savedTolerance, points, box });
    } catch {
      obj.save = null;
      applySave(obj, { version, op: 'create', state: 'failed', error: 'The server could not be reached — Retry save sends it again.', local: true });
      return this.update();
    }
    if (!res.ok) {
      const msg = await errorMessage(res);
      // Refused (not done yet, bad input): the object stays, not accepted, to be fixed.
      obj.save = null;
      obj.accepted = false;
      this.flash(msg);
      if (res.status === 401) showSignInNotice(msg);
      return this.update();
    }
    this.flash(`Saving ${obj.label || 'the object'} to CDF…`);
    this.update();
  }

  /** The URL of an object's commands outside rooms. */
  soloURL(objectId, suffix) {
    return `/api/images/${encodeURIComponent(this.fileId)}/objects/${encodeURIComponent(objectId)}${suffix}`;
  }

  remove(obj) {
    if (this.inRoom && !this.mayEdit(obj || this.model.selected)) return;
    const r = this.model.remove(obj);
    if (!r) return this.flash('Select an object to delete.');
    this.deferred.delete(r);
    if (this.inRoom) {
      this.deleteInRoom(r);
      this.model.forget(r); // deleted for everyone: not undoable
      this.flash(`Deleted ${r.label || 'object'} for everyone in the room.`);
    } else if (r.save && !r.save.local) {
      // Its write to CDF was asked for: the server deletes the annotations once written.
      this.model.forget(r);
      this.postJSON(this.soloURL(r.id, '/delete'), {}).then(
        async (res) => {
          if (!res.ok) this.flash(await errorMessage(res));
        },
        () => this.flash('The server could not be reached: the annotation may stay in CDF — delete it from the In CDF list.'),
      );
      this.flash(`Deleted ${r.label || 'object'}; its annotation in CDF is deleted too.`);
    } else {
      this.flash(`Deleted ${r.label || 'object'} — Ctrl+Z brings it back.`);
    }
    this.update();
  }

  /** Sends an object's failed write to CDF again. */
  async retrySave(obj) {
    if (!obj || !canRetrySave(obj) || obj.retryingSave) return;
    const { version, op } = obj.save;
    if (!this.inRoom && obj.save.local) {
      // The accept never reached the server: send it again.
      obj.save = null;
      return this.acceptSolo(obj);
    }
    obj.retryingSave = true;
    this.update();
    let res;
    try {
      res = await this.postJSON(this.inRoom ? this.objectURL(obj.id, '/retry') : this.soloURL(obj.id, '/retry'), { version });
    } catch {
      obj.retryingSave = false;
      this.flash('The server could not be reached — try again when the connection is back.');
      return this.update();
    }
    obj.retryingSave = false;
    if (!res.ok) {
      const msg = await errorMessage(res);
      this.flash(msg);
      if (res.status === 401) showSignInNotice(msg);
      return this.update();
    }
    const body = await res.json().catch(() => null);
    // The socket may have told the outcome before this answer came: then it stands.
    if (body && body.requeued > 0 && saveState(obj) === 'failed') {
      applySave(obj, { version, op, state: 'saving', annotationIds: obj.save.annotationIds });
      this.flash('Sending it to CDF again…');
    } else if (!(body && body.requeued > 0)) {
      this.flash('Nothing to retry: the write is no longer failed.');
    }
    this.update();
  }

  retry(obj) {
    if (this.model.retry(obj)) this.promptChanged(obj, performance.now());
  }

  /**
   * "Re-run prompt": the selected object's stored prompt again, as a new version (a new job);
   * for an In CDF annotation shown in the drawer, a new object with its stored prompt.
   */
  rerun() {
    if (this.provDrawer.annotation) return this.rerunAnnotation();
    const obj = this.model.selected;
    if (!obj) return this.flash('Select an object to re-run its prompt.');
    if (this.reviewMode.on) return this.flash('Review mode: press V to leave it, then re-run the prompt.');
    if (this.inRoom && (!this.mayEdit(obj) || !this.mayPrompt())) return;
    const p = this.provDrawer.dataFor === '' ? this.provDrawer.data : null;
    const stored = p && p.objectId === obj.id ? rerunPrompt(p.prompt) : null;
    if (promptIsEmpty(obj.prompt) && stored) obj.prompt = stored;
    if (!this.model.retry(obj)) return this.flash('Nothing to re-run: the object has no prompt.');
    this.promptChanged(obj, performance.now());
    this.flash(`Re-running the prompt as version ${obj.version}.`);
  }

  /**
   * Re-run prompt for an annotation in CDF: a new object on this image with the prompt Lasso
   * kept for it (and its label outside rooms), sent at once; the drawer then follows the new object.
   */
  rerunAnnotation() {
    const d = this.provDrawer;
    const id = d.annotation.id;
    const p = d.dataFor === `cdf:${id}` ? d.data : null;
    const prompt = p && rerunPrompt(p.prompt);
    if (!prompt) return this.flash('Nothing to re-run: Lasso kept no prompt for this annotation.');
    if (this.reviewMode.on) return this.flash('Review mode: press V to leave it, then re-run the prompt.');
    this.model.newObject();
    if (this.inRoom && !this.mayPrompt()) return this.update();
    const obj = this.model.ensureSelected();
    if (!this.inRoom && p.label) obj.label = p.label; // a room's objects take the room's labels
    this.model.changePrompt(obj, prompt);
    this.promptChanged(obj, performance.now());
    this.flash(`Re-running the prompt of annotation ${id} as a new object.`);
  }

  pickLabel(n) {
    const sel = this.model.selected;
    const keep = sel && sel.remote ? sel.label : null; // another member's object keeps its label
    const label = this.model.pickRecent(n);
    if (label === null) {
      return this.flash(this.inRoom && this.model.fixedLabels ? `The room has no label on ${n}.` : `No label on ${n} yet: type one in an object's label field.`);
    }
    if (keep !== null) sel.label = keep;
    else if (this.inRoom && sel) this.sendEdit(sel, { label });
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
    if (this.inRoom) return; // the room's labels are the room's, not this browser's recent ones
    try {
      localStorage.setItem(LABELS_KEY, JSON.stringify({ recent: this.model.recent, sticky: this.model.sticky }));
    } catch {
      // storage full or disabled: labels just won't persist
    }
  }

  /** Restores this tab's objects for this image (kept across a reload, e.g. after signing in again). */
  loadObjects() {
    try {
      return this.model.load(JSON.parse(sessionStorage.getItem(this.objectsKey()) || 'null'));
    } catch {
      return [];
    }
  }

  saveObjects() {
    try {
      const key = this.objectsKey();
      if (this.model.own.length) sessionStorage.setItem(key, JSON.stringify(this.model.save()));
      else sessionStorage.removeItem(key);
    } catch {
      // storage full or disabled: objects just won't survive a reload
    }
  }

  /** The sessionStorage key of this page's objects: per image, and per room in a room. */
  objectsKey() {
    return OBJECTS_KEY + (this.inRoom ? `room:${this.roomId}:` : '') + this.fileId;
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
      // An object with a write to CDF needs no job any more: the outbox has what it writes.
      if (obj.save) continue;
      if (this.model.byId(obj.id) && obj.status === 'idle' && this.model.retry(obj)) this.send(obj);
    }
    this.update();
  }

  // ——— live events ———

  onMessage(msg) {
    // What the server wants told once about the segment backend (notice.js).
    if (msg.type === 'job.status' || msg.type === 'segment.notice') showNotice(msg.data?.notice);
    if (this.inRoom) return this.onRoomMessage(msg);
    let changed = false;
    if (msg.type === 'snapshot') {
      for (const ev of msg.data?.objects || []) if (this.model.applyEvent(ev)) changed = true;
      // How this user's writes stand (a reload while saving): saved ones are in CDF now.
      for (const sv of Array.isArray(msg.data?.saves) ? msg.data.saves : []) if (this.applySoloSave(sv, false)) changed = true;
      // Restored objects whose jobs are still queued or running will finish live;
      // those the snapshot doesn't know are re-sent.
      if (this.restored.length) this.resendRestored();
    } else if (msg.type === 'job.status') {
      changed = !!this.model.applyEvent(msg.data);
    } else if (msg.type === 'object.saved') {
      changed = this.applySoloSave(msg.data, true);
    }
    if (changed) this.update();
  }

  /**
   * Outside rooms: a report on one of the user's writes. A saved create makes the object an
   * annotation in CDF: it leaves the list and the In CDF layer, reloaded, shows it.
   */
  applySoloSave(d, live) {
    const obj = d && typeof d.objectId === 'string' ? this.model.byId(d.objectId) : null;
    if (!obj) return false;
    if (!obj.accepted && d.op !== 'delete') obj.accepted = true; // restored before the accept was kept
    if (!applySave(obj, d)) return false;
    if (obj.save.op === 'create' && obj.save.state === 'saved' && obj.save.version >= obj.version) {
      this.model.drop(obj.id);
      this.provDrawer.forget(obj.id);
      clearTimeout(this.cdfReloadTimer);
      // One reload for a burst of saves.
      this.cdfReloadTimer = setTimeout(() => this.cdf.load(), live ? 50 : 0);
      if (live) this.flash(`Saved ${obj.label || 'the object'} to CDF: it is listed under In CDF now.`);
    } else if (live && obj.save.state === 'failed') {
      this.flash(`${obj.label || 'The object'} was not saved to CDF: ${obj.save.error}`);
    }
    return true;
  }

  showConnection(state, info) {
    const el = this.connection;
    el.dataset.state = state;
    if (state === 'open' && this.inRoom) this.flushOutbox();
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

  // ——— room mode ———

  /** The URL of an object's room commands (suffix "/prompt" for prompts). */
  objectURL(objectId, suffix = '') {
    const r = encodeURIComponent(this.roomId);
    return `/api/rooms/${r}/images/${encodeURIComponent(this.fileId)}/objects/${encodeURIComponent(objectId)}${suffix}`;
  }

  postJSON(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': this.csrf },
      body: JSON.stringify(body),
    });
  }

  /** Runs fn after every earlier command for the same object: one object's commands land in order. */
  chain(objectId, fn) {
    const prev = this.chains.get(objectId) || Promise.resolve();
    const next = prev.then(fn, fn);
    this.chains.set(objectId, next);
    next.finally(() => {
      if (this.chains.get(objectId) === next) this.chains.delete(objectId);
    });
    return next;
  }

  /**
   * May the selected object be prompted? Own objects yes; another member's object
   * only when its soft lock is free (then it is taken over quietly), else the lock
   * banner asks first. Also no in a closed room or after being removed.
   */
  mayPrompt() {
    if (!this.inRoom) return true;
    if (this.removed) return false;
    if (this.closed) {
      this.flash('This room is closed: nothing can be changed.');
      return false;
    }
    const sel = this.model.selected;
    if (!sel || !sel.remote) return true;
    const who = this.roomState.lockOf(sel);
    if (who) {
      this.flash(`${who} is segmenting this — Take over to edit it, or Esc to leave it.`);
      this.update();
      return false;
    }
    this.model.adopt(sel, false);
    return true;
  }

  /** May obj be accepted or deleted? Only the user's own objects. */
  mayEdit(obj) {
    if (this.removed || this.closed) return false;
    if (obj && obj.remote) {
      this.flash(`This is ${obj.author?.name || 'another member'}'s object — Take over to change it.`);
      return false;
    }
    return true;
  }

  /** Takes over another member's object (the user chose to), or retries a refused prompt with takeOver. */
  takeOver(obj) {
    if (!obj || this.removed || this.closed) return;
    if (obj.remote) {
      const name = obj.author?.name || 'another member';
      this.model.adopt(obj, !!this.roomState.lockOf(obj));
      this.model.select(obj.id);
      this.flash(`You took over ${obj.label || 'the object'} from ${name}: your next prompt replaces theirs.`);
    } else if (obj.conflict) {
      obj.conflict = '';
      obj.takeOver = true;
      if (this.model.retry(obj)) this.promptChanged(obj, performance.now());
      return;
    }
    this.update();
    this.canvas.focus({ preventScroll: true });
  }

  /** Sends a prompt in a room, or queues it while the socket is down. */
  sendRoom(obj) {
    const cmd = { kind: 'prompt', objectId: obj.id, version: obj.version, body: roomPromptBody(obj, obj.takeOver) };
    if (this.socket.state !== 'open') {
      this.outbox.putPrompt(cmd.objectId, cmd.version, cmd.body);
      obj.offline = true;
      this.update();
      return;
    }
    return this.chain(obj.id, () => this.postPrompt(cmd));
  }

  async postPrompt(cmd) {
    let res;
    try {
      res = await this.postJSON(this.objectURL(cmd.objectId, '/prompt'), cmd.body);
    } catch {
      // Lost in transit (the network, or the server restarting): sent again when it is back.
      this.outbox.requeue(cmd);
      const o = this.model.byId(cmd.objectId);
      if (o && o.version === cmd.version) o.offline = true;
      this.scheduleFlush();
      this.update();
      return;
    }
    const obj = this.model.byId(cmd.objectId);
    if (!obj) return;
    if (obj.version === cmd.version) obj.offline = false;
    if (res.ok) {
      obj.known = true;
      if (obj.version === cmd.version) {
        obj.takeOver = false;
        obj.conflict = '';
      }
      this.model.markSent(obj, cmd.version);
    } else {
      const msg = await errorMessage(res);
      if (res.status === 409 && obj.version === cmd.version) obj.conflict = msg; // the soft lock: offer Take over
      this.model.markFailed(obj, cmd.version, msg, res.status === 429 || res.status >= 500);
      if (res.status === 401) showSignInNotice(msg);
    }
    this.update();
  }

  /** Sends an object's label / accepted / deleted change, or queues it while the socket is down. */
  sendEdit(obj, fields) {
    if (!obj || obj.remote) return;
    if (this.socket.state !== 'open' || this.outbox.hasPrompt(obj.id)) {
      this.outbox.putEdit(obj.id, fields);
      return;
    }
    return this.chain(obj.id, () => this.postEdit({ kind: 'edit', objectId: obj.id, body: fields }));
  }

  async postEdit(cmd) {
    let res;
    try {
      res = await this.postJSON(this.objectURL(cmd.objectId), cmd.body);
    } catch {
      this.outbox.requeue(cmd);
      this.scheduleFlush();
      return;
    }
    if (res.ok || res.status === 404) return; // 404: the object never reached the room, or is gone
    const msg = await errorMessage(res);
    this.flash(msg);
    if (res.status === 401) showSignInNotice(msg);
  }

  /** Deletes an own object for everyone; one that never reached the room just leaves the queue. */
  deleteInRoom(obj) {
    if (!obj.known && this.outbox.hasPrompt(obj.id)) {
      this.outbox.drop(obj.id);
      return;
    }
    this.outbox.drop(obj.id);
    this.sendEdit(obj, { deleted: true });
  }

  /** Sends what waited for the connection, each command once, one object's commands in order. */
  flushOutbox() {
    clearTimeout(this.reflushTimer);
    for (const cmd of this.outbox.take()) {
      this.chain(cmd.objectId, () => (cmd.kind === 'prompt' ? this.postPrompt(cmd) : this.postEdit(cmd)));
    }
  }

  scheduleFlush() {
    clearTimeout(this.reflushTimer);
    this.reflushTimer = setTimeout(() => {
      if (this.socket.state === 'open') this.flushOutbox();
    }, REFLUSH_MS);
  }

  onRoomMessage(msg) {
    const changed = this.roomState.apply(msg);
    const d = msg.data;
    switch (msg.type) {
      case 'snapshot': {
        const seen = new Set();
        for (const o of Array.isArray(d?.objects) ? d.objects : []) {
          if (!this.isThisImage(o)) continue;
          seen.add(o.objectId);
          this.applyRoomObject(o, false);
        }
        // What the room no longer has was deleted while we were away: others' objects,
        // and own ones the room knew (own ones it never got are still queued or in flight).
        for (const obj of [...this.model.objects]) {
          if (seen.has(obj.id)) continue;
          if (obj.remote || (obj.known && !this.outbox.hasPrompt(obj.id) && !this.chains.has(obj.id))) this.model.drop(obj.id);
        }
        const im = (d?.images || []).find((i) => String(i.fileId) === String(this.fileId));
        if (im) this.setDone(im.status === 'done');
        this.reviewMode.afterSnapshot();
        break;
      }
      case 'object.updated':
        if (this.isThisImage(d)) this.applyRoomObject(d, true);
        break;
      case 'image.status':
        if (d && String(d.fileId) === String(this.fileId)) this.setDone(d.status === 'done');
        break;
      case 'object.saved': {
        // How the accepted object's write to CDF goes: saving…, saved, or failed.
        const obj = this.isThisImage(d) ? this.model.byId(d.objectId) : null;
        if (obj) applySave(obj, d);
        break;
      }
    }
    if (changed.has('removed')) return this.showRemoved();
    if (changed.has('members')) this.reviewMode.roleChanged();
    this.update();
  }

  isThisImage(o) {
    return o && typeof o === 'object' && (o.fileId === undefined || String(o.fileId) === String(this.fileId));
  }

  /** Applies one room object; live prompts from others count as their activity (soft lock). */
  applyRoomObject(o, live) {
    const r = this.model.applyRemote(o, this.me, (id) => this.roomState.colorOf(id));
    if (!r.obj) return;
    if (o.save) applySave(r.obj, o.save); // snapshots only: events keep the last known save
    if (live && r.prompted && o.authorId && o.authorId !== this.me) this.roomState.noteActivity(o.authorId);
    if (r.change === 'taken' || r.change === 'removed') this.outbox.drop(o.objectId);
    if (r.change === 'taken') this.flash(`${o.authorName || 'Another member'} took over ${r.obj.label || 'an object'}.`);
  }

  setDone(done) {
    this.imageDone = !!done;
    if (this.doneToggle) this.doneToggle.setAttribute('aria-pressed', String(this.imageDone));
  }

  async toggleDone() {
    if (this.removed || this.closed) return;
    const want = !this.imageDone;
    this.setDone(want);
    let res;
    try {
      res = await this.postJSON(`/api/rooms/${encodeURIComponent(this.roomId)}/images/${encodeURIComponent(this.fileId)}/done`, { done: want });
    } catch {
      this.setDone(!want);
      return this.flash('The server could not be reached — try again when the connection is back.');
    }
    if (!res.ok) {
      this.setDone(!want);
      return this.flash(await errorMessage(res));
    }
    this.flash(want ? 'Marked done: D or → opens the next untouched image.' : 'Reopened: the image is in progress again.');
  }

  /** D / → / Shift+N in a room: the next untouched image nobody else is on. */
  async nextInRoom() {
    if (this.removed || this.goingNext) return;
    this.goingNext = true;
    const r = await nextImage(this.roomId, Number(this.fileId));
    this.goingNext = false;
    if (r.href) return window.location.assign(r.href);
    this.flash(r.message);
    if (this.doneHref && /no untouched image/i.test(r.message)) setTimeout(() => window.location.assign(this.doneHref), 1500);
  }

  showRemoved() {
    this.removed = true;
    this.socket.stop();
    this.root.querySelector('[data-removed]').hidden = false;
    this.connection.dataset.state = 'closed';
    this.connection.textContent = 'removed';
    this.update();
  }

  /** Who is here, the soft-lock banner, and a wake-up for when a lock frees itself. */
  renderRoom() {
    if (this.here) renderAvatars(this.here, this.roomState.on().filter((p) => p.userId !== this.me));
    const sel = this.model.selected;
    const lock = sel && sel.remote && !this.reviewMode.on ? this.roomState.lockOf(sel) : '';
    const conflict = sel && !sel.remote && sel.conflict && !this.reviewMode.on ? sel.conflict : '';
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
    let wake = Infinity;
    for (const obj of this.model.objects) {
      if (!obj.remote || !this.roomState.lockOf(obj)) continue;
      wake = Math.min(wake, lockExpiry(obj, this.roomState) ?? Infinity);
    }
    if (wake < Infinity) {
      const ms = Math.min(LOCK_MS, Math.max(50, wake - Date.now() + 50));
      this.lockTimer = setTimeout(() => this.update(), ms);
    }
  }

  // ——— state → screen ———

  /** After any model change: panel, hooks, redraw, ticking. */
  update() {
    const now = performance.now();
    this.panel.render(this.model, now);
    if (this.inRoom) this.renderRoom();
    this.reviewMode.render();
    this.provDrawer.render();
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
    ds.objects = String(this.model.own.length);
    ds.status = obj ? obj.status : 'idle';
    ds.statusTrail = obj ? obj.trail.join(',') : '';
    ds.version = obj ? String(obj.version) : '0';
    ds.polygons = String(drawn.polygons || 0);
    ds.bbox = drawn.bbox || '';
    ds.latencyMs = obj && obj.latencyMs != null ? obj.latencyMs.toFixed(1) : '';
    const v = this.view;
    ds.view = `${v.scale.toFixed(6)},${v.tx.toFixed(2)},${v.ty.toFixed(2)},${this.W || 0},${this.H || 0}`;
    ds.save = obj ? saveState(obj) : '';
    ds.provenance = drawn.provenance || '';
    if (this.inRoom) {
      ds.others = String(drawn.others || 0);
      const sel = this.model.selected;
      ds.lock = sel && sel.remote ? this.roomState.lockOf(sel) : '';
      ds.review = obj ? obj.review || '' : '';
      ds.reviewing = String(this.reviewMode.on);
      const c = reviewCounts(this.model.objects);
      ds.reviews = `${c.awaiting},${c.approved},${c.rejected}`;
    }
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
    this.cdf.draw(ctx, view, this.W, this.H); // under the user's objects

    const current = this.model.current;
    const selected = this.model.selected;
    let hook = { polygons: 0, bbox: '' };
    const ordered = this.model.objects.filter((o) => o !== selected);
    if (selected) ordered.push(selected); // the selected object on top
    let others = 0;
    for (const obj of ordered) {
      const drawn = this.drawObject(obj, obj === selected, obj === this.hoverObject);
      if (obj.remote) {
        if (obj !== selected) this.drawRemotePrompt(obj);
        this.drawRemoteStatus(obj);
        others++;
      }
      if (obj.status === 'done' && obj.latencyMs == null && typeof obj.promptAt === 'number') {
        obj.latencyMs = performance.now() - obj.promptAt;
      }
      if (obj === current) hook = drawn;
    }
    if (selected && !this.reviewMode.on) this.drawPrompt(selected);
    const provenance = this.provDrawer.draw(ctx, view, this.W, this.H);
    this.cdf.drawHandles(ctx, view, this.W, this.H);
    this.drawRubberBand();
    this.updateHooks({ ...hook, others, provenance });
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
      const alpha = obj.remote ? FILL_ALPHA / 2 : FILL_ALPHA; // others' work stays in the background
      ctx.globalAlpha = hovered || selected ? alpha + 0.1 : alpha;
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
      const tag = obj.remote ? [obj.author?.name, obj.label].filter(Boolean).join(' · ') : obj.label;
      if (tag) this.drawTag(tag, obj.color, a.x, a.y);
      // The review, for everyone: ✓ approved · Ben / ✗ rejected · Ben; in review mode also what awaits.
      if (obj.review === 'approved' || obj.review === 'rejected') {
        const mark = obj.review === 'approved' ? '✓' : '✗';
        this.drawTag(`${mark} ${obj.review}${obj.reviewerName ? ` · ${obj.reviewerName}` : ''}`, REVIEW_COLORS[obj.review], a.x, a.y + 19);
      } else if (this.reviewMode.on && isAwaiting(obj)) {
        this.drawTag('to review', REVIEW_COLORS.awaiting, a.x, a.y + 19);
      }
    }
    return { polygons: polys.length, bbox: g.formatBox(box) };
  }

  /** Another member's prompt: small points ringed in their colour, and their box. */
  drawRemotePrompt(obj) {
    const ctx = this.ctx;
    const { view, W, H } = this;
    const p = obj.prompt;
    if (p.box && obj.status !== 'done') {
      const a = g.normToScreen(view, p.box.xMin, p.box.yMin, W, H);
      const b = g.normToScreen(view, p.box.xMax, p.box.yMax, W, H);
      ctx.setLineDash([3, 3]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = obj.color;
      ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
      ctx.setLineDash([]);
    }
    for (const pt of p.points) {
      const s = g.normToScreen(view, pt.x, pt.y, W, H);
      ctx.beginPath();
      ctx.arc(s.x, s.y, POINT_RADIUS - 1, 0, 2 * Math.PI);
      ctx.fillStyle = pt.label === 1 ? '#22c55e' : '#ef4444';
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = obj.color;
      ctx.stroke();
    }
  }

  /** Another member's job status next to their prompt while it is not done: "Ana · running". */
  drawRemoteStatus(obj) {
    if (obj.status === 'done') return;
    const p = obj.prompt;
    const at = p.box ? { x: p.box.xMin, y: p.box.yMin } : p.points[0];
    if (!at) return;
    const s = g.normToScreen(this.view, at.x, at.y, this.W, this.H);
    const lock = this.roomState.lockOf(obj);
    const word = lock ? 'segmenting' : STATUS_WORDS[obj.status] || obj.status;
    this.drawTag(`${obj.author?.name || 'Someone'} · ${word}`, obj.color, s.x + 8, s.y - 4);
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
