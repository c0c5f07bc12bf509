// ObjectSession: the life of the objects on one image, from the annotator's side — prompts
// sent (at once, or held while Ctrl is down), accept, delete, retry, re-run, labels, undo —
// for an image opened alone and in a room. It holds no DOM: the page hands it the model
// (objects.js), the room's state and outbox in a room, and callbacks to show what happened.
//
// Outside rooms a prompt is POSTed to /api/images/{fileId}/segment and Enter POSTs
// …/objects/{objectId}/accept with the polygon detail and the prompt (the server keeps it as
// the annotation's provenance); object.saved events then tell how the write goes (events.js).
// In a room the commands go to the room through a RoomLink (roomlink.js): in order, and queued
// while the socket is down.

import { requestBody, promptIsEmpty, currentPolygons } from './objects.js';
import { applySave, saveState, canRetrySave } from './saves.js';
import { rerunPrompt } from './provenance.js';
import { postJSON, errorMessage, showSignInNotice } from './api.js';
import { RoomLink } from './roomlink.js';

const RESEND_AFTER_MS = 2000; // restored prompts without a snapshot result are re-sent after this
const OFFLINE = 'The server could not be reached — try again when the connection is back.';

/** The objects of one annotation page and the requests that change them. */
export class ObjectSession {
  /**
   * @param {object} opts
   *   model: the Annotations (objects.js); fileId; roomId ("" outside rooms); closed (the room is closed)
   *   roomState, outbox: in a room (roomstate.js, outbox.js)
   *   storage: the PageStorage (storage.js)
   *   socketOpen(): is the live socket open
   *   tolerancePx(): the polygon detail the user sees, in image pixels
   *   reviewing(): is review mode on
   *   provenance(): what the "How this was made" drawer shows: {annotation, dataFor, data}
   *   flash(text), update(): show a short message; redraw after a change
   *   askLabel(obj): opens the label picker on obj (its label field; Enter there accepts)
   *   signedOut(message): after a 401 (default: the sign-in banner)
   */
  constructor(opts) {
    this.model = opts.model;
    this.fileId = opts.fileId;
    this.roomId = opts.roomId || '';
    this.inRoom = !!this.roomId;
    this.closed = !!opts.closed;
    this.removed = false; // removed from the room
    this.roomState = opts.roomState || null;
    this.outbox = opts.outbox || null;
    this.storage = opts.storage;
    this.socketOpen = opts.socketOpen;
    this.tolerancePx = opts.tolerancePx;
    this.reviewing = opts.reviewing || (() => false);
    this.provenance = opts.provenance || (() => ({}));
    this.flash = opts.flash;
    this.update = opts.update;
    this.signedOut = opts.signedOut || showSignInNotice;
    this.askLabel = opts.askLabel || (() => {});
    this.link = this.inRoom
      ? new RoomLink({ model: this.model, roomId: this.roomId, fileId: this.fileId, outbox: this.outbox, socketOpen: () => this.socketOpen(), flash: (t) => this.flash(t), update: () => this.update(), signedOut: (m) => this.signedOut(m) })
      : null;
    // The label of the first accept on this image is asked for, unless the user chose one here.
    this.labelChosen = false;
    this.deferred = new Set(); // objects whose prompt changed while Ctrl was held
    this.restored = [];
    this.resendTimer = 0;
  }

  /** Restores this tab's objects; in a room their prompts are queued for the socket. */
  restore() {
    this.restored = this.storage.loadObjects(this.model);
    if (this.inRoom) {
      this.link.queueRestored(this.restored);
      this.restored = [];
    }
    if (this.restored.length) this.resendTimer = setTimeout(() => this.resendRestored(), RESEND_AFTER_MS);
  }

  /** Keeps the labels and this tab's objects in the browser. */
  save() {
    this.storage.saveLabels(this.model);
    this.storage.saveObjects(this.model);
  }

  // ——— URLs ———

  /** The URL of an object's commands outside rooms. */
  soloURL(objectId, suffix) {
    return `/api/images/${encodeURIComponent(this.fileId)}/objects/${encodeURIComponent(objectId)}${suffix}`;
  }

  /** The URL of an object's room commands (suffix "/prompt" for prompts). */
  objectURL(objectId, suffix = '') {
    return this.link.objectURL(objectId, suffix);
  }

  /** Sends what waited for the room's connection (nothing outside rooms). */
  flushOutbox() {
    this.link?.flush();
  }

