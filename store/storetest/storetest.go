// Package storetest is the contract every store.Store implementation must pass. An
// implementation's own test calls Run with a function that opens a fresh, empty store.
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

// Run runs the contract suite. open must return a new, empty store for each call; Run closes
// it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	t.Run("SessionRoundTrip", func(t *testing.T) { testSessionRoundTrip(t, fresh(t)) })
	t.Run("SessionUpdates", func(t *testing.T) { testSessionUpdates(t, fresh(t)) })
	t.Run("SessionConflict", func(t *testing.T) { testSessionConflict(t, fresh(t)) })
	t.Run("SessionNotFound", func(t *testing.T) { testSessionNotFound(t, fresh(t)) })
	t.Run("SessionDelete", func(t *testing.T) { testSessionDelete(t, fresh(t)) })
	t.Run("SessionDeleteExpired", func(t *testing.T) { testSessionDeleteExpired(t, fresh(t)) })
	t.Run("SessionRefreshLease", func(t *testing.T) { testSessionRefreshLease(t, fresh(t)) })
	runPending(t, fresh)
	t.Run("Settings", func(t *testing.T) { testSettings(t, fresh(t)) })
	runRooms(t, fresh)
	runOutbox(t, fresh)
	runPresence(t, fresh)
}

// base is a fixed instant with sub-microsecond noise, so implementations are held to
// "microsecond precision" and no finer.
var base = time.Date(2026, 3, 4, 10, 20, 30, 123456789, time.UTC)

// us truncates t to the precision the contract promises.
func us(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// NewSession returns a full session record with the given id, for tests of stores and their
// users.
func NewSession(id string) *store.Session {
	return &store.Session{
		ID:           id,
		Subject:      "sub-" + id,
		Name:         "Ada Lovelace",
		Email:        "ada@example.com",
		Mode:         store.ModeOIDC,
		Tokens:       []byte{0, 1, 2, 0xff, 'x'},
		TokenExpiry:  base.Add(time.Hour),
		Capabilities: json.RawMessage(`{"filesAcl":["READ"]}`),
		CreatedAt:    base,
		LastSeenAt:   base,
		ExpiresAt:    base.Add(8 * time.Hour),
	}
}

func equalSession(t *testing.T, got, want *store.Session) {
	t.Helper()
	w := *want
	w.TokenExpiry, w.CreatedAt, w.LastSeenAt, w.ExpiresAt = us(w.TokenExpiry), us(w.CreatedAt), us(w.LastSeenAt), us(w.ExpiresAt)
	g := *got
	diff := func(field string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s = %v, want %v", field, a, b)
		}
	}
	diff("ID", g.ID, w.ID)
	diff("Subject", g.Subject, w.Subject)
	diff("Name", g.Name, w.Name)
	diff("Email", g.Email, w.Email)
	diff("Mode", g.Mode, w.Mode)
	diff("Tokens", g.Tokens, w.Tokens)
	diff("Capabilities", string(g.Capabilities), string(w.Capabilities))
	for _, tc := range []struct {
		field string
		a, b  time.Time
	}{{"TokenExpiry", g.TokenExpiry, w.TokenExpiry}, {"CreatedAt", g.CreatedAt, w.CreatedAt},
		{"LastSeenAt", g.LastSeenAt, w.LastSeenAt}, {"ExpiresAt", g.ExpiresAt, w.ExpiresAt}} {
		if !tc.a.Equal(tc.b) {
			t.Errorf("%s = %v, want %v", tc.field, tc.a, tc.b)
		}
	}
}

