// CanvasView: the annotation page's <canvas> — the image, the objects' results and prompts,
// the rubber band of a box drag — and its view: fit, zoom at a point, pan, the polygon detail
// level (docs/UX.md). It knows nothing of requests or keys: annotate.js hands it a scene to
// draw (objects, selection, the pointer gesture) and asks it where a screen point is.
//
// The view is {scale, tx, ty}: image pixel (ix, iy) is drawn at CSS pixel
// (tx + ix*scale, ty + iy*scale) of the canvas (the data-view test hook, geometry.js).

import * as g from './geometry.js';
import { currentPolygons } from './objects.js';
import { isAwaiting } from './review.js';

/** Radius of a prompt point, CSS px. */
export const POINT_RADIUS = 5;
/** Distance within which a click hits a prompt point, CSS px. */
export const HIT_RADIUS = 9;
const FILL_ALPHA = 0.4;
const REVIEW_COLORS = { approved: '#4ade80', rejected: '#f87171', awaiting: '#fbbf24' };
const TAG_FONT = '600 11px system-ui, -apple-system, "Segoe UI", sans-serif';

/** The drawing and the view of one annotation canvas. */
export class CanvasView {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {HTMLElement} stage the canvas's container, whose size the canvas takes
   * @param {object} opts draw(): draws one frame (called from requestAnimationFrame)
   */
  constructor(canvas, stage, { draw }) {
    this.canvas = canvas;
    this.stage = stage;
    this.ctx = canvas.getContext('2d');
    this.onFrame = draw;
    this.img = null;
    this.W = 0;
    this.H = 0;
    this.view = { scale: 1, tx: 0, ty: 0 };
    this.fitted = true;
    this.cssW = 0;
    this.cssH = 0;
    this.dpr = 1;
    this.detail = g.DETAIL_TOLERANCES.length - 1; // raw
    this.simplified = new WeakMap(); // segment → {key, polygons}
    this.frame = 0;
  }

  /** Sets the image size before the image itself is there (from the page). */
  setSize(w, h) {
    this.W = Number(w) || 0;
    this.H = Number(h) || 0;
  }

  /** The decoded image, drawn fitted. */
  setImage(bitmap) {
    this.img = bitmap;
    this.W = bitmap.width;
    this.H = bitmap.height;
    this.fit();
  }

