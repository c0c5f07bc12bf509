package auth_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lassoteam/lasso/auth"
)

// TestRefreshLeasedAcrossReplicas: two replicas' Managers on one store, with the session's
// access token due for refresh: while the first one's refresh is under way (the provider holds
// its answer 300 ms), the second asks for the token. The provider sees one refresh, and both
// replicas hand out the token it gave, the second reading it from the store.
//
// The first is the Manager that signed the user in: oauth2 has learnt how to send the client
// credentials to this provider there, where a fresh Manager's first call may try two ways
// (and so count twice at the provider).
func TestRefreshLeasedAcrossReplicas(t *testing.T) {
	h := newHarness(t, options{})
	h.expiresIn.Store(30)
	c := h.browser()
	h.signIn(c, "/")
	h.expiresIn.Store(3600)
	h.refreshWait.Store(int64(300 * time.Millisecond))
	other, err := auth.New(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id string
	if err := db.QueryRow(`SELECT id FROM sessions`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		tokens [2]string
	)
	for i, m := range []*auth.Manager{h.m, other} {
		if i > 0 {
			time.Sleep(50 * time.Millisecond) // the first one's refresh is under way
		}
		wg.Go(func() {
			tok, err := m.TokenSource(id).Token()
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
				return
			}
			tokens[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if got := h.refreshes.Load(); got != 1 {
		t.Errorf("%d refreshes by two replicas at once, want 1", got)
	}
	if tokens[0] != tokens[1] || !strings.HasPrefix(tokens[0], "refreshed-1-") {
		t.Errorf("the replicas handed out different tokens, or not the refreshed one")
	}
}
