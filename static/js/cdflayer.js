// CdfLayer: the model of the annotations an image already has in CDF (made by Lasso or by
// any other tool), as GET /api/images/{id}/annotations answers them. It holds the list, the
// selection, hit-testing, and the shape being edited: its vertices, which one is dragged, and
// whether it differs from what CDF has (dirty). It never touches the DOM or the network; the
// panel controller (cdfpanel.js) does, and annotate.js draws it.
//
// Coordinates are normalised to 0..1 from the image's top-left corner, as everywhere in Lasso.

import * as g from './geometry.js';

/** Review states of a CDF annotation, in the order the panel offers them. */
export const STATUSES = ['suggested', 'approved', 'rejected'];

/** Largest label CDF accepts, in characters. */
export const MAX_LABEL = 128;

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const inUnit = (v) => isNum(v) && v >= 0 && v <= 1;

/** [[x,y],...] → [{x,y},...], or null unless there are at least min vertices, all inside the image. */
function readVertices(raw, min) {
  if (!Array.isArray(raw) || raw.length < min || raw.length > 1000) return null;
  const out = [];
  for (const v of raw) {
    if (!Array.isArray(v) || v.length !== 2 || !inUnit(v[0]) || !inUnit(v[1])) return null;
    out.push({ x: v[0], y: v[1] });
  }
  return out;
}

function readBox(b) {
  if (!b || typeof b !== 'object') return null;
  const { xMin, yMin, xMax, yMax } = b;
  if (![xMin, yMin, xMax, yMax].every(inUnit) || !(xMin < xMax && yMin < yMax)) return null;
  return { xMin, yMin, xMax, yMax };
}

/**
 * Reads one item of the server's list into the layer's shape, or null when it has no id.
 * Whatever does not have the expected shape is left out rather than trusted.
 */
export function parseItem(raw) {
  if (!raw || typeof raw !== 'object' || !Number.isSafeInteger(raw.id) || raw.id <= 0) return null;
  const str = (v) => (typeof v === 'string' ? v : '');
  const polygon = readVertices(raw.polygon, 3);
  const polyline = readVertices(raw.polyline, 2);
  const box = readBox(raw.boundingBox);
  return {
    id: raw.id,
    type: str(raw.annotationType),
    status: STATUSES.includes(raw.status) ? raw.status : 'suggested',
    label: str(raw.label),
    confidence: inUnit(raw.confidence) ? raw.confidence : null,
    creatingApp: str(raw.creatingApp),
    creatingAppVersion: str(raw.creatingAppVersion),
    creatingUser: typeof raw.creatingUser === 'string' ? raw.creatingUser : null,
    createdTime: isNum(raw.createdTime) ? raw.createdTime : 0,
    lastUpdatedTime: isNum(raw.lastUpdatedTime) ? raw.lastUpdatedTime : 0,
    polygon,
    polyline,
    box,
    editable: raw.editable === true && (!!polygon || !!box),
  };
}

/** The vertices of an item's editable shape: its polygon, or its box's corners clockwise from top-left. */
export function shapeVertices(item) {
  if (item.polygon) return item.polygon.map((v) => ({ x: v.x, y: v.y }));
  if (item.box) {
    const b = item.box;
    return [
      { x: b.xMin, y: b.yMin },
      { x: b.xMax, y: b.yMin },
      { x: b.xMax, y: b.yMax },
      { x: b.xMin, y: b.yMax },
    ];
  }
  return [];
}

/** Whether the layer can draw the item on the image. */
export function drawable(item) {
  return !!(item.polygon || item.box || item.polyline);
}

/** "lasso · Ana" — who made the annotation (null creatingUser: a service). */
export function provenance(item) {
  const parts = [];
  if (item.creatingApp) parts.push(item.creatingApp);
  parts.push(item.creatingUser || 'a service');
  return parts.join(' · ');
}

/** The creatingApp of the annotations Lasso writes (rooms/writer.go AppName). */
export const LASSO_APP = 'lasso';

/** Whether Lasso made the annotation: then the server may know how ("How this was made"). */
export function madeByLasso(item) {
  return !!item && item.creatingApp === LASSO_APP;
}

/** Distance in px from p to the segment a–b (all in the same screen space). */
function segmentDistance(p, a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2)) : 0;
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

const round6 = (v) => Math.round(v * 1e6) / 1e6;

/** The model. */
export class CdfLayer {
  constructor() {
    /** @type {ReturnType<typeof parseItem>[]} in the server's order (by id) */
    this.items = [];
    this.truncated = false;
    /** idle → loading → ready | error */
    this.state = 'idle';
    this.error = '';
    this.selectedId = null;
    /**
     * The shape being edited, or null: {id, original, vertices, dragging (index or -1),
     * saving, error}. original is what CDF has; Cancel goes back to it.
     */
    this.edit = null;
  }

  /** Takes the server's list. A shape being edited survives when its annotation is still there. */
  load(body) {
    const items = [];
    const seen = new Set();
    for (const raw of Array.isArray(body?.items) ? body.items : []) {
      const it = parseItem(raw);
      if (it && !seen.has(it.id)) {
        seen.add(it.id);
        items.push(it);
      }
    }
    this.items = items;
    this.truncated = body?.truncated === true;
    this.state = 'ready';
    this.error = '';
    if (this.selectedId !== null && !seen.has(this.selectedId)) this.selectedId = null;
    if (this.edit && !seen.has(this.edit.id) && !this.dirty) this.edit = null;
    return this.items.length;
  }