func testSessionRoundTrip(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := NewSession("a")
	if err := st.Sessions().Create(ctx, s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, err := st.Sessions().Get(ctx, "a")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	equalSession(t, got, s)

	// A local session: no tokens, no capabilities, no e-mail.
	local := &store.Session{ID: "b", Subject: "local:ada", Name: "Ada", Mode: store.ModeLocal,
		CreatedAt: base, LastSeenAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := st.Sessions().Create(ctx, local); err != nil {
		t.Fatalf("Create local: %v", err)
	}
	got, err = st.Sessions().Get(ctx, "b")
	if err != nil {
		t.Fatalf("Get local: %v", err)
	}
	equalSession(t, got, local)
	if len(got.Tokens) != 0 || !got.TokenExpiry.IsZero() || got.Capabilities != nil {
		t.Errorf("local session came back with tokens %v, expiry %v, capabilities %q", got.Tokens, got.TokenExpiry, got.Capabilities)
	}
}

func testSessionUpdates(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := NewSession("a")
	other := NewSession("other")
	for _, x := range []*store.Session{s, other} {
		if err := st.Sessions().Create(ctx, x); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	newExpiry := base.Add(2 * time.Hour)
	if err := st.Sessions().UpdateTokens(ctx, "a", []byte("new blob"), newExpiry); err != nil {
		t.Fatalf("UpdateTokens: %v", err)
	}
	seen, until := base.Add(time.Minute), base.Add(9*time.Hour)
	if err := st.Sessions().Touch(ctx, "a", seen, until); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if err := st.Sessions().SetCapabilities(ctx, "a", json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatalf("SetCapabilities: %v", err)
	}
	want := *s
	want.Tokens, want.TokenExpiry = []byte("new blob"), newExpiry
	want.LastSeenAt, want.ExpiresAt = seen, until
	want.Capabilities = json.RawMessage(`{"ok":true}`)
	got, err := st.Sessions().Get(ctx, "a")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	equalSession(t, got, &want)

	if err := st.Sessions().SetCapabilities(ctx, "a", nil); err != nil {
		t.Fatalf("SetCapabilities(nil): %v", err)
	}
	if got, _ := st.Sessions().Get(ctx, "a"); got == nil || got.Capabilities != nil {
		t.Errorf("capabilities after clearing = %v", got)
	}

	// The other session is untouched.
	got, err = st.Sessions().Get(ctx, "other")
	if err != nil {
		t.Fatalf("Get other: %v", err)
	}
	equalSession(t, got, other)
}

func testSessionConflict(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Sessions().Create(ctx, NewSession("a")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	dup := NewSession("a")
	dup.Subject = "someone else"
	if err := st.Sessions().Create(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second Create with the same id: %v, want ErrConflict", err)
	}
	got, err := st.Sessions().Get(ctx, "a")
	if err != nil || got.Subject != "sub-a" {
		t.Fatalf("after the conflict Get = %v, %v; the first record must stay", got, err)
	}
}

func testSessionNotFound(t *testing.T, st store.Store) {
	ctx := context.Background()
	ss := st.Sessions()
	if _, err := ss.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
	if err := ss.UpdateTokens(ctx, "nope", []byte("x"), base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateTokens: %v, want ErrNotFound", err)
	}
	if err := ss.Touch(ctx, "nope", base, base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Touch: %v, want ErrNotFound", err)
	}
	if err := ss.SetCapabilities(ctx, "nope", json.RawMessage(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetCapabilities: %v, want ErrNotFound", err)
	}
	if err := ss.Delete(ctx, "nope"); err != nil {
		t.Errorf("Delete of an unknown id: %v, want nil (sign-out is idempotent)", err)
	}
}

func testSessionDelete(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := st.Sessions().Create(ctx, NewSession(id)); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	if err := st.Sessions().Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := st.Sessions().Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if _, err := st.Sessions().Get(ctx, "b"); err != nil {
		t.Errorf("Get of the other session: %v", err)
	}
}

func testSessionDeleteExpired(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := base.Add(time.Hour)
	for id, exp := range map[string]time.Time{
		"past":   now.Add(-time.Second),
		"now":    now, // "at or before now" is expired
		"future": now.Add(time.Second),
	} {
		s := NewSession(id)
		s.ExpiresAt = exp
		if err := st.Sessions().Create(ctx, s); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	// Get does not judge expiry: the caller does.
	if _, err := st.Sessions().Get(ctx, "past"); err != nil {
		t.Errorf("Get of an expired session before DeleteExpired: %v", err)
	}
	n, err := st.Sessions().DeleteExpired(ctx, now)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteExpired removed %d, want 2", n)
	}
	for id, wantErr := range map[string]error{"past": store.ErrNotFound, "now": store.ErrNotFound, "future": nil} {
		if _, err := st.Sessions().Get(ctx, id); !errors.Is(err, wantErr) {
			t.Errorf("Get(%s) after DeleteExpired: %v, want %v", id, err, wantErr)
		}
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	st := s.Settings()
	if _, err := st.Setting(ctx, "vision"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Setting of an unset key: %v, want ErrNotFound", err)
	}
	if err := st.PutSetting(ctx, "vision", `{"retired":true}`, base); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSetting(ctx, "other", "x", base); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSetting(ctx, "vision", "on", base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"vision": "on", "other": "x"} {
		got, err := st.Setting(ctx, key)
		if err != nil || got != want {
			t.Errorf("Setting(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}

// testSessionRefreshLease: one replica at a time refreshes a session's tokens; storing the
// new tokens ends the lease, and a lease whose holder died runs out.
func testSessionRefreshLease(t *testing.T, st store.Store) {
	ctx := context.Background()
	ss := st.Sessions()
	if err := ss.Create(ctx, NewSession("s")); err != nil {
		t.Fatal(err)
	}
	lease := 10 * time.Second
	take := func(owner string, now time.Time) bool {
		t.Helper()
		ok, err := ss.LeaseRefresh(ctx, "s", owner, now, now.Add(lease))
		if err != nil {
			t.Fatalf("LeaseRefresh(%s): %v", owner, err)
		}
		return ok
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
	)
	for i := range 8 {
		wg.Go(func() {
			owner := fmt.Sprintf("replica-%d", i)
			if take(owner, base) {
				mu.Lock()
				winners = append(winners, owner)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d racing replicas got the lease (%v), want 1", len(winners), winners)
	}
	holder := winners[0]
	if !take(holder, base.Add(time.Second)) {
		t.Error("the holder could not renew its own lease")
	}
	if take("other", base.Add(lease)) {
		t.Error("another replica got the lease while it held")
	}
	// Storing the refreshed tokens ends the lease at once.
	if err := ss.UpdateTokens(ctx, "s", []byte("new"), base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !take("other", base.Add(2*time.Second)) {
		t.Error("no lease after the tokens were stored")
	}
	// The holder dies: its lease runs out.
	if !take("third", base.Add(2*time.Second+lease)) {
		t.Error("no lease after the holder's ran out")
	}
	if _, err := ss.LeaseRefresh(ctx, "missing", "x", base, base.Add(lease)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LeaseRefresh of an unknown session: %v, want ErrNotFound", err)
	}
}
