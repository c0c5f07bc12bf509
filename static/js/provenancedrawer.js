// ProvenanceDrawer: the controller for [data-provenance], the "How this was made" drawer of
// the annotation page (annotate.js). I, the object's "How this was made" button or the drawer's
// close button open and close it. It shows the selected object's prompt, job, backend, score,
// vertex counts, annotation ids, review and writes to CDF, and draws the raw (dashed white)
// and saved (solid cyan, with its vertices) outlines on the canvas while [data-prov-overlay]
// is checked. In a room the data comes from GET …/objects/{objectId}/provenance, fetched again
// when the object's version, status, review, save or acceptance changes; on an image opened
// alone (or before the room knows the object) it is built from what the page knows. Parsing
// and formatting live in provenance.js (pure).
//
// It also shows how an annotation of the "In CDF" list was made, when Lasso made it
// (creatingApp "lasso"): its ⓘ button (cdfpanel.js) calls showAnnotation(id), and I opens it
// for the selected In CDF annotation when no object is selected. The data comes from GET
// /api/images/{fileId}/annotations/{annotationId}/provenance, which knows the annotations the
// user made outside rooms; otherwise its message (404) is shown in the drawer. While it shows
// an annotation the drawer follows the In CDF selection to other annotations Lasso made, and
// goes back to objects as soon as an object is selected (followSubject).
//
// The drawer's "Re-run prompt" button ([data-action="rerun"]) is session.js's: it reads `data`
// for the stored prompt (dataFor says whose it is). For an annotation it starts a new object
// with that prompt. annotate.js calls render() after each model change and draw() from its
// frame, and writes draw()'s result as the data-provenance test hook ("raw,saved").

import * as g from './geometry.js';
import { promptIsEmpty } from './objects.js';
import { saveState } from './saves.js';
import { madeByLasso } from './cdflayer.js';
import { getJSON } from './api.js';
import { parseProvenance, fromLocal, provenanceRows, writeText, countVertices, annotationProvenanceURL, rerunPrompt } from './provenance.js';

const RAW_COLOR = '#ffffff';
const SAVED_COLOR = '#22d3ee';
const SELECT_ONE = 'Select an object to see how it was made.';
const OFFLINE = 'The server could not be reached — check your connection, then press ⓘ again.';

/**
 * What the drawer shows after the selections changed, while it shows a CDF annotation: sub is
 * {id, objectSel, cdfSel} (the annotation, and the object and In CDF selections last seen);
 * sel is {objectId, cdfId, cdfLasso} now (cdfLasso: Lasso made the selected CDF annotation).
 * Null (back to objects) once another object is selected; the newly selected CDF annotation
 * when Lasso made it; else the same annotation. Pure.
 */
export function followSubject(sub, sel) {
  if (!sub) return null;
  const objectId = sel.objectId ?? null;
  const cdfId = sel.cdfId ?? null;
  if (objectId !== null && objectId !== sub.objectSel) return null;
  const next = { ...sub, objectSel: objectId };
  if (cdfId !== sub.cdfSel) {
    next.cdfSel = cdfId;
    if (cdfId !== null && sel.cdfLasso) next.id = cdfId;
  }
  return next;
}

/** The controller for one [data-provenance] drawer. */
export class ProvenanceDrawer {
  /**
   * @param {HTMLElement} root the annotator element
   * @param {object} a what the drawer may see of the page (annotate.js drawerHost): model,
   *   cdfLayer (the In CDF layer, or null), fileId, inRoom, closed, removed, W, H, and
   *   reviewing(), flash(text), update(), requestRender(), objectURL(id, suffix)
   * @param {object} opts errorMessage(res) → the text of a failed request, signedOut(message) after a 401
   */
  constructor(root, a, opts) {
    this.a = a;
    this.opts = opts;
    this.el = root.querySelector('[data-provenance]');
    this.overlay = root.querySelector('[data-prov-overlay]');
    this.open = false;
    this.key = ''; // what is shown: provKey of the object, or "cdf:{annotationId}"
    this.data = null; // what is shown: parseProvenance / fromLocal
    this.dataFor = ''; // "" when data is an object's, "cdf:{annotationId}" when an annotation's
    this.loading = ''; // the key being fetched
    this.annotation = null; // {id, objectSel, cdfSel} while it shows a CDF annotation (followSubject)
    this.error = ''; // why the annotation's provenance is not shown
    this.overlay?.addEventListener('change', () => a.requestRender());
  }

  /** The selections followSubject looks at. */
  selection() {
    const l = this.a.cdfLayer;
    return { objectId: this.a.model.selectedId ?? null, cdfId: l ? l.selectedId : null, cdfLasso: madeByLasso(l?.selected) };
  }

