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
// The drawer's "Re-run prompt" button ([data-action="rerun"]) is annotate.js's: it reads `data`
// for the stored prompt. annotate.js calls render() after each model change and draw() from
// its frame, and writes draw()'s result as the data-provenance test hook ("raw,saved").

import * as g from './geometry.js';
import { promptIsEmpty } from './objects.js';
import { saveState } from './saves.js';
import { parseProvenance, fromLocal, provenanceRows, writeText, countVertices } from './provenance.js';

const RAW_COLOR = '#ffffff';
const SAVED_COLOR = '#22d3ee';
const SELECT_ONE = 'Select an object to see how it was made.';

/** The controller for one [data-provenance] drawer. */
export class ProvenanceDrawer {
  /**
   * @param {HTMLElement} root the annotator element
   * @param {object} a the Annotator: its model, inRoom, closed, removed, reviewMode, W, H, and
   *   flash(text), update(), requestRender(), objectURL(id, suffix)
   * @param {object} opts errorMessage(res) → the text of a failed request, signedOut(message) after a 401
   */
  constructor(root, a, opts) {
    this.a = a;
    this.opts = opts;
    this.el = root.querySelector('[data-provenance]');
    this.overlay = root.querySelector('[data-prov-overlay]');
    this.open = false;
    this.key = ''; // provKey of the object shown
    this.data = null; // what is shown: parseProvenance / fromLocal
    this.loading = ''; // the key being fetched
    this.overlay?.addEventListener('change', () => a.requestRender());
  }

  /** Opens the drawer for obj (selecting it), or closes it (open = false, or again for the same). */
  toggle(obj = null, open = undefined) {
    const a = this.a;
    if (!this.el) return;
    if (obj && obj.id !== a.model.selectedId) {
      a.model.select(obj.id);
      open = true;
    }
    this.open = open === undefined ? !this.open : open;
    this.el.hidden = !this.open;
    if (this.open && !a.model.selected) a.flash(SELECT_ONE);
    a.update();
    if (this.open) this.el.scrollIntoView?.({ block: 'nearest' });
  }

  /** The key of what the drawer shows: a change of object, version, save or review refetches. */
  provKey(obj) {
    return `${obj.id}:${obj.version}:${obj.status}:${obj.review || ''}:${saveState(obj)}:${obj.accepted}`;
  }

  /** Forgets what it knows of object id (it left the page as an annotation in CDF). */
  forget(id) {
    if (this.key.startsWith(id + ':')) this.data = null;
  }

  render() {
    const a = this.a;
    if (!this.el || !this.open) return;
    const obj = a.model.selected;
    const el = this.el;
    const note = el.querySelector('[data-prov-note]');
    const rowsEl = el.querySelector('[data-prov-rows]');
    const writesEl = el.querySelector('[data-prov-writes]');
    const rerun = el.querySelector('[data-action="rerun"]');
    el.querySelector('[data-prov-object]').textContent = obj ? obj.label || 'unlabelled' : '';
    el.querySelector('[data-prov-body]').hidden = !obj;
    if (!obj) {
      this.key = '';
      this.data = null;
      note.textContent = SELECT_ONE;
      note.hidden = false;
      rowsEl.replaceChildren();
      writesEl.replaceChildren();
      rerun.disabled = true;
      return;
    }
    const key = this.provKey(obj);
    if (key !== this.key) {
      this.key = key;
      if (a.inRoom && obj.known) {
        this.data = this.data && this.data.objectId === obj.id ? this.data : null;
        this.load(obj, key);
      } else {
        this.data = fromLocal(obj, { W: a.W, H: a.H });
      }
    }
    const d = this.data;
    note.textContent = d ? '' : this.loading === key ? 'Loading…' : 'Not known yet.';
    note.hidden = !!d;
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
    const writes = d ? d.writes : [];
    writesEl.replaceChildren(
      ...(writes.length ? writes : [null]).map((w) => {
        const li = document.createElement('li');
        li.textContent = w ? writeText(w) : d?.accepted ? 'None yet.' : 'None: the object is not accepted.';
        if (w) li.dataset.state = w.state;
        return li;
      }),
    );
    rerun.disabled = a.reviewMode.on || a.closed || a.removed || (promptIsEmpty(obj.prompt) && !(d && (d.prompt.points.length || d.prompt.box)));
    rerun.title = obj.remote
      ? `${obj.author?.name || 'Another member'}'s object — Take over first to re-run its prompt`
      : 'Send the stored prompt again as a new version: a new segment job';
  }

  /** Fetches obj's provenance from the room (key: what it is for; a newer key wins). */
  async load(obj, key) {
    const a = this.a;
    this.loading = key;
    let res;
    try {
      res = await fetch(a.objectURL(obj.id, '/provenance'), { credentials: 'same-origin', headers: { Accept: 'application/json' } });
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

  /** The raw (dashed) and saved (solid) outlines of the drawer's object; returns the vertex counts drawn. */
  draw(ctx, view, w, h) {
    const d = this.data;
    const obj = this.a.model.selected;
    if (!this.open || !d || !obj || d.objectId !== obj.id || (this.overlay && !this.overlay.checked)) return '';
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
