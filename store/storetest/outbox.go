package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/store"
)

// runOutbox runs the outbox part of the contract.
func runOutbox(t *testing.T, fresh func(t *testing.T) store.Store) {
	t.Run("OutboxEnqueue", func(t *testing.T) { testOutboxEnqueue(t, fresh(t)) })
	t.Run("OutboxEnqueueConcurrent", func(t *testing.T) { testOutboxEnqueueConcurrent(t, fresh(t)) })
	t.Run("OutboxDue", func(t *testing.T) { testOutboxDue(t, fresh(t)) })
	t.Run("OutboxRetry", func(t *testing.T) { testOutboxRetry(t, fresh(t)) })
	t.Run("OutboxSettle", func(t *testing.T) { testOutboxSettle(t, fresh(t)) })
	t.Run("OutboxOps", func(t *testing.T) { testOutboxOps(t, fresh(t)) })
	t.Run("OutboxRequeue", func(t *testing.T) { testOutboxRequeue(t, fresh(t)) })
	t.Run("OutboxAttempting", func(t *testing.T) { testOutboxAttempting(t, fresh(t)) })
	t.Run("OutboxClaim", func(t *testing.T) { testOutboxClaim(t, fresh(t)) })
	t.Run("OutboxClaimConcurrent", func(t *testing.T) { testOutboxClaimConcurrent(t, fresh(t)) })
}

// testOutboxClaim: a claimed write is another owner's only once the lease has run out; the
// owner renews its own; a write that is not due or not pending is never claimed.
func testOutboxClaim(t *testing.T, st store.Store) {
	ctx := context.Background()
	ob := st.Outbox()
	r := createRoom(t, st, "r")
	a := enqueue(t, st, NewWrite(r.ID, File1, "a", 1))
	b := enqueue(t, st, NewWrite(r.ID, File2, "b", 2))
	late := NewWrite(r.ID, File3, "c", 3)
	late.NextAt = base.Add(time.Hour)
	enqueue(t, st, late)
	now := base.Add(10 * time.Minute) // a and b are due, c is not
	lease := 30 * time.Second

	got, err := ob.Claim(ctx, "one", now, now.Add(lease), 1)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	same(t, "one's first claim", ids(got), []int64{a.ID})
	if got[0].SessionID != "sess-ana" || string(got[0].Payload) != string(a.Payload) {
		t.Errorf("claimed write = %+v; want the whole record", got[0])
	}
	got, err = ob.Claim(ctx, "two", now, now.Add(lease), 10)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	same(t, "two's claim while one holds a", ids(got), []int64{b.ID})
	if got, _ := ob.Claim(ctx, "three", now.Add(lease-time.Microsecond), now.Add(2*lease), 10); len(got) != 0 {
		t.Errorf("three claimed %v while both leases hold", ids(got))
	}
	// one renews its own lease (and takes nothing of two's).
	got, err = ob.Claim(ctx, "one", now.Add(time.Second), now.Add(time.Second+lease), 10)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "one renewing", ids(got), []int64{a.ID})
	// two dies: at the end of its lease, b is three's; a is still one's.
	got, err = ob.Claim(ctx, "three", now.Add(lease), now.Add(2*lease), 10)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "three's claim once two's lease ran out", ids(got), []int64{b.ID})
	// A settled write is never claimed again, however old its lease.
	if err := ob.Done(ctx, a.ID, []int64{7}, now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(10 * lease)
	got, err = ob.Claim(ctx, "four", later, later.Add(lease), 10)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "four's claim after a is done", ids(got), []int64{b.ID})
	for _, bad := range []struct {
		owner string
		until time.Time
		limit int
	}{{"", later.Add(lease), 1}, {"x", later, 1}, {"x", later.Add(lease), 0}} {
		if _, err := ob.Claim(ctx, bad.owner, later, bad.until, bad.limit); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Claim(%q, until %v, limit %d): %v, want ErrInvalid", bad.owner, bad.until.Sub(later), bad.limit, err)
		}
	}
}

