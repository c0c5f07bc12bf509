package rooms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/store"
	"github.com/lassoteam/lasso/vision"
)

// env is a rooms service over a real SQLite file, the real hub and jobs, and the CDF stand-in.
type env struct {
	t       *testing.T
	dbPath  string
	st      *store.SQLite
	hub     *hub.Hub
	jobs    *jobs.Manager
	svc     *rooms.Service
	api     *cdf.Client
	standIn *cdflocal.Server
	files   []int64
}

var (
	ana = rooms.User{ID: "local:ana", Name: "Ana"}
	ben = rooms.User{ID: "local:ben", Name: "Ben"}
	cy  = rooms.User{ID: "local:cy", Name: "Cy"}
)

func writeJPEG(t *testing.T, path string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 80, 60))
	for y := range 60 {
		for x := range 80 {
			c := color.RGBA{20, 30, 40, 255}
			if x > 20 && x < 60 && y > 15 && y < 45 {
				c = color.RGBA{230, 200, 40, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newEnv(t *testing.T, runDelay time.Duration) *env {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"a.jpg", "b.jpg", "c.jpg", "d.jpg"} {
		writeJPEG(t, filepath.Join(dir, name))
	}
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: dir, Token: "t", RunDelay: runDelay, Engine: segment.New(segment.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	srv := httptest.NewServer(standIn)
	t.Cleanup(srv.Close)
	e := &env{t: t, dbPath: filepath.Join(t.TempDir(), "lasso.db"), standIn: standIn}
	e.api = cdf.New(srv.URL, "lasso-local", oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"})))
	for _, f := range standIn.Files() {
		e.files = append(e.files, f.ID)
	}
	e.start()
	return e
}

// start (re)starts the server side: store, hub, jobs and the service, as cmd/web wires them.
func (e *env) start() {
	e.t.Helper()
	st, err := store.OpenSQLite(context.Background(), e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	e.hub = hub.New(hub.Options{})
	e.jobs = jobs.New(rooms.JobPublisher{Store: st.Rooms(), Hub: e.hub}, jobs.Options{})
	e.svc = rooms.New(rooms.Config{Store: st.Rooms(), Publisher: e.hub, Jobs: e.jobs})
	e.t.Cleanup(e.stop)
}

func (e *env) stop() {
	e.jobs.Close()
	e.hub.Close()
	e.st.Close()
}

func (e *env) room(members ...rooms.User) *store.Room {
	e.t.Helper()
	var images []store.RoomImage
	for i, id := range e.files {
		images = append(images, store.RoomImage{FileID: id, Name: string(rune('a'+i)) + ".jpg", Position: i})
	}
	r, err := e.svc.Create(context.Background(), ana, rooms.NewRoom{Name: "Test room", Images: images,
		Labels: []store.Label{{Name: "cat", Color: "#ff0000", Key: 1}}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range members {
		if err := e.svc.Join(context.Background(), r.ID, m); err != nil {
			e.t.Fatal(err)
		}
	}
	return r
}

func prompt(fileID int64, objectID string, version int) rooms.Prompt {
	return rooms.Prompt{FileID: fileID, ObjectID: objectID, Version: version, Label: "cat", SessionID: "s",
		Request: cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: fileID}}, Points: []cdf.SegmentPoint{{X: 0.5, Y: 0.5, Label: 1}}}}
}

// waitObject reads the room's events until the object reaches a final status.
func waitObject(t *testing.T, sub *hub.Subscription, objectID string) store.Object {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended: %v", sub.Err())
			}
			if m.Type != "object.updated" {
				continue
			}
			var o store.Object
			if err := json.Unmarshal(m.Data, &o); err != nil {
				t.Fatal(err)
			}
			if o.ObjectID == objectID && (o.Status == "done" || o.Status == "failed") {
				return o
			}
		case <-timeout:
			t.Fatal("no final status within 20s")
		}
	}
}

func TestMembership(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	r := e.room(ben)
	if _, _, err := e.svc.Access(ctx, r.ID, cy); !errors.Is(err, rooms.ErrNotMember) {
		t.Errorf("a stranger's access: %v, want ErrNotMember", err)
	}
	if _, _, err := e.svc.Prompt(ctx, e.api.Vision, r.ID, cy, prompt(e.files[0], "o1", 1)); !errors.Is(err, rooms.ErrNotMember) {
		t.Errorf("a stranger's prompt: %v, want ErrNotMember", err)
	}
	if err := e.svc.Remove(ctx, r.ID, ben, ana.ID); !errors.Is(err, rooms.ErrNotOwner) {
		t.Errorf("a member removing the owner: %v, want ErrNotOwner", err)
	}

	// Removing Ben ends his subscriptions at once, and he cannot come back by the link.
	sub := e.hub.SubscribeWith(rooms.Key(r.ID), hub.SubscribeOptions{User: ben.ID})
	if err := e.svc.Remove(ctx, r.ID, ana, ben.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Done():
	case <-time.After(time.Second):
		t.Fatal("the removed member is still subscribed")
	}
	if !errors.Is(sub.Err(), hub.ErrRemoved) {
		t.Errorf("subscription ended with %v", sub.Err())
	}
	if err := e.svc.Join(ctx, r.ID, ben); !errors.Is(err, store.ErrForbidden) {
		t.Errorf("rejoin after removal: %v, want ErrForbidden", err)
	}
	if _, _, err := e.svc.Access(ctx, r.ID, ben); !errors.Is(err, rooms.ErrNotMember) {
		t.Errorf("removed member's access: %v", err)
	}
}

func TestPromptIsIdempotentAndResultReachesTheRoom(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	r := e.room(ben)
	sub := e.hub.SubscribeWith(rooms.Key(r.ID), hub.SubscribeOptions{User: ben.ID})
	defer sub.Close()

	_, started, err := e.svc.Prompt(ctx, e.api.Vision, r.ID, ana, prompt(e.files[0], "o1", 1))
	if err != nil || !started {
		t.Fatalf("prompt: started %v, %v", started, err)
	}
	// The same command again (a retry after a dropped connection) starts nothing.
	if _, started, err := e.svc.Prompt(ctx, e.api.Vision, r.ID, ana, prompt(e.files[0], "o1", 1)); err != nil || started {
		t.Fatalf("replay: started %v, %v; want an idempotent no-op", started, err)
	}
	o := waitObject(t, sub, "o1")
	if o.Status != "done" || len(o.Segments) == 0 || o.AuthorName != "Ana" || o.Label != "cat" {
		t.Fatalf("object %+v", o)
	}
	objects, err := e.st.Rooms().Objects(ctx, r.ID, e.files[0])
	if err != nil || len(objects) != 1 || objects[0].Status != "done" {
		t.Fatalf("stored objects %+v, %v", objects, err)
	}
	snap, err := e.svc.State(ctx, r.ID, ben, &e.files[0])
	if err != nil {
		t.Fatal(err)
	}
	pr := snap.Progress
	if pr.InProgress != 1 || pr.Untouched != len(e.files)-1 || len(pr.Labels) != 1 || pr.Labels[0].Objects != 1 ||
		len(pr.Members) != 1 || pr.Members[0].Name != "Ana" || pr.Members[0].Objects != 1 {
		t.Errorf("progress %+v", snap.Progress)
	}
	if len(snap.Objects) != 1 {
		t.Errorf("snapshot of the image holds %d objects", len(snap.Objects))
	}
}

func TestSoftLock(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	r := e.room(ben)
	leave := e.svc.Connect(r.ID, ana, &e.files[0])
	if _, _, err := e.svc.Prompt(ctx, e.api.Vision, r.ID, ana, prompt(e.files[0], "o1", 1)); err != nil {
		t.Fatal(err)
	}
	var locked *rooms.LockedError
	if _, _, err := e.svc.Prompt(ctx, e.api.Vision, r.ID, ben, prompt(e.files[0], "o1", 2)); !errors.As(err, &locked) || locked.Holder != "Ana" {
		t.Fatalf("Ben prompting Ana's object: %v, want locked by Ana", err)
	}
	// Ana moves to another image (still in the room): the lock frees itself.
	leave()
	elsewhere := e.svc.Connect(r.ID, ana, &e.files[1])
	defer elsewhere()
	if _, _, err := e.svc.Prompt(ctx, e.api.Vision, r.ID, ben, prompt(e.files[0], "o1", 2)); err != nil {
		t.Fatalf("after Ana left: %v", err)
	}
	// Taking over is allowed when asked for.
	e.svc.Connect(r.ID, ben, &e.files[0])
	p := prompt(e.files[0], "o1", 3)
	p.TakeOver = true
	if _, _, err := e.svc.Prompt(ctx, e.api.Vision, r.ID, ana, p); err != nil {
		t.Fatalf("take over: %v", err)
	}
}

func TestNextNeverHandsOutTheSameImageTwice(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	r := e.room(ben, cy)
	got := make(map[int64]string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, u := range []rooms.User{ana, ben, cy} {
		wg.Go(func() {
			id, ok, err := e.svc.Next(ctx, r.ID, u, 0)
			if err != nil || !ok {
				t.Errorf("%s: next %v, %v", u.Name, ok, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if other, dup := got[id]; dup {
				t.Errorf("%s and %s both got image %d", other, u.Name, id)
			}
			got[id] = u.Name
		})
	}
	wg.Wait()
	// An image somebody is on is not handed out either.
	e.svc.Connect(r.ID, ben, &e.files[3])
	for range 3 {
		id, ok, err := e.svc.Next(ctx, r.ID, ana, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ok && id == e.files[3] {
			t.Error("next handed Ana the image Ben is on")
		}
	}
}

// TestRestartResumesJobs: the server stops while a job runs; after the restart the job is
// followed to completion and its result reaches the room.
func TestRestartResumesJobs(t *testing.T) {
	e := newEnv(t, 1500*time.Millisecond)
	ctx := context.Background()
	r := e.room()
	if _, _, err := e.svc.Prompt(ctx, e.api.Vision, r.ID, ana, prompt(e.files[1], "o1", 1)); err != nil {
		t.Fatal(err)
	}
	// Wait until the job is recorded, then "crash".
	deadline := time.Now().Add(5 * time.Second)
	for {
		o, err := e.st.Rooms().Object(ctx, store.ObjectKey{RoomID: r.ID, FileID: e.files[1], ObjectID: "o1"})
		if err == nil && o.JobID != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job was never recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.stop()
	e.start()

	sub := e.hub.SubscribeWith(rooms.Key(r.ID), hub.SubscribeOptions{User: ana.ID})
	defer sub.Close()
	var sessions []string
	err := e.svc.Resume(ctx, func(_ context.Context, sessionID string) (jobs.SegmentAPI, error) {
		sessions = append(sessions, sessionID)
		return e.api.Vision, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0] != "s" {
		t.Errorf("resumed with sessions %v, want the author's", sessions)
	}
	o := waitObject(t, sub, "o1")
	if o.Status != "done" || len(o.Segments) == 0 {
		t.Fatalf("after the restart: %+v", o)
	}
}

// stuckEngine never answers: it holds a prompt until its context ends, like a server that
// stops in the middle of segmenting.
type stuckEngine struct{ started chan struct{} }

func (e stuckEngine) Segment(ctx context.Context, _ segment.Source, _ segment.Prompt) ([]segment.Segment, error) {
	e.started <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestRestartRerunsLocalJobs: a prompt the in-process engine was segmenting when the server
// stopped died with it; after the restart its stored prompt runs again and the result reaches
// the room, recorded as the local backend's.
func TestRestartRerunsLocalJobs(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	r := e.room()
	stuck := stuckEngine{started: make(chan struct{}, 1)}
	before := vision.NewLocal(stuck, vision.LocalOptions{Workers: 1})
	defer before.Close()
	if _, _, err := e.svc.Prompt(ctx, before.For(ana.ID, e.api.Files), r.ID, ana, prompt(e.files[1], "o1", 1)); err != nil {
		t.Fatal(err)
	}
	<-stuck.started
	// The job's start is stored before the "crash", as it is for any job a server had begun.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		o, err := e.st.Rooms().Object(ctx, store.ObjectKey{RoomID: r.ID, FileID: e.files[1], ObjectID: "o1"})
		if err == nil && o.JobID != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job was never recorded")
		}
	}
	e.stop()
	e.start()

	after := vision.NewLocal(segment.New(segment.Options{}), vision.LocalOptions{Workers: 1})
	defer after.Close()
	sub := e.hub.SubscribeWith(rooms.Key(r.ID), hub.SubscribeOptions{User: ana.ID})
	defer sub.Close()
	err := e.svc.Resume(ctx, func(_ context.Context, sessionID string) (jobs.SegmentAPI, error) {
		return after.For(sessionID, e.api.Files), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	o := waitObject(t, sub, "o1")
	if o.Status != "done" || len(o.Segments) == 0 || o.Backend != jobs.BackendLocal {
		t.Fatalf("after the restart: status %s, %d bytes of segments, backend %q; want done by local", o.Status, len(o.Segments), o.Backend)
	}
}

func TestColor(t *testing.T) {
	// The same vectors as memberColor in static/js/roomstate.test.mjs: page and server agree.
	for id, want := range map[string]string{"": "#30a46c", "ana": "#30a46c", "local:bo": "#12a594"} {
		if got := rooms.Color(id); got != want {
			t.Errorf("Color(%q) = %q, want %q", id, got, want)
		}
	}
}
