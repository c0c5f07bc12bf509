// Annotator: the controller for [data-annotator] — the annotation page. It is the composition
// of the page's modules and holds no logic of its own beyond wiring them:
//   canvasview.js    the canvas: image, objects, prompts; fit, zoom, pan, polygon detail
//   input.js         pointer and keys → commands (docs/UX.md)
//   session.js       the objects' life: prompts, accept, delete, retry, re-run, labels, undo
//   roomlink.js      in a room: the commands to the room, in order, queued while offline
//   statusline.js    the status bar: messages, the current label, job status for screen readers
//   events.js        the WebSocket's snapshot and events applied to the objects
//   api.js           requests to Lasso's API: CSRF header, error text, the sign-in banner
//   storage.js       labels and this tab's objects in browser storage
//   roomcontrols.js  in a room: who is here, the soft-lock banner, done, next image
//   panel.js (the object list), cdfpanel.js (annotations already in CDF), reviewmode.js
//   (review mode, V), provenancedrawer.js ("How this was made", I), notice.js (banners).
// ReviewMode and ProvenanceDrawer are handed narrow hosts (reviewHost, drawerHost below),
// not the Annotator.
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
//   data-canvas-status the job status drawn by the current object's last click ("" when none)
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
import * as g from './geometry.js';
import { Annotations } from './objects.js';
import { LiveSocket } from './socket.js';
import { ObjectPanel } from './panel.js';
import { RoomState } from './roomstate.js';
import { Outbox } from './outbox.js';
import { CdfPanel } from './cdfpanel.js';
import { saveState } from './saves.js';
import { reviewCounts } from './review.js';
import { ReviewMode } from './reviewmode.js';
import { ProvenanceDrawer } from './provenancedrawer.js';
import { postJSON, errorMessage, showSignInNotice } from './api.js';
import { CanvasView } from './canvasview.js';
import { Input } from './input.js';
import { ObjectSession } from './session.js';
import { LiveEvents } from './events.js';
import { PageStorage } from './storage.js';
import { RoomControls, roomLabels } from './roomcontrols.js';
import { loadImage, loadErrorText } from './imageload.js';
import { StatusLine, canvasStatus } from './statusline.js';

const STATUS_WORDS = { idle: 'prompting', queued: 'queued', running: 'running', done: 'done', failed: 'failed' };

/** The controller for one [data-annotator] element: the composition of the page's modules. */
export class Annotator {
  constructor(root) {
    this.root = root;
    const d = root.dataset;
    this.fileId = d.fileId;
    this.imageURL = d.imageUrl;
    this.prevHref = d.prevHref || '';
    this.nextHref = d.nextHref || '';
    this.roomId = d.roomId || '';
    this.inRoom = !!this.roomId;
    this.me = d.userId || '';
    const $ = (sel) => root.querySelector(sel);
    this.stage = $('[data-stage]');
    this.canvas = $('[data-canvas]');
    this.loading = $('[data-loading]');
    this.loadingText = $('[data-loading-text]');
    this.progress = $('[data-progress]');
    this.loadError = $('[data-load-error]');
    this.loadErrorText = $('[data-load-error-text]');
    this.zoomReadout = $('[data-zoom]');
    this.cursorReadout = $('[data-cursor]');
    this.hoverReadout = $('[data-hover]');
    this.sizeReadout = $('[data-image-size]');
    this.connection = $('[data-connection]');
    this.detailInput = $('[data-detail]');
    this.help = $('[data-help]');
    this.hoverObject = null;
    this.ticker = 0;
    this.status = new StatusLine({ hover: this.hoverReadout, label: $('[data-current-label]'), live: $('[data-job-live]') });

    this.model = new Annotations({ now: () => performance.now() });
    if (this.inRoom) {
      this.roomState = new RoomState({ me: this.me, fileId: this.fileId });
      this.useRoomLabels(roomLabels(root));
    }
    this.view = new CanvasView(this.canvas, this.stage, { draw: () => this.render() });
    this.view.setSize(d.width, d.height);
    this.session = this.objectSession(d.closed === 'true');
    const failures = { errorMessage, signedOut: (msg) => showSignInNotice(msg) };
    this.reviewMode = new ReviewMode(root, this.reviewHost(), failures);
    this.provDrawer = new ProvenanceDrawer(root, this.drawerHost(), failures); // "How this was made"
    if (this.inRoom) this.room = this.roomControls(d);
    this.panel = this.objectPanel();
    this.socket = new LiveSocket(d.room, {
      onmessage: (msg) => this.events.apply(msg),
      onstate: (state, info) => this.showConnection(state, info),
      params: this.inRoom ? (sock) => ({ image: this.fileId, since: sock.lastSeq || '' }) : () => ({}),
    });
    this.cdf = this.cdfPanel();
    this.events = this.liveEvents();
    this.input = new Input(this.canvas, this.stage, this.inputCommands(), { inRoom: this.inRoom });

    this.bind();
    this.view.resize();
    this.update();
    this.loadImage();
    this.cdf.load();
    this.socket.start();
  }

