// Export: the pure parts of downloading a room's export with progress — the progress id, the
// URL, the file name from Content-Disposition, and the progress bar's value from the room
// socket's export.progress events ({progress, phase: "images"|"writing", done, total}).
// room.js does the fetching and the DOM.

/** Export formats and what each downloads. */
export const FORMATS = ['coco', 'yolo'];

/** A fresh progress id: 1..64 of [A-Za-z0-9_-], as the server asks. */
export function newProgressId(random = Math.random) {
  let s = '';
  for (let i = 0; i < 12; i++) s += Math.floor(random() * 36).toString(36);
  return `exp-${s}`;
}

/** The export URL of a room. */
export function exportURL(roomId, { format = 'coco', status = 'approved', progress = '' } = {}) {
  const q = new URLSearchParams({ format: FORMATS.includes(format) ? format : 'coco', status: status === 'accepted' ? 'accepted' : 'approved' });
  if (progress) q.set('progress', progress);
  return `/rooms/${encodeURIComponent(roomId)}/export?${q}`;
}

/**
 * The file name a Content-Disposition header gives (filename*=UTF-8''… wins over filename=),
 * reduced to a safe base name; fallback when there is none.
 */
export function filenameFrom(header, fallback = 'export') {
  let name = '';
  if (typeof header === 'string') {
    const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
    if (star) {
      try {
        name = decodeURIComponent(star[1].trim().replace(/^"|"$/g, ''));
      } catch {
        name = '';
      }
    }
    if (!name) {
      const plain = /filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]+)/.exec(header);
      if (plain) name = plain[2] !== undefined ? plain[2].replace(/\\(.)/g, '$1') : plain[1].trim();
    }
  }
  name = name.split(/[\\/]/).pop().replace(/[\u0000-\u001f]/g, '').trim();
  return name && name !== '.' && name !== '..' ? name : fallback;
}

/** Share of the bar each phase fills: reading the images, then writing the file. */
const WEIGHTS = { images: 0.5, writing: 0.5 };

/**
 * The progress of one export, from its export.progress events. value is 0..1 and never goes
 * back; text says what is happening.
 */
export class ExportProgress {
  constructor(id) {
    this.id = id;
    this.value = 0;
    this.phase = 'starting';
    this.done = 0;
    this.total = 0;
    this.finished = false;
  }

  /** Takes one export.progress event; returns true when it was this export's and moved the bar. */
  apply(ev) {
    if (!ev || ev.progress !== this.id || this.finished) return false;
    const phase = ev.phase === 'writing' ? 'writing' : ev.phase === 'images' ? 'images' : '';
    if (!phase) return false;
    const total = Number.isFinite(ev.total) && ev.total > 0 ? ev.total : 0;
    const done = Number.isFinite(ev.done) && ev.done > 0 ? Math.min(ev.done, total) : 0;
    const share = total ? done / total : 1;
    const v = phase === 'images' ? WEIGHTS.images * share : WEIGHTS.images + WEIGHTS.writing * share;
    this.phase = phase;
    this.done = done;
    this.total = total;
    if (v <= this.value) return false;
    this.value = Math.min(v, 0.99); // 100% only once the file is here
    return true;
  }

  /** The file arrived. */
  finish() {
    this.finished = true;
    this.value = 1;
    this.phase = 'done';
  }

  /** Percent for the bar and its label. */
  get percent() {
    return Math.round(this.value * 100);
  }

  /** What is happening, in words. */
  get text() {
    switch (this.phase) {
      case 'images':
        return this.total ? `Reading image sizes… ${this.done} of ${this.total}` : 'Reading image sizes…';
      case 'writing':
        return this.total ? `Writing the file… ${this.done} of ${this.total}` : 'Writing the file…';
      case 'done':
        return 'Downloaded.';
      default:
        return 'Starting the export…';
    }
  }
}
