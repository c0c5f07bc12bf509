// RoomState: what a page knows about its room — members, who is present and on
// which image, image statuses, progress — kept from the room's WebSocket
// messages (docs/ROOMS.md). Pure state: no DOM, no network, no timers; the room
// and annotate controllers call in and redraw. `node --test` covers it.
//
// Also here: member colours and initials (the same as the server's), and the
// soft-lock rule for objects another member is prompting.

/** Member colours: the same list, in the same order, as rooms.Color and views.MemberColor. */
export const MEMBER_PALETTE = [
  '#e5484d', '#30a46c', '#0090ff', '#f76b15', '#8e4ec6',
  '#12a594', '#d6409f', '#ffc53d', '#3e63dd', '#46a758',
];

/** How long after their last prompt a present member keeps the soft lock on their objects. */
export const LOCK_MS = 30000;

/** Image statuses in a room. */
export const IMAGE_STATUSES = ['done', 'in_progress', 'untouched'];

/** A member's stable colour: 32-bit FNV-1a of the user id's UTF-8 bytes picks from the palette. */
export function memberColor(userId) {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(String(userId ?? ''))) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return MEMBER_PALETTE[h % MEMBER_PALETTE.length];
}

/** Up to two initials of a display name, like views.initials ("Ana Lima" → "AL"). */
export function initials(name) {
  let out = '';
  for (const word of String(name ?? '').split(/\s+/)) {
    const ch = [...word][0];
    if (!ch || !/[\p{L}\p{N}]/u.test(ch)) continue;
    out += ch.toUpperCase();
    if ([...out].length === 2) break;
  }
  return out || '?';
}

/** A file id as a map key (JSON numbers and data- attributes agree on the string). */
export function fileKey(id) {
  return id === null || id === undefined || id === '' ? '' : String(id);
}

/** An image status, with anything unknown as "untouched". */
export function imageStatus(s) {
  return IMAGE_STATUSES.includes(s) ? s : 'untouched';
}

/**
 * Progress in one shape, whatever the server sent: counts of images by status,
 * objects per label and per member as arrays (the server may send maps
 * perLabel / perMember or arrays labels / members).
 * @returns {{done:number, inProgress:number, untouched:number, total:number,
 *            labels:{name:string, color:string, objects:number}[],
 *            members:{userId:string, name:string, color:string, objects:number, done:number}[]}}
 */
export function normaliseProgress(p, { labels = [], members = new Map() } = {}) {
  const n = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  p = p && typeof p === 'object' ? p : {};
  const done = n(p.done);
  const inProgress = n(p.inProgress ?? p.in_progress);
  const untouched = n(p.untouched);
  const total = n(p.total) || done + inProgress + untouched;
  let outLabels = [];
  if (Array.isArray(p.labels)) {
    outLabels = p.labels.map((l) => ({ name: String(l.name ?? ''), color: String(l.color ?? ''), objects: n(l.objects) }));
  } else if (p.perLabel && typeof p.perLabel === 'object') {
    const colour = new Map(labels.map((l) => [l.name, l.color]));
    const order = new Map(labels.map((l, i) => [l.name, i]));
    outLabels = Object.entries(p.perLabel)
      .map(([name, objects]) => ({ name, color: colour.get(name) || '', objects: n(objects) }))
      .sort((a, b) => (order.get(a.name) ?? 99) - (order.get(b.name) ?? 99) || a.name.localeCompare(b.name));
  }
  let outMembers = [];
  if (Array.isArray(p.members)) {
    outMembers = p.members.map((m) => ({
      userId: String(m.userId ?? ''), name: String(m.name ?? ''), color: m.color || memberColor(m.userId),
      objects: n(m.objects), done: n(m.done),
    }));
  } else if (p.perMember && typeof p.perMember === 'object') {
    outMembers = Object.entries(p.perMember)
      .map(([userId, objects]) => {
        const m = members.get(userId);
        return { userId, name: m?.name || userId, color: m?.color || memberColor(userId), objects: n(objects), done: 0 };
      })
      .sort((a, b) => b.objects - a.objects || a.name.localeCompare(b.name));
  }
  return { done, inProgress, untouched, total, labels: outLabels, members: outMembers };
}

/**
 * The soft lock on an object: the display name of the member holding it, or "".
 * Held when the object's last prompt came from another member who is present
 * (on this image, when fileId is given) and prompted within LOCK_MS.
 *
 * @param {{author?: {id:string, name:string}|null}} obj
 * @param {{me:string, presence:Map, lastActive:Map, fileId?:string|number|null, now:number}} ctx
 */
