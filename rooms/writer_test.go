package rooms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/store"
)

// TestAcceptedObjectsBecomeAnnotationsExactlyOnce: with CDF throttling, failing and dropping
// connections after it stored a write, and Lasso restarted half-way, every accepted object
// ends up as exactly one annotation.
func TestAcceptedObjectsBecomeAnnotationsExactlyOnce(t *testing.T) {
	const objects = 40
	dir := t.TempDir()
	writeJPEG(t, filepath.Join(dir, "a.jpg"))
	faults := cdflocal.FaultMix(0.4, 7,
		cdflocal.Fault{Status: http.StatusTooManyRequests},
		cdflocal.Fault{Status: http.StatusInternalServerError},
		cdflocal.Fault{Status: http.StatusBadGateway, AfterWrite: true},
		cdflocal.Fault{Drop: true, AfterWrite: true},
		cdflocal.Fault{Drop: true},
	)
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: dir, Token: "t", Engine: segment.New(segment.Options{}),
		Faults: func(r *http.Request) *cdflocal.Fault {
			if r.Method == http.MethodPost && (filepath.Base(r.URL.Path) == "annotations" || filepath.Base(r.URL.Path) == "list") {
				return faults(r)
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	srv := httptest.NewServer(standIn)
	t.Cleanup(srv.Close)
	client := cdf.New(srv.URL, "lasso-local", oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"})),
		cdf.WithSleep(func(context.Context, time.Duration) error { return nil }))
	fileID := standIn.Files()[0].ID
	dbPath := filepath.Join(t.TempDir(), "lasso.db")
	ctx := context.Background()

	start := func() (*store.SQLite, *rooms.Service, *rooms.Writer) {
		st, err := store.OpenSQLite(ctx, dbPath)
		if err != nil {
			t.Fatal(err)
		}
		h := hub.New(hub.Options{})
		t.Cleanup(h.Close)
		w := rooms.NewWriter(st.Outbox(), func(context.Context, string) (rooms.AnnotationsAPI, error) { return client.Annotations, nil }, rooms.WriterOptions{Backoff: func(int) time.Duration { return 0 }})
		svc := rooms.New(rooms.Config{Store: st.Rooms(), Publisher: h, Writer: w})
		return st, svc, w
	}
	st, svc, w := start()
	r, err := svc.Create(ctx, ana, rooms.NewRoom{Name: "R", Images: []store.RoomImage{{FileID: fileID, Name: "a.jpg"}}})
	if err != nil {
		t.Fatal(err)
	}
	segments, _ := json.Marshal([]cdf.Segment{{Score: 0.8, Polygons: []cdf.Polygon{{Vertices: []cdf.Vertex{{X: 0.2, Y: 0.2}, {X: 0.6, Y: 0.2}, {X: 0.4, Y: 0.7}}}}}})
	accepted := true
	for i := range objects {
		id := fmt.Sprintf("o%02d", i)
		if _, err := st.Rooms().PutPrompt(ctx, &store.Object{RoomID: r.ID, FileID: fileID, ObjectID: id, AuthorID: ana.ID, AuthorName: ana.Name,
			Label: fmt.Sprintf("thing %d", i), Prompt: json.RawMessage(`{"points":[]}`), Version: 1, UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := st.Rooms().SetJob(ctx, r.ID, fileID, id, 1, int64(i+1), "", "done", "", segments, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Edit(ctx, r.ID, ana, fileID, id, rooms.Change{Accepted: &accepted}); err != nil {
			t.Fatal(err)
		}
		if i == objects/2 {
			// Half-way: a few attempts, then the server stops and starts again.
			w.Flush(ctx)
			st.Close()
			st, svc, w = start()
		}
	}
	for range 200 {
		w.Flush(ctx)
		due, err := st.Outbox().Due(ctx, time.Now().Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) == 0 {
			break
		}
	}
	t.Cleanup(func() { st.Close() })

	stored := standIn.Annotations()
	perLabel := map[string]int{}
	for _, a := range stored {
		var d struct{ Label string }
		if err := json.Unmarshal(a.Data, &d); err != nil {
			t.Fatal(err)
		}
		perLabel[d.Label]++
	}
	if len(stored) != objects {
		t.Errorf("%d annotations for %d accepted objects", len(stored), objects)
	}
	for i := range objects {
		if n := perLabel[fmt.Sprintf("thing %d", i)]; n != 1 {
			t.Errorf("object %d has %d annotations, want 1", i, n)
		}
	}
	for i := range objects {
		writes, err := st.Outbox().ForObject(ctx, r.ID, fileID, fmt.Sprintf("o%02d", i))
		if err != nil || len(writes) != 1 || writes[0].State != "done" || len(writes[0].AnnotationIDs) != 1 {
			t.Errorf("object %d: writes %+v, %v", i, writes, err)
		}
	}
}
