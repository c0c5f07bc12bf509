// CdfPanel: the controller for [data-cdf-panel], the "In CDF" section of the annotation page.
// It loads the image's existing CDF annotations (GET /api/images/{id}/annotations, with
// ?room= in a room), lists them, draws them on the canvas as their own layer under the
// user's objects, and sends the changes a person makes: label, status, shape
// (POST …/annotations/{annotationId}) and deletion (POST …/{annotationId}/delete).
// The model is CdfLayer (cdflayer.js); annotate.js calls draw/drawHandles from its frame and
// hands it pointer gestures that are not prompts.
//
// Annotations Lasso made (creatingApp "lasso") have a "How this was made" (ⓘ) button: it
// selects the annotation and calls opts.provenance(id), which opens the ProvenanceDrawer
// (provenancedrawer.js) with what the server kept of how it was made.
//
// Canvas gestures (shown in the help): Shift+Alt+click selects the CDF annotation under the
// cursor (where there is none it stays a negative point); while a shape is being edited, a
// drag that starts on one of its vertex handles moves that vertex instead of drawing a box.
//
// Test hooks on the <canvas>, written with each frame:
//   data-cdf-state        idle|loading|ready|error
//   data-cdf-annotations  number of annotations listed
//   data-cdf-drawn        number drawn on the image
//   data-cdf-selected     id of the selected one, or ""
//   data-cdf-editing      id of the one whose shape is being edited, or ""
//   data-cdf-dirty        "true" while the edited shape differs from CDF's

import * as g from './geometry.js';
import { postJSON, getJSON, errorMessage } from './api.js';
import { CdfLayer, MAX_LABEL, drawable, provenance, madeByLasso } from './cdflayer.js';

const HANDLE_RADIUS = 8; // px around a vertex handle that grabs it
const STATUS_COLORS = { suggested: '#fbbf24', approved: '#4ade80', rejected: '#f87171' };
const STATUS_WORDS = { suggested: 'suggested', approved: 'approved', rejected: 'rejected' };

/** Message for a failed fetch: the server's {"error":{"message"}}, else by status. */
export function errorText(res) {
  return errorMessage(res, { 401: 'Your sign-in expired — sign in again.', 404: 'This annotation no longer exists.', other: (s) => (s >= 500 ? `The server failed (HTTP ${s}) — try again in a moment.` : `The request was refused (HTTP ${s}).`) });
}

const OFFLINE = 'The server could not be reached — check your connection, then try again.';

/** The controller for one [data-cdf-panel]. */
export class CdfPanel {
  /**
   * @param {HTMLElement} root the annotator element
   * @param {object} opts fileId, roomId ("" outside a room), canvas, and callbacks:
   *   render() redraws the canvas, flash(text) shows a short message in the status bar,
   *   signedOut(message) after a 401, provenance(id) opens "How this was made" for annotation
   *   id, changed() after the list or its selection changed
   */
  constructor(root, opts) {
    this.opts = opts;
    this.layer = new CdfLayer();
    this.section = root.querySelector('[data-cdf-panel]');
    this.list = root.querySelector('[data-cdf-list]');
    this.template = root.querySelector('[data-cdf-template]');
    this.countEl = root.querySelector('[data-cdf-count]');
    this.note = root.querySelector('[data-cdf-note]');
    this.rows = new Map(); // annotation id → <li>
    this.busy = new Set(); // annotation ids with a request in flight
    this.errors = new Map(); // annotation id → the last error about it
    this.drafts = new Map(); // annotation id → a label whose save failed, kept to retry
    this.confirming = null; // id whose deletion asks for confirmation
    this.drag = null; // {index} while a vertex handle is dragged
    this.drawn = 0;
    if (this.section) {
      this.section.addEventListener('click', (e) => this.onClick(e));
      this.section.addEventListener('change', (e) => this.onChange(e));
      this.section.addEventListener('keydown', (e) => this.onKey(e));
    }
  }

  get enabled() {
    return !!(this.section && this.list && this.template);
  }

  baseURL() {
    return `/api/images/${encodeURIComponent(this.opts.fileId)}/annotations`;
  }

  // ——— network ———

