package cdflocal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/lassoteam/lasso/cdf"
)

// AnnotationsFile is the name of the file in Config.DataDir that holds a snapshot of the
// annotations, and AnnotationsLog that of the changes made since, one JSON line each:
// ReadAnnotations reads both.
const (
	AnnotationsFile = "annotations.json"
	AnnotationsLog  = "annotations.log"
)

// minCompactBytes is the least the log grows to before it is folded into the snapshot: each
// change costs a line and a sync, not a rewrite of every annotation (which, with thousands of
// polygons, took tens of MB and a fraction of a second a change). A variable for tests.
var minCompactBytes int64 = 4 << 20

// annotationStore holds the annotations, ordered by id, and writes every change to its log
// (when it has one) before the change becomes visible: a change that cannot be persisted is
// answered with 500 and not made. When the log outgrows the snapshot it is folded into it.
type annotationStore struct {
	dir string // "" keeps the annotations in memory only

	mu        sync.Mutex
	nextID    int64
	items     []cdf.Annotation // ascending id
	log       *os.File         // AnnotationsLog, appended to
	logBytes  int64            // its size
	snapBytes int64            // AnnotationsFile's size
}

// annotationFile is the layout of AnnotationsFile.
type annotationFile struct {
	NextID int64            `json:"nextId"`
	Items  []cdf.Annotation `json:"items"`
}

// logEntry is one line of AnnotationsLog. Applying it again changes nothing, so a
// log that a crash left beside a snapshot already holding it replays correctly.
type logEntry struct {
	NextID int64            `json:"nextId"`
	Put    []cdf.Annotation `json:"put,omitempty"`    // added or updated
	Remove []int64          `json:"remove,omitempty"` // deleted
}

// apply makes ch in items, keeping ascending ids, and returns the result.
func (ch *logEntry) apply(out []cdf.Annotation) []cdf.Annotation {
	for _, a := range ch.Put {
		if i, ok := find(out, a.ID); ok {
			out[i] = a
		} else {
			out = slices.Insert(out, i, a)
		}
	}
	if len(ch.Remove) > 0 {
		out = slices.DeleteFunc(out, func(a cdf.Annotation) bool { return slices.Contains(ch.Remove, a.ID) })
	}
	return out
}

// annotationState is what a data folder holds.
type annotationState struct {
	nextID    int64
	items     []cdf.Annotation
	logGood   int64 // bytes of the log up to its last whole line
	snapBytes int64
}

// readAnnotationState reads the snapshot and replays the log over it. A last line that a
// crash cut short is ignored (its change was never answered); any other unreadable line is
// an error.
func readAnnotationState(dir string) (*annotationState, error) {
	st := &annotationState{nextID: 1}
	b, err := os.ReadFile(filepath.Join(dir, AnnotationsFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("cdflocal: read annotations: %w", err)
	default:
		var f annotationFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("cdflocal: read annotations from %s: %w", filepath.Join(dir, AnnotationsFile), err)
		}
		slices.SortFunc(f.Items, func(a, b cdf.Annotation) int { return int(max(-1, min(1, a.ID-b.ID))) })
		st.items, st.nextID, st.snapBytes = f.Items, max(f.NextID, 1), int64(len(b))
	}
	logPath := filepath.Join(dir, AnnotationsLog)
	b, err = os.ReadFile(logPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cdflocal: read annotations: %w", err)
	}
	for len(b) > 0 {
		line, rest, whole := bytes.Cut(b, []byte("\n"))
		var ch logEntry
		if err := json.Unmarshal(line, &ch); err != nil || !whole {
			if !whole {
				break // cut short by a crash
			}
			return nil, fmt.Errorf("cdflocal: read annotations from %s at byte %d: %w", logPath, st.logGood, err)
		}
		st.items, st.nextID = ch.apply(st.items), max(st.nextID, ch.NextID)
		st.logGood += int64(len(line)) + 1
		b = rest
	}
	if n := len(st.items); n > 0 && st.items[n-1].ID >= st.nextID {
		st.nextID = st.items[n-1].ID + 1
	}
	return st, nil
}

// ReadAnnotations returns the annotations a stand-in keeps in dir (Config.DataDir), as it
// would after a restart: for checking what reached the stand-in once its process is gone.
func ReadAnnotations(dir string) ([]cdf.Annotation, error) {
	st, err := readAnnotationState(dir)
	if err != nil {
		return nil, err
	}
	return st.items, nil
}

func openAnnotationStore(dir string) (*annotationStore, error) {
	st := &annotationStore{nextID: 1}
	if dir == "" {
		return st, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cdflocal: data folder: %w", err)
	}
	state, err := readAnnotationState(dir)
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(dir, AnnotationsLog), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cdflocal: open annotations log: %w", err)
	}
	if err := log.Truncate(state.logGood); err != nil { // drop a line cut short
		log.Close()
		return nil, fmt.Errorf("cdflocal: open annotations log: %w", err)
	}
	if _, err := log.Seek(state.logGood, io.SeekStart); err != nil {
		log.Close()
		return nil, fmt.Errorf("cdflocal: open annotations log: %w", err)
	}
	st.dir, st.log = dir, log
	st.items, st.nextID, st.logBytes, st.snapBytes = state.items, state.nextID, state.logGood, state.snapBytes
	return st, nil
}