// testOutboxClaimConcurrent: claimers racing for the same due writes, each making what it
// claimed, get each of them once.
func testOutboxClaimConcurrent(t *testing.T, st store.Store) {
	ctx := context.Background()
	ob := st.Outbox()
	r := createRoom(t, st, "r")
	const n = 40
	for i := range n {
		enqueue(t, st, NewWrite(r.ID, File1, fmt.Sprintf("o%d", i), 1))
	}
	now := base.Add(time.Hour)
	var (
		mu    sync.Mutex
		owner = map[int64]string{}
		wg    sync.WaitGroup
	)
	for c := range 4 {
		name := fmt.Sprintf("claimer-%d", c)
		wg.Go(func() {
			for range 20 {
				got, err := ob.Claim(ctx, name, now, now.Add(time.Minute), 3)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				mu.Lock()
				for _, w := range got {
					if prev, ok := owner[w.ID]; ok && prev != name {
						t.Errorf("write %d claimed by %s and by %s", w.ID, prev, name)
					}
					owner[w.ID] = name
				}
				mu.Unlock()
				for _, w := range got { // the work: each claimed write is made once
					if err := ob.Done(ctx, w.ID, []int64{w.ID}, now); err != nil {
						t.Errorf("Done(%d) by %s: %v", w.ID, name, err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(owner) != n {
		t.Errorf("%d of %d writes claimed", len(owner), n)
	}
}

// testOutboxAttempting: a create under way is ambiguous until its answer is recorded, so a
// server that dies meanwhile looks before creating again; a clear answer clears it.
func testOutboxAttempting(t *testing.T, st store.Store) {
	ctx := context.Background()
	ob := st.Outbox()
	r := createRoom(t, st, "r")
	w := enqueue(t, st, NewWrite(r.ID, File1, "o", 1))
	t1 := base.Add(time.Hour)
	if err := ob.Attempting(ctx, w.ID, t1); err != nil {
		t.Fatalf("Attempting: %v", err)
	}
	ambiguous := func() bool {
		ws, err := ob.ForObject(ctx, r.ID, File1, "o")
		if err != nil || len(ws) != 1 {
			t.Fatalf("ForObject = %+v, %v", ws, err)
		}
		return ws[0].Ambiguous
	}
	if !ambiguous() {
		t.Errorf("a write being attempted is not ambiguous")
	}
	// A throttled attempt did not land: Retry says so.
	if err := ob.Retry(ctx, w.ID, t1, "429", false, t1); err != nil {
		t.Fatal(err)
	}
	if ambiguous() {
		t.Errorf("a write refused with 429 is still ambiguous")
	}
	if err := ob.Attempting(ctx, w.ID, t1); err != nil {
		t.Fatal(err)
	}
	if err := ob.Done(ctx, w.ID, []int64{1}, t1); err != nil {
		t.Fatal(err)
	}
	if ambiguous() {
		t.Errorf("a done write is still ambiguous")
	}
	if err := ob.Attempting(ctx, w.ID, t1); !errors.Is(err, store.ErrStale) {
		t.Errorf("Attempting a done write: %v, want ErrStale", err)
	}
	if err := ob.Attempting(ctx, 424242, t1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Attempting an unknown write: %v, want ErrNotFound", err)
	}
}

// testOutboxOps: review and delete writes of a version are writes of their own, keyed by op
// and sequence; writes outside rooms need no room and are kept apart from room writes.
func testOutboxOps(t *testing.T, st store.Store) {
	ctx := context.Background()
	ob := st.Outbox()
	r := createRoom(t, st, "r")
	create := enqueue(t, st, NewWrite(r.ID, File1, "o", 1))
	op := func(op string, seq int) *store.Write {
		w := NewWrite(r.ID, File1, "o", 1)
		w.Op, w.Seq, w.Payload = op, seq, json.RawMessage(fmt.Sprintf(`{"op":%q,"seq":%d}`, op, seq))
		return w
	}
	review0 := enqueue(t, st, op(store.OpReview, 0))
	review1 := enqueue(t, st, op(store.OpReview, 1))
	del := enqueue(t, st, op(store.OpDelete, 0))
	if again := enqueue(t, st, op(store.OpReview, 1)); again.ID != review1.ID {
		t.Errorf("the same review again made write %d, want %d", again.ID, review1.ID)
	}
	distinct := map[int64]bool{create.ID: true, review0.ID: true, review1.ID: true, del.ID: true}
	if len(distinct) != 4 {
		t.Fatalf("create, two reviews and a delete share ids: %v", distinct)
	}
	if review1.Op != store.OpReview || review1.Seq != 1 || string(review1.Payload) != `{"op":"review","seq":1}` || review1.Provenance != nil {
		t.Errorf("review write = %+v", review1)
	}
	// A create keeps its provenance as given.
	withProvenance := NewWrite(r.ID, File3, "p", 1)
	withProvenance.Provenance = json.RawMessage(`{"jobId":7}`)
	if got := enqueue(t, st, withProvenance); string(got.Provenance) != `{"jobId":7}` {
		t.Errorf("provenance = %s, want {\"jobId\":7}", got.Provenance)
	}
	bad := NewWrite(r.ID, File3, "q", 1)
	bad.Provenance = json.RawMessage(`{`)
	if _, err := ob.Enqueue(ctx, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Enqueue with provenance that is not JSON: %v, want ErrInvalid", err)
	}

	// Outside a room: no room check, the user is kept, and they are not the room's writes.
	solo := NewWrite("", File1, "o", 1)
	solo.UserID = "ben"
	got := enqueue(t, st, solo)
	if got.RoomID != "" || got.UserID != "ben" || got.ID == create.ID {
		t.Errorf("write outside a room = %+v", got)
	}
	roomWrites, err := ob.ForImage(ctx, r.ID, File1)
	if err != nil || len(roomWrites) != 4 || roomWrites[0].ID != del.ID || roomWrites[3].ID != create.ID {
		t.Errorf("ForImage(room) = %v, %v; want the 4 room writes, newest first", ids(roomWrites), err)
	}
	soloWrites, err := ob.ForImage(ctx, "", File1)
	if err != nil || len(soloWrites) != 1 || soloWrites[0].ID != got.ID {
		t.Errorf("ForImage(outside rooms) = %v, %v; want [%d]", ids(soloWrites), err, got.ID)
	}
	if ws, err := ob.ForImage(ctx, r.ID, File2); err != nil || ws == nil || len(ws) != 0 {
		t.Errorf("ForImage of an image without writes = %#v, %v; want empty", ws, err)
	}
}

// testOutboxRequeue: a person may send a failed write once more; nothing else is requeued.
func testOutboxRequeue(t *testing.T, st store.Store) {
	ctx := context.Background()
	ob := st.Outbox()
	r := createRoom(t, st, "r")
	failed := enqueue(t, st, NewWrite(r.ID, File1, "o", 1))
	done := enqueue(t, st, NewWrite(r.ID, File1, "o", 2))
	pending := enqueue(t, st, NewWrite(r.ID, File1, "o", 3))
	t1 := base.Add(time.Hour)
	if err := ob.Retry(ctx, failed.ID, t1, "503", true, t1); err != nil {
		t.Fatal(err)
	}
	if err := ob.Fail(ctx, failed.ID, "400 bad", t1); err != nil {
		t.Fatal(err)
	}
	if err := ob.Done(ctx, done.ID, []int64{5}, t1); err != nil {
		t.Fatal(err)
	}
	t2 := t1.Add(time.Hour)
	if err := ob.Requeue(ctx, failed.ID, t2); err != nil {
		t.Fatalf("Requeue of a failed write: %v", err)
	}
	due, err := ob.Due(ctx, t2, 10)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Due after Requeue", ids(due), []int64{failed.ID, pending.ID})
	got := due[0]
	if got.State != store.WritePending || got.Attempts != 1 || !got.Ambiguous || got.LastError != "400 bad" ||
		!got.NextAt.Equal(us(t2)) || !got.UpdatedAt.Equal(us(t2)) {
		t.Errorf("requeued write = %+v; want pending, attempts 1, ambiguous kept, error kept, due at t2", got)
	}
	for name, id := range map[string]int64{"done": done.ID, "pending": pending.ID, "requeued": failed.ID} {
		if err := ob.Requeue(ctx, id, t2); !errors.Is(err, store.ErrStale) {
			t.Errorf("Requeue of a %s write: %v, want ErrStale", name, err)
		}
	}
	if err := ob.Requeue(ctx, 424242, t2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Requeue of an unknown write: %v, want ErrNotFound", err)
	}
}

// NewWrite returns the pending write of object objectID at version, enqueued at
// base+version minutes by "sess-ana", for tests of stores and their users.
func NewWrite(roomID string, fileID int64, objectID string, version int) *store.Write {
	return &store.Write{
		RoomID: roomID, FileID: fileID, ObjectID: objectID, Version: version, Op: store.OpCreate,
		UserID: "ana", SessionID: "sess-ana",
		Payload:   json.RawMessage(fmt.Sprintf(`[{"annotationType":"images.ObjectDetection","v":%d}]`, version)),
		CreatedAt: base.Add(time.Duration(version) * time.Minute),
	}
}

// enqueue stores w and fails the test on an error.
func enqueue(t *testing.T, st store.Store, w *store.Write) *store.Write {
	t.Helper()
	got, err := st.Outbox().Enqueue(context.Background(), w)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return got
}

// ids returns the ids of ws, in order.
func ids(ws []store.Write) []int64 {
	out := []int64{}
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

func testOutboxEnqueue(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := createRoom(t, st, "r")
	w := NewWrite(r.ID, File1, "o", 1)
	w.State, w.Attempts, w.Ambiguous, w.LastError, w.ID = store.WriteDone, 7, true, "x", 99 // ignored
	got := enqueue(t, st, w)
	if got.ID == 0 {
		t.Errorf("Enqueue assigned no id")
	}
	want := store.Write{
		ID: got.ID, RoomID: r.ID, FileID: File1, ObjectID: "o", Version: 1, Op: store.OpCreate, UserID: "ana", SessionID: "sess-ana",
		Payload: NewWrite(r.ID, File1, "o", 1).Payload, State: store.WritePending,
		NextAt: us(w.CreatedAt), CreatedAt: us(w.CreatedAt), UpdatedAt: us(w.CreatedAt),
	}
	same(t, "enqueued write", got, want)
	if got.SessionID != "sess-ana" {
		t.Errorf("SessionID = %q, want sess-ana", got.SessionID)
	}

	// The same (room, file, object, version) again, with another payload: the first stays.
	again := NewWrite(r.ID, File1, "o", 1)
	again.Payload = json.RawMessage(`[{"other":true}]`)
	again.CreatedAt = base.Add(time.Hour)
	dup, err := st.Outbox().Enqueue(ctx, again)
	if err != nil {
		t.Fatalf("second Enqueue: %v, want no error", err)
	}
	same(t, "second enqueue", dup, want)

	// Another version, file or object is another write.
	later := NewWrite(r.ID, File1, "o", 2)
	later.NextAt = base.Add(time.Hour)
	if w2 := enqueue(t, st, later); w2.ID == got.ID || !w2.NextAt.Equal(us(later.NextAt)) {
		t.Errorf("version 2 = %+v; want a new row with its NextAt", w2)
	}
	enqueue(t, st, NewWrite(r.ID, File2, "o", 1))
	enqueue(t, st, NewWrite(r.ID, File1, "p", 1))
	ws, err := st.Outbox().ForObject(ctx, r.ID, File1, "o")
	if err != nil || len(ws) != 2 || ws[0].Version != 2 || ws[1].Version != 1 {
		t.Fatalf("ForObject = %+v, %v; want versions 2, 1", ws, err)
	}
	if ws, err := st.Outbox().ForObject(ctx, r.ID, File3, "o"); err != nil || ws == nil || len(ws) != 0 {
		t.Errorf("ForObject of an object without writes = %#v, %v; want empty", ws, err)
	}

	if _, err := st.Outbox().Enqueue(ctx, NewWrite("nope", File1, "o", 1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Enqueue in an unknown room: %v, want ErrNotFound", err)
	}
	if _, err := st.Outbox().Enqueue(ctx, NewWrite(r.ID, 123, "o", 1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Enqueue on an image not in the room: %v, want ErrNotFound", err)
	}
	for name, change := range map[string]func(w *store.Write){
		"no room, no user": func(w *store.Write) { w.RoomID, w.UserID = "", "" },
		"unknown op":       func(w *store.Write) { w.Op = "upsert" },
		"negative seq":     func(w *store.Write) { w.Seq = -1 },
		"bad object id":    func(w *store.Write) { w.ObjectID = "a/b" },
		"version 0":        func(w *store.Write) { w.Version = 0 },
		"bad payload":      func(w *store.Write) { w.Payload = json.RawMessage(`[`) },
		"no payload":       func(w *store.Write) { w.Payload = nil },
		"no time":          func(w *store.Write) { w.CreatedAt = time.Time{} },
	} {
		w := NewWrite(r.ID, File3, "bad", 1)
		change(w)
		if _, err := st.Outbox().Enqueue(ctx, w); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Enqueue with %s: %v, want ErrInvalid", name, err)
		}
	}
}

// testOutboxEnqueueConcurrent: a handler retried over a flaky connection may enqueue the same
// write several times at once; there must be one row, and every caller must get it.
func testOutboxEnqueueConcurrent(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := createRoom(t, st, "r")
	const rounds, racers = 10, 4
	for round := range rounds {
		id := fmt.Sprintf("race-%d", round)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			got   = map[int64]int{}
			errs  []error
			start = make(chan struct{})
		)
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				w, err := st.Outbox().Enqueue(ctx, NewWrite(r.ID, File2, id, 1))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				got[w.ID]++
			}()
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 || len(got) != 1 {
			t.Fatalf("round %d: ids %v, errors %v; want one id for all %d callers", round, got, errs, racers)
		}
		if ws, err := st.Outbox().ForObject(ctx, r.ID, File2, id); err != nil || len(ws) != 1 {
			t.Fatalf("round %d: ForObject = %d rows, %v; want 1", round, len(ws), err)
		}
	}
}

func testOutboxDue(t *testing.T, st store.Store) {
	ctx := context.Background()
	ob := st.Outbox()
	r := createRoom(t, st, "r")
	// Enqueued in version order (so oldest first is a, b, c, d); d is not due until later.
	a := enqueue(t, st, NewWrite(r.ID, File1, "a", 1))
	b := enqueue(t, st, NewWrite(r.ID, File2, "b", 2))
	c := enqueue(t, st, NewWrite(r.ID, File1, "c", 3))
	late := NewWrite(r.ID, File3, "d", 4)
	late.NextAt = base.Add(time.Hour)
	d := enqueue(t, st, late)

	now := base.Add(10 * time.Minute)
	due, err := ob.Due(ctx, now, 10)
	if err != nil {
		t.Fatalf("Due: %v", err)
	}
	same(t, "Due ids", ids(due), []int64{a.ID, b.ID, c.ID})
	if due[0].SessionID != "sess-ana" || string(due[0].Payload) != string(a.Payload) {
		t.Errorf("Due[0] = %+v; want the whole record", due[0])
	}
	due, err = ob.Due(ctx, now, 2)
	if err != nil {
		t.Fatalf("Due: %v", err)
	}
	same(t, "Due ids with limit 2", ids(due), []int64{a.ID, b.ID})
	// NextAt equal to now is due.
	if due, err := ob.Due(ctx, late.NextAt, 10); err != nil || len(due) != 4 || due[3].ID != d.ID {
		t.Errorf("Due at d's NextAt = %v, %v; want all four, d last", ids(due), err)
	}
	if due, err := ob.Due(ctx, base, 10); err != nil || due == nil || len(due) != 0 {
		t.Errorf("Due before anything = %#v, %v; want empty", due, err)
	}
	if _, err := ob.Due(ctx, now, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Due with limit 0: %v, want ErrInvalid", err)
	}

	// A retried write is due again only at its new time, still in enqueue order.
	if err := ob.Retry(ctx, a.ID, now.Add(time.Minute), "boom", false, now); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if due, _ := ob.Due(ctx, now, 10); len(due) != 2 || due[0].ID != b.ID {
		t.Errorf("Due after retrying a = %v; want b, c", ids(due))
	}
	if due, _ := ob.Due(ctx, now.Add(time.Minute), 10); len(due) != 3 || due[0].ID != a.ID {
		t.Errorf("Due once a is due again = %v; want a, b, c", ids(due))
	}
}

func testOutboxRetry(t *testing.T, st store.Store) {
	ctx := context.Background()
	ob := st.Outbox()
	r := createRoom(t, st, "r")
	w := enqueue(t, st, NewWrite(r.ID, File1, "o", 1))
	t1, t2 := base.Add(time.Hour), base.Add(2*time.Hour)
	if err := ob.Retry(ctx, w.ID, t1.Add(30*time.Second), "timeout", true, t1); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	ws, err := ob.ForObject(ctx, r.ID, File1, "o")
	if err != nil || len(ws) != 1 {
		t.Fatalf("ForObject = %+v, %v", ws, err)
	}
	want := *w
	want.Attempts, want.Ambiguous, want.LastError = 1, true, "timeout"
	want.NextAt, want.UpdatedAt = us(t1.Add(30*time.Second)), us(t1)
	same(t, "after Retry", ws[0], want)
	if due, err := ob.Due(ctx, t1.Add(30*time.Second), 10); err != nil || len(due) != 1 || !due[0].Ambiguous || due[0].Attempts != 1 {
		t.Errorf("Due after an ambiguous Retry = %+v, %v; want the write, ambiguous, 1 attempt", due, err)
	}

	// Each Retry says whether its own attempt may have landed.
	if err := ob.Retry(ctx, w.ID, t2.Add(time.Minute), "503", false, t2); err != nil {
		t.Fatalf("second Retry: %v", err)
	}
	ws, _ = ob.ForObject(ctx, r.ID, File1, "o")
	want.Attempts, want.Ambiguous, want.LastError = 2, false, "503"
	want.NextAt, want.UpdatedAt = us(t2.Add(time.Minute)), us(t2)
	same(t, "after the second Retry", ws[0], want)

	if err := ob.Retry(ctx, 424242, t2, "x", false, t2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Retry of an unknown write: %v, want ErrNotFound", err)
	}
	if err := ob.Retry(ctx, w.ID, time.Time{}, "x", false, t2); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Retry without a next time: %v, want ErrInvalid", err)
	}
}

func testOutboxSettle(t *testing.T, st store.Store) {
	ctx := context.Background()
	ob := st.Outbox()
	r := createRoom(t, st, "r")
	done := enqueue(t, st, NewWrite(r.ID, File1, "o", 1))
	failed := enqueue(t, st, NewWrite(r.ID, File1, "o", 2))
	pending := enqueue(t, st, NewWrite(r.ID, File1, "o", 3))
	now := base.Add(time.Hour)

	if err := ob.Retry(ctx, done.ID, now, "timeout", true, now); err != nil {
		t.Fatal(err)
	}
	if err := ob.Retry(ctx, failed.ID, now, "timeout", true, now); err != nil {
		t.Fatal(err)
	}
	t1 := now.Add(time.Minute)
	if err := ob.Done(ctx, done.ID, []int64{11, 12}, t1); err != nil {
		t.Fatalf("Done: %v", err)
	}
	if err := ob.Fail(ctx, failed.ID, "400 bad request", t1); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	due, err := ob.Due(ctx, now.Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Due after Done and Fail", ids(due), []int64{pending.ID})

	ws, err := ob.ForObject(ctx, r.ID, File1, "o")
	if err != nil || len(ws) != 3 {
		t.Fatalf("ForObject = %+v, %v", ws, err)
	}
	gotFailed, gotDone := ws[1], ws[2]
	wantDone := *done
	wantDone.State, wantDone.Attempts, wantDone.Ambiguous, wantDone.LastError = store.WriteDone, 1, false, "timeout"
	wantDone.AnnotationIDs, wantDone.NextAt, wantDone.UpdatedAt = []int64{11, 12}, us(now), us(t1)
	same(t, "done write", gotDone, wantDone)
	wantFailed := *failed
	wantFailed.State, wantFailed.Attempts, wantFailed.Ambiguous, wantFailed.LastError = store.WriteFailed, 1, true, "400 bad request"
	wantFailed.NextAt, wantFailed.UpdatedAt = us(now), us(t1)
	same(t, "failed write", gotFailed, wantFailed)

	// Settling a settled write again changes nothing.
	for name, err := range map[string]error{
		"Done of done":    ob.Done(ctx, done.ID, []int64{99}, t1.Add(time.Minute)),
		"Fail of done":    ob.Fail(ctx, done.ID, "late", t1.Add(time.Minute)),
		"Retry of failed": ob.Retry(ctx, failed.ID, t1, "late", false, t1.Add(time.Minute)),
		"Done of failed":  ob.Done(ctx, failed.ID, nil, t1.Add(time.Minute)),
	} {
		if !errors.Is(err, store.ErrStale) {
			t.Errorf("%s: %v, want ErrStale", name, err)
		}
	}
	ws, _ = ob.ForObject(ctx, r.ID, File1, "o")
	same(t, "done write after late calls", ws[2], wantDone)
	same(t, "failed write after late calls", ws[1], wantFailed)

	for name, err := range map[string]error{
		"Done":  ob.Done(ctx, 424242, nil, t1),
		"Fail":  ob.Fail(ctx, 424242, "x", t1),
		"Retry": ob.Retry(ctx, 424242, t1, "x", false, t1),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of an unknown write: %v, want ErrNotFound", name, err)
		}
	}

	// Done with no annotations is done, with an empty list.
	if err := ob.Done(ctx, pending.ID, nil, t1); err != nil {
		t.Fatalf("Done with no ids: %v", err)
	}
	ws, _ = ob.ForObject(ctx, r.ID, File1, "o")
	if ws[0].State != store.WriteDone || ws[0].AnnotationIDs == nil || len(ws[0].AnnotationIDs) != 0 {
		t.Errorf("write done with no ids = %+v; want done, []", ws[0])
	}
}
