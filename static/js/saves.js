// Save states: how the write of an accepted object to CDF goes (docs/ROOMS.md, the outbox).
// Pure: no DOM, no network. The annotate controller keeps one save per object (obj.save) from
//   - live "object.saved" events: state "saving" | "saved" | "failed";
//   - snapshots: a room object's `save` (state "pending" | "done" | "failed"), or the image
//     socket's `saves` outside rooms (object.saved-shaped);
//   - its own requests (accept sent → saving; refused in transit → failed, local).
// An object.updated event carries no save: the last known one is kept.

/** The states a save is shown in. */
export const SAVE_STATES = ['saving', 'saved', 'failed'];

/** Store states (snapshots) and event states (live) in one vocabulary. */
const STATE_OF = { pending: 'saving', saving: 'saving', done: 'saved', saved: 'saved', failed: 'failed' };

const OPS = ['create', 'review', 'relabel', 'delete'];

/**
 * A save from a snapshot entry or an object.saved event, or null when it is not one.
 * @returns {{version:number, op:string, state:string, error:string, annotationIds:number[], local?:boolean}|null}
 */
export function normaliseSave(s) {
  if (!s || typeof s !== 'object') return null;
  const state = STATE_OF[s.state];
  if (!state || !Number.isInteger(s.version) || s.version < 1) return null;
  const ids = Array.isArray(s.annotationIds) ? s.annotationIds.filter((id) => Number.isSafeInteger(id)) : [];
  const out = {
    version: s.version,
    op: OPS.includes(s.op) ? s.op : 'create',
    state,
    error: state === 'failed' ? String(s.error || 'CDF refused the write.') : '',
    annotationIds: ids,
  };
  if (s.local) out.local = true;
  return out;
}

/**
 * The save to keep when next arrives after prev (either may be null): a newer version wins,
 * an older one is ignored; within a version the latest report wins, keeping the annotation
 * ids an earlier report had (a review write's report may not repeat them).
 */
export function mergeSave(prev, next) {
  if (!next) return prev || null;
  if (!prev) return next;
  if (next.version < prev.version) return prev;
  if (next.version === prev.version && !next.annotationIds.length && prev.annotationIds.length) {
    return { ...next, annotationIds: prev.annotationIds };
  }
  return next;
}

/** Applies a save report (raw) to obj; returns true when obj.save changed. */
export function applySave(obj, raw) {
  const next = normaliseSave(raw);
  if (!obj || !next) return false;
  const merged = mergeSave(obj.save || null, next);
  if (merged === obj.save) return false;
  obj.save = merged;
  return true;
}

/** How the write of obj's current version stands: "saving", "saved", "failed" or "" (none). */
export function saveState(obj) {
  return obj && obj.save && obj.save.version === obj.version ? obj.save.state : '';
}

/** True when the write of obj's current version failed and may be sent again (any op: the
 * server sends the version's failed writes again). */
export function canRetrySave(obj) {
  return saveState(obj) === 'failed';
}

/**
 * The badge for obj's save, or null when it has none for its version:
 * {state: "saving"|"saved"|"failed", text}. A review write says so.
 */
export function saveBadge(obj) {
  const state = saveState(obj);
  if (!state) return null;
  const words = {
    review: ['saving review…', 'saved', 'review not saved'],
    relabel: ['saving label…', 'saved', 'label not saved'],
    delete: ['removing from CDF…', 'removed from CDF', 'not removed from CDF'],
  }[obj.save.op] || ['saving…', 'saved', 'save failed'];
  const [saving, saved, failed] = words;
  switch (state) {
    case 'saving':
      return { state: 'saving', text: saving };
    case 'saved':
      return { state: 'saved', text: saved };
    default:
      return { state: 'failed', text: failed };
  }
}

/** The sentence under a failed save, e.g. "Not saved to CDF: CDF is unavailable. Retry sends it again." */
export function saveError(obj) {
  if (saveState(obj) !== 'failed') return '';
  const what = {
    review: 'The review did not reach CDF',
    relabel: 'The new label did not reach CDF',
    delete: 'Not removed from CDF',
  }[obj.save.op] || 'Not saved to CDF';
  return `${what}: ${obj.save.error}`;
}
