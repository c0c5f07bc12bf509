// The objects on one image and their prompts, job status and results, with
// undo/redo. Pure state: no DOM, no network, no timers — the annotate
// controller calls in, then sends requests and redraws. `node --test` covers it.
//
// Rules (docs/UX.md, ARCHITECTURE.md "the path of one click"):
//   - every change of an object's prompt bumps its version and clears its
//     result at once; an event for any other version is ignored, so a stale
//     result is never drawn;
//   - status only moves forward within a version (queued → running → done|failed);
//   - undo/redo act on the prompt of the selected object while it has prompt
//     history, and on objects (create, delete, accept) otherwise.
//   - in a room, other members' objects live here too (remote: true, with
//     their author): they come from object.updated events, are never in the
//     undo history, and become the user's own only by taking them over.

/** Job statuses in the order they can happen; idle means no job for this version. */
export const STATUS_RANK = { idle: 0, queued: 1, running: 2, done: 3, failed: 3 };

/** Object colours: distinct hues that read on photos and on the dark UI. */
export const PALETTE = [
  '#3b82f6', '#f59e0b', '#10b981', '#ec4899', '#8b5cf6', '#06b6d4',
  '#ef4444', '#84cc16', '#f97316', '#14b8a6', '#a855f7', '#eab308',
];

/** Most labels offered on the 1–9 keys. */
export const MAX_RECENT = 9;

/** True when the prompt has neither points nor a box. */
export function promptIsEmpty(p) {
  return p.points.length === 0 && !p.box;
}

/** The JSON body of POST /api/images/{id}/segment for an object's current prompt. */
export function requestBody(obj) {
  return {
    objectId: obj.id,
    version: obj.version,
    points: obj.prompt.points.map((p) => ({ x: p.x, y: p.y, label: p.label })),
    box: obj.prompt.box ? { ...obj.prompt.box } : null,
  };
}

