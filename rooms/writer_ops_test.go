package rooms_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/store"
)

// opsRig is a room on one image with a writer delivering to a stand-in.
type opsRig struct {
	t       *testing.T
	standIn *cdflocal.Server
	st      *store.SQLite
	svc     *rooms.Service
	w       *rooms.Writer
	room    *store.Room
	fileID  int64
	dbPath  string // the store's SQLite file
}

func newOpsRig(t *testing.T, identity *cdflocal.Identity, faults func(*http.Request) *cdflocal.Fault) *opsRig {
	t.Helper()
	dir := t.TempDir()
	writeJPEG(t, filepath.Join(dir, "a.jpg"))
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: dir, Token: "t", Identity: identity, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	srv := httptest.NewServer(standIn)
	t.Cleanup(srv.Close)
	client := cdf.New(srv.URL, "lasso-local", oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"})),
		cdf.WithSleep(func(context.Context, time.Duration) error { return nil }))
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "lasso.db")
	st, err := store.OpenSQLite(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := hub.New(hub.Options{})
	t.Cleanup(h.Close)
	w := rooms.NewWriter(st.Outbox(), func(context.Context, string) (rooms.AnnotationsAPI, error) { return client.Annotations, nil }, rooms.WriterOptions{Backoff: func(int) time.Duration { return 0 }})
	svc := rooms.New(rooms.Config{Store: st.Rooms(), Publisher: h, Writer: w})
	fileID := standIn.Files()[0].ID
	r, err := svc.Create(ctx, ana, rooms.NewRoom{Name: "R", Images: []store.RoomImage{{FileID: fileID, Name: "a.jpg"}}})
	if err != nil {
		t.Fatal(err)
	}
	return &opsRig{t: t, standIn: standIn, st: st, svc: svc, w: w, room: r, fileID: fileID, dbPath: dbPath}
}

// segmented stores version v of object id with a done one-part segment.
func (g *opsRig) segmented(id string, v int, x float64) {
	g.t.Helper()
	ctx := context.Background()
	if _, err := g.st.Rooms().PutPrompt(ctx, &store.Object{RoomID: g.room.ID, FileID: g.fileID, ObjectID: id, AuthorID: ana.ID,
		AuthorName: ana.Name, Label: "crane", Prompt: json.RawMessage(`{"points":[]}`), Version: v, UpdatedAt: time.Now()}); err != nil {
		g.t.Fatal(err)
	}
	segments, _ := json.Marshal([]cdf.Segment{{Score: 0.8, Polygons: []cdf.Polygon{{Vertices: []cdf.Vertex{{X: x, Y: 0.2}, {X: x + 0.3, Y: 0.2}, {X: x + 0.1, Y: 0.7}}}}}})
	if err := g.st.Rooms().SetJob(ctx, g.room.ID, g.fileID, id, v, int64(v), "", "done", "", segments, nil, time.Now()); err != nil {
		g.t.Fatal(err)
	}
}

func (g *opsRig) accept(id string) {
	g.t.Helper()
	yes := true
	if _, err := g.svc.Edit(context.Background(), g.room.ID, ana, g.fileID, id, rooms.Change{Accepted: &yes}); err != nil {
		g.t.Fatal(err)
	}
}

// drain flushes until nothing is due.
func (g *opsRig) drain() {
	g.t.Helper()
	ctx := context.Background()
	for range 50 {
		g.w.Flush(ctx)
		due, err := g.st.Outbox().Due(ctx, time.Now().Add(time.Hour), 10)
		if err != nil {
			g.t.Fatal(err)
		}
		if len(due) == 0 {
			return
		}
	}
	g.t.Fatal("the outbox does not drain")
}

// inCDF returns the stand-in's annotations: status by id.
func (g *opsRig) inCDF() map[int64]cdf.AnnotationStatus {
	out := map[int64]cdf.AnnotationStatus{}
	for _, a := range g.standIn.Annotations() {
		out[a.ID] = a.Status
	}
	return out
}

