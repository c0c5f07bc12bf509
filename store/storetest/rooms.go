package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/store"
)

// runRooms runs the room part of the contract.
func runRooms(t *testing.T, fresh func(t *testing.T) store.Store) {
	t.Run("RoomCreateGet", func(t *testing.T) { testRoomCreateGet(t, fresh(t)) })
	t.Run("RoomInvalid", func(t *testing.T) { testRoomInvalid(t, fresh(t)) })
	t.Run("RoomsOf", func(t *testing.T) { testRoomsOf(t, fresh(t)) })
	t.Run("RoomJoin", func(t *testing.T) { testRoomJoin(t, fresh(t)) })
	t.Run("RoomRemoveMember", func(t *testing.T) { testRoomRemoveMember(t, fresh(t)) })
	t.Run("PutPrompt", func(t *testing.T) { testPutPrompt(t, fresh(t)) })
	t.Run("PutPromptConcurrent", func(t *testing.T) { testPutPromptConcurrent(t, fresh(t)) })
	t.Run("SetJob", func(t *testing.T) { testSetJob(t, fresh(t)) })
	t.Run("ObjectMeta", func(t *testing.T) { testObjectMeta(t, fresh(t)) })
	t.Run("ImageDone", func(t *testing.T) { testImageDone(t, fresh(t)) })
	t.Run("PendingJobs", func(t *testing.T) { testPendingJobs(t, fresh(t)) })
	t.Run("JobLeases", func(t *testing.T) { testJobLeases(t, fresh(t)) })
	t.Run("ClosedRoom", func(t *testing.T) { testClosedRoom(t, fresh(t)) })
	t.Run("RoomContext", func(t *testing.T) { testRoomContext(t, fresh(t)) })
	t.Run("Review", func(t *testing.T) { testReview(t, fresh(t)) })
	t.Run("ChangeWithdrawsReview", func(t *testing.T) { testChangeWithdrawsReview(t, fresh(t)) })
	t.Run("SetRole", func(t *testing.T) { testSetRole(t, fresh(t)) })
	t.Run("Atomically", func(t *testing.T) { testAtomically(t, fresh(t)) })
	t.Run("RoomTally", func(t *testing.T) { testRoomTally(t, fresh(t)) })
}

