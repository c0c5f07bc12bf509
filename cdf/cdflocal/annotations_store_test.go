package cdflocal

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lassoteam/lasso/cdf"
)

// polygonAnnotation is an annotation with an n-vertex polygon, as the app writes them.
func polygonAnnotation(file int64, n int) cdf.Annotation {
	vs := make([]cdf.Vertex, n)
	for i := range vs {
		vs[i] = cdf.Vertex{X: float64(i) / float64(n), Y: float64(i%7) / 7}
	}
	data, _ := json.Marshal(map[string]any{"label": "crane", "polygon": map[string]any{"vertices": vs}})
	return cdf.Annotation{AnnotatedResourceType: cdf.ResourceFile, AnnotatedResourceID: file, AnnotationType: cdf.AnnotationTypeObjectDetection,
		CreatingApp: "lasso", CreatingAppVersion: "0.1.0", Status: cdf.AnnotationSuggested, Data: data}
}

// TestAnnotationLogFolds: changes go to the log; once it outgrows the snapshot it is folded
// into it and emptied; what reopens is what was there, also when a crash came between the
// new snapshot and emptying the log (its changes then replay over a snapshot that has them).
func TestAnnotationLogFolds(t *testing.T) {
	defer func(n int64) { minCompactBytes = n }(minCompactBytes)
	minCompactBytes = 64 << 10
	dir := t.TempDir()
	st, err := openAnnotationStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	folded := false
	for i := range 200 {
		out, err := st.add([]cdf.Annotation{polygonAnnotation(int64(i%5+1), 100)})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := st.update([]int64{out[0].ID}, func(_ int, a cdf.Annotation) (cdf.Annotation, error) {
				a.Status = cdf.AnnotationApproved
				return a, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if i%4 == 0 {
			if err := st.remove([]int64{out[0].ID}); err != nil {
				t.Fatal(err)
			}
		}
		if st.logBytes == 0 {
			folded = true
		}
	}
	if !folded || st.snapBytes == 0 {
		t.Fatalf("the log was never folded into the snapshot (log %d bytes, snapshot %d)", st.logBytes, st.snapBytes)
	}
	if st.logBytes > max(st.snapBytes, minCompactBytes)+int64(len(mustJSON(t, polygonAnnotation(1, 100))))+64 {
		t.Errorf("log %d bytes, snapshot %d: the log outgrew its bound", st.logBytes, st.snapBytes)
	}
	want := slices.Clone(st.items)
	if len(want) != 150 {
		t.Errorf("%d annotations kept, want 150 (200 added, 50 removed)", len(want))
	}
	log, _ := os.ReadFile(filepath.Join(dir, AnnotationsLog))
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
	same := func(what string) {
		t.Helper()
		got, err := ReadAnnotations(dir)
		if err != nil || !slices.EqualFunc(got, want, func(a, b cdf.Annotation) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
			t.Errorf("%s: %d annotations, %v; want %d as before", what, len(got), err, len(want))
		}
	}
	same("reopened")

	// A crash after the new snapshot, before the log was emptied: fold now by hand, then put
	// the old log back.
	st, err = openAnnotationStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.compact(); err != nil {
		t.Fatal(err)
	}
	st.close()
	if err := os.WriteFile(filepath.Join(dir, AnnotationsLog), log, 0o600); err != nil {
		t.Fatal(err)
	}
	same("replayed over a snapshot that holds the changes")
	st, err = openAnnotationStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	out, err := st.add([]cdf.Annotation{polygonAnnotation(1, 3)})
	if err != nil || out[0].ID != 201 {
		t.Errorf("the next id after a replay: %v, %v; want 201", out, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkAnnotationAdd: one create of a 150-vertex polygon into a stand-in that holds 2000
// such annotations on disk, as after a day's work (the soak makes ~2000 in 15 minutes).
func BenchmarkAnnotationAdd(b *testing.B) {
	st, err := openAnnotationStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	for range 2000 {
		if _, err := st.add([]cdf.Annotation{polygonAnnotation(1, 150)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.add([]cdf.Annotation{polygonAnnotation(1, 150)}); err != nil {
			b.Fatal(err)
		}
	}
}