  /** Is a room command for object id queued or in flight? (A snapshot that lacks it must not drop it.) */
  pending(id) {
    return !!this.link && this.link.pending(id);
  }

  // ——— prompts ———

  /**
   * Called after every prompt change: sends it now, or holds it while Ctrl is down (one
   * request on release). t is the input event's time, for latency.
   */
  promptChanged(obj, t, hold = false) {
    if (!obj) return;
    obj.promptAt = t;
    if (hold) this.deferred.add(obj);
    else this.send(obj);
    this.update();
  }

  /** Sends the prompts held while Ctrl was down. */
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

  /** Adds a point to the selected object (a new one when none is). */
  addPoint(point, t, hold) {
    this.promptChanged(this.model.addPoint(point), t, hold);
  }

  /** Removes point index of the selected object's prompt. */
  removePoint(index, t, hold) {
    this.promptChanged(this.model.removePoint(index), t, hold);
  }

  /** Sets the selected object's box. */
  setBox(box, t, hold) {
    this.promptChanged(this.model.setBox(box), t, hold);
  }

  async send(obj) {
    this.deferred.delete(obj);
    if (promptIsEmpty(obj.prompt)) return; // an empty prompt only clears the result
    if (this.inRoom) return this.link.sendPrompt(obj);
    const version = obj.version;
    let res;
    try {
      res = await postJSON(`/api/images/${encodeURIComponent(this.fileId)}/segment`, requestBody(obj));
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
      if (res.status === 401) this.signedOut(msg);
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
        this.link.deleteObject(obj);
        this.model.forget(obj);
      } else {
        this.link.sendEdit(obj, { accepted: obj.accepted });
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

  retry(obj) {
    if (this.model.retry(obj)) this.promptChanged(obj, performance.now());
  }

  /**
   * Re-sends restored prompts that the snapshot did not answer (the server restarted, or the
   * job is gone): results come back without clicks.
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

  // ——— accept, delete, retry a write ———

  /**
   * Enter, the toolbar's or the row's Accept. An object without a label is never accepted: the
   * label picker opens instead; so it does for the first accept on this image when the label
   * is the sticky one nobody chose here. picked: the user confirmed the label in the picker.
   */
  accept(obj, { picked = false } = {}) {
    const target = obj || this.model.selected;
    if (picked && target) this.labelChosen = true;
    if (target && !target.remote && !target.accepted && this.readyToAccept(target)) {
      if (!(target.label || '').trim()) return this.ask(target, picked ? 'Type a label first: Enter then accepts the object.' : 'This object has no label: type one (Enter accepts it), or Esc.');
      if (!this.labelChosen) return this.ask(target, `Accept as “${target.label}”? Enter accepts; type another label first to change it.`);
    }
    if (!this.inRoom) return this.acceptSolo(target);
    if (!this.mayEdit(target)) return;
    const a = this.model.accept(obj);
    if (!a) return this.flash('Nothing to accept: prompt an object first.');
    a.savedTolerance = this.tolerancePx();
    this.link.sendEdit(a, { accepted: true, label: a.label, tolerancePx: a.savedTolerance });
    this.update();
  }

  /** Would accepting obj go ahead (outside rooms: its job is done with an outline; in a room: always)? */
  readyToAccept(obj) {
    if (this.inRoom) return !this.removed && !this.closed;
    const state = saveState(obj);
    return state !== 'saving' && state !== 'saved' && obj.status === 'done' && currentPolygons(obj).length > 0;
  }

  /** Opens the label picker on obj, saying why. */
  ask(obj, why) {
    if (this.model.selectedId !== obj.id) this.model.select(obj.id);
    this.update();
    this.askLabel(obj);
    this.flash(why);
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
    obj.savedTolerance = this.tolerancePx();
    const version = obj.version;
    applySave(obj, { version, op: 'create', state: 'saving' });
    this.update();
    // The prompt goes with it, shaped as for the segment request: the server keeps it as provenance.
    const { points, box } = requestBody(obj);
    let res;
    try {
      res = await postJSON(this.soloURL(obj.id, '/accept'), { version, label: obj.label || '', tolerancePx: obj.savedTolerance, points, box });
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
      if (res.status === 401) this.signedOut(msg);
      return this.update();
    }
    this.flash(`Saving ${obj.label || 'the object'} to CDF…`);
    this.update();
  }

  remove(obj) {
    if (this.inRoom && !this.mayEdit(obj || this.model.selected)) return;
    const r = this.model.remove(obj);
    if (!r) return this.flash('Select an object to delete.');
    this.deferred.delete(r);
    if (this.inRoom) {
      this.link.deleteObject(r);
      this.model.forget(r); // deleted for everyone: not undoable
      this.flash(`Deleted ${r.label || 'object'} for everyone in the room.`);
    } else if (r.save && !r.save.local) {
      // Its write to CDF was asked for: the server deletes the annotations once written.
      this.model.forget(r);
      postJSON(this.soloURL(r.id, '/delete'), {}).then(
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
      res = await postJSON(this.inRoom ? this.objectURL(obj.id, '/retry') : this.soloURL(obj.id, '/retry'), { version });
    } catch {
      obj.retryingSave = false;
      this.flash(OFFLINE);
      return this.update();
    }
    obj.retryingSave = false;
    if (!res.ok) {
      const msg = await errorMessage(res);
      this.flash(msg);
      if (res.status === 401) this.signedOut(msg);
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

  /**
   * "Re-run prompt": the selected object's stored prompt again, as a new version (a new job);
   * for an In CDF annotation shown in the drawer, a new object with its stored prompt.
   */
  rerun() {
    const d = this.provenance();
    if (d.annotation) return this.rerunAnnotation(d);
    const obj = this.model.selected;
    if (!obj) return this.flash('Select an object to re-run its prompt.');
    if (this.reviewing()) return this.flash('Review mode: press V to leave it, then re-run the prompt.');
    if (this.inRoom && (!this.mayEdit(obj) || !this.mayPrompt())) return;
    const p = d.dataFor === '' ? d.data : null;
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
  rerunAnnotation(d) {
    const id = d.annotation.id;
    const p = d.dataFor === `cdf:${id}` ? d.data : null;
    const prompt = p && rerunPrompt(p.prompt);
    if (!prompt) return this.flash('Nothing to re-run: Lasso kept no prompt for this annotation.');
    if (this.reviewing()) return this.flash('Review mode: press V to leave it, then re-run the prompt.');
    this.model.newObject();
    if (this.inRoom && !this.mayPrompt()) return this.update();
    const obj = this.model.ensureSelected();
    if (!this.inRoom && p.label) obj.label = p.label; // a room's objects take the room's labels
    this.model.changePrompt(obj, prompt);
    this.promptChanged(obj, performance.now());
    this.flash(`Re-running the prompt of annotation ${id} as a new object.`);
  }

  // ——— labels ———

  /** The 1–9 keys: the n-th recent (or room) label, for the selected object and the next ones. */
  pickLabel(n) {
    const sel = this.model.selected;
    const keep = sel && sel.remote ? sel.label : null; // another member's object keeps its label
    const label = this.model.pickRecent(n);
    if (label === null) {
      return this.flash(this.inRoom && this.model.fixedLabels ? `The room has no label on ${n}.` : `No label on ${n} yet: type one in an object's label field.`);
    }
    this.labelChosen = true;
    if (keep !== null) sel.label = keep;
    else if (this.inRoom && sel) this.link.sendEdit(sel, { label });
    this.flash(`Label: ${label}`);
    this.update();
  }

  /** The label field of obj: typed (committed false) or committed (Enter, change). */
  setLabel(obj, text, committed) {
    if (committed) {
      if (text) this.labelChosen = true;
      this.model.setLabel(obj, text);
      if (this.inRoom) this.link.sendEdit(obj, { label: text });
    } else obj.label = text;
    this.update();
  }

  /** The sticky label for the next objects. */
  setSticky(text) {
    if (text) this.labelChosen = true;
    this.model.sticky = text;
    this.model.useLabel(text);
    this.update();
  }

  // ——— room: who may change what ———

  /**
   * May the selected object be prompted? Own objects yes; another member's object only when
   * its soft lock is free (then it is taken over quietly), else the lock banner asks first.
   * Also no in a closed room or after being removed.
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
    if (!obj || this.removed || this.closed) return false;
    if (obj.remote) {
      const name = obj.author?.name || 'another member';
      this.model.adopt(obj, !!this.roomState.lockOf(obj));
      this.model.select(obj.id);
      this.flash(`You took over ${obj.label || 'the object'} from ${name}: your next prompt replaces theirs.`);
    } else if (obj.conflict) {
      obj.conflict = '';
      obj.takeOver = true;
      if (this.model.retry(obj)) this.promptChanged(obj, performance.now());
      return false;
    }
    this.update();
    return true;
  }
}