export function lockHolder(obj, { me, presence, lastActive, fileId = null, now }) {
  const a = obj?.author;
  if (!a || !a.id || a.id === me) return '';
  const p = presence.get(a.id);
  if (!p || !p.present) return '';
  if (fileId !== null && fileKey(p.fileId) !== fileKey(fileId)) return '';
  const t = lastActive.get(a.id);
  if (typeof t !== 'number' || now - t > LOCK_MS) return '';
  return p.name || a.name || 'Someone';
}

/** The earliest time (same clock as now) at which a held lock can free itself, or null. */
export function lockExpiry(obj, { lastActive }) {
  const t = obj?.author ? lastActive.get(obj.author.id) : undefined;
  return typeof t === 'number' ? t + LOCK_MS : null;
}

/** What one page knows about its room. */
export class RoomState {
  /**
   * @param {{me?: string, fileId?: string|number|null, now?: () => number}} opts
   *   me is the signed-in user's id; fileId the image this page shows (null on the grid);
   *   now a clock in ms (Date.now in the browser).
   */
  constructor({ me = '', fileId = null, now = () => Date.now() } = {}) {
    this.me = me;
    this.fileId = fileKey(fileId);
    this.now = now;
    this.room = null;
    this.labels = [];
    this.members = new Map(); // userId → {userId, name, color, role}
    this.presence = new Map(); // userId → {userId, name, color, fileId: string, present: true}
    this.images = new Map(); // file id → {fileId, status, doneBy, objects}
    this.progress = normaliseProgress(null);
    this.rawProgress = null;
    this.lastActive = new Map(); // userId → time of their last prompt seen
    this.removed = false;
    this.hasImages = false; // the last snapshot listed the images
  }

  /** A member's colour: from the server when known, else the hash. */
  colorOf(userId) {
    return this.presence.get(userId)?.color || this.members.get(userId)?.color || memberColor(userId);
  }

  /** A member's display name, or "". */
  nameOf(userId) {
    return this.members.get(userId)?.name || this.presence.get(userId)?.name || '';
  }

  /** A member's role: "owner", "reviewer", "member", or "" when not a member. */
  roleOf(userId) {
    return this.members.get(userId)?.role || '';
  }

  /** Present members on an image (default: this page's), by name. */
  on(fileId = this.fileId) {
    const key = fileKey(fileId);
    return [...this.presence.values()].filter((p) => p.present && key && p.fileId === key).sort(byName);
  }

  /** Present members by image: file id → members, by name. */
  byImage() {
    const out = new Map();
    for (const p of this.presence.values()) {
      if (!p.present || !p.fileId) continue;
      if (!out.has(p.fileId)) out.set(p.fileId, []);
      out.get(p.fileId).push(p);
    }
    for (const list of out.values()) list.sort(byName);
    return out;
  }

  /** Notes that a member prompted at time t (for the soft lock). */
  noteActivity(userId, t = this.now()) {
    if (!userId) return;
    const prev = this.lastActive.get(userId);
    if (prev === undefined || t > prev) this.lastActive.set(userId, t);
  }

  /** The soft-lock holder of an object on this page's image (see lockHolder). */
  lockOf(obj) {
    return lockHolder(obj, {
      me: this.me, presence: this.presence, lastActive: this.lastActive,
      fileId: this.fileId || null, now: this.now(),
    });
  }

  setMember(m) {
    if (!m || !m.userId) return false;
    if (m.removedAt) {
      const had = this.members.delete(m.userId);
      return this.presence.delete(m.userId) || had;
    }
    const prev = this.members.get(m.userId);
    const next = {
      userId: String(m.userId),
      name: String(m.name ?? prev?.name ?? ''),
      color: m.color || prev?.color || memberColor(m.userId),
      role: m.role || prev?.role || 'member',
    };
    if (prev && prev.name === next.name && prev.color === next.color && prev.role === next.role) return false;
    this.members.set(next.userId, next);
    return true;
  }

  setPresence(p) {
    if (!p || !p.userId) return false;
    const id = String(p.userId);
    const prev = this.presence.get(id);
    if (p.present === false) return this.presence.delete(id);
    const next = { userId: id, name: String(p.name ?? prev?.name ?? this.nameOf(id)), color: p.color || this.colorOf(id), fileId: fileKey(p.fileId), present: true };
    if (!this.members.has(id)) this.setMember({ userId: id, name: next.name, color: next.color });
    if (prev && prev.fileId === next.fileId && prev.name === next.name && prev.color === next.color) return false;
    this.presence.set(id, next);
    return true;
  }