// testRoomTally: RoomTally is RoomObjects' objects, in the same order, reduced to what
// progress counts, through relabels, accepts, reviews and deletes.
func testRoomTally(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := createRoom(t, st, "")
	rs := st.Rooms()
	for i, file := range []int64{File3, File1, File2, File1} {
		id := fmt.Sprintf("o%d", i)
		p := NewPrompt(r.ID, file, id, 1)
		p.AuthorID = fmt.Sprintf("u-%d", i%2)
		if _, err := rs.PutPrompt(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	key := func(id string, file int64) store.ObjectKey {
		return store.ObjectKey{RoomID: r.ID, FileID: file, ObjectID: id}
	}
	if _, err := rs.SetObjectMeta(ctx, key("o1", File1), ptr("valve"), ptr(true), false, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.SetObjectMeta(ctx, key("o2", File2), nil, ptr(true), false, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.SetReview(ctx, key("o2", File2), 1, store.ReviewApproved, "u-owner", "Owner", base.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.SetObjectMeta(ctx, key("o3", File1), nil, nil, true, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	objects, err := rs.RoomObjects(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	tally, err := rs.RoomTally(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ObjectTally{}
	for _, o := range objects {
		want = append(want, store.ObjectTally{FileID: o.FileID, Label: o.Label, AuthorID: o.AuthorID, Accepted: o.Accepted, Review: o.Review})
	}
	if len(want) != 3 || want[0].Label != "valve" || want[1].Review != store.ReviewApproved {
		t.Fatalf("RoomObjects gave %+v; the test expects o1 (valve), o2 (approved), o0", want)
	}
	same(t, "RoomTally", tally, want)
}

// testAtomically: an object change and its outbox writes made in Atomically are kept
// together when fn succeeds and not at all when it fails, through either store's Atomically,
// and a call nested in fn joins the transaction.
func testAtomically(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := createRoom(t, st, "")
	key := store.ObjectKey{RoomID: r.ID, FileID: File1, ObjectID: "o"}
	change := func(ob store.Outbox, rs store.Rooms, version int) error {
		if _, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, "o", version)); err != nil {
			return err
		}
		_, err := ob.Enqueue(ctx, NewWrite(r.ID, File1, "o", version))
		return err
	}
	kept := func(what string, wantVersion, wantWrites int) {
		t.Helper()
		o, err := st.Rooms().Object(ctx, key)
		if wantVersion == 0 {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: object %+v, %v; want none", what, o, err)
			}
		} else if err != nil || o.Version != wantVersion {
			t.Errorf("%s: object %+v, %v; want version %d", what, o, err, wantVersion)
		}
		ws, err := st.Outbox().ForObject(ctx, r.ID, File1, "o")
		if err != nil || len(ws) != wantWrites {
			t.Errorf("%s: %d writes, %v; want %d", what, len(ws), err, wantWrites)
		}
	}
	boom := errors.New("boom")
	err := st.Rooms().Atomically(ctx, func(rs store.Rooms, ob store.Outbox) error {
		if err := change(ob, rs, 1); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Atomically returned %v; want fn's error", err)
	}
	kept("after a failed fn", 0, 0)

	if err := st.Outbox().Atomically(ctx, func(rs store.Rooms, ob store.Outbox) error { return change(ob, rs, 1) }); err != nil {
		t.Fatal(err)
	}
	kept("after fn succeeded", 1, 1)

	// Nested: the inner Atomically's work goes with the outer transaction's fate.
	err = st.Rooms().Atomically(ctx, func(rs store.Rooms, ob store.Outbox) error {
		if err := ob.Atomically(ctx, func(rs store.Rooms, ob store.Outbox) error { return change(ob, rs, 2) }); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("nested Atomically returned %v; want fn's error", err)
	}
	kept("after a failed fn around a nested one", 1, 1)
}

// Files of NewRoom's images, in display order.
const (
	File1 int64 = 9001
	File2 int64 = 42
	File3 int64 = 7
)

// NewRoom returns a room with three images (File1, File2, File3, deliberately not in id
// order) and two labels, created by "u-owner", for tests of stores and their users. The
// id is left empty when id is "".
func NewRoom(id string) *store.Room {
	return &store.Room{
		ID:   id,
		Name: "Harbour cranes",
		Images: []store.RoomImage{
			{FileID: File1, Name: "crane-1.jpg", Directory: "/harbour"},
			{FileID: File2, Name: "crane-2.jpg", Directory: "/harbour"},
			{FileID: File3, Name: "dock.png", Directory: "/harbour/dock"},
		},
		Labels: []store.Label{
			{Name: "crane", Color: "#ff8800", Key: 2},
			{Name: "ship", Color: "#0088FF", Key: 1},
		},
		CreatedAt: base,
	}
}

// Owner is the creator member NewRoom's rooms are created with.
func Owner() store.Member {
	return store.Member{UserID: "u-owner", Name: "Ada Owner"}
}

// NewPrompt returns the prompt of object objectID at version, by "u-ana", for tests of
// stores and their users.
func NewPrompt(roomID string, fileID int64, objectID string, version int) *store.Object {
	return &store.Object{
		RoomID: roomID, FileID: fileID, ObjectID: objectID,
		AuthorID: "u-ana", AuthorName: "Ana", SessionID: "sess-ana", Label: "crane",
		Prompt:    json.RawMessage(fmt.Sprintf(`{"points":[{"x":0.5,"y":0.25,"label":1}],"box":null,"v":%d}`, version)),
		Version:   version,
		UpdatedAt: base.Add(time.Duration(version) * time.Second),
	}
}

// createRoom stores NewRoom(id) and returns it as the store completed it.
func createRoom(t *testing.T, st store.Store, id string) *store.Room {
	t.Helper()
	r := NewRoom(id)
	if err := st.Rooms().CreateRoom(context.Background(), r, Owner()); err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	return r
}

// same fails when got and want differ in their JSON encodings: that compares every field
// the front end sees, and times as instants in UTC. Times in want must already be at
// microsecond precision.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: marshal: %v", what, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: marshal: %v", what, err)
	}
	if string(g) != string(w) {
		t.Errorf("%s =\n  %s\nwant\n  %s", what, g, w)
	}
}

func ptr[T any](v T) *T { return &v }

func testRoomCreateGet(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := createRoom(t, st, "")
	if len(r.ID) != 12 || strings.Trim(r.ID, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		t.Errorf("generated room id %q, want 12 lower-case base32 characters", r.ID)
	}
	got, err := st.Rooms().Room(ctx, r.ID)
	if err != nil {
		t.Fatalf("Room: %v", err)
	}
	want := NewRoom(r.ID)
	want.CreatorID, want.CreatorName, want.CreatedAt = "u-owner", "Ada Owner", us(base)
	for i := range want.Images {
		want.Images[i].Position = i
	}
	same(t, "Room", got, want)
	if got.Closed() {
		t.Error("a new room is closed")
	}

	m, err := st.Rooms().Member(ctx, r.ID, "u-owner")
	if err != nil {
		t.Fatalf("Member(owner): %v", err)
	}
	same(t, "owner", m, store.Member{RoomID: r.ID, UserID: "u-owner", Name: "Ada Owner", Role: store.RoleOwner, JoinedAt: us(base)})

	// A room without labels comes back with an empty list, not null.
	bare := &store.Room{ID: "bare", Name: "Bare", Images: []store.RoomImage{{FileID: 1}}, CreatedAt: base}
	if err := st.Rooms().CreateRoom(ctx, bare, Owner()); err != nil {
		t.Fatalf("CreateRoom(bare): %v", err)
	}
	if got, err := st.Rooms().Room(ctx, "bare"); err != nil || got.Labels == nil || len(got.Labels) != 0 || len(got.Images) != 1 {
		t.Errorf("Room(bare) = %+v, %v; want one image and an empty label list", got, err)
	}

	dup := NewRoom(r.ID)
	dup.Name = "someone else's"
	if err := st.Rooms().CreateRoom(ctx, dup, Owner()); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateRoom with a taken id: %v, want ErrConflict", err)
	}
	if got, _ := st.Rooms().Room(ctx, r.ID); got == nil || got.Name != want.Name || len(got.Images) != 3 {
		t.Errorf("after the conflict Room = %+v; the first room must stay", got)
	}
	if _, err := st.Rooms().Room(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Room(unknown): %v, want ErrNotFound", err)
	}
}

func testRoomInvalid(t *testing.T, st store.Store) {
	ctx := context.Background()
	for name, change := range map[string]func(r *store.Room, c *store.Member){
		"no name":          func(r *store.Room, c *store.Member) { r.Name = "" },
		"long name":        func(r *store.Room, c *store.Member) { r.Name = strings.Repeat("é", store.MaxRoomName+1) },
		"no time":          func(r *store.Room, c *store.Member) { r.CreatedAt = time.Time{} },
		"no creator":       func(r *store.Room, c *store.Member) { c.UserID = "" },
		"other creator":    func(r *store.Room, c *store.Member) { r.CreatorID = "u-other" },
		"file twice":       func(r *store.Room, c *store.Member) { r.Images[2].FileID = File1 },
		"key twice":        func(r *store.Room, c *store.Member) { r.Labels[1].Key = 2 },
		"key 0":            func(r *store.Room, c *store.Member) { r.Labels[0].Key = 0 },
		"key 10":           func(r *store.Room, c *store.Member) { r.Labels[0].Key = 10 },
		"label twice":      func(r *store.Room, c *store.Member) { r.Labels[1].Name = "crane" },
		"empty label":      func(r *store.Room, c *store.Member) { r.Labels[1].Name = "" },
		"bad colour":       func(r *store.Room, c *store.Member) { r.Labels[1].Color = "blue" },
		"too many labels":  func(r *store.Room, c *store.Member) { r.Labels = make([]store.Label, store.MaxRoomLabels+1) },
		"too many images":  func(r *store.Room, c *store.Member) { r.Images = make([]store.RoomImage, store.MaxRoomImages+1) },
		"short colour":     func(r *store.Room, c *store.Member) { r.Labels[0].Color = "#fff" },
		"colour not hex":   func(r *store.Room, c *store.Member) { r.Labels[0].Color = "#gg0000" },
		"label name long":  func(r *store.Room, c *store.Member) { r.Labels[0].Name = strings.Repeat("x", store.MaxLabelName+1) },
		"creator name set": func(r *store.Room, c *store.Member) { r.CreatorID, r.CreatorName = "u-x", "X" },
	} {
		r, c := NewRoom("bad"), Owner()
		change(r, &c)
		if err := st.Rooms().CreateRoom(ctx, r, c); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: CreateRoom: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := st.Rooms().Room(ctx, "bad"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an invalid room was stored: Room = %v", err)
	}
}

func testRoomsOf(t *testing.T, st store.Store) {
	ctx := context.Background()
	older := createRoom(t, st, "older")
	newer := NewRoom("newer")
	newer.CreatedAt = base.Add(time.Minute)
	if err := st.Rooms().CreateRoom(ctx, newer, Owner()); err != nil {
		t.Fatal(err)
	}
	other := NewRoom("other")
	if err := st.Rooms().CreateRoom(ctx, other, store.Member{UserID: "u-other", Name: "O"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Rooms().Join(ctx, older.ID, store.Member{UserID: "u-ben", Name: "Ben", JoinedAt: base}); err != nil {
		t.Fatal(err)
	}

	ids := func(user string) string {
		t.Helper()
		rooms, err := st.Rooms().RoomsOf(ctx, user)
		if err != nil {
			t.Fatalf("RoomsOf(%s): %v", user, err)
		}
		var s []string
		for _, r := range rooms {
			if len(r.Images) != 3 || len(r.Labels) != 2 {
				t.Errorf("RoomsOf(%s): room %s has %d images and %d labels, want 3 and 2", user, r.ID, len(r.Images), len(r.Labels))
			}
			s = append(s, r.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids("u-owner"); got != "newer,older" {
		t.Errorf("RoomsOf(owner) = %s, want newer,older (newest first)", got)
	}
	if got := ids("u-ben"); got != "older" {
		t.Errorf("RoomsOf(ben) = %s, want older", got)
	}
	if err := st.Rooms().RemoveMember(ctx, older.ID, "u-ben", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := ids("u-ben"); got != "" {
		t.Errorf("RoomsOf(removed ben) = %s, want none", got)
	}
	if got := ids("u-nobody"); got != "" {
		t.Errorf("RoomsOf(nobody) = %s, want none", got)
	}
}

func testRoomJoin(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := createRoom(t, st, "r")
	ben := store.Member{UserID: "u-ben", Name: "Ben", Role: store.RoleOwner, JoinedAt: base.Add(time.Minute)}
	got, err := st.Rooms().Join(ctx, r.ID, ben)
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantBen := store.Member{RoomID: r.ID, UserID: "u-ben", Name: "Ben", Role: store.RoleMember, JoinedAt: us(base.Add(time.Minute))}
	same(t, "Join (a joiner cannot make themselves owner)", got, wantBen)

	// Joining again (a second tab, a re-opened link) changes nothing.
	again := ben
	again.JoinedAt, again.Name = base.Add(time.Hour), "Ben B."
	got, err = st.Rooms().Join(ctx, r.ID, again)
	if err != nil {
		t.Fatalf("second Join: %v", err)
	}
	same(t, "second Join", got, wantBen)

	// The owner following their own link stays owner.
	if got, err := st.Rooms().Join(ctx, r.ID, store.Member{UserID: "u-owner", Name: "Ada", JoinedAt: base.Add(time.Hour)}); err != nil || got.Role != store.RoleOwner {
		t.Errorf("owner's Join = %+v, %v; want the owner record", got, err)
	}

	ms, err := st.Rooms().Members(ctx, r.ID)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	same(t, "Members", ms, []store.Member{
		{RoomID: r.ID, UserID: "u-owner", Name: "Ada Owner", Role: store.RoleOwner, JoinedAt: us(base)},
		wantBen,
	})
	// Several tabs following the link at once: one membership, and every tab gets it.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := st.Rooms().Join(ctx, r.ID, store.Member{UserID: "u-cy", Name: "Cy", JoinedAt: base.Add(time.Minute)})
			if err != nil || m.UserID != "u-cy" || !m.Active() {
				t.Errorf("concurrent Join = %+v, %v", m, err)
			}
		}()
	}
	wg.Wait()
	if ms, err := st.Rooms().Members(ctx, r.ID); err != nil || len(ms) != 3 {
		t.Errorf("after concurrent joins Members = %+v, %v; want 3", ms, err)
	}
	if _, err := st.Rooms().Join(ctx, "nope", ben); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Join(unknown room): %v, want ErrNotFound", err)
	}
	if _, err := st.Rooms().Member(ctx, r.ID, "u-nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Member(never joined): %v, want ErrNotFound", err)
	}
	if ms, err := st.Rooms().Members(ctx, "nope"); err != nil || len(ms) != 0 {
		t.Errorf("Members(unknown room) = %v, %v; want none", ms, err)
	}
}

func testRoomRemoveMember(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := createRoom(t, st, "r")
	for _, u := range []string{"u-ben", "u-cy"} {
		if _, err := st.Rooms().Join(ctx, r.ID, store.Member{UserID: u, Name: u, JoinedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
	at := base.Add(time.Hour)
	if err := st.Rooms().RemoveMember(ctx, r.ID, "u-ben", at); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	m, err := st.Rooms().Member(ctx, r.ID, "u-ben")
	if err != nil || m.RemovedAt == nil || !m.RemovedAt.Equal(us(at)) || m.Active() {
		t.Fatalf("Member after removal = %+v, %v; want RemovedAt %v", m, err, us(at))
	}
	if _, err := st.Rooms().Join(ctx, r.ID, store.Member{UserID: "u-ben", Name: "Ben", JoinedAt: at.Add(time.Minute)}); !errors.Is(err, store.ErrForbidden) {
		t.Errorf("Join after removal: %v, want ErrForbidden", err)
	}
	if err := st.Rooms().RemoveMember(ctx, r.ID, "u-ben", at.Add(time.Hour)); err != nil {
		t.Errorf("second RemoveMember: %v, want nil", err)
	}
	if m, _ := st.Rooms().Member(ctx, r.ID, "u-ben"); m == nil || !m.RemovedAt.Equal(us(at)) {
		t.Errorf("second RemoveMember moved RemovedAt: %+v", m)
	}
	if m, err := st.Rooms().Member(ctx, r.ID, "u-cy"); err != nil || !m.Active() {
		t.Errorf("the other member: %+v, %v; want active", m, err)
	}
	if ms, _ := st.Rooms().Members(ctx, r.ID); len(ms) != 3 {
		t.Errorf("Members lists %d, want 3 (removed ones included)", len(ms))
	}
	if err := st.Rooms().RemoveMember(ctx, r.ID, "u-owner", at); !errors.Is(err, store.ErrForbidden) {
		t.Errorf("RemoveMember(owner): %v, want ErrForbidden", err)
	}
	if err := st.Rooms().RemoveMember(ctx, r.ID, "u-nobody", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RemoveMember(never joined): %v, want ErrNotFound", err)
	}
}

// promptWant is what the store holds right after PutPrompt(p) created or replaced an
// object: the prompt's fields, no job or result.
func promptWant(p *store.Object, created time.Time) store.Object {
	w := *p
	w.CreatedAt, w.UpdatedAt = us(created), us(p.UpdatedAt)
	w.JobID, w.Status, w.Error, w.Segments, w.BoundingBox = 0, "", "", nil, nil
	return w
}

// sameObject compares objects including SessionID, which their JSON leaves out.
func sameObject(t *testing.T, what string, got *store.Object, want store.Object) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil, want %+v", what, want)
		return
	}
	same(t, what, got, want)
	if got.SessionID != want.SessionID {
		t.Errorf("%s: SessionID = %q, want %q", what, got.SessionID, want.SessionID)
	}
}

func testPutPrompt(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	r := createRoom(t, st, "r")

	p1 := NewPrompt(r.ID, File2, "obj-1", 1)
	got, err := rs.PutPrompt(ctx, p1)
	if err != nil {
		t.Fatalf("PutPrompt v1: %v", err)
	}
	want := promptWant(p1, p1.UpdatedAt)
	sameObject(t, "PutPrompt v1", got, want)
	stored, err := rs.Object(ctx, p1.Key())
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	sameObject(t, "Object after v1", stored, want)

	// A job result and an acceptance, which the next version must reset (result) and keep
	// (acceptance).
	if err := rs.SetJob(ctx, r.ID, File2, "obj-1", 1, 77, "", store.StatusDone, "", json.RawMessage(`[{"p":1}]`), json.RawMessage(`{"x":1}`), base.Add(90*time.Second)); err != nil {
		t.Fatalf("SetJob: %v", err)
	}
	if _, err := rs.SetObjectMeta(ctx, p1.Key(), nil, ptr(true), false, base.Add(100*time.Second)); err != nil {
		t.Fatalf("SetObjectMeta: %v", err)
	}

	// Version 3 from Ben (versions need not be consecutive), without a label.
	p3 := NewPrompt(r.ID, File2, "obj-1", 3)
	p3.AuthorID, p3.AuthorName, p3.SessionID, p3.Label = "u-ben", "Ben", "sess-ben", ""
	p3.CreatedAt = base.Add(time.Hour) // ignored: the object exists
	p3.Status, p3.JobID, p3.Segments = store.StatusDone, 5, json.RawMessage(`[]`)
	got, err = rs.PutPrompt(ctx, p3)
	if err != nil {
		t.Fatalf("PutPrompt v3: %v", err)
	}
	want = promptWant(p3, p1.UpdatedAt)
	want.Label, want.Accepted = "crane", true
	sameObject(t, "PutPrompt v3 (result reset, label and acceptance kept, author replaced)", got, want)

	// Replays, of the latest and of an older version, change nothing and say so.
	for _, v := range []int{3, 2, 1} {
		replay := NewPrompt(r.ID, File2, "obj-1", v)
		replay.Label, replay.AuthorID = "ship", "u-cy"
		got, err := rs.PutPrompt(ctx, replay)
		if !errors.Is(err, store.ErrStale) {
			t.Errorf("PutPrompt replay of v%d: %v, want ErrStale", v, err)
		}
		sameObject(t, fmt.Sprintf("PutPrompt replay of v%d returns the stored object", v), got, want)
	}
	if stored, err := rs.Object(ctx, p1.Key()); err != nil {
		t.Fatal(err)
	} else {
		sameObject(t, "Object after replays", stored, want)
	}
	if objs, err := rs.Objects(ctx, r.ID, File2); err != nil || len(objs) != 1 {
		t.Errorf("Objects = %d objects, %v; want exactly 1", len(objs), err)
	}

	// The same object id on another image is another object.
	if _, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, "obj-1", 1)); err != nil {
		t.Errorf("PutPrompt of the same id on another image: %v", err)
	}

	for name, p := range map[string]*store.Object{
		"unknown image": NewPrompt(r.ID, 123456, "obj-x", 1),
		"unknown room":  NewPrompt("nope", File1, "obj-x", 1),
	} {
		if _, err := rs.PutPrompt(ctx, p); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutPrompt on an %s: %v, want ErrNotFound", name, err)
		}
	}
	for name, change := range map[string]func(p *store.Object){
		"empty id":       func(p *store.Object) { p.ObjectID = "" },
		"id with slash":  func(p *store.Object) { p.ObjectID = "a/b" },
		"id too long":    func(p *store.Object) { p.ObjectID = strings.Repeat("a", 65) },
		"version 0":      func(p *store.Object) { p.Version = 0 },
		"no author":      func(p *store.Object) { p.AuthorID = "" },
		"prompt missing": func(p *store.Object) { p.Prompt = nil },
		"prompt broken":  func(p *store.Object) { p.Prompt = json.RawMessage(`{"points":`) },
		"no time":        func(p *store.Object) { p.UpdatedAt = time.Time{} },
	} {
		p := NewPrompt(r.ID, File1, "obj-bad", 1)
		change(p)
		if _, err := rs.PutPrompt(ctx, p); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutPrompt with %s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, strings.Repeat("A-_9", 16), 1)); err != nil {
		t.Errorf("PutPrompt with a 64-character id: %v", err)
	}
}

// testPutPromptConcurrent: a command retried over a flaky connection can arrive several
// times at once; exactly one of the copies may create the object.
func testPutPromptConcurrent(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := createRoom(t, st, "r")
	const rounds, racers = 10, 4
	for round := range rounds {
		id := fmt.Sprintf("race-%d", round)
		var (
			wg          sync.WaitGroup
			mu          sync.Mutex
			wins, stale int
			other       []error
			start       = make(chan struct{})
		)
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				o, err := st.Rooms().PutPrompt(ctx, NewPrompt(r.ID, File3, id, 1))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && o != nil && o.Version == 1:
					wins++
				case errors.Is(err, store.ErrStale) && o != nil && o.Version == 1:
					stale++
				default:
					other = append(other, fmt.Errorf("%v (object %+v)", err, o))
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins != 1 || stale != racers-1 || len(other) > 0 {
			t.Fatalf("round %d: %d created, %d stale, other outcomes %v; want exactly one created", round, wins, stale, other)
		}
	}
	objs, err := st.Rooms().Objects(ctx, r.ID, File3)
	if err != nil || len(objs) != rounds {
		t.Fatalf("Objects = %d, %v; want %d", len(objs), err, rounds)
	}

	// Versions racing each other: whatever the order, the newest one is what stays.
	var wg sync.WaitGroup
	for v := 1; v <= racers; v++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Rooms().PutPrompt(ctx, NewPrompt(r.ID, File3, "versions", v)); err != nil && !errors.Is(err, store.ErrStale) {
				t.Errorf("PutPrompt v%d: %v", v, err)
			}
		}()
	}
	wg.Wait()
	if o, err := st.Rooms().Object(ctx, store.ObjectKey{RoomID: r.ID, FileID: File3, ObjectID: "versions"}); err != nil || o.Version != racers {
		t.Errorf("after racing versions Object = %+v, %v; want version %d", o, err, racers)
	}
}

func testSetJob(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	r := createRoom(t, st, "r")
	p1 := NewPrompt(r.ID, File1, "o", 1)
	if _, err := rs.PutPrompt(ctx, p1); err != nil {
		t.Fatal(err)
	}
	t1, t2 := base.Add(time.Minute), base.Add(2*time.Minute)
	if err := rs.SetJob(ctx, r.ID, File1, "o", 1, 501, "", store.StatusQueued, "", nil, nil, t1); err != nil {
		t.Fatalf("SetJob queued: %v", err)
	}
	segs, box := json.RawMessage(`[{"score":0.9,"polygon":[[0,0],[1,0],[1,1]]}]`), json.RawMessage(`{"xMin":0,"xMax":1,"yMin":0,"yMax":1}`)
	if err := rs.SetJob(ctx, r.ID, File1, "o", 1, 501, "local", store.StatusDone, "", segs, box, t2); err != nil {
		t.Fatalf("SetJob done: %v", err)
	}
	want := promptWant(p1, p1.UpdatedAt)
	// The backend that ran the job replaces the one stored with the prompt.
	want.JobID, want.Status, want.Segments, want.BoundingBox, want.UpdatedAt, want.Backend = 501, store.StatusDone, segs, box, us(t2), "local"
	got, err := rs.Object(ctx, p1.Key())
	if err != nil {
		t.Fatal(err)
	}
	sameObject(t, "Object after SetJob done", got, want)

	// A newer prompt supersedes job 501; a late update of that job must not land.
	p2 := NewPrompt(r.ID, File1, "o", 2)
	if _, err := rs.PutPrompt(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetJob(ctx, r.ID, File1, "o", 1, 501, "", store.StatusFailed, "late", nil, nil, base.Add(time.Hour)); !errors.Is(err, store.ErrStale) {
		t.Errorf("SetJob for the old version: %v, want ErrStale", err)
	}
	// A version the store has not seen is stale too: results only land on their own prompt.
	if err := rs.SetJob(ctx, r.ID, File1, "o", 3, 503, "", store.StatusQueued, "", nil, nil, base.Add(time.Hour)); !errors.Is(err, store.ErrStale) {
		t.Errorf("SetJob for a future version: %v, want ErrStale", err)
	}
	want = promptWant(p2, p1.UpdatedAt)
	got, _ = rs.Object(ctx, p1.Key())
	sameObject(t, "Object after stale job updates", got, want)

	if err := rs.SetJob(ctx, r.ID, File1, "o", 2, 502, "", store.StatusFailed, "CDF said no", nil, nil, t2); err != nil {
		t.Fatalf("SetJob failed: %v", err)
	}
	want.JobID, want.Status, want.Error, want.UpdatedAt = 502, store.StatusFailed, "CDF said no", us(t2)
	got, _ = rs.Object(ctx, p1.Key())
	sameObject(t, "Object after a failed job", got, want)

	if err := rs.SetJob(ctx, r.ID, File1, "o", 2, 502, "", "Completed", "", nil, nil, t2); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetJob with an unknown status: %v, want ErrInvalid", err)
	}
	if err := rs.SetJob(ctx, r.ID, File1, "o", 2, 502, "", store.StatusDone, "", json.RawMessage(`[`), nil, t2); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetJob with broken segments: %v, want ErrInvalid", err)
	}
	if err := rs.SetJob(ctx, r.ID, File1, "nope", 1, 1, "", store.StatusQueued, "", nil, nil, t2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetJob of an unknown object: %v, want ErrNotFound", err)
	}
}

func testObjectMeta(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	r := createRoom(t, st, "r")
	for _, id := range []string{"b", "a"} {
		if _, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, id, 1)); err != nil {
			t.Fatal(err)
		}
	}
	key := store.ObjectKey{RoomID: r.ID, FileID: File1, ObjectID: "a"}
	at := base.Add(time.Hour)
	got, err := rs.SetObjectMeta(ctx, key, ptr("ship"), nil, false, at)
	if err != nil || got.Label != "ship" || got.Accepted || !got.UpdatedAt.Equal(us(at)) {
		t.Fatalf("SetObjectMeta(label) = %+v, %v", got, err)
	}
	got, err = rs.SetObjectMeta(ctx, key, nil, ptr(true), false, at.Add(time.Second))
	if err != nil || got.Label != "ship" || !got.Accepted {
		t.Fatalf("SetObjectMeta(accept) = %+v, %v", got, err)
	}
	got, err = rs.SetObjectMeta(ctx, key, nil, ptr(false), false, at.Add(2*time.Second))
	if err != nil || got.Accepted {
		t.Fatalf("SetObjectMeta(unaccept) = %+v, %v", got, err)
	}
	if got, err := rs.SetObjectMeta(ctx, key, nil, nil, false, at.Add(time.Hour)); err != nil || !got.UpdatedAt.Equal(us(at.Add(2*time.Second))) {
		t.Errorf("SetObjectMeta(nothing) = %+v, %v; want the object unchanged", got, err)
	}

	delAt := at.Add(time.Minute)
	got, err = rs.SetObjectMeta(ctx, key, nil, nil, true, delAt)
	if err != nil || got.DeletedAt == nil || !got.DeletedAt.Equal(us(delAt)) {
		t.Fatalf("SetObjectMeta(delete) = %+v, %v", got, err)
	}
	var wire map[string]any
	if b, err := json.Marshal(got); err != nil || json.Unmarshal(b, &wire) != nil || wire["deleted"] != true {
		t.Errorf("a deleted object's JSON %s lacks \"deleted\":true (%v)", b, err)
	}
	if got, err := rs.SetObjectMeta(ctx, key, nil, nil, true, delAt.Add(time.Hour)); err != nil || !got.DeletedAt.Equal(us(delAt)) {
		t.Errorf("a retried delete = %+v, %v; want the deleted object unchanged", got, err)
	}
	if _, err := rs.SetObjectMeta(ctx, key, ptr("crane"), nil, false, delAt); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("relabelling a deleted object: %v, want ErrNotFound", err)
	}
	if _, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, "a", 2)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a newer prompt for a deleted object: %v, want ErrNotFound (not revived)", err)
	}
	if o, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, "a", 1)); !errors.Is(err, store.ErrStale) || o == nil || o.DeletedAt == nil {
		t.Errorf("a replayed prompt for a deleted object = %+v, %v; want it and ErrStale", o, err)
	}
	if err := rs.SetJob(ctx, r.ID, File1, "a", 1, 9, "", store.StatusDone, "", nil, nil, delAt); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a job result for a deleted object: %v, want ErrNotFound", err)
	}
	if o, err := rs.Object(ctx, key); err != nil || o.DeletedAt == nil || o.Label != "ship" {
		t.Errorf("Object(deleted) = %+v, %v; want it with DeletedAt", o, err)
	}

	objs, err := rs.Objects(ctx, r.ID, File1)
	if err != nil || len(objs) != 1 || objs[0].ObjectID != "b" {
		t.Errorf("Objects after deleting a = %+v, %v; want only b", objs, err)
	}
	if _, err := rs.SetObjectMeta(ctx, store.ObjectKey{RoomID: r.ID, FileID: File1, ObjectID: "nope"}, ptr("x"), nil, false, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetObjectMeta(unknown): %v, want ErrNotFound", err)
	}
	if _, err := rs.Object(ctx, store.ObjectKey{RoomID: r.ID, FileID: File1, ObjectID: "nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Object(unknown): %v, want ErrNotFound", err)
	}

	// RoomObjects: every image's live objects, images in display order, then oldest first.
	for _, p := range []*store.Object{NewPrompt(r.ID, File3, "z", 1), NewPrompt(r.ID, File2, "y", 1), NewPrompt(r.ID, File2, "x", 2)} {
		if _, err := rs.PutPrompt(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	all, err := rs.RoomObjects(ctx, r.ID)
	if err != nil {
		t.Fatalf("RoomObjects: %v", err)
	}
	var order []string
	for _, o := range all {
		order = append(order, fmt.Sprintf("%d/%s", o.FileID, o.ObjectID))
	}
	if got, want := strings.Join(order, " "), fmt.Sprintf("%d/b %d/y %d/x %d/z", File1, File2, File2, File3); got != want {
		t.Errorf("RoomObjects order = %s, want %s", got, want)
	}
	if objs, err := rs.Objects(ctx, r.ID, 123456); err != nil || objs == nil || len(objs) != 0 {
		t.Errorf("Objects(image without objects) = %#v, %v; want an empty list", objs, err)
	}
}

func testImageDone(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	r := createRoom(t, st, "r")
	image := func(fileID int64) store.RoomImage {
		t.Helper()
		got, err := rs.Room(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range got.Images {
			if im.FileID == fileID {
				return im
			}
		}
		t.Fatalf("image %d is gone", fileID)
		return store.RoomImage{}
	}
	at := base.Add(time.Hour)
	if err := rs.SetImageDone(ctx, r.ID, File2, "u-ana", true, at); err != nil {
		t.Fatalf("SetImageDone: %v", err)
	}
	if im := image(File2); im.DoneBy != "u-ana" || im.DoneAt == nil || !im.DoneAt.Equal(us(at)) {
		t.Errorf("after done: %+v", im)
	}
	if im := image(File1); im.DoneBy != "" || im.DoneAt != nil {
		t.Errorf("another image changed: %+v", im)
	}
	// The first finisher keeps the mark.
	if err := rs.SetImageDone(ctx, r.ID, File2, "u-ben", true, at.Add(time.Minute)); err != nil {
		t.Fatalf("second SetImageDone: %v", err)
	}
	if im := image(File2); im.DoneBy != "u-ana" || !im.DoneAt.Equal(us(at)) {
		t.Errorf("after a second done: %+v, want Ana's mark kept", im)
	}
	if err := rs.SetImageDone(ctx, r.ID, File2, "u-ben", false, at.Add(time.Hour)); err != nil {
		t.Fatalf("SetImageDone(undone): %v", err)
	}
	if im := image(File2); im.DoneBy != "" || im.DoneAt != nil {
		t.Errorf("after undone: %+v", im)
	}
	if err := rs.SetImageDone(ctx, r.ID, File2, "u-ben", true, at.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if im := image(File2); im.DoneBy != "u-ben" {
		t.Errorf("done again by Ben: %+v", im)
	}
	if err := rs.SetImageDone(ctx, r.ID, 123456, "u-ana", true, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetImageDone(unknown image): %v, want ErrNotFound", err)
	}
}

func testPendingJobs(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	open, closed := createRoom(t, st, "open"), createRoom(t, st, "closed")
	at := base.Add(time.Minute)
	job := func(room, id string, jobID int64, status string) {
		t.Helper()
		if _, err := rs.PutPrompt(ctx, NewPrompt(room, File1, id, 1)); err != nil {
			t.Fatal(err)
		}
		if status != "" {
			if err := rs.SetJob(ctx, room, File1, id, 1, jobID, "", status, "", nil, nil, at); err != nil {
				t.Fatal(err)
			}
		}
		at = at.Add(time.Second)
	}
	job(open.ID, "queued", 1, store.StatusQueued)
	job(open.ID, "running", 2, store.StatusRunning)
	job(open.ID, "done", 3, store.StatusDone)
	job(open.ID, "failed", 4, store.StatusFailed)
	job(open.ID, "no-job-yet", 0, "")
	job(open.ID, "queued-without-id", 0, store.StatusQueued)
	job(open.ID, "deleted", 5, store.StatusRunning)
	job(closed.ID, "in-closed-room", 6, store.StatusRunning)
	if _, err := rs.SetObjectMeta(ctx, store.ObjectKey{RoomID: open.ID, FileID: File1, ObjectID: "deleted"}, nil, nil, true, at); err != nil {
		t.Fatal(err)
	}
	if err := rs.CloseRoom(ctx, closed.ID, at); err != nil {
		t.Fatal(err)
	}

	pending, err := rs.PendingJobs(ctx)
	if err != nil {
		t.Fatalf("PendingJobs: %v", err)
	}
	var got []string
	for _, o := range pending {
		got = append(got, fmt.Sprintf("%s:%d:%s", o.ObjectID, o.JobID, o.SessionID))
		if o.Version != 1 || o.RoomID != open.ID || o.FileID != File1 {
			t.Errorf("pending object %+v lacks what resuming needs", o)
		}
	}
	if g, w := strings.Join(got, " "), "queued:1:sess-ana running:2:sess-ana"; g != w {
		t.Errorf("PendingJobs = %s, want %s", g, w)
	}
}

func testClosedRoom(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	r := createRoom(t, st, "r")
	if _, err := rs.Join(ctx, r.ID, store.Member{UserID: "u-ben", Name: "Ben", JoinedAt: base}); err != nil {
		t.Fatal(err)
	}
	p := NewPrompt(r.ID, File1, "o", 1)
	if _, err := rs.PutPrompt(ctx, p); err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Hour)
	if err := rs.CloseRoom(ctx, r.ID, at); err != nil {
		t.Fatalf("CloseRoom: %v", err)
	}
	if err := rs.CloseRoom(ctx, r.ID, at.Add(time.Hour)); err != nil {
		t.Errorf("second CloseRoom: %v, want nil", err)
	}
	got, err := rs.Room(ctx, r.ID)
	if err != nil || got.ClosedAt == nil || !got.ClosedAt.Equal(us(at)) || !got.Closed() {
		t.Fatalf("Room after closing = %+v, %v; want ClosedAt %v (the first close)", got, err, us(at))
	}
	if err := rs.CloseRoom(ctx, "nope", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CloseRoom(unknown): %v, want ErrNotFound", err)
	}

	if _, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, "o", 2)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("PutPrompt: %v, want ErrClosed", err)
	}
	if _, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, "new", 1)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("PutPrompt of a new object: %v, want ErrClosed", err)
	}
	if err := rs.SetJob(ctx, r.ID, File1, "o", 1, 1, "", store.StatusDone, "", nil, nil, at); !errors.Is(err, store.ErrClosed) {
		t.Errorf("SetJob: %v, want ErrClosed", err)
	}
	if _, err := rs.SetObjectMeta(ctx, p.Key(), ptr("ship"), ptr(true), true, at); !errors.Is(err, store.ErrClosed) {
		t.Errorf("SetObjectMeta: %v, want ErrClosed", err)
	}
	if err := rs.SetImageDone(ctx, r.ID, File1, "u-ben", true, at); !errors.Is(err, store.ErrClosed) {
		t.Errorf("SetImageDone: %v, want ErrClosed", err)
	}
	if _, err := rs.Join(ctx, r.ID, store.Member{UserID: "u-new", Name: "New", JoinedAt: at}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Join of a newcomer: %v, want ErrClosed", err)
	}
	if m, err := rs.Join(ctx, r.ID, store.Member{UserID: "u-ben", Name: "Ben", JoinedAt: at}); err != nil || !m.Active() {
		t.Errorf("Join of a member = %+v, %v; want the membership (reading stays possible)", m, err)
	}
	if err := rs.RemoveMember(ctx, r.ID, "u-ben", at); err != nil {
		t.Errorf("RemoveMember in a closed room: %v, want nil", err)
	}

	// Nothing changed, and everything can still be read.
	o, err := rs.Object(ctx, p.Key())
	if err != nil {
		t.Fatal(err)
	}
	sameObject(t, "Object in the closed room", o, promptWant(p, p.UpdatedAt))
	if objs, err := rs.RoomObjects(ctx, r.ID); err != nil || len(objs) != 1 {
		t.Errorf("RoomObjects = %d, %v; want 1", len(objs), err)
	}
	if rooms, err := rs.RoomsOf(ctx, "u-owner"); err != nil || len(rooms) != 1 || !rooms[0].Closed() {
		t.Errorf("RoomsOf(owner) = %+v, %v; want the closed room", rooms, err)
	}
}

