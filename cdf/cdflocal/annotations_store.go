package cdflocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/lassoteam/lasso/cdf"
)

// AnnotationsFile is the name of the file in Config.DataDir that holds the annotations.
const AnnotationsFile = "annotations.json"

// annotationStore holds the annotations, ordered by id, and writes every change to its file
// (when it has one) before the change becomes visible: a change that cannot be persisted is
// answered with 500 and not made.
type annotationStore struct {
	path string // "" keeps the annotations in memory only

	mu     sync.Mutex
	nextID int64
	items  []cdf.Annotation // ascending id
}

// annotationFile is the layout of AnnotationsFile.
type annotationFile struct {
	NextID int64            `json:"nextId"`
	Items  []cdf.Annotation `json:"items"`
}

func openAnnotationStore(dir string) (*annotationStore, error) {
	st := &annotationStore{nextID: 1}
	if dir == "" {
		return st, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cdflocal: data folder: %w", err)
	}
	st.path = filepath.Join(dir, AnnotationsFile)
	b, err := os.ReadFile(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cdflocal: read annotations: %w", err)
	}
	var f annotationFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("cdflocal: read annotations from %s: %w", st.path, err)
	}
	slices.SortFunc(f.Items, func(a, b cdf.Annotation) int { return int(max(-1, min(1, a.ID-b.ID))) })
	st.items = f.Items
	st.nextID = max(f.NextID, 1)
	if n := len(f.Items); n > 0 && f.Items[n-1].ID >= st.nextID {
		st.nextID = f.Items[n-1].ID + 1
	}
	return st, nil
}

// persist writes items atomically: a temporary file in the same folder, synced, then
// renamed over the old one, so a crash leaves either the old or the new state.
func (st *annotationStore) persist(nextID int64, items []cdf.Annotation) error {
	if st.path == "" {
		return nil
	}
	b, err := json.Marshal(annotationFile{NextID: nextID, Items: items})
	if err != nil {
		return err
	}
	dir := filepath.Dir(st.path)
	tmp, err := os.CreateTemp(dir, ".annotations-*.tmp")
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
	if err := os.Rename(tmp.Name(), st.path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable where the OS allows it
		_ = d.Sync()
		d.Close()
	}
	return nil
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
	all := append(slices.Clip(st.items), out...)
	if err := st.persist(next, all); err != nil {
		return nil, fmt.Errorf("store annotations: %w", err)
	}
	st.items, st.nextID = all, next
	return out, nil
}

// update applies change to the annotations with the given ids, all or nothing. change gets
// a copy and returns the new value or an error; unknown ids give 400 with missing.
func (st *annotationStore) update(ids []int64, change func(i int, a cdf.Annotation) (cdf.Annotation, error)) ([]cdf.Annotation, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	all := slices.Clone(st.items)
	out := make([]cdf.Annotation, len(ids))
	var missing []any
	for n, id := range ids {
		i, ok := find(all, id)
		if !ok {
			missing = append(missing, map[string]any{"id": id})
			continue
		}
		a, err := change(n, all[i])
		if err != nil {
			return nil, err
		}
		all[i], out[n] = a, a
	}
	if len(missing) > 0 {
		return nil, &apiError{status: 400, msg: "Annotations not found", missing: missing}
	}
	if err := st.persist(st.nextID, all); err != nil {
		return nil, fmt.Errorf("store annotations: %w", err)
	}
	st.items = all
	return out, nil
}

// remove deletes the annotations with the given ids, all or nothing.
func (st *annotationStore) remove(ids []int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	gone := map[int64]bool{}
	var missing []any
	for _, id := range ids {
		if _, ok := find(st.items, id); !ok {
			missing = append(missing, map[string]any{"id": id})
		}
		gone[id] = true
	}
	if len(missing) > 0 {
		return &apiError{status: 400, msg: "Annotations not found", missing: missing}
	}
	all := slices.DeleteFunc(slices.Clone(st.items), func(a cdf.Annotation) bool { return gone[a.ID] })
	if err := st.persist(st.nextID, all); err != nil {
		return fmt.Errorf("store annotations: %w", err)
	}
	st.items = all
	return nil
}