  /** The objects' life (session.js), with this tab's objects restored. */
  objectSession(closed) {
    const storage = new PageStorage({ fileId: this.fileId, roomId: this.roomId });
    if (!this.inRoom) storage.loadLabels(this.model);
    const session = new ObjectSession({
      model: this.model, fileId: this.fileId, roomId: this.roomId, closed,
      roomState: this.roomState, outbox: this.inRoom ? new Outbox() : null, storage,
      socketOpen: () => this.socket.state === 'open',
      tolerancePx: () => this.view.tolerancePx(),
      reviewing: () => this.reviewMode.on,
      provenance: () => ({ annotation: this.provDrawer.annotation, dataFor: this.provDrawer.dataFor, data: this.provDrawer.data }),
      flash: (text) => this.flash(text),
      update: () => this.update(),
      askLabel: (obj) => this.panel.focusLabel(obj),
    });
    session.restore();
    return session;
  }

  /** In a room: presence, the lock banner, done and next image (roomcontrols.js). */
  roomControls(d) {
    return new RoomControls(this.root, {
      roomId: this.roomId, fileId: this.fileId, me: this.me, imageDone: d.imageDone === 'true', doneHref: d.doneHref || '',
      roomState: this.roomState, session: this.session, model: this.model,
      reviewing: () => this.reviewMode.on,
      flash: (text) => this.flash(text),
      update: () => this.update(),
      stop: () => this.socket.stop(),
    });
  }

  /** The image's annotations already in CDF: listed in the panel, drawn under the objects. */
  cdfPanel() {
    return new CdfPanel(this.root, {
      fileId: this.fileId,
      roomId: this.roomId,
      canvas: this.canvas,
      render: () => this.view.requestRender(),
      flash: (text) => this.flash(text),
      signedOut: (msg) => showSignInNotice(msg),
      provenance: (id) => this.provDrawer.showAnnotation(id),
      changed: () => this.provDrawer.render(), // the drawer follows the In CDF selection
    });
  }

  /** The socket's messages applied to the page (events.js). */
  liveEvents() {
    return new LiveEvents({
      model: this.model, session: this.session, fileId: this.fileId, me: this.me, roomState: this.roomState,
      flash: (text) => this.flash(text),
      update: () => this.update(),
      savedToCdf: (obj, live) => {
        this.provDrawer.forget(obj.id);
        clearTimeout(this.cdfReloadTimer);
        this.cdfReloadTimer = setTimeout(() => this.cdf.load(), live ? 50 : 0); // one reload for a burst of saves
      },
      setDone: (done) => this.room.setDone(done),
      afterSnapshot: () => this.reviewMode.afterSnapshot(),
      roleChanged: () => this.reviewMode.roleChanged(),
      removed: () => this.room.showRemoved(this.connection),
    });
  }

  /** A room's labels on the 1–9 keys, the first one sticky. */
  useRoomLabels(labels) {
    if (!labels.length) return;
    const m = this.model;
    m.fixedLabels = true;
    m.recent = [];
    for (const l of labels) if (l.key >= 1 && l.key <= 9) m.recent[l.key - 1] = l.name;
    m.sticky = labels[0].name;
  }