  /** Follows the stage's size and the device pixel ratio. */
  resize() {
    const r = this.stage.getBoundingClientRect();
    const dpr = globalThis.devicePixelRatio || 1;
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

  /** Zooms by factor around screen point (sx, sy), the canvas's centre by default. */
  zoomBy(factor, sx = this.cssW / 2, sy = this.cssH / 2) {
    this.view = g.zoomAt(this.view, factor, sx, sy);
    this.fitted = false;
    this.requestRender();
  }

  panBy(dx, dy) {
    this.view = g.panBy(this.view, dx, dy);
    this.fitted = false;
    this.requestRender();
  }

  /** A wheel event: zooms at the cursor, or pans on a horizontal-only (trackpad) scroll. */
  wheel(e) {
    if (!this.img) return;
    const s = this.screenOf(e);
    if (e.deltaX && !e.deltaY && !e.ctrlKey) this.panBy(-e.deltaX, 0);
    else this.zoomBy(g.wheelZoomFactor(e.deltaY, e.deltaMode), s.x, s.y);
  }

  /** Sets the polygon detail level (clamped); returns its tolerance in image pixels (0: raw). */
  setDetail(level) {
    const max = g.DETAIL_TOLERANCES.length - 1;
    this.detail = Math.max(0, Math.min(max, level));
    this.requestRender();
    return this.tolerancePx();
  }

  /** The polygon detail the user sees, as the simplification tolerance in image pixels. */
  tolerancePx() {
    return g.DETAIL_TOLERANCES[this.detail] || 0;
  }

  /** The canvas point (CSS px) of a pointer or wheel event. */
  screenOf(e) {
    return g.clientToScreen(e.clientX, e.clientY, this.canvas.getBoundingClientRect());
  }

  /** Screen point s in normalised image coordinates. */
  toNorm(s) {
    return g.screenToNorm(this.view, s.x, s.y, this.W, this.H);
  }

  /** Screen point s in image pixels, or null when it is off the image. */
  toImagePx(s) {
    if (!this.W) return null;
    const p = g.screenToImage(this.view, s.x, s.y);
    return p.x >= 0 && p.y >= 0 && p.x <= this.W && p.y <= this.H ? p : null;
  }

  /** The index of the prompt point at screen point s, or -1. */
  hitPoint(points, s) {
    return g.hitPoint(points, s.x, s.y, this.view, this.W, this.H, HIT_RADIUS);
  }

  /** The topmost done object of objects whose drawn polygons contain screen point s. */
  objectAt(objects, s) {
    const n = this.toNorm(s);
    for (let i = objects.length - 1; i >= 0; i--) {
      const obj = objects[i];
      if (obj.status === 'done' && g.pointInPolygons(n, this.polygonsOf(obj))) return obj;
    }
    return null;
  }

  requestRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.onFrame();
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

  /**
   * Draws one frame of scene: {objects, selected, current, hovered, hover (screen point or
   * null), drag (the gesture or null), reviewing, remoteWord(obj) (the status word of another
   * member's object), ownStatus(obj) (the job status of one of the user's objects, "" for none),
   * under(ctx, view, W, H) (drawn under the objects), over(ctx, view, W, H) (drawn over them;
   * returns the provenance hook)}. Returns what the test hooks report: {polygons, bbox, others,
   * provenance, status} of the current object (status: the text drawn by its prompt), or null
   * without an image.
   */
  draw(scene) {
    const ctx = this.ctx;
    const { dpr, view } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.cssW, this.cssH);
    if (!this.img) return null;
    ctx.save();
    ctx.translate(view.tx, view.ty);
    ctx.scale(view.scale, view.scale);
    // Past 2 device px per image px, show crisp pixels: annotators zoom in to see edges.
    ctx.imageSmoothingEnabled = view.scale * dpr < 2;
    ctx.drawImage(this.img, 0, 0);
    ctx.restore();
    scene.under?.(ctx, view, this.W, this.H);

    const { current, selected } = scene;
    let hook = { polygons: 0, bbox: '' };
    const ordered = scene.objects.filter((o) => o !== selected);
    if (selected) ordered.push(selected); // the selected object on top
    let others = 0;
    for (const obj of ordered) {
      const drawn = this.drawObject(obj, { selected: obj === selected, hovered: obj === scene.hovered, reviewing: scene.reviewing });
      let status = '';
      if (obj.remote) {
        if (obj !== selected) this.drawRemotePrompt(obj);
        if (obj.status !== 'done') this.drawRemoteStatus(obj, scene.remoteWord(obj));
        others++;
      } else if (scene.ownStatus && !scene.reviewing) {
        status = scene.ownStatus(obj);
        if (status) this.drawOwnStatus(obj, status);
      }
      if (obj.status === 'done' && obj.latencyMs == null && typeof obj.promptAt === 'number') {
        obj.latencyMs = performance.now() - obj.promptAt;
      }
      if (obj === current) hook = { ...drawn, status };
    }
    if (selected && !scene.reviewing) this.drawPrompt(selected, scene.drag ? null : scene.hover);
    const provenance = scene.over?.(ctx, view, this.W, this.H) || '';
    this.drawRubberBand(scene.drag);
    return { status: '', ...hook, others, provenance };
  }

