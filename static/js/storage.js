// PageStorage: what the annotation page keeps in the browser. The recent and sticky labels
// outside rooms (localStorage, every tab), and this tab's objects of this image
// (sessionStorage: kept across a reload, e.g. after signing in again; per room in a room).
// Storage that is full, disabled or corrupt is never an error: the page just starts without.

const LABELS_KEY = 'lasso.labels';
const OBJECTS_KEY = 'lasso.objects.'; // + [room:{id}:] + file id

/** The browser storage of one annotation page. */
export class PageStorage {
  /**
   * @param {object} opts fileId, roomId ("" outside rooms), local and session (the Storage
   *   objects; localStorage and sessionStorage by default)
   */
  constructor({ fileId, roomId = '', local = globalThis.localStorage, session = globalThis.sessionStorage }) {
    this.fileId = fileId;
    this.roomId = roomId;
    this.local = local;
    this.session = session;
  }

  /** The sessionStorage key of this page's objects: per image, and per room in a room. */
  objectsKey() {
    return OBJECTS_KEY + (this.roomId ? `room:${this.roomId}:` : '') + this.fileId;
  }

  /** Puts the saved recent and sticky labels into model (outside rooms only). */
  loadLabels(model) {
    if (this.roomId) return;
    try {
      const saved = JSON.parse(this.local.getItem(LABELS_KEY) || 'null');
      if (saved && Array.isArray(saved.recent)) {
        for (const l of saved.recent) if (typeof l === 'string') model.useLabel(l);
        if (typeof saved.sticky === 'string') model.sticky = saved.sticky;
      }
    } catch {
      // storage unavailable or corrupt: start without labels
    }
  }

  /** Keeps model's recent and sticky labels; a room's labels are the room's, not this browser's. */
  saveLabels(model) {
    if (this.roomId) return;
    try {
      this.local.setItem(LABELS_KEY, JSON.stringify({ recent: model.recent, sticky: model.sticky }));
    } catch {
      // storage full or disabled: labels just won't persist
    }
  }

  /** Restores this tab's objects for this image into model; returns the restored ones. */
  loadObjects(model) {
    try {
      return model.load(JSON.parse(this.session.getItem(this.objectsKey()) || 'null'));
    } catch {
      return [];
    }
  }

  /** Keeps model's own objects for this tab (none: the key goes). */
  saveObjects(model) {
    try {
      const key = this.objectsKey();
      if (model.own.length) this.session.setItem(key, JSON.stringify(model.save()));
      else this.session.removeItem(key);
    } catch {
      // storage full or disabled: objects just won't survive a reload
    }
  }
}