// testRoomContext: a cancelled request must not touch the database.
func testRoomContext(t *testing.T, st store.Store) {
	r := createRoom(t, st, "r")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rs := st.Rooms()
	if _, err := rs.Room(ctx, r.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Room: %v, want context.Canceled", err)
	}
	if _, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, "o", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("PutPrompt: %v, want context.Canceled", err)
	}
	if err := rs.CreateRoom(ctx, NewRoom("other"), Owner()); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateRoom: %v, want context.Canceled", err)
	}
	if _, err := rs.Object(context.Background(), store.ObjectKey{RoomID: r.ID, FileID: File1, ObjectID: "o"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the cancelled PutPrompt stored an object: %v", err)
	}
}

// testReview: a review is of one prompt version; a newer prompt clears it, and a stale or
// unknown review changes nothing.
func testReview(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	r := createRoom(t, st, "r")
	p := NewPrompt(r.ID, File1, "o", 1)
	p.Backend = "lasso-local"
	if _, err := rs.PutPrompt(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := p.Key()
	t1 := base.Add(time.Hour)
	got, err := rs.SetReview(ctx, key, 1, store.ReviewApproved, "u-rev", "Rita", t1)
	if err != nil {
		t.Fatalf("SetReview: %v", err)
	}
	if got.Review != store.ReviewApproved || got.ReviewerID != "u-rev" || got.ReviewerName != "Rita" ||
		got.ReviewedAt == nil || !got.ReviewedAt.Equal(us(t1)) || got.Backend != "lasso-local" {
		t.Errorf("reviewed object = %+v", got)
	}
	if stored, _ := rs.Object(ctx, key); stored.Review != store.ReviewApproved {
		t.Errorf("stored review = %q, want approved", stored.Review)
	}

	// A review of another version is stale and changes nothing.
	if o, err := rs.SetReview(ctx, key, 2, store.ReviewRejected, "u-rev", "Rita", t1); !errors.Is(err, store.ErrStale) || o == nil || o.Review != store.ReviewApproved {
		t.Errorf("SetReview of version 2 = %+v, %v; want the stored object and ErrStale", o, err)
	}
	// Withdrawing clears the reviewer.
	if o, err := rs.SetReview(ctx, key, 1, "", "u-rev", "Rita", t1); err != nil || o.Review != "" || o.ReviewerName != "" || o.ReviewedAt != nil {
		t.Errorf("withdrawn review = %+v, %v", o, err)
	}
	if _, err := rs.SetReview(ctx, key, 1, store.ReviewRejected, "u-rev", "Rita", t1); err != nil {
		t.Fatal(err)
	}
	// A newer prompt clears the review and takes its own backend.
	p2 := NewPrompt(r.ID, File1, "o", 2)
	p2.Backend = "cdf"
	o, err := rs.PutPrompt(ctx, p2)
	if err != nil || o.Review != "" || o.ReviewerID != "" || o.ReviewedAt != nil || o.Backend != "cdf" {
		t.Errorf("object after a newer prompt = %+v, %v; want no review, backend cdf", o, err)
	}

	if _, err := rs.SetReview(ctx, key, 2, "maybe", "u-rev", "Rita", t1); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetReview maybe: %v, want ErrInvalid", err)
	}
	if _, err := rs.SetReview(ctx, store.ObjectKey{RoomID: r.ID, FileID: File1, ObjectID: "nope"}, 1, store.ReviewApproved, "u", "U", t1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetReview of an unknown object: %v, want ErrNotFound", err)
	}
	if _, err := rs.SetObjectMeta(ctx, key, nil, nil, true, t1); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.SetReview(ctx, key, 2, store.ReviewApproved, "u", "U", t1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetReview of a deleted object: %v, want ErrNotFound", err)
	}
}