  /**
   * Opens the drawer for obj (selecting it), or closes it (open = false, or again for the same).
   * I (no obj, open undefined) opens it for the selected object, else for the selected In CDF
   * annotation when Lasso made it.
   */
  toggle(obj = null, open = undefined) {
    const a = this.a;
    if (!this.el) return;
    if (obj) {
      if (this.annotation || obj.id !== a.model.selectedId) open = true;
      this.annotation = null;
      if (obj.id !== a.model.selectedId) a.model.select(obj.id);
    }
    const byKey = open === undefined; // I
    this.open = byKey ? !this.open : open;
    if (this.open && byKey) {
      const sel = this.selection();
      this.annotation = !a.model.selected && sel.cdfLasso ? { id: sel.cdfId, objectSel: sel.objectId, cdfSel: sel.cdfId } : null;
      if (this.annotation) this.key = ''; // fetched again: its writes may have moved on
    }
    this.el.hidden = !this.open;
    if (this.open && !this.annotation && !a.model.selected) a.flash(SELECT_ONE);
    a.update();
    if (this.open) this.el.scrollIntoView?.({ block: 'nearest' });
  }

  /** The ⓘ of an In CDF annotation: shows how it was made (fetched afresh), or closes the drawer showing it. */
  showAnnotation(id) {
    if (!this.el) return;
    if (this.open && this.annotation?.id === id) return this.toggle(null, false);
    const sel = this.selection();
    this.annotation = { id, objectSel: sel.objectId, cdfSel: sel.cdfId };
    this.key = '';
    this.toggle(null, true);
  }

  /** The key of what the drawer shows: a change of object, version, save or review refetches. */
  provKey(obj) {
    return `${obj.id}:${obj.version}:${obj.status}:${obj.review || ''}:${saveState(obj)}:${obj.accepted}`;
  }

  /** Forgets what it knows of object id (it left the page as an annotation in CDF). */
  forget(id) {
    if (this.dataFor === '' && this.key.startsWith(id + ':')) this.data = null;
  }

  render() {
    const a = this.a;
    if (!this.el || !this.open) return;
    this.annotation = followSubject(this.annotation, this.selection());
    if (this.annotation) return this.renderAnnotation(this.annotation.id);
    const obj = a.model.selected;
    if (!obj) {
      this.key = '';
      this.data = null;
      this.dataFor = '';
      return this.fill({ title: '', note: SELECT_ONE, rerun: null });
    }
    const key = this.provKey(obj);
    if (key !== this.key) {
      this.key = key;
      if (this.dataFor !== '') this.data = null;
      this.dataFor = '';
      if (a.inRoom && obj.known) {
        this.data = this.data && this.data.objectId === obj.id ? this.data : null;
        this.load(obj, key);
      } else {
        this.data = fromLocal(obj, { W: a.W, H: a.H });
      }
    }
    const d = this.data;
    this.fill({
      title: obj.label || 'unlabelled',
      note: d ? '' : this.loading === key ? 'Loading…' : 'Not known yet.',
      rerun: {
        disabled: a.reviewing() || a.closed || a.removed || (promptIsEmpty(obj.prompt) && !(d && rerunPrompt(d.prompt))),
        title: obj.remote
          ? `${obj.author?.name || 'Another member'}'s object — Take over first to re-run its prompt`
          : 'Send the stored prompt again as a new version: a new segment job',
      },
    });
  }

  /** The drawer for In CDF annotation id: what the server kept of how it was made, or why not. */
  renderAnnotation(id) {
    const a = this.a;
    const key = `cdf:${id}`;
    if (key !== this.key) {
      this.key = key;
      this.data = null;
      this.dataFor = '';
      this.error = '';
      this.loadAnnotation(id, key);
    }
    const d = this.dataFor === key ? this.data : null;
    const it = a.cdfLayer?.byId(id);
    const name = it ? it.label || it.type : d?.label || `annotation ${id}`;
    this.fill({
      title: `${name} · in CDF`,
      note: d ? '' : this.error || (this.loading === key ? 'Loading…' : 'Not known.'),
      // Without data (loading, or refused) only the note shows.
      rerun: d && {
        disabled: a.reviewing() || a.closed || a.removed || !rerunPrompt(d.prompt),
        title: 'Start a new object with this prompt on this image: a new segment job',
      },
    });
  }