  get count() {
    return this.items.length;
  }

  byId(id) {
    return this.items.find((it) => it.id === id) || null;
  }

  get selected() {
    return this.selectedId === null ? null : this.byId(this.selectedId);
  }

  /** Selects the annotation (null deselects). A shape being edited stays selected while dirty. */
  select(id) {
    if (id !== null && !this.byId(id)) return false;
    if (this.edit && this.edit.id !== id && this.dirty) return false;
    if (this.edit && this.edit.id !== id) this.edit = null;
    this.selectedId = id;
    return true;
  }

  /** Items in drawing order: the selected one last, on top. */
  drawOrder() {
    const sel = this.selected;
    const rest = this.items.filter((it) => it !== sel && drawable(it));
    if (sel && drawable(sel)) rest.push(sel);
    return rest;
  }

  /** The vertices to draw for item: the edited ones while it is being edited. */
  verticesOf(item) {
    if (this.edit && this.edit.id === item.id) return this.edit.vertices;
    return item.polygon || null;
  }

  /**
   * The topmost drawn annotation at screen point (sx, sy): inside its polygon or box, or within
   * radius px of its polyline. view, w and h as in geometry.js.
   */
  hitTest(sx, sy, view, w, h, radius = 6) {
    const n = g.screenToNorm(view, sx, sy, w, h);
    const order = this.drawOrder();
    for (let i = order.length - 1; i >= 0; i--) {
      const it = order[i];
      const poly = this.verticesOf(it);
      if (poly) {
        if (g.pointInPolygon(n, poly)) return it;
      } else if (it.box) {
        const b = it.box;
        if (n.x >= b.xMin && n.x <= b.xMax && n.y >= b.yMin && n.y <= b.yMax) return it;
      } else if (it.polyline) {
        const s = { x: sx, y: sy };
        const pts = it.polyline.map((v) => g.normToScreen(view, v.x, v.y, w, h));
        for (let k = 1; k < pts.length; k++) if (segmentDistance(s, pts[k - 1], pts[k]) <= radius) return it;
      }
    }
    return null;
  }

  /** Starts editing the shape of an editable annotation (and selects it). */
  startEdit(id) {
    const it = this.byId(id);
    if (!it || !it.editable) return false;
    if (this.edit && this.edit.id === id) return true;
    if (this.edit && this.dirty) return false;
    const vertices = shapeVertices(it);
    this.edit = {
      id,
      fromBox: !it.polygon,
      original: vertices.map((v) => ({ ...v })),
      vertices,
      dragging: -1,
      saving: false,
      error: '',
    };
    this.selectedId = id;
    return true;
  }

  /** The vertex handle of the edited shape at screen point (sx, sy), or -1. */
  hitVertex(sx, sy, view, w, h, radius = 8) {
    if (!this.edit) return -1;
    return g.hitPoint(this.edit.vertices, sx, sy, view, w, h, radius);
  }

  /** Moves vertex i of the edited shape to (x, y), kept inside the image. */
  moveVertex(i, x, y) {
    const e = this.edit;
    if (!e || i < 0 || i >= e.vertices.length) return false;
    e.vertices[i] = { x: g.clamp01(x), y: g.clamp01(y) };
    e.error = '';
    return true;
  }

  beginDrag(i) {
    if (!this.edit || i < 0 || i >= this.edit.vertices.length) return false;
    this.edit.dragging = i;
    return true;
  }

  endDrag() {
    if (this.edit) this.edit.dragging = -1;
  }

  /** True while the edited shape differs from what CDF has. */
  get dirty() {
    const e = this.edit;
    if (!e) return false;
    if (e.vertices.length !== e.original.length) return true;
    return e.vertices.some((v, i) => v.x !== e.original[i].x || v.y !== e.original[i].y);
  }

  /** Ends editing and drops the changes. */
  cancelEdit() {
    this.edit = null;
  }

  /** The body of the save request for the edited shape. */
  saveBody() {
    if (!this.edit) return null;
    return { polygon: this.edit.vertices.map((v) => [round6(v.x), round6(v.y)]) };
  }

  /** Marks the edited shape as being saved (or not). */
  setSaving(saving) {
    if (this.edit) this.edit.saving = saving;
  }

  /** A save failed: the edit stays, dirty, with the reason, so it can be sent again. */
  saveFailed(message) {
    if (!this.edit) return;
    this.edit.saving = false;
    this.edit.error = message;
  }

  /**
   * Takes an annotation as the server answered it after a change. When it is the edited one and
   * its shape is what was sent, editing ends.
   */
  replace(raw) {
    const it = parseItem(raw);
    if (!it) return null;
    const i = this.items.findIndex((x) => x.id === it.id);
    if (i < 0) return null;
    this.items[i] = it;
    const e = this.edit;
    if (e && e.id === it.id && e.saving) {
      const sent = this.saveBody().polygon;
      const got = it.polygon || [];
      const same = got.length === sent.length && got.every((v, k) => Math.abs(v.x - sent[k][0]) < 1e-9 && Math.abs(v.y - sent[k][1]) < 1e-9);
      if (same) this.edit = null;
      else e.saving = false;
    }
    return it;
  }

  /** Forgets a deleted annotation. */
  remove(id) {
    const i = this.items.findIndex((x) => x.id === id);
    if (i < 0) return false;
    this.items.splice(i, 1);
    if (this.selectedId === id) this.selectedId = null;
    if (this.edit && this.edit.id === id) this.edit = null;
    return true;
  }
}