// testSetRole: the owner makes members reviewers and back; the owner's own role is fixed.
func testSetRole(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	r := createRoom(t, st, "r")
	if _, err := rs.Join(ctx, r.ID, store.Member{UserID: "u-ben", Name: "Ben", JoinedAt: base}); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetRole(ctx, r.ID, "u-ben", store.RoleReviewer); err != nil {
		t.Fatalf("SetRole reviewer: %v", err)
	}
	if m, _ := rs.Member(ctx, r.ID, "u-ben"); m.Role != store.RoleReviewer {
		t.Errorf("role = %q, want reviewer", m.Role)
	}
	if err := rs.SetRole(ctx, r.ID, "u-ben", store.RoleMember); err != nil {
		t.Fatal(err)
	}
	if m, _ := rs.Member(ctx, r.ID, "u-ben"); m.Role != store.RoleMember {
		t.Errorf("role = %q, want member", m.Role)
	}
	for name, c := range map[string]struct {
		user, role string
		want       error
	}{
		"the owner":       {"u-owner", store.RoleReviewer, store.ErrForbidden},
		"a stranger":      {"u-zed", store.RoleReviewer, store.ErrNotFound},
		"to owner":        {"u-ben", store.RoleOwner, store.ErrInvalid},
		"to unknown role": {"u-ben", "admin", store.ErrInvalid},
	} {
		if err := rs.SetRole(ctx, r.ID, c.user, c.role); !errors.Is(err, c.want) {
			t.Errorf("SetRole of %s: %v, want %v", name, err, c.want)
		}
	}
	if err := rs.RemoveMember(ctx, r.ID, "u-ben", base); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetRole(ctx, r.ID, "u-ben", store.RoleReviewer); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetRole of a removed member: %v, want ErrNotFound", err)
	}
}