  /** What ReviewMode may see and do: no more than this. */
  reviewHost() {
    const self = this;
    return {
      inRoom: this.inRoom, me: this.me, fileId: this.fileId, roomId: this.roomId, canvas: this.canvas,
      get model() { return self.model; },
      get roomState() { return self.roomState; },
      get removed() { return self.session.removed; },
      get closed() { return self.session.closed; },
      flash: (text) => this.flash(text),
      update: () => this.update(),
      flush: (t) => this.session.flush(t),
      postJSON,
      objectURL: (id, suffix) => this.session.objectURL(id, suffix),
    };
  }

  /** What ProvenanceDrawer may see and do: no more than this. */
  drawerHost() {
    const self = this;
    return {
      inRoom: this.inRoom, fileId: this.fileId,
      get model() { return self.model; },
      get cdfLayer() { return self.cdf?.layer || null; },
      get removed() { return self.session.removed; },
      get closed() { return self.session.closed; },
      get W() { return self.view.W; },
      get H() { return self.view.H; },
      reviewing: () => this.reviewMode.on,
      flash: (text) => this.flash(text),
      update: () => this.update(),
      requestRender: () => this.view.requestRender(),
      objectURL: (id, suffix) => this.session.objectURL(id, suffix),
    };
  }

  objectPanel() {
    const s = this.session;
    return new ObjectPanel(this.root, {
      select: (obj) => {
        this.model.select(obj.id);
        this.update();
      },
      label: (obj, text, committed) => s.setLabel(obj, text, committed),
      accept: (obj) => s.accept(obj),
      remove: (obj) => s.remove(obj),
      retry: (obj) => s.retry(obj),
      retrySave: (obj) => s.retrySave(obj),
      provenance: (obj) => this.provDrawer.toggle(obj),
      review: (obj, decision) => this.reviewMode.decide(decision, obj),
      reviewing: () => this.reviewMode.on,
      takeOver: (obj) => this.takeOver(obj),
      // Review mode looks at objects, it does not prompt them: soft locks don't apply.
      lockOf: (obj) => (this.inRoom && !this.reviewMode.on ? this.roomState.lockOf(obj) : ''),
      pickLabel: (n) => s.pickLabel(n),
      sticky: (text) => s.setSticky(text),
      done: () => this.focusCanvas(),
      labelEntered: (obj) => s.accept(obj, { picked: true }),
    }, { fixedLabels: this.inRoom && this.model.fixedLabels });
  }

  /** What the pointer and the keys do (input.js). */
  inputCommands() {
    const v = this.view;
    return {
      run: (name, { t, hold }) => this.command(name, { t, hold, atPointer: true }),
      click: (s, opts) => this.click(s, opts),
      box: (s0, s1, { t, hold }) => {
        if (this.reviewMode.on) return;
        this.status.clearFlash();
        if (!this.session.mayPrompt()) return;
        const box = g.normaliseBox(v.toNorm(s0), v.toNorm(s1));
        if (box) this.session.setBox(box, t, hold);
      },
      hover: (s) => this.showCursor(s),
      redraw: () => v.requestRender(),
      grab: (e, s) => this.cdf.pointerDown(e, s, v.view, v.W, v.H),
      grabMove: (s) => this.cdf.pointerMove(s, v.view, v.W, v.H),
      grabEnd: () => this.cdf.pointerUp(),
      wheel: (e) => v.wheel(e),
      pan: (dx, dy) => v.panBy(dx, dy),
      ready: () => !!v.img,
      reviewKey: (e, k) => this.reviewMode.on && this.reviewMode.onKey(e, k),
      helpOpen: () => this.help.open,
      closeHelp: () => this.help.close(),
    };
  }

  /** A click on the canvas: in review mode it selects; else it removes the point under it or adds one. */
  click(s, { negative, t, hold }) {
    if (this.reviewMode.on) return this.reviewMode.click(this.view.objectAt(this.model.objects, s));
    this.status.clearFlash(); // a hint like "New object: click the image." is done with
    if (!this.session.mayPrompt()) return '';
    const sel = this.model.selected;
    const hit = sel ? this.view.hitPoint(sel.prompt.points, s) : -1;
    if (hit >= 0) {
      this.session.removePoint(hit, t, hold);
      return 'removed';
    }
    const n = this.view.toNorm(s);
    if (!g.insideNorm(n)) {
      this.flash('Click on the image to add a point.');
      return '';
    }
    this.session.addPoint({ x: n.x, y: n.y, label: negative ? 0 : 1 }, t, hold);
    return 'added';
  }