  /** Draws an object's result; returns what the hooks report about it. */
  drawObject(obj, { selected = false, hovered = false, reviewing = false } = {}) {
    const polys = obj.status === 'done' ? this.polygonsOf(obj) : [];
    const box = this.boxOf(obj);
    const ctx = this.ctx;
    if (polys.length) {
      ctx.beginPath();
      for (const ring of polys) this.path(ring);
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
      const a = this.toScreen(box.xMin, box.yMin);
      const b = this.toScreen(box.xMax, box.yMax);
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
      } else if (reviewing && isAwaiting(obj)) {
        this.drawTag('to review', REVIEW_COLORS.awaiting, a.x, a.y + 19);
      }
    }
    return { polygons: polys.length, bbox: g.formatBox(box) };
  }

  /** Normalised point (nx, ny) on the canvas, CSS px. */
  toScreen(nx, ny) {
    return g.normToScreen(this.view, nx, ny, this.W, this.H);
  }

  /** Adds a closed ring of normalised vertices to the current path. */
  path(ring) {
    ring.forEach((v, i) => {
      const s = this.toScreen(v.x, v.y);
      if (i === 0) this.ctx.moveTo(s.x, s.y);
      else this.ctx.lineTo(s.x, s.y);
    });
    this.ctx.closePath();
  }

  /** Another member's prompt: small points ringed in their colour, and their box. */
  drawRemotePrompt(obj) {
    const ctx = this.ctx;
    const p = obj.prompt;
    if (p.box && obj.status !== 'done') {
      const a = this.toScreen(p.box.xMin, p.box.yMin);
      const b = this.toScreen(p.box.xMax, p.box.yMax);
      ctx.setLineDash([3, 3]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = obj.color;
      ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
      ctx.setLineDash([]);
    }
    for (const pt of p.points) {
      const s = this.toScreen(pt.x, pt.y);
      ctx.beginPath();
      ctx.arc(s.x, s.y, POINT_RADIUS - 1, 0, 2 * Math.PI);
      ctx.fillStyle = pt.label === 1 ? '#22c55e' : '#ef4444';
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = obj.color;
      ctx.stroke();
    }
  }

  /** Another member's job status next to their prompt: "Ana · running". */
  drawRemoteStatus(obj, word) {
    const p = obj.prompt;
    const at = p.box ? { x: p.box.xMin, y: p.box.yMin } : p.points[0];
    if (!at) return;
    const s = this.toScreen(at.x, at.y);
    this.drawTag(`${obj.author?.name || 'Someone'} · ${word}`, obj.color, s.x + 8, s.y - 4);
  }

  /** The user's own job status by the prompt's last click (or the box's corner): "running 1.2 s". */
  drawOwnStatus(obj, text) {
    const p = obj.prompt;
    const at = p.points.length ? p.points[p.points.length - 1] : p.box ? { x: p.box.xMax, y: p.box.yMin } : null;
    if (!at) return;
    const s = this.toScreen(at.x, at.y);
    this.drawTag(text, obj.color, s.x + POINT_RADIUS + 4, s.y - 4);
  }

  /** A label on a coloured ground with its top-left corner at (x, y - 17), kept inside the canvas. */
  drawTag(text, color, x, y) {
    const ctx = this.ctx;
    ctx.font = TAG_FONT;
    const w = ctx.measureText(text).width + 8;
    const top = y - 17 < 0 ? y : y - 17;
    ctx.fillStyle = color;
    ctx.fillRect(x, top, w, 16);
    ctx.fillStyle = '#0b0d12';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, x + 4, top + 8.5);
  }

  /** The selected object's prompt: box and points (the hovered point shows it will be removed). */
  drawPrompt(obj, hover) {
    const ctx = this.ctx;
    const p = obj.prompt;
    if (p.box) {
      const a = this.toScreen(p.box.xMin, p.box.yMin);
      const b = this.toScreen(p.box.xMax, p.box.yMax);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#ffffff';
      ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
    }
    const hoverHit = hover ? this.hitPoint(p.points, hover) : -1;
    this.canvas.classList.toggle('is-over-point', hoverHit >= 0);
    p.points.forEach((pt, i) => {
      const s = this.toScreen(pt.x, pt.y);
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

  /** The box being dragged. */
  drawRubberBand(d) {
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