  setImage(im) {
    if (!im || im.fileId === undefined) return false;
    const key = fileKey(im.fileId);
    const prev = this.images.get(key);
    const next = {
      fileId: key,
      status: imageStatus(im.status),
      doneBy: typeof im.doneBy === 'string' ? im.doneBy : prev?.doneBy || '',
      objects: typeof im.objects === 'number' ? im.objects : prev?.objects ?? null,
    };
    // Objects awaiting review, when the server counts them (review.js falls back to objects).
    const awaiting = typeof im.awaiting === 'number' ? im.awaiting : prev?.awaiting;
    if (typeof awaiting === 'number') next.awaiting = awaiting;
    if (next.status !== 'done') next.doneBy = '';
    if (prev && prev.status === next.status && prev.doneBy === next.doneBy && prev.objects === next.objects && prev.awaiting === next.awaiting) return false;
    this.images.set(key, next);
    return true;
  }

  setProgress(p) {
    this.rawProgress = p;
    this.progress = normaliseProgress(p, { labels: this.labels, members: this.members });
  }

  /**
   * Applies a snapshot or a GET /api/rooms/{id}/state body: replaces members,
   * presence, images (when listed) and progress.
   */
  applySnapshot(d) {
    d = d && typeof d === 'object' ? d : {};
    if (d.room && typeof d.room === 'object') {
      this.room = d.room;
      if (Array.isArray(d.room.labels)) this.labels = d.room.labels.filter((l) => l && l.name);
    }
    if (Array.isArray(d.members)) {
      this.members.clear();
      for (const m of d.members) this.setMember(m);
    }
    if (Array.isArray(d.presence)) {
      this.presence.clear();
      for (const p of d.presence) this.setPresence({ ...p, present: p.present ?? true });
    }
    this.hasImages = Array.isArray(d.images);
    if (this.hasImages) {
      this.images.clear();
      for (const im of d.images) this.setImage(im);
    }
    if (d.progress) this.setProgress(d.progress);
    for (const o of Array.isArray(d.objects) ? d.objects : []) {
      // A snapshot can't say when an object was prompted on our clock; its server time,
      // never later than now, is the best guess.
      const t = Math.min(Date.parse(o?.updatedAt) || 0, this.now());
      if (o && o.authorId && o.authorId !== this.me && t) this.noteActivity(o.authorId, t);
    }
  }

  /**
   * Applies one WebSocket message; returns the set of what changed:
   * "members" (also a member.role change), "presence", "images", "progress", "removed".
   */
  apply(msg) {
    const changed = new Set();
    if (!msg || typeof msg !== 'object') return changed;
    const d = msg.data;
    switch (msg.type) {
      case 'snapshot':
        this.applySnapshot(d);
        for (const k of ['members', 'presence', 'images', 'progress']) changed.add(k);
        break;
      case 'member.presence':
        if (this.setPresence(d)) changed.add('presence');
        if (d && d.userId && this.members.has(d.userId)) changed.add('members');
        break;
      case 'image.status':
        if (this.setImage(d)) changed.add('images');
        break;
      case 'progress':
        this.setProgress(d);
        changed.add('progress');
        break;
      case 'member.role': {
        // The owner made someone a reviewer, or a plain member again.
        const m = d && d.userId ? this.members.get(String(d.userId)) : null;
        if (m && typeof d.role === 'string' && d.role && this.setMember({ ...m, role: d.role })) changed.add('members');
        break;
      }
      case 'member.removed':
        if (!d || !d.userId) break;
        if (d.userId === this.me) {
          this.removed = true;
          changed.add('removed');
        }
        if (this.members.delete(d.userId)) changed.add('members');
        if (this.presence.delete(d.userId)) changed.add('presence');
        break;
    }
    return changed;
  }

  /** Counts of images by status, from the images known (when progress is not yet known). */
  counts() {
    const c = { done: 0, inProgress: 0, untouched: 0, total: 0 };
    for (const im of this.images.values()) {
      c.total++;
      if (im.status === 'done') c.done++;
      else if (im.status === 'in_progress') c.inProgress++;
      else c.untouched++;
    }
    return c;
  }
}

function byName(a, b) {
  return (a.name || '').localeCompare(b.name || '') || a.userId.localeCompare(b.userId);
}