// TestReviewSetsStatusInCDF: a reviewer's decisions reach CDF in order, after the create they
// depend on, and the last one wins.
func TestReviewSetsStatusInCDF(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	ctx := context.Background()
	g.segmented("o", 1, 0.1)
	g.accept("o")
	counts := func() (rooms.Progress, int) {
		t.Helper()
		snap, err := g.svc.State(ctx, g.room.ID, ana, nil)
		if err != nil {
			t.Fatal(err)
		}
		return snap.Progress, snap.Images[0].Awaiting
	}
	if p, image := counts(); p.Awaiting != 1 || p.Approved != 0 || image != 1 {
		t.Errorf("before review: progress %+v, image awaiting %d; want 1 awaiting", p, image)
	}
	// Decided before the create reached CDF: the review waits for it.
	if _, err := g.svc.Review(ctx, g.room.ID, ana, g.fileID, "o", 1, store.ReviewRejected); err != nil {
		t.Fatal(err)
	}
	o, err := g.svc.Review(ctx, g.room.ID, ana, g.fileID, "o", 1, store.ReviewApproved)
	if err != nil || o.Review != store.ReviewApproved || o.ReviewerName != ana.Name {
		t.Fatalf("Review = %+v, %v", o, err)
	}
	if p, image := counts(); p.Awaiting != 0 || p.Approved != 1 || p.Rejected != 0 || image != 0 {
		t.Errorf("after approval: progress %+v, image awaiting %d; want 1 approved", p, image)
	}
	g.drain()
	got := g.inCDF()
	if len(got) != 1 {
		t.Fatalf("CDF has %v, want one annotation", got)
	}
	for _, status := range got {
		if status != cdf.AnnotationApproved {
			t.Errorf("status in CDF = %s, want approved (the last decision)", status)
		}
	}

	// A stale version, a plain member, and an object that is not accepted are refused.
	if _, err := g.svc.Review(ctx, g.room.ID, ana, g.fileID, "o", 2, store.ReviewRejected); !errors.Is(err, store.ErrStale) {
		t.Errorf("review of version 2: %v, want ErrStale", err)
	}
	ben := rooms.User{ID: "local:ben", Name: "Ben"}
	if err := g.svc.Join(ctx, g.room.ID, ben); err != nil {
		t.Fatal(err)
	}
	if _, err := g.svc.Review(ctx, g.room.ID, ben, g.fileID, "o", 1, store.ReviewRejected); !errors.Is(err, rooms.ErrNotReviewer) {
		t.Errorf("review by a plain member: %v, want ErrNotReviewer", err)
	}
	if err := g.svc.SetRole(ctx, g.room.ID, ana, ben.ID, store.RoleReviewer); err != nil {
		t.Fatal(err)
	}
	if _, err := g.svc.Review(ctx, g.room.ID, ben, g.fileID, "o", 1, store.ReviewRejected); err != nil {
		t.Errorf("review by a reviewer: %v", err)
	}
	g.segmented("p", 1, 0.5)
	if _, err := g.svc.Review(ctx, g.room.ID, ben, g.fileID, "p", 1, store.ReviewApproved); !errors.Is(err, rooms.ErrNotAccepted) {
		t.Errorf("review of an object not accepted: %v, want ErrNotAccepted", err)
	}
	g.drain()
	for _, status := range g.inCDF() {
		if status != cdf.AnnotationRejected {
			t.Errorf("status in CDF = %s, want rejected", status)
		}
	}
}

