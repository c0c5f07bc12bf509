// RoomLink: the annotation page's commands to its room, in order and exactly once. A prompt
// goes to POST /api/rooms/{id}/images/{fileId}/objects/{objectId}/prompt, a label / accepted /
// deleted change to …/objects/{objectId}; one object's commands land in the order they were
// made (chain), and what is made while the socket is down, or lost in transit, waits in the
// Outbox (outbox.js) and is sent once the socket is back (docs/ROOMS.md).

import { roomPromptBody, promptIsEmpty } from './objects.js';
import { postJSON, errorMessage, showSignInNotice } from './api.js';

const REFLUSH_MS = 3000; // queued commands that failed in transit are retried after this

/** The commands of one annotation page to its room. */
export class RoomLink {
  /**
   * @param {object} opts model (objects.js), roomId, fileId, outbox (outbox.js), socketOpen(),
   *   flash(text), update(), signedOut(message) (default: the sign-in banner)
   */
  constructor(opts) {
    this.model = opts.model;
    this.roomId = opts.roomId;
    this.fileId = opts.fileId;
    this.outbox = opts.outbox;
    this.socketOpen = opts.socketOpen;
    this.flash = opts.flash;
    this.update = opts.update;
    this.signedOut = opts.signedOut || showSignInNotice;
    this.chains = new Map(); // object id → the promise of its last command: one object's commands stay in order
    this.reflushTimer = 0;
  }

  /** The URL of an object's room commands (suffix "/prompt" for prompts). */
  objectURL(objectId, suffix = '') {
    const r = encodeURIComponent(this.roomId);
    return `/api/rooms/${r}/images/${encodeURIComponent(this.fileId)}/objects/${encodeURIComponent(objectId)}${suffix}`;
  }

  /** Queues restored prompts: the server answers a version it already has with 200 and starts nothing. */
  queueRestored(objs) {
    for (const obj of objs) {
      if (!promptIsEmpty(obj.prompt)) this.outbox.putPrompt(obj.id, obj.version, roomPromptBody(obj));
    }
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

  /** Sends a prompt, or queues it while the socket is down. */
  sendPrompt(obj) {
    const cmd = { kind: 'prompt', objectId: obj.id, version: obj.version, body: roomPromptBody(obj, obj.takeOver) };
    if (!this.socketOpen()) {
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
      res = await postJSON(this.objectURL(cmd.objectId, '/prompt'), cmd.body);
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
      if (res.status === 401) this.signedOut(msg);
    }
    this.update();
  }

  /** Sends an object's label / accepted / deleted change, or queues it while the socket is down. */
  sendEdit(obj, fields) {
    if (!obj || obj.remote) return;
    if (!this.socketOpen() || this.outbox.hasPrompt(obj.id)) {
      this.outbox.putEdit(obj.id, fields);
      return;
    }
    return this.chain(obj.id, () => this.postEdit({ kind: 'edit', objectId: obj.id, body: fields }));
  }

  async postEdit(cmd) {
    let res;
    try {
      res = await postJSON(this.objectURL(cmd.objectId), cmd.body);
    } catch {
      this.outbox.requeue(cmd);
      this.scheduleFlush();
      return;
    }
    if (res.ok || res.status === 404) return; // 404: the object never reached the room, or is gone
    const msg = await errorMessage(res);
    this.flash(msg);
    if (res.status === 401) this.signedOut(msg);
  }

  /** Deletes an own object for everyone; one that never reached the room just leaves the queue. */
  deleteObject(obj) {
    if (!obj.known && this.outbox.hasPrompt(obj.id)) {
      this.outbox.drop(obj.id);
      return;
    }
    this.outbox.drop(obj.id);
    this.sendEdit(obj, { deleted: true });
  }

  /** Sends what waited for the connection, each command once, one object's commands in order. */
  flush() {
    clearTimeout(this.reflushTimer);
    for (const cmd of this.outbox.take()) {
      this.chain(cmd.objectId, () => (cmd.kind === 'prompt' ? this.postPrompt(cmd) : this.postEdit(cmd)));
    }
  }

  scheduleFlush() {
    clearTimeout(this.reflushTimer);
    this.reflushTimer = setTimeout(() => {
      if (this.socketOpen()) this.flush();
    }, REFLUSH_MS);
  }

  /** Is a command for object id queued or in flight? (A snapshot that lacks it must not drop it.) */
  pending(id) {
    return this.outbox.hasPrompt(id) || this.chains.has(id);
  }
}