  /**
   * Runs a command of the keys (input.js keyCommand) or the toolbar (data-action); false when
   * there is no such command or it did not apply. atPointer: zoom at the pointer, not the centre.
   */
  command(name, { t = performance.now(), hold = false, atPointer = false } = {}) {
    const s = this.session;
    const v = this.view;
    if (name.startsWith('label:')) {
      s.pickLabel(Number(name.slice(6)));
      return true;
    }
    const centre = () => (atPointer && this.input.hover ? [this.input.hover.x, this.input.hover.y] : [v.cssW / 2, v.cssH / 2]);
    const actions = {
      fit: () => v.fit(),
      'zoom-in': () => v.zoomBy(1.25, ...centre()),
      'zoom-out': () => v.zoomBy(0.8, ...centre()),
      undo: () => s.undo(t, hold),
      redo: () => s.redo(t, hold),
      flush: () => s.flush(t),
      clear: () => s.clearPrompt(t),
      new: () => s.newObject(),
      accept: () => s.accept(),
      delete: () => s.remove(),
      help: () => this.toggleHelp(),
      'close-help': () => this.help.close(),
      'reload-image': () => this.loadImage(),
      'prev-image': () => this.go(this.prevHref, 'This is the first image.'),
      'next-image': () => (this.inRoom ? this.room.next() : this.go(this.nextHref, 'This is the last image.')),
      'detail-down': () => this.setDetail(v.detail - 1),
      'detail-up': () => this.setDetail(v.detail + 1),
      provenance: () => this.provDrawer.toggle(),
      review: () => this.reviewMode.setReviewing(true),
      'toggle-review': () => this.reviewMode.setReviewing(!this.reviewMode.on),
      'next-review': () => this.reviewMode.go(1),
      'close-provenance': () => this.provDrawer.toggle(null, false),
      rerun: () => s.rerun(),
      'toggle-done': () => this.room?.toggleDone(),
      'take-over': () => this.takeOver(this.model.selected),
      'leave-lock': () => {
        this.model.newObject();
        this.update();
      },
      cycle: () => {
        const ok = this.model.cycleSegment(this.model.current);
        if (ok) this.update();
        return ok;
      },
    };
    const fn = Object.hasOwn(actions, name) ? actions[name] : null;
    if (!fn) return false;
    return fn() !== false;
  }