  /**
   * Writes the drawer: title, a note instead of the rows when there is no data (then also no
   * rows), the rows and writes of `data`, and the Re-run button (rerun null: disabled).
   */
  fill({ title, note, rerun }) {
    const el = this.el;
    const d = note ? null : this.data;
    const noteEl = el.querySelector('[data-prov-note]');
    const rowsEl = el.querySelector('[data-prov-rows]');
    const writesEl = el.querySelector('[data-prov-writes]');
    const button = el.querySelector('[data-action="rerun"]');
    el.querySelector('[data-prov-object]').textContent = title;
    el.querySelector('[data-prov-body]').hidden = !rerun;
    noteEl.textContent = note;
    noteEl.hidden = !note;
    rowsEl.replaceChildren(
      ...(d ? provenanceRows(d) : []).flatMap((r) => {
        const dt = document.createElement('dt');
        dt.textContent = r.term;
        const dd = document.createElement('dd');
        dd.textContent = r.value;
        dd.dataset.prov = r.key;
        return [dt, dd];
      }),
    );
    if (!rerun) {
      writesEl.replaceChildren();
      button.disabled = true;
      return;
    }
    const writes = d ? d.writes : [];
    writesEl.replaceChildren(
      ...(writes.length ? writes : [null]).map((w) => {
        const li = document.createElement('li');
        li.textContent = w ? writeText(w) : d?.accepted ? 'None yet.' : 'None: the object is not accepted.';
        if (w) li.dataset.state = w.state;
        return li;
      }),
    );
    button.disabled = rerun.disabled;
    button.title = rerun.title;
  }

  /** Fetches obj's provenance from the room (key: what it is for; a newer key wins). */
  async load(obj, key) {
    const a = this.a;
    this.loading = key;
    let res;
    try {
      res = await getJSON(a.objectURL(obj.id, '/provenance'));
    } catch {
      res = null;
    }
    if (this.key !== key) return; // the selection moved on
    this.loading = '';
    if (res && res.ok) {
      const body = await res.json().catch(() => null);
      if (this.key !== key) return;
      this.data = body ? parseProvenance(body) : fromLocal(obj, { W: a.W, H: a.H });
    } else {
      // Not in the room yet (404), or unreachable: what the page knows.
      this.data = fromLocal(obj, { W: a.W, H: a.H });
      if (res && res.status === 401) this.opts.signedOut(await this.opts.errorMessage(res));
    }
    a.update();
  }

  /** Fetches how In CDF annotation id was made (key "cdf:{id}"; a newer key wins). A refusal (404) is shown as it is. */
  async loadAnnotation(id, key) {
    const a = this.a;
    this.loading = key;
    let res;
    try {
      res = await getJSON(annotationProvenanceURL(a.fileId, id));
    } catch {
      res = null;
    }
    if (this.key !== key) return;
    let body = null;
    let error = '';
    if (!res) error = OFFLINE;
    else if (res.ok) {
      body = await res.json().catch(() => null);
      if (!body) error = 'The server answered something that is not how the annotation was made.';
    } else {
      error = await this.opts.errorMessage(res);
      if (res.status === 401) this.opts.signedOut(error);
    }
    if (this.key !== key) return;
    this.loading = '';
    if (body) {
      this.data = parseProvenance({ ...body, outsideRoom: true });
      this.dataFor = key;
    } else {
      this.error = error;
    }
    a.update();
  }

  /** The raw (dashed) and saved (solid) outlines of the drawer's object; returns the vertex counts drawn. */
  draw(ctx, view, w, h) {
    const d = this.data;
    if (!this.open || !d || (this.overlay && !this.overlay.checked)) return '';
    if (this.annotation) {
      if (this.dataFor !== `cdf:${this.annotation.id}`) return '';
    } else {
      const obj = this.a.model.selected;
      if (!obj || this.dataFor !== '' || d.objectId !== obj.id) return '';
    }
    const ring = (vs) => {
      vs.forEach((v, i) => {
        const s = g.normToScreen(view, v.x, v.y, w, h);
        if (i === 0) ctx.moveTo(s.x, s.y);
        else ctx.lineTo(s.x, s.y);
      });
      ctx.closePath();
    };
    ctx.save();
    ctx.lineJoin = 'round';
    if (d.rawPolygons.length) {
      ctx.beginPath();
      d.rawPolygons.forEach(ring);
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = 'rgba(0,0,0,0.6)';
      ctx.stroke();
      ctx.lineDashOffset = 3.5;
      ctx.strokeStyle = RAW_COLOR;
      ctx.stroke();
    }
    if (d.savedPolygons && d.savedPolygons.length) {
      ctx.beginPath();
      d.savedPolygons.forEach(ring);
      ctx.setLineDash([]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = SAVED_COLOR;
      ctx.stroke();
      // The saved vertices, so the simplification shows.
      ctx.fillStyle = SAVED_COLOR;
      for (const vs of d.savedPolygons) {
        for (const v of vs) {
          const s = g.normToScreen(view, v.x, v.y, w, h);
          ctx.fillRect(s.x - 2, s.y - 2, 4, 4);
        }
      }
    }
    ctx.restore();
    return `${countVertices(d.rawPolygons)},${d.savedPolygons ? countVertices(d.savedPolygons) : 0}`;
  }
}