  /** Loads (or reloads) the list from CDF. */
  async load() {
    if (!this.enabled) return;
    const l = this.layer;
    l.state = 'loading';
    this.render();
    const q = this.opts.roomId ? `?room=${encodeURIComponent(this.opts.roomId)}` : '';
    let res;
    try {
      res = await getJSON(this.baseURL() + q);
    } catch {
      return this.loadFailed(OFFLINE);
    }
    if (!res.ok) {
      const msg = await errorText(res);
      if (res.status === 401) this.opts.signedOut?.(msg);
      return this.loadFailed(msg);
    }
    let body;
    try {
      body = await res.json();
    } catch {
      return this.loadFailed('The server answered something that is not a list of annotations.');
    }
    l.load(body);
    for (const id of [...this.errors.keys()]) if (!l.byId(id)) this.errors.delete(id);
    this.changed();
  }

  loadFailed(msg) {
    this.layer.state = 'error';
    this.layer.error = msg;
    this.changed();
  }

  post(path, body) {
    return postJSON(this.baseURL() + path, body);
  }

  /**
   * Sends one change of annotation id and takes the answer. Returns true on success; on failure
   * the error is shown on the item and in the status bar.
   */
  async send(id, body) {
    if (this.busy.has(id)) return false;
    this.busy.add(id);
    this.errors.delete(id);
    this.changed();
    let res;
    try {
      res = await this.post(`/${id}`, body);
    } catch {
      res = null;
    }
    this.busy.delete(id);
    if (!res) return this.failed(id, OFFLINE);
    if (!res.ok) return this.failed(id, await errorText(res), res.status);
    try {
      this.layer.replace(await res.json());
    } catch {
      // the change landed; the list will show it after a reload
    }
    this.changed();
    return true;
  }

  failed(id, msg, status) {
    this.errors.set(id, msg);
    if (this.layer.edit?.id === id && this.layer.edit.saving) this.layer.saveFailed(msg);
    if (status === 401) this.opts.signedOut?.(msg);
    this.opts.flash?.(msg);
    this.changed();
    return false;
  }

  async setLabel(id, text) {
    const it = this.layer.byId(id);
    const label = text.trim();
    if (!it) return;
    if (label === it.label) {
      this.drafts.delete(id);
      return this.changed();
    }
    this.drafts.set(id, text);
    if (!label || [...label].length > MAX_LABEL) {
      this.errors.set(id, `The label must be 1 to ${MAX_LABEL} characters long.`);
      return this.changed();
    }
    if (await this.send(id, { label })) {
      this.drafts.delete(id);
      this.changed();
      this.opts.flash?.(`Label in CDF: ${label}`);
    }
  }

  async setStatus(id, status) {
    const it = this.layer.byId(id);
    if (!it || it.status === status) return;
    if (await this.send(id, { status })) this.opts.flash?.(`Marked ${status} in CDF.`);
  }

  async saveShape() {
    const l = this.layer;
    const e = l.edit;
    if (!e || e.saving) return;
    if (!l.dirty) {
      l.cancelEdit();
      return this.changed();
    }
    l.setSaving(true);
    if (await this.send(e.id, l.saveBody())) this.opts.flash?.('Shape saved in CDF.');
    else l.setSaving(false);
    this.changed();
  }

  async remove(id) {
    if (this.busy.has(id)) return;
    this.confirming = null;
    this.busy.add(id);
    this.changed();
    let res;
    try {
      res = await this.post(`/${id}/delete`);
    } catch {
      res = null;
    }
    this.busy.delete(id);
    if (!res) return this.failed(id, OFFLINE);
    if (res.ok || res.status === 404) {
      const it = this.layer.byId(id);
      const msg = res.ok ? `Deleted ${it?.label || 'the annotation'} from CDF.` : await errorText(res);
      this.layer.remove(id);
      this.errors.delete(id);
      this.opts.flash?.(msg);
      return this.changed();
    }
    return this.failed(id, await errorText(res), res.status);
  }

  // ——— panel events ———