  bind() {
    this.input.bind();
    this.root.addEventListener('click', (e) => this.onToolbarClick(e));
    this.detailInput?.addEventListener('input', () => this.setDetail(Number(this.detailInput.value)));
    new ResizeObserver(() => this.view.resize()).observe(this.stage);
    // devicePixelRatio changes (browser zoom, moving between monitors) don't resize the stage.
    const watchDPR = () => {
      matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`).addEventListener('change', () => {
        this.view.resize();
        watchDPR();
      }, { once: true });
    };
    watchDPR();
  }

  onToolbarClick(e) {
    const el = e.target.closest('[data-action]');
    if (!el || el.closest('[data-object-list]')) return; // the panel handles its own
    const action = el.dataset.action;
    if (this.reviewMode.refuses(action)) return this.focusCanvas();
    if (this.command(action, { t: e.timeStamp || performance.now() }) === false) return;
    // Keep keyboard flow on the canvas after a toolbar click, except for dialogs and the label
    // picker that Accept may have opened.
    if (['help', 'close-help', 'reload-image'].includes(action) || document.activeElement?.matches('[data-field=label]')) return;
    this.focusCanvas();
  }

  focusCanvas() {
    this.canvas.focus({ preventScroll: true });
  }

  takeOver(obj) {
    if (this.session.takeOver(obj)) this.focusCanvas();
  }

  async loadImage() {
    this.loadError.hidden = true;
    this.loading.hidden = false;
    this.loadingText.textContent = 'Loading image…';
    this.progress.removeAttribute('value'); // indeterminate until we know the length
    try {
      const bitmap = await loadImage(this.imageURL, (text, received, total) => {
        if (total) {
          this.progress.max = total;
          this.progress.value = received;
        }
        this.loadingText.textContent = text;
      });
      this.sizeReadout.textContent = `${bitmap.width}×${bitmap.height}`;
      this.loading.hidden = true;
      this.view.setImage(bitmap);
    } catch (err) {
      this.loading.hidden = true;
      this.loadError.hidden = false;
      this.loadErrorText.textContent = loadErrorText(err);
    }
  }

  setDetail(level) {
    const tol = this.view.setDetail(level);
    if (this.detailInput) this.detailInput.value = String(this.view.detail);
    this.flash(tol === 0 ? 'Polygon detail: raw' : `Polygon detail: simplified to ${tol} px`);
  }

  /** The readouts for pointer position s (null: the pointer left the canvas). */
  showCursor(s) {
    const v = this.view;
    if (!s) {
      this.cursorReadout.textContent = '';
      this.status.hover('');
      return v.requestRender();
    }
    if (v.W) {
      const p = v.toImagePx(s);
      this.cursorReadout.textContent = p ? `${Math.floor(p.x)}, ${Math.floor(p.y)} px` : '';
      const over = p ? v.objectAt(this.model.objects, s) : null;
      this.hoverObject = over;
      const cdfText = p ? this.cdf.hoverAt(s, v.view, v.W, v.H) : '';
      this.status.hover(over ? over.label || 'unlabelled object' : cdfText);
    }
    v.requestRender();
  }

  go(href, none) {
    if (href) window.location.assign(href);
    else this.flash(none);
  }

  toggleHelp() {
    if (this.help.open) this.help.close();
    else this.help.showModal();
  }

  showConnection(state, info) {
    const el = this.connection;
    el.dataset.state = state;
    if (state === 'open') this.session.flushOutbox();
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

  flash(text) {
    this.status.flash(text);
  }

  /** After any model change: panel, room, drawers, storage, redraw, ticking. */
  update() {
    const now = performance.now();
    this.panel.render(this.model, now);
    this.status.render(this.model, now);
    this.room?.render();
    this.reviewMode.render();
    this.provDrawer.render();
    this.session.save();
    this.view.requestRender(); // the hooks are written with the frame, so status and drawing agree
    const ticking = this.model.objects.some((o) => o.status === 'running');
    if (ticking && !this.ticker) {
      this.ticker = setInterval(() => {
        this.panel.tick(this.model, performance.now());
        this.view.requestRender(); // the elapsed time by the click on the canvas too
      }, 100);
    } else if (!ticking && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = 0;
    }
  }

  /** One frame: the canvas (canvasview.js), then the test hooks from what it drew. */
  render() {
    const v = this.view;
    this.zoomReadout.textContent = `${Math.round(v.view.scale * 100)}%`;
    const drawn = v.draw({
      objects: this.model.objects,
      selected: this.model.selected,
      current: this.model.current,
      hovered: this.hoverObject,
      hover: this.input.hover,
      drag: this.input.drag,
      reviewing: this.reviewMode.on,
      remoteWord: (obj) => (this.roomState?.lockOf(obj) ? 'segmenting' : STATUS_WORDS[obj.status] || obj.status),
      ownStatus: (obj) => canvasStatus(obj, performance.now()),
      under: (ctx, view, w, h) => this.cdf.draw(ctx, view, w, h), // under the user's objects
      over: (ctx, view, w, h) => {
        const provenance = this.provDrawer.draw(ctx, view, w, h);
        this.cdf.drawHandles(ctx, view, w, h);
        return provenance;
      },
    });
    this.updateHooks(drawn || {});
    if (drawn && this.canvas.dataset.imageLoaded !== 'true') this.canvas.dataset.imageLoaded = 'true';
  }

  /**
   * Writes the test hooks from the frame just drawn, all at once: when a test sees
   * data-status="done", the polygons and box are already on the canvas.
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
    const { view: t, W, H } = this.view;
    ds.view = `${t.scale.toFixed(6)},${t.tx.toFixed(2)},${t.ty.toFixed(2)},${W || 0},${H || 0}`;
    ds.save = obj ? saveState(obj) : '';
    ds.provenance = drawn.provenance || '';
    ds.canvasStatus = drawn.status || '';
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
}

for (const el of document.querySelectorAll('[data-annotator]')) new Annotator(el);