// testChangeWithdrawsReview: a decision is on the object as it was; a new label, or acceptance
// taken back or given again, withdraws it, while setting the same label again does not.
func testChangeWithdrawsReview(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	r := createRoom(t, st, "r")
	p := NewPrompt(r.ID, File1, "o", 1)
	if _, err := rs.PutPrompt(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := p.Key()
	at := base.Add(time.Hour)
	approve := func() {
		t.Helper()
		if _, err := rs.SetReview(ctx, key, 1, store.ReviewApproved, "u-rev", "Rita", at); err != nil {
			t.Fatal(err)
		}
	}
	meta := func(what string, label *string, accepted *bool, want string) {
		t.Helper()
		o, err := rs.SetObjectMeta(ctx, key, label, accepted, false, at)
		if err != nil {
			t.Fatal(err)
		}
		if o.Review != want || (want == "" && (o.ReviewerName != "" || o.ReviewedAt != nil)) {
			t.Errorf("%s: review %q by %q at %v, want %q", what, o.Review, o.ReviewerName, o.ReviewedAt, want)
		}
	}
	meta("accept", nil, ptr(true), "")
	approve()
	meta("the same label again", ptr(p.Label), nil, store.ReviewApproved)
	meta("a new label", ptr(p.Label+" 2"), nil, "")
	approve()
	meta("accept taken back", nil, ptr(false), "")
	approve()
	meta("accepted again", nil, ptr(true), "")
}

// testJobLeases: a job followed by one replica (leased) is nobody else's until its lease runs
// out; a job never leased is claimable once it has not changed for a lease's length; a
// finished job is never claimed.
func testJobLeases(t *testing.T, st store.Store) {
	ctx := context.Background()
	rs := st.Rooms()
	r := createRoom(t, st, "r")
	at := base.Add(time.Minute)
	for i, id := range []string{"a", "b", "c"} {
		if _, err := rs.PutPrompt(ctx, NewPrompt(r.ID, File1, id, 1)); err != nil {
			t.Fatal(err)
		}
		if err := rs.SetJob(ctx, r.ID, File1, id, 1, int64(i+1), "", store.StatusRunning, "", nil, nil, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := rs.SetJob(ctx, r.ID, File1, "c", 1, 3, "", store.StatusDone, "", nil, nil, at); err != nil {
		t.Fatal(err)
	}
	// d's replica died between storing the prompt and starting its job.
	d := NewPrompt(r.ID, File1, "d", 1)
	d.UpdatedAt = at
	if _, err := rs.PutPrompt(ctx, d); err != nil {
		t.Fatal(err)
	}
	lease := 30 * time.Second
	key := func(id string) store.ObjectKey { return store.ObjectKey{RoomID: r.ID, FileID: File1, ObjectID: id} }
	// Replica one follows a (and c, which has finished: its lease means nothing).
	if err := rs.LeaseJobs(ctx, "one", at.Add(2*lease), []store.ObjectKey{key("a"), key("c")}); err != nil {
		t.Fatalf("LeaseJobs: %v", err)
	}
	claimed := func(owner string, now time.Time) string {
		t.Helper()
		objs, err := rs.ClaimJobs(ctx, owner, now, now.Add(lease))
		if err != nil {
			t.Fatalf("ClaimJobs: %v", err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, fmt.Sprintf("%s:%d:%s", o.ObjectID, o.JobID, o.SessionID))
		}
		return strings.Join(got, " ")
	}
	// b was never leased but changed just now: its replica may not have leased it yet.
	if got := claimed("two", at.Add(time.Second)); got != "" {
		t.Errorf("claimed at once: %q, want nothing", got)
	}
	// A lease's length later, b is orphaned; a is still one's.
	if got := claimed("two", at.Add(lease)); got != "b:2:sess-ana d:0:sess-ana" {
		t.Errorf("claimed after a lease's length: %q, want b, and d without a job", got)
	}
	if got := claimed("three", at.Add(lease+time.Second)); got != "" {
		t.Errorf("three claimed %q while one holds a and two holds b", got)
	}
	// Two renews its leases on b and d, one dies: once one's lease has run out, a is another
	// replica's, with what resuming needs.
	if err := rs.LeaseJobs(ctx, "two", at.Add(3*lease), []store.ObjectKey{key("b"), key("d")}); err != nil {
		t.Fatal(err)
	}
	if got := claimed("three", at.Add(2*lease)); got != "a:1:sess-ana" {
		t.Errorf("claimed after one's lease ran out: %q, want a", got)
	}
	if _, err := rs.ClaimJobs(ctx, "", at, at.Add(lease)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ClaimJobs without an owner: %v, want ErrInvalid", err)
	}
	if _, err := rs.ClaimJobs(ctx, "x", at, at); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ClaimJobs with an empty lease: %v, want ErrInvalid", err)
	}
}