// close closes the log.
func (st *annotationStore) close() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.log == nil {
		return nil
	}
	err := st.log.Close()
	st.log = nil
	return err
}

// commit makes ch durable, then visible; on an error it is neither.
func (st *annotationStore) commit(ch *logEntry) error {
	if st.dir != "" {
		if st.log == nil {
			return errors.New("the stand-in is closed")
		}
		line, err := json.Marshal(ch)
		if err != nil {
			return err
		}
		if _, err := st.log.Write(append(line, '\n')); err != nil {
			_ = st.log.Truncate(st.logBytes) // no half line for the next change to follow
			_, _ = st.log.Seek(st.logBytes, io.SeekStart)
			return err
		}
		if err := st.log.Sync(); err != nil {
			return err
		}
		st.logBytes += int64(len(line)) + 1
	}
	st.items, st.nextID = ch.apply(st.items), ch.NextID
	if st.dir != "" && st.logBytes > max(st.snapBytes, minCompactBytes) {
		// The changes are safe in the log whatever happens here; a failed fold is tried
		// again at the next change.
		_ = st.compact()
	}
	return nil
}

// compact writes the annotations as the new snapshot, atomically (a temporary file in the same
// folder, synced, then renamed over the old one), then empties the log.
func (st *annotationStore) compact() error {
	b, err := json.Marshal(annotationFile{NextID: st.nextID, Items: st.items})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(st.dir, ".annotations-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(st.dir, AnnotationsFile)); err != nil {
		return err
	}
	if d, err := os.Open(st.dir); err == nil { // make the rename durable where the OS allows it
		_ = d.Sync()
		d.Close()
	}
	st.snapBytes = int64(len(b))
	// A crash before the log is emptied replays changes the snapshot holds: harmless.
	if err := st.log.Truncate(0); err != nil {
		return err
	}
	if _, err := st.log.Seek(0, io.SeekStart); err != nil {
		return err
	}
	st.logBytes = 0
	return st.log.Sync()
}

// find returns the index of id in items.
func find(items []cdf.Annotation, id int64) (int, bool) {
	return slices.BinarySearchFunc(items, id, func(a cdf.Annotation, id int64) int { return int(max(-1, min(1, a.ID-id))) })
}

// snapshot returns a copy of the annotations.
func (st *annotationStore) snapshot() []cdf.Annotation {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.items)
}

// get returns the annotations with the given ids, in order, and the ids that do not exist.
func (st *annotationStore) get(ids []int64) ([]cdf.Annotation, []int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []cdf.Annotation
	var missing []int64
	for _, id := range ids {
		if i, ok := find(st.items, id); ok {
			out = append(out, st.items[i])
		} else {
			missing = append(missing, id)
		}
	}
	return out, missing
}

// add stores new annotations, giving them increasing ids, and returns them.
func (st *annotationStore) add(items []cdf.Annotation) ([]cdf.Annotation, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	next := st.nextID
	out := make([]cdf.Annotation, len(items))
	for i, a := range items {
		a.ID = next
		next++
		out[i] = a
	}
	if err := st.commit(&logEntry{NextID: next, Put: out}); err != nil {
		return nil, fmt.Errorf("store annotations: %w", err)
	}
	return out, nil
}

// update applies change to the annotations with the given ids, all or nothing. change gets
// a copy and returns the new value or an error; unknown ids give 400 with missing.
func (st *annotationStore) update(ids []int64, change func(i int, a cdf.Annotation) (cdf.Annotation, error)) ([]cdf.Annotation, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]cdf.Annotation, len(ids))
	var missing []any
	for n, id := range ids {
		i, ok := find(st.items, id)
		if !ok {
			missing = append(missing, map[string]any{"id": id})
			continue
		}
		a, err := change(n, st.items[i])
		if err != nil {
			return nil, err
		}
		out[n] = a
	}
	if len(missing) > 0 {
		return nil, &apiError{status: 400, msg: "Annotations not found", missing: missing}
	}
	if err := st.commit(&logEntry{NextID: st.nextID, Put: out}); err != nil {
		return nil, fmt.Errorf("store annotations: %w", err)
	}
	return out, nil
}

// remove deletes the annotations with the given ids, all or nothing.
func (st *annotationStore) remove(ids []int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	var missing []any
	for _, id := range ids {
		if _, ok := find(st.items, id); !ok {
			missing = append(missing, map[string]any{"id": id})
		}
	}
	if len(missing) > 0 {
		return &apiError{status: 400, msg: "Annotations not found", missing: missing}
	}
	if err := st.commit(&logEntry{NextID: st.nextID, Remove: ids}); err != nil {
		return fmt.Errorf("store annotations: %w", err)
	}
	return nil
}
