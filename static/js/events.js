// LiveEvents: what the annotation page's WebSocket says, applied to the page's objects.
// Outside rooms: a snapshot of the user's jobs and writes, job.status events, object.saved
// reports (a saved create leaves the page: it is an annotation in CDF now). In a room: the
// room's snapshot and object.updated / image.status / object.saved events, others' objects
// drawn read-only, and what membership changes mean (removed, roles). A job.status's
// `notice` and a room's segment.notice are told once per browser (notice.js).

import { applySave } from './saves.js';
import { showNotice } from './notice.js';

/** The live events of one annotation page. */
export class LiveEvents {
  /**
   * @param {object} opts
   *   model: the Annotations; session: the ObjectSession (restored prompts, pending commands);
   *   fileId; me (the user id, in a room); roomState (in a room)
   *   flash(text), update()
   *   savedToCdf(obj, live): an object outside rooms was written to CDF and left the page
   *   setDone(done): the image's done flag in the room
   *   afterSnapshot(): after a room snapshot; roleChanged(): after a member change; removed(): the user was removed
   *   notice(text): tells the segment backend's notice (default: notice.js's banner)
   */
  constructor(opts) {
    this.model = opts.model;
    this.session = opts.session;
    this.fileId = opts.fileId;
    this.me = opts.me || '';
    this.roomState = opts.roomState || null;
    this.opts = opts;
    this.notice = opts.notice || showNotice;
  }

  /** Applies one socket message; redraws when something changed. */
  apply(msg) {
    // What the server wants told once about the segment backend (notice.js).
    if (msg.type === 'job.status' || msg.type === 'segment.notice') this.notice(msg.data?.notice);
    if (this.roomState) return this.applyRoom(msg);
    let changed = false;
    if (msg.type === 'snapshot') {
      for (const ev of msg.data?.objects || []) if (this.model.applyEvent(ev)) changed = true;
      // How this user's writes stand (a reload while saving): saved ones are in CDF now.
      for (const sv of Array.isArray(msg.data?.saves) ? msg.data.saves : []) if (this.applySoloSave(sv, false)) changed = true;
      // Restored objects whose jobs are still queued or running will finish live;
      // those the snapshot doesn't know are re-sent.
      if (this.session.restored.length) this.session.resendRestored();
    } else if (msg.type === 'job.status') {
      changed = !!this.model.applyEvent(msg.data);
    } else if (msg.type === 'object.saved') {
      changed = this.applySoloSave(msg.data, true);
    }
    if (changed) this.opts.update();
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
      this.opts.savedToCdf(obj, live);
      if (live) this.opts.flash(`Saved ${obj.label || 'the object'} to CDF: it is listed under In CDF now.`);
    } else if (live && obj.save.state === 'failed') {
      this.opts.flash(`${obj.label || 'The object'} was not saved to CDF: ${obj.save.error}`);
    }
    return true;
  }

  isThisImage(o) {
    return o && typeof o === 'object' && (o.fileId === undefined || String(o.fileId) === String(this.fileId));
  }

  applyRoom(msg) {
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
          if (obj.remote || (obj.known && !this.session.pending(obj.id))) this.model.drop(obj.id);
        }
        const im = (d?.images || []).find((i) => String(i.fileId) === String(this.fileId));
        if (im) this.opts.setDone(im.status === 'done');
        this.opts.afterSnapshot();
        break;
      }
      case 'object.updated':
        if (this.isThisImage(d)) this.applyRoomObject(d, true);
        break;
      case 'image.status':
        if (d && String(d.fileId) === String(this.fileId)) this.opts.setDone(d.status === 'done');
        break;
      case 'object.saved': {
        // How the accepted object's write to CDF goes: saving…, saved, or failed.
        const obj = this.isThisImage(d) ? this.model.byId(d.objectId) : null;
        if (obj) applySave(obj, d);
        break;
      }
    }
    if (changed.has('removed')) return this.opts.removed();
    if (changed.has('members')) this.opts.roleChanged();
    this.opts.update();
  }

  /** Applies one room object; live prompts from others count as their activity (soft lock). */
  applyRoomObject(o, live) {
    const r = this.model.applyRemote(o, this.me, (id) => this.roomState.colorOf(id));
    if (!r.obj) return;
    if (o.save) applySave(r.obj, o.save); // snapshots only: events keep the last known save
    if (live && r.prompted && o.authorId && o.authorId !== this.me) this.roomState.noteActivity(o.authorId);
    if (r.change === 'taken' || r.change === 'removed') this.session.outbox.drop(o.objectId);
    if (r.change === 'taken') this.opts.flash(`${o.authorName || 'Another member'} took over ${r.obj.label || 'an object'}.`);
  }
}