  onClick(e) {
    const el = e.target.closest('[data-cdf-action]');
    if (!el) return;
    const action = el.dataset.cdfAction;
    if (action === 'reload') return this.load();
    const row = el.closest('[data-cdf-item]');
    const id = row ? Number(row.dataset.cdfId) : null;
    const l = this.layer;
    switch (action) {
      case 'select':
        if (!l.select(l.selectedId === id && !l.edit ? null : id)) this.opts.flash?.('Save or cancel the shape you are editing first.');
        break;
      case 'status':
        this.setStatus(id, el.dataset.status);
        break;
      case 'edit-shape':
        if (!l.startEdit(id)) this.opts.flash?.('Save or cancel the shape you are editing first.');
        else this.opts.flash?.('Drag the white handles to move the vertices, then Save shape.');
        break;
      case 'save-shape':
        this.saveShape();
        break;
      case 'cancel-shape':
        l.cancelEdit();
        if (id !== null) this.errors.delete(id);
        break;
      case 'provenance':
        // Highlight it (unless a shape being edited holds the selection), then the drawer,
        // which reads that selection (before changed() below lets it follow the selection).
        if (l.selectedId !== id) l.select(id);
        this.opts.provenance?.(id);
        break;
      case 'delete':
        this.confirming = id;
        break;
      case 'keep':
        this.confirming = null;
        break;
      case 'confirm-delete':
        this.remove(id);
        break;
      default:
        return;
    }
    this.changed();
  }

  onChange(e) {
    const input = e.target.closest('[data-cdf-field="label"]');
    const row = input?.closest('[data-cdf-item]');
    if (row) this.setLabel(Number(row.dataset.cdfId), input.value);
  }

  onKey(e) {
    const input = e.target.closest('[data-cdf-field="label"]');
    if (!input) return;
    if (e.key === 'Escape') {
      const id = Number(input.closest('[data-cdf-item]').dataset.cdfId);
      const it = this.layer.byId(id);
      this.drafts.delete(id);
      this.errors.delete(id);
      input.value = it ? it.label : input.value;
      input.blur();
      this.changed();
    } else if (e.key === 'Enter') {
      // Saves also when nothing was typed since a failed save (no change event then); the
      // change event of the blur finds the request in flight and sends nothing more.
      e.preventDefault();
      this.setLabel(Number(input.closest('[data-cdf-item]').dataset.cdfId), input.value);
      input.blur();
    }
  }

  // ——— canvas gestures ———

  /**
   * A pointer press on the canvas at screen point s. Returns true when it is the panel's:
   * a press on a handle of the shape being edited (a vertex drag starts) or Shift+Alt+click
   * on an annotation (it is selected). Everything else stays a prompt.
   */
  pointerDown(e, s, view, w, h) {
    if (e.button !== 0) return false;
    const l = this.layer;
    if (l.edit && !l.edit.saving) {
      const i = l.hitVertex(s.x, s.y, view, w, h, HANDLE_RADIUS);
      if (i >= 0) {
        l.beginDrag(i);
        this.drag = { index: i };
        return true;
      }
    }
    if (e.shiftKey && e.altKey) {
      const it = l.hitTest(s.x, s.y, view, w, h);
      if (!it) return false;
      if (!l.select(it.id)) this.opts.flash?.('Save or cancel the shape you are editing first.');
      else this.opts.flash?.(`CDF: ${it.label || it.type} (${STATUS_WORDS[it.status]})`);
      this.changed();
      this.rows.get(it.id)?.scrollIntoView({ block: 'nearest' });
      return true;
    }
    return false;
  }

  pointerMove(s, view, w, h) {
    if (!this.drag) return;
    const n = g.screenToNorm(view, s.x, s.y, w, h);
    this.layer.moveVertex(this.drag.index, n.x, n.y);
    this.opts.render();
  }

  pointerUp() {
    if (!this.drag) return;
    this.drag = null;
    this.layer.endDrag();
    this.changed();
  }

  /** What the status bar says about screen point s (a CDF annotation under it), and the handle cursor. */
  hoverAt(s, view, w, h) {
    const l = this.layer;
    const onHandle = !!l.edit && l.hitVertex(s.x, s.y, view, w, h, HANDLE_RADIUS) >= 0;
    this.opts.canvas.classList.toggle('is-over-handle', onHandle || !!this.drag);
    if (onHandle) return 'Drag to move this vertex';
    const it = l.hitTest(s.x, s.y, view, w, h);
    return it ? `In CDF: ${it.label || it.type} · ${it.status} (Shift+Alt+click selects)` : '';
  }

