// Outbox: the room commands waiting for the connection to come back. Pure
// state; the annotate controller sends what take() hands out and reports back.
//
// Rules (docs/ROOMS.md, issue 5 "exactly once"):
//   - a prompt is keyed by (objectId, version), the server's idempotency key;
//     a newer version of the same object replaces an older queued one (the old
//     job would be superseded at once anyway);
//   - object edits (label / accepted / deleted) merge per object, latest value
//     wins, and go after that object's prompt;
//   - take() hands each command out once; one that failed in transit is put
//     back with requeue() unless something newer for the object was queued
//     meanwhile. A command that reached the server but whose answer was lost is
//     sent again: the server answers a replayed prompt version with 200 and
//     creates nothing.

/** Queued room commands. */
export class Outbox {
  constructor() {
    this.prompts = new Map(); // objectId → {kind:'prompt', objectId, version, body}
    this.edits = new Map(); // objectId → {kind:'edit', objectId, body}
  }

  /** Number of queued commands. */
  get size() {
    return this.prompts.size + this.edits.size;
  }

  /** Queues a prompt; an older queued version of the object is dropped. Returns false if a newer one is queued. */
  putPrompt(objectId, version, body) {
    const q = this.prompts.get(objectId);
    if (q && q.version >= version) return false;
    this.prompts.set(objectId, { kind: 'prompt', objectId, version, body });
    return true;
  }

  /** Queues an edit of an object, merged with any queued edit of it. */
  putEdit(objectId, fields) {
    const q = this.edits.get(objectId);
    this.edits.set(objectId, { kind: 'edit', objectId, body: { ...(q ? q.body : {}), ...fields } });
  }

  /** Drops everything queued for an object (e.g. it was deleted before it ever reached the server). */
  drop(objectId) {
    this.prompts.delete(objectId);
    this.edits.delete(objectId);
  }

  /** True when a prompt for the object is queued. */
  hasPrompt(objectId) {
    return this.prompts.has(objectId);
  }

  /** Hands out every queued command once, prompts before edits, emptying the queue. */
  take() {
    const out = [...this.prompts.values(), ...this.edits.values()];
    this.prompts.clear();
    this.edits.clear();
    return out;
  }

  /**
   * Puts back a command whose sending failed in transit. A prompt is kept only
   * if no newer version was queued meanwhile; an edit only fills fields not
   * changed meanwhile.
   */
  requeue(cmd) {
    if (cmd.kind === 'prompt') return this.putPrompt(cmd.objectId, cmd.version, cmd.body);
    const q = this.edits.get(cmd.objectId);
    this.edits.set(cmd.objectId, { kind: 'edit', objectId: cmd.objectId, body: { ...cmd.body, ...(q ? q.body : {}) } });
    return true;
  }
}