// TestReacceptAndDeleteReplaceAnnotations: an object has one set of annotations in CDF, that
// of its accepted shape; deleting the object deletes them.
func TestReacceptAndDeleteReplaceAnnotations(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	ctx := context.Background()
	g.segmented("o", 1, 0.1)
	g.accept("o")
	g.drain()
	first := g.inCDF()
	g.segmented("o", 2, 0.4)
	g.accept("o")
	g.drain()
	second := g.inCDF()
	if len(first) != 1 || len(second) != 1 {
		t.Fatalf("annotations after accept %v, after re-accept %v; want one each", first, second)
	}
	for id := range first {
		if _, ok := second[id]; ok {
			t.Errorf("the first version's annotation %d is still in CDF", id)
		}
	}
	snap, err := g.svc.State(ctx, g.room.ID, ana, &g.fileID)
	if err != nil || len(snap.Objects) != 1 || snap.Objects[0].Save == nil {
		t.Fatalf("State = %+v, %v", snap, err)
	}
	save := snap.Objects[0].Save
	for id := range second {
		if save.Version != 2 || len(save.AnnotationIDs) != 1 || save.AnnotationIDs[0] != id || save.State != store.WriteDone {
			t.Errorf("save = %+v, want version 2 with annotation %d", save, id)
		}
	}
	ids, err := g.svc.AnnotationIDs(ctx, g.room.ID, ana, g.fileID)
	if err != nil || len(ids) != 1 {
		t.Errorf("AnnotationIDs = %v, %v", ids, err)
	}

	// An undone accept takes the annotation out of CDF; accepting again puts it back.
	no, yes := false, true
	if _, err := g.svc.Edit(ctx, g.room.ID, ana, g.fileID, "o", rooms.Change{Accepted: &no}); err != nil {
		t.Fatal(err)
	}
	g.drain()
	if got := g.inCDF(); len(got) != 0 {
		t.Errorf("after un-accepting, CDF has %v", got)
	}
	if _, err := g.svc.Edit(ctx, g.room.ID, ana, g.fileID, "o", rooms.Change{Accepted: &yes}); err != nil {
		t.Fatal(err)
	}
	g.drain()
	if got := g.inCDF(); len(got) != 1 {
		t.Errorf("after accepting again, CDF has %v; want one annotation", got)
	}
	if ids, err := g.svc.AnnotationIDs(ctx, g.room.ID, ana, g.fileID); err != nil || len(ids) != 1 {
		t.Errorf("AnnotationIDs after accepting again = %v, %v", ids, err)
	}

	if _, err := g.svc.Edit(ctx, g.room.ID, ana, g.fileID, "o", rooms.Change{Deleted: true}); err != nil {
		t.Fatal(err)
	}
	g.drain()
	if got := g.inCDF(); len(got) != 0 {
		t.Errorf("after deleting the object CDF still has %v", got)
	}
}

// TestSuggestOnly: a user who may only suggest gets suggestions; a user who may do neither
// gets a failed save that says why.
func TestSuggestOnly(t *testing.T) {
	rights := func(actions ...string) *cdflocal.Identity {
		id := cdflocal.DefaultIdentity()
		for i, c := range id.Capabilities {
			if c.ACL == "annotationsAcl" {
				id.Capabilities[i].Actions = actions
			}
		}
		return &id
	}
	g := newOpsRig(t, rights("READ", "SUGGEST"), nil)
	g.segmented("o", 1, 0.1)
	g.accept("o")
	g.drain()
	got := g.standIn.Annotations()
	if len(got) != 1 || got[0].Status != cdf.AnnotationSuggested {
		t.Fatalf("with SUGGEST only, CDF has %+v; want one suggestion", got)
	}

	g = newOpsRig(t, rights("READ"), nil)
	g.segmented("p", 1, 0.5)
	g.accept("p")
	g.drain()
	writes, err := g.st.Outbox().ForObject(context.Background(), g.room.ID, g.fileID, "p")
	if err != nil || len(writes) != 1 || writes[0].State != store.WriteFailed || !strings.Contains(writes[0].LastError, "annotationsAcl") {
		t.Fatalf("write without rights = %+v, %v; want failed, naming annotationsAcl", writes, err)
	}
}