  // ——— drawing (called from annotate.js's frame) ———

  /** Draws the CDF layer under the user's objects and writes the test hooks. */
  draw(ctx, view, w, h) {
    const l = this.layer;
    let drawn = 0;
    if (w && h) {
      for (const it of l.drawOrder()) {
        this.drawItem(ctx, it, view, w, h);
        drawn++;
      }
    }
    this.drawn = drawn;
    const ds = this.opts.canvas.dataset;
    ds.cdfState = l.state;
    ds.cdfAnnotations = String(l.count);
    ds.cdfDrawn = String(drawn);
    ds.cdfSelected = l.selectedId === null ? '' : String(l.selectedId);
    ds.cdfEditing = l.edit ? String(l.edit.id) : '';
    ds.cdfDirty = String(l.dirty);
  }

  drawItem(ctx, it, view, w, h) {
    const l = this.layer;
    const selected = it.id === l.selectedId;
    const editing = l.edit?.id === it.id;
    const color = STATUS_COLORS[it.status] || STATUS_COLORS.suggested;
    const pts = l.verticesOf(it);
    ctx.beginPath();
    let tagAt;
    if (pts || it.polyline) {
      const vs = pts || it.polyline;
      vs.forEach((v, i) => {
        const p = g.normToScreen(view, v.x, v.y, w, h);
        if (i === 0) ctx.moveTo(p.x, p.y);
        else ctx.lineTo(p.x, p.y);
      });
      if (pts) ctx.closePath();
      const b = g.bboxOfPolygons([vs]);
      tagAt = g.normToScreen(view, b.xMin, b.yMin, w, h);
    } else {
      const a = g.normToScreen(view, it.box.xMin, it.box.yMin, w, h);
      const b = g.normToScreen(view, it.box.xMax, it.box.yMax, w, h);
      ctx.rect(a.x, a.y, b.x - a.x, b.y - a.y);
      tagAt = a;
    }
    if (pts || !it.polyline) {
      ctx.globalAlpha = selected ? 0.22 : 0.1;
      ctx.fillStyle = color;
      ctx.fill('evenodd');
      ctx.globalAlpha = 1;
    }
    ctx.lineJoin = 'round';
    if (selected) {
      // A dark halo keeps the outline readable on light images.
      ctx.setLineDash([]);
      ctx.lineWidth = 4;
      ctx.strokeStyle = 'rgba(0,0,0,0.55)';
      ctx.stroke();
    }
    ctx.setLineDash(editing ? [] : [6, 4]);
    ctx.lineWidth = selected ? 2 : 1.5;
    ctx.strokeStyle = editing ? '#ffffff' : color;
    ctx.stroke();
    ctx.setLineDash([]);
    const tag = [it.label || it.type.replace(/^images\./, ''), STATUS_WORDS[it.status]].filter(Boolean).join(' · ');
    this.drawTag(ctx, tag, color, tagAt.x, tagAt.y + 2, selected);
  }

  /** A tag below the shape's top-left corner: outlined, so it differs from the user's filled tags. */
  drawTag(ctx, text, color, x, y, selected) {
    ctx.font = '600 11px system-ui, -apple-system, "Segoe UI", sans-serif';
    const w = ctx.measureText(text).width + 8;
    ctx.fillStyle = selected ? 'rgba(11,13,18,0.9)' : 'rgba(11,13,18,0.7)';
    ctx.fillRect(x, y, w, 16);
    ctx.lineWidth = 1;
    ctx.strokeStyle = color;
    ctx.strokeRect(x + 0.5, y + 0.5, w - 1, 15);
    ctx.fillStyle = color;
    ctx.textBaseline = 'middle';
    ctx.fillText(text, x + 4, y + 8.5);
  }

  /** Draws the vertex handles of the shape being edited, above everything else. */
  drawHandles(ctx, view, w, h) {
    const e = this.layer.edit;
    if (!e || !w || !h) return;
    e.vertices.forEach((v, i) => {
      const p = g.normToScreen(view, v.x, v.y, w, h);
      const r = i === e.dragging ? 6 : 4.5;
      ctx.fillStyle = 'rgba(0,0,0,0.6)';
      ctx.fillRect(p.x - r - 1.5, p.y - r - 1.5, 2 * r + 3, 2 * r + 3);
      ctx.fillStyle = i === e.dragging ? '#a5b0ff' : '#ffffff';
      ctx.fillRect(p.x - r, p.y - r, 2 * r, 2 * r);
    });
  }