/** The JSON body of a room prompt, POST /api/rooms/{id}/images/{fileId}/objects/{objectId}/prompt. */
export function roomPromptBody(obj, takeOver = false) {
  const body = {
    version: obj.version,
    points: obj.prompt.points.map((p) => ({ x: p.x, y: p.y, label: p.label })),
    box: obj.prompt.box ? { ...obj.prompt.box } : null,
    label: obj.label || '',
  };
  if (takeOver) body.takeOver = true;
  return body;
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** A prompt {points, box} from untrusted JSON, or null when malformed. */
export function parsePrompt(p) {
  if (typeof p === 'string') {
    try {
      p = JSON.parse(p);
    } catch {
      return null;
    }
  }
  if (!p || typeof p !== 'object') return null;
  const points = Array.isArray(p.points) ? p.points : [];
  const okPoint = (q) => q && isNum(q.x) && isNum(q.y) && (q.label === 0 || q.label === 1);
  const b = p.box ?? null;
  const okBox = b === null || (b && isNum(b.xMin) && isNum(b.yMin) && isNum(b.xMax) && isNum(b.yMax));
  if (!points.every(okPoint) || !okBox) return null;
  return { points: points.map((q) => ({ x: q.x, y: q.y, label: q.label })), box: b ? { xMin: b.xMin, yMin: b.yMin, xMax: b.xMax, yMax: b.yMax } : null };
}

/** Clears what a job produced for an object: status, trail, segments, error. */
function resetResult(obj) {
  obj.status = 'idle';
  obj.trail = [];
  obj.segments = [];
  obj.segIndex = 0;
  obj.boundingBox = null;
  obj.error = '';
  obj.retryable = false;
  obj.elapsedMs = 0;
  obj.statusAt = 0;
  obj.sent = false;
  obj.latencyMs = null;
  obj.backend = ''; // what answers the new version's job is told by its events
  // A review is of one prompt version: a new version awaits review again.
  obj.review = '';
  obj.reviewerName = '';
}

/** Polygons of the object's chosen candidate segment, as vertex arrays (normalised). */
export function currentPolygons(obj) {
  const seg = obj.segments[obj.segIndex];
  if (!seg || !Array.isArray(seg.polygons)) return [];
  return seg.polygons.map((p) => (Array.isArray(p.vertices) ? p.vertices : [])).filter((v) => v.length >= 3);
}

/** The objects on one image. */
export class Annotations {
  /**
   * @param {{newId?: () => string, now?: () => number}} deps
   *   newId makes object ids (crypto.randomUUID in the browser);
   *   now is a clock in ms (performance.now in the browser).
   */
  constructor({ newId = () => crypto.randomUUID(), now = () => Date.now() } = {}) {
    this.newId = newId;
    this.now = now;
    this.objects = [];
    this.selectedId = null;
    this.history = []; // object-level actions
    this.future = [];
    this.sticky = ''; // label for new objects
    this.recent = []; // labels on the 1–9 keys, stable slots
    this.recentUse = new Map(); // label → last use counter, to recycle the stalest slot
    this.useCounter = 0;
    this.created = 0;
    this.fixedLabels = false; // true in a room with a label set: recent[key - 1] is the room's label
  }

  /** The selected object, or null. Prompting edits it; none selected starts a new one. */
  get selected() {
    return this.objects.find((o) => o.id === this.selectedId) || null;
  }

  /** The object with this id, or null. */
  byId(id) {
    return this.objects.find((o) => o.id === id) || null;
  }

  /** The object the status hooks describe: the selected one, else the last own one. */
  get current() {
    if (this.selected) return this.selected;
    for (let i = this.objects.length - 1; i >= 0; i--) if (!this.objects[i].remote) return this.objects[i];
    return null;
  }

  /** The user's own objects (all of them outside a room). */
  get own() {
    return this.objects.filter((o) => !o.remote);
  }

  /** Other members' objects (room mode). */
  get others() {
    return this.objects.filter((o) => o.remote);
  }

  /** Selects an object (or none with null). */
  select(id) {
    this.selectedId = id && this.byId(id) ? id : null;
  }

  /** Starts a new object on the next prompt: deselects. */
  newObject() {
    this.selectedId = null;
  }

  /** Returns the selected object, creating (and selecting) one when none is. */
  ensureSelected() {
    const sel = this.selected;
    if (sel) return sel;
    const obj = {
      id: this.newId(),
      label: this.sticky,
      color: PALETTE[this.created++ % PALETTE.length],
      prompt: { points: [], box: null },
      past: [],
      redo: [],
      version: 0,
      accepted: false,
    };
    resetResult(obj);
    this.objects.push(obj);
    this.selectedId = obj.id;
    this.record({ kind: 'create', obj });
    return obj;
  }

  /** Records an object-level action; a new action drops the redo stack. */
  record(action) {
    this.history.push(action);
    this.future = [];
  }

  /** Replaces the prompt of obj (with prompt-level undo); returns obj. */
  changePrompt(obj, prompt) {
    obj.past.push(obj.prompt);
    obj.redo = [];
    this.setPrompt(obj, prompt);
    return obj;
  }

  /** Sets a prompt without touching the undo stacks: new version, result cleared. */
  setPrompt(obj, prompt) {
    obj.prompt = prompt;
    obj.version += 1;
    obj.accepted = false;
    resetResult(obj);
  }

  /** Adds a point {x, y, label} (normalised; label 1 positive, 0 negative) to the selected object. */
  addPoint(point) {
    const obj = this.ensureSelected();
    return this.changePrompt(obj, { points: [...obj.prompt.points, { ...point }], box: obj.prompt.box });
  }

  /** Removes the selected object's point at index; returns the object or null. */
  removePoint(index) {
    const obj = this.selected;
    if (!obj || index < 0 || index >= obj.prompt.points.length) return null;
    const points = obj.prompt.points.filter((_, i) => i !== index);
    return this.changePrompt(obj, { points, box: obj.prompt.box });
  }

  /** Sets (replaces) the box of the selected object, creating one if needed. */
  setBox(box) {
    const obj = this.ensureSelected();
    return this.changePrompt(obj, { points: obj.prompt.points, box: { ...box } });
  }

  /** Clears the selected object's prompt (Esc); returns the object, or null if there was nothing to clear. */
  clearPrompt() {
    const obj = this.selected;
    if (!obj || promptIsEmpty(obj.prompt)) return null;
    return this.changePrompt(obj, { points: [], box: null });
  }

  /** Re-sends the same prompt as a new version (Retry); returns the object or null. */
  retry(obj) {
    if (!obj || promptIsEmpty(obj.prompt)) return null;
    obj.version += 1;
    resetResult(obj);
    return obj;
  }

  /** Accepts the selected object (Enter) and deselects it; returns it or null. */
  accept(obj = this.selected) {
    if (!obj || obj.accepted) return null;
    if (promptIsEmpty(obj.prompt) && obj.segments.length === 0) return null;
    obj.accepted = true;
    this.useLabel(obj.label);
    this.record({ kind: 'accept', obj });
    if (this.selectedId === obj.id) this.selectedId = null;
    return obj;
  }

  /** Deletes an object (default: the selected one); returns it or null. */
  remove(obj = this.selected) {
    if (!obj) return null;
    const index = this.objects.indexOf(obj);
    if (index < 0) return null;
    this.objects.splice(index, 1);
    if (this.selectedId === obj.id) this.selectedId = null;
    this.record({ kind: 'delete', obj, index });
    return obj;
  }

  /** Sets an object's label and makes it the sticky label for new objects. */
  setLabel(obj, label) {
    obj.label = label;
    this.sticky = label;
    this.useLabel(label);
  }

  /** Puts a label on the 1–9 keys: new labels take a free slot, else the stalest one. */
  useLabel(label) {
    label = (label || '').trim();
    if (!label || this.fixedLabels) return; // a room's labels sit on fixed keys
    this.recentUse.set(label, ++this.useCounter);
    if (this.recent.includes(label)) return;
    if (this.recent.length < MAX_RECENT) {
      this.recent.push(label);
      return;
    }
    let stalest = 0;
    for (let i = 1; i < this.recent.length; i++) {
      if ((this.recentUse.get(this.recent[i]) || 0) < (this.recentUse.get(this.recent[stalest]) || 0)) stalest = i;
    }
    this.recentUse.delete(this.recent[stalest]);
    this.recent[stalest] = label;
  }

  /** Picks recent label n (1-based): sticky, and applied to the selected object. Returns the label or null. */
  pickRecent(n) {
    const label = this.recent[n - 1];
    if (label === undefined) return null;
    this.sticky = label;
    this.recentUse.set(label, ++this.useCounter);
    const obj = this.selected;
    if (obj) obj.label = label;
    return label;
  }

  /**
   * Undo. Returns {obj, prompt: true} when a prompt changed (the caller sends
   * it), {obj} for an object-level change, or null when there is nothing to undo.
   */
  undo() {
    const sel = this.selected;
    if (sel && sel.past.length) {
      sel.redo.push(sel.prompt);
      this.setPrompt(sel, sel.past.pop());
      return { obj: sel, prompt: true };
    }
    const a = this.history.pop();
    if (!a) return null;
    this.future.push(a);
    switch (a.kind) {
      case 'create':
      case 'delete': {
        if (a.kind === 'create') {
          const i = this.objects.indexOf(a.obj);
          if (i >= 0) this.objects.splice(i, 1);
          a.index = i;
          if (this.selectedId === a.obj.id) this.selectedId = null;
        } else {
          this.objects.splice(Math.min(a.index, this.objects.length), 0, a.obj);
          this.selectedId = a.obj.id;
        }
        break;
      }
      case 'accept':
        a.obj.accepted = false;
        this.selectedId = a.obj.id;
        break;
    }
    return { obj: a.obj };
  }

  /** Redo; the mirror of undo, with the same return values. */
  redo() {
    const sel = this.selected;
    if (sel && sel.redo.length) {
      sel.past.push(sel.prompt);
      this.setPrompt(sel, sel.redo.pop());
      return { obj: sel, prompt: true };
    }
    const a = this.future.pop();
    if (!a) return null;
    this.history.push(a);
    switch (a.kind) {
      case 'create':
        this.objects.splice(Math.max(0, Math.min(a.index ?? this.objects.length, this.objects.length)), 0, a.obj);
        this.selectedId = a.obj.id;
        break;
      case 'delete': {
        const i = this.objects.indexOf(a.obj);
        if (i >= 0) this.objects.splice(i, 1);
        if (this.selectedId === a.obj.id) this.selectedId = null;
        break;
      }
      case 'accept':
        a.obj.accepted = true;
        if (this.selectedId === a.obj.id) this.selectedId = null;
        break;
    }
    return { obj: a.obj };
  }

  /** Notes that the request for obj's current version was accepted by the server (202). */
  markSent(obj, version) {
    if (obj.version === version) obj.sent = true;
  }

  /** Marks obj's current version failed with a message (HTTP error); ignored if the version moved on. */
  markFailed(obj, version, message, retryable) {
    if (obj.version !== version) return false;
    obj.status = 'failed';
    if (!obj.trail.includes('failed')) obj.trail.push('failed');
    obj.error = message;
    obj.retryable = !!retryable;
    obj.statusAt = this.now();
    return true;
  }

  /**
   * Applies a job.status event. Returns the object it changed, or null when the
   * event is for an unknown object, another version, or would move the status
   * backwards.
   */
  applyEvent(ev) {
    if (!ev || typeof ev !== 'object') return null;
    const obj = this.byId(ev.objectId);
    if (!obj || ev.version !== obj.version) return null;
    const status = ev.status;
    if (!(status in STATUS_RANK) || status === 'idle') return null;
    if (STATUS_RANK[status] < STATUS_RANK[obj.status]) return null;
    if (STATUS_RANK[obj.status] === 3 && status !== obj.status) return null; // terminal
    if (obj.status === status && STATUS_RANK[status] === 3) return null; // duplicate terminal event
    obj.status = status;
    if (!obj.trail.includes(status)) obj.trail.push(status);
    if (Number.isSafeInteger(ev.jobId) && ev.jobId > 0) obj.jobId = ev.jobId;
    if (typeof ev.backend === 'string' && ev.backend) obj.backend = ev.backend;
    obj.elapsedMs = Number(ev.elapsedMs) || 0;
    obj.statusAt = this.now();
    if (status === 'done') {
      obj.segments = Array.isArray(ev.segments) ? ev.segments : [];
      obj.segIndex = 0;
      obj.boundingBox = ev.boundingBox || null;
      obj.error = '';
    } else if (status === 'failed') {
      obj.error = ev.error || 'The segmentation job failed.';
      obj.retryable = !!ev.retryable;
    }
    return obj;
  }

  /**
   * What is worth keeping across a reload (sign-in expired, back and forth
   * between images): ids, labels, colours, prompts, versions. Results are not
   * kept: the room's snapshot or a re-sent prompt brings them back.
   */
  save() {
    return {
      created: this.created,
      objects: this.own.map((o) => ({
        id: o.id, label: o.label, color: o.color, prompt: o.prompt, version: o.version, accepted: o.accepted,
      })),
    };
  }

  /** Restores what save() kept, skipping anything malformed; returns the restored objects. */
  load(saved) {
    if (!saved || !Array.isArray(saved.objects)) return [];
    const num = (v) => typeof v === 'number' && Number.isFinite(v);
    const okPoint = (p) => p && num(p.x) && num(p.y) && (p.label === 0 || p.label === 1);
    const okBox = (b) => b === null || (b && num(b.xMin) && num(b.yMin) && num(b.xMax) && num(b.yMax));
    const restored = [];
    for (const s of saved.objects) {
      if (!s || typeof s.id !== 'string' || this.byId(s.id) || !num(s.version)) continue;
      const p = s.prompt;
      if (!p || !Array.isArray(p.points) || !p.points.every(okPoint) || !okBox(p.box ?? null)) continue;
      const obj = {
        id: s.id,
        label: typeof s.label === 'string' ? s.label : '',
        color: typeof s.color === 'string' ? s.color : PALETTE[this.created % PALETTE.length],
        prompt: { points: p.points.map((q) => ({ x: q.x, y: q.y, label: q.label })), box: p.box ? { ...p.box } : null },
        past: [],
        redo: [],
        version: s.version,
        accepted: !!s.accepted,
      };
      resetResult(obj);
      this.objects.push(obj);
      restored.push(obj);
    }
    if (num(saved.created)) this.created = Math.max(this.created, saved.created);
    return restored;
  }

  /** Drops an object from the undo and redo history (room mode: what the room can't undo). */
  forget(obj) {
    this.history = this.history.filter((a) => a.obj !== obj);
    this.future = this.future.filter((a) => a.obj !== obj);
  }

  /** Removes an object without recording it (it was deleted elsewhere); returns it or null. */
  drop(id) {
    const obj = this.byId(id);
    if (!obj) return null;
    this.objects.splice(this.objects.indexOf(obj), 1);
    if (this.selectedId === id) this.selectedId = null;
    this.forget(obj);
    return obj;
  }

  /**
   * Takes over another member's object: it becomes the user's own (a colour of
   * the user's, prompt history starting now). With takeOver (the user agreed to
   * override a soft lock) the next prompt says so.
   */
  adopt(obj, takeOver = true) {
    if (!obj || !obj.remote) return obj;
    obj.remote = false;
    obj.author = null;
    obj.color = PALETTE[this.created++ % PALETTE.length];
    obj.past = [];
    obj.redo = [];
    obj.takeOver = takeOver;
    return obj;
  }

  /**
   * Applies a room object (object.updated event or snapshot entry, docs/ROOMS.md)
   * for the user `me`. authorColor(id) gives a member's colour. Returns
   * {obj, change, prompted} — change is "added", "updated", "taken" (another
   * member now prompts one of the user's objects), "removed" or "" (nothing) —
   * prompted is true when the event carries a new prompt version.
   */
  applyRemote(o, me, authorColor = () => '#9aa2b1') {
    const none = { obj: null, change: '', prompted: false };
    if (!o || typeof o !== 'object' || typeof o.objectId !== 'string' || !isNum(o.version)) return none;
    let obj = this.byId(o.objectId);
    if (o.deleted || o.deletedAt) {
      return obj ? { obj: this.drop(o.objectId), change: 'removed', prompted: false } : none;
    }
    const prompt = parsePrompt(o.prompt);
    if (!prompt) return none;
    const mine = !o.authorId || o.authorId === me;
    const author = mine ? null : { id: String(o.authorId), name: String(o.authorName || 'Someone') };
    let change = 'updated';
    let prompted = false;
    if (!obj) {
      obj = {
        id: o.objectId,
        label: typeof o.label === 'string' ? o.label : '',
        color: mine ? PALETTE[this.created++ % PALETTE.length] : authorColor(o.authorId),
        prompt,
        past: [],
        redo: [],
        version: o.version,
        accepted: !!o.accepted,
        remote: !mine,
        author,
      };
      resetResult(obj);
      obj.sent = true;
      this.objects.push(obj);
      change = 'added';
      prompted = true;
    } else if (o.version > obj.version || (o.version === obj.version && !mine && !obj.remote)) {
      // A newer prompt from elsewhere (or the same version from another member: the
      // server kept theirs) replaces ours.
      if (!mine && !obj.remote) change = 'taken';
      obj.prompt = prompt;
      obj.version = o.version;
      obj.remote = !mine;
      obj.author = author;
      if (!mine) {
        obj.color = authorColor(o.authorId);
        obj.past = [];
        obj.redo = [];
        obj.takeOver = false;
        this.forget(obj);
      }
      resetResult(obj);
      obj.sent = true;
      prompted = true;
    } else if (o.version < obj.version) {
      return { obj, change: '', prompted: false }; // stale
    }
    obj.known = true;
    if (obj.remote || change === 'added') {
      obj.label = typeof o.label === 'string' ? o.label : obj.label;
      obj.accepted = !!o.accepted;
      if (author) obj.author = author;
    }
    if (o.status) this.applyEvent({ objectId: o.objectId, version: o.version, status: o.status, segments: o.segments, boundingBox: o.boundingBox, error: o.error, jobId: o.jobId });
    // The review of this version, for everyone's objects (the user's own too).
    obj.review = o.review === 'approved' || o.review === 'rejected' ? o.review : '';
    obj.reviewerName = obj.review && typeof o.reviewerName === 'string' ? o.reviewerName : '';
    if (typeof o.backend === 'string' && o.backend) obj.backend = o.backend;
    if (Number.isSafeInteger(o.jobId) && o.jobId > 0) obj.jobId = o.jobId;
    return { obj, change, prompted };
  }

  /** Shows the next candidate segment of obj (Tab); returns true if it changed. */
  cycleSegment(obj) {
    if (!obj || obj.segments.length < 2) return false;
    obj.segIndex = (obj.segIndex + 1) % obj.segments.length;
    return true;
  }
}