// TestRetryFailedSave: a save that failed for good is sent again when a person asks, once.
func TestRetryFailedSave(t *testing.T) {
	var refused atomic.Bool
	g := newOpsRig(t, nil, func(r *http.Request) *cdflocal.Fault {
		if r.URL.Path == "/api/v1/projects/lasso-local/annotations" && refused.CompareAndSwap(false, true) {
			return &cdflocal.Fault{Status: http.StatusBadRequest}
		}
		return nil
	})
	ctx := context.Background()
	g.segmented("p", 1, 0.5)
	g.accept("p")
	g.drain()
	if got := g.standIn.Annotations(); len(got) != 0 || !refused.Load() {
		t.Fatalf("CDF has %d annotations after a refused create (refused: %v)", len(got), refused.Load())
	}
	if n, err := g.svc.RetrySave(ctx, g.room.ID, ana, g.fileID, "p", 1); err != nil || n != 1 {
		t.Fatalf("RetrySave = %d, %v; want 1 write requeued", n, err)
	}
	if n, err := g.svc.RetrySave(ctx, g.room.ID, ana, g.fileID, "p", 1); err != nil || n != 0 {
		t.Errorf("second RetrySave = %d, %v; want nothing to retry", n, err)
	}
	g.drain()
	if got := g.standIn.Annotations(); len(got) != 1 {
		t.Errorf("after retry CDF has %d annotations, want 1", len(got))
	}
	if _, err := g.svc.RetrySave(ctx, g.room.ID, rooms.User{ID: "local:zed", Name: "Zed"}, g.fileID, "p", 1); !errors.Is(err, rooms.ErrNotMember) {
		t.Errorf("RetrySave by a stranger: %v, want ErrNotMember", err)
	}
}

// TestSlowWriteHoldsUpNoOne: while CDF sits on one object's create, other objects' writes go
// through.
func TestSlowWriteHoldsUpNoOne(t *testing.T) {
	release := make(chan struct{})
	var creates atomic.Int32
	g := newOpsRig(t, nil, func(r *http.Request) *cdflocal.Fault {
		if r.URL.Path == "/api/v1/projects/lasso-local/annotations" && creates.Add(1) == 1 {
			<-release // the first create hangs until the others have landed
		}
		return nil
	})
	for i, id := range []string{"a", "b", "c"} {
		g.segmented(id, 1, 0.1+0.2*float64(i))
		g.accept(id)
	}
	flushed := make(chan struct{})
	go func() {
		g.w.Flush(context.Background())
		close(flushed)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(g.standIn.Annotations()) < 2 {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("the other objects did not get through while one create hung: %d stored", len(g.standIn.Annotations()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	<-flushed
	if n := len(g.standIn.Annotations()); n != 3 {
		t.Errorf("%d annotations after the hung create was answered, want 3", n)
	}
}

// TestTwinObjectsBothSaved: two objects with the same outline and label make equal
// annotations; when the second one's create is lost in transit, the look for it must not take
// the first one's annotation for its own.
func TestTwinObjectsBothSaved(t *testing.T) {
	var creates atomic.Int32
	g := newOpsRig(t, nil, func(r *http.Request) *cdflocal.Fault {
		if r.URL.Path == "/api/v1/projects/lasso-local/annotations" && creates.Add(1) == 2 {
			return &cdflocal.Fault{Drop: true} // the twin's first create never lands
		}
		return nil
	})
	g.segmented("a", 1, 0.3)
	g.accept("a")
	g.drain()
	g.segmented("b", 1, 0.3) // the same outline and label
	g.accept("b")
	g.drain()
	if got := g.inCDF(); len(got) != 2 {
		t.Fatalf("CDF has %v for two accepted twins, want two annotations", got)
	}
	ids := map[int64]bool{}
	for _, id := range []string{"a", "b"} {
		writes, err := g.st.Outbox().ForObject(context.Background(), g.room.ID, g.fileID, id)
		if err != nil || len(writes) != 1 || writes[0].State != store.WriteDone || len(writes[0].AnnotationIDs) != 1 {
			t.Fatalf("writes of %s = %+v, %v", id, writes, err)
		}
		ids[writes[0].AnnotationIDs[0]] = true
	}
	if len(ids) != 2 {
		t.Errorf("the twins claim the same annotation: %v", ids)
	}
}