  // ——— panel rendering ———

  /** After any change: the panel, then a new frame. */
  changed() {
    this.render();
    this.opts.changed?.();
    this.opts.render();
  }

  render() {
    if (!this.enabled) return;
    const l = this.layer;
    this.countEl.textContent = String(l.count);
    this.section.dataset.state = l.state;
    let note = '';
    if (l.state === 'loading' && !l.count) note = 'Loading the annotations this image has in CDF…';
    else if (l.state === 'error') note = `The annotations in CDF could not be loaded: ${l.error}`;
    else if (l.state === 'ready' && !l.count) note = 'This image has no other annotations in CDF.';
    else if (l.truncated) note = `Showing the first ${l.count}; the image has more in CDF.`;
    this.note.textContent = note;
    this.note.hidden = !note;
    this.note.classList.toggle('is-error', l.state === 'error');

    const keep = new Set();
    let prev = null;
    for (const it of l.items) {
      keep.add(it.id);
      let li = this.rows.get(it.id);
      if (!li) {
        li = this.template.content.firstElementChild.cloneNode(true);
        li.dataset.cdfId = String(it.id);
        this.rows.set(it.id, li);
      }
      this.fill(li, it);
      const want = prev ? prev.nextSibling : this.list.firstChild;
      if (want !== li) this.list.insertBefore(li, want);
      prev = li;
    }
    for (const [id, li] of this.rows) {
      if (!keep.has(id)) {
        li.remove();
        this.rows.delete(id);
      }
    }
  }

  fill(li, it) {
    const l = this.layer;
    const q = (f) => li.querySelector(`[data-cdf-field="${f}"]`);
    const selected = it.id === l.selectedId;
    const editing = l.edit?.id === it.id;
    const busy = this.busy.has(it.id);
    li.classList.toggle('is-selected', selected);
    li.classList.toggle('is-editing', editing);
    li.dataset.status = it.status;
    li.setAttribute('aria-busy', String(busy));

    const input = q('label');
    const text = q('label-text');
    input.hidden = !it.editable;
    text.hidden = it.editable;
    // Never overwrite what the person is typing, nor a label whose save failed.
    if (document.activeElement !== input) input.value = this.drafts.get(it.id) ?? it.label;
    input.disabled = busy;
    text.textContent = it.label || it.type;
    text.title = it.label ? `${it.label} (${it.type})` : it.type;
    const badge = q('status');
    badge.dataset.status = it.status;
    badge.textContent = STATUS_WORDS[it.status];

    const parts = [provenance(it)];
    if (it.confidence !== null) parts.push(`conf. ${it.confidence.toFixed(2)}`);
    if (!drawable(it)) parts.push('not drawn');
    else if (!it.editable) parts.push(it.polyline ? 'polyline' : it.type.replace(/^images\./, ''));
    q('info').textContent = parts.join(' · ');

    q('actions').hidden = !selected;
    for (const b of li.querySelectorAll('[data-cdf-action="status"]')) {
      b.setAttribute('aria-pressed', String(b.dataset.status === it.status));
      b.disabled = busy;
    }
    const edit = li.querySelector('[data-cdf-action="edit-shape"]');
    edit.hidden = !it.editable || editing;
    edit.disabled = busy || (!!l.edit && l.dirty);
    const save = li.querySelector('[data-cdf-action="save-shape"]');
    const cancel = li.querySelector('[data-cdf-action="cancel-shape"]');
    save.hidden = cancel.hidden = !editing;
    save.disabled = busy || !l.dirty;
    save.textContent = editing && l.edit.saving ? 'Saving…' : l.edit?.error ? 'Retry save' : 'Save shape';
    cancel.disabled = busy;
    li.querySelector('[data-cdf-action="delete"]').disabled = busy;
    const how = li.querySelector('[data-cdf-action="provenance"]');
    if (how) how.hidden = !madeByLasso(it);
    q('confirm').hidden = this.confirming !== it.id;
    q('error').textContent = (editing && l.edit.error) || this.errors.get(it.id) || '';
  }
}

