package rooms

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lassoteam/lasso/store"
)

// PresenceTTL is how long a connection counts as open on the strength of its last renewal
// when the presence is shared between replicas (Config.Presence): a dead replica's members leave
// the room within it. KeepPresence renews every third of it.
const PresenceTTL = 45 * time.Second

// presenceTimeout bounds each call to the presence record made without a caller's context.
const presenceTimeout = 5 * time.Second

// KeepPresence calls RenewPresence every third of PresenceTTL until ctx ends.
func (s *Service) KeepPresence(ctx context.Context, onErr func(error)) {
	t := time.NewTicker(PresenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.RenewPresence(ctx); err != nil {
			onErr(err)
		}
	}
}

// RenewPresence renews this process's connections in the shared presence record and tells
// the rooms of the members whose connections lapsed (their replica died): the others see
// them leave.
func (s *Service) RenewPresence(ctx context.Context) error {
	s.mu.Lock()
	ids := slices.Collect(maps.Keys(s.local))
	s.mu.Unlock()
	now := s.now()
	gone, err := s.presence.RenewConns(ctx, ids, now, now.Add(PresenceTTL))
	if err != nil {
		return fmt.Errorf("rooms: renew presence: %w", err)
	}
	told := map[[2]string]bool{}
	for _, c := range gone {
		if k := [2]string{c.RoomID, c.UserID}; !told[k] {
			told[k] = true
			s.publishPresence(ctx, c.RoomID, User{ID: c.UserID, Name: c.UserName})
		}
	}
	return nil
}

// presenceOf derives a member's presence from their open connections (on every replica):
// present while any is open, on the image of the newest one that shows one.
func presenceOf(conns []store.Conn, u User) Present {
	p := Present{UserID: u.ID, Name: u.Name, Color: Color(u.ID)}
	for _, c := range conns { // oldest first
		if c.UserID != u.ID {
			continue
		}
		p.Present = true
		if c.FileID != nil {
			p.FileID = c.FileID
		}
	}
	return p
}

// memPresence is store.Presence in process, for a single server: its connections need no
// heartbeat (they live as long as the process) and nothing is written to the database.
type memPresence struct {
	mu       sync.Mutex
	conns    map[string]store.Conn
	reserved map[string]map[int64]reservedFor // room id → file id → who got it from Next
	locks    map[store.ObjectKey]store.SoftLock
}

type reservedFor struct {
	user  string
	until time.Time
}

func newMemPresence() *memPresence {
	return &memPresence{conns: map[string]store.Conn{}, reserved: map[string]map[int64]reservedFor{}, locks: map[store.ObjectKey]store.SoftLock{}}
}

func (m *memPresence) OpenConn(_ context.Context, c store.Conn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conns[c.ID] = c
	return nil
}

func (m *memPresence) CloseConn(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.conns, id)
	return nil
}

func (m *memPresence) RenewConns(context.Context, []string, time.Time, time.Time) ([]store.Conn, error) {
	return nil, nil
}

func (m *memPresence) Conns(_ context.Context, roomID string, _ time.Time) ([]store.Conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Conn
	for _, c := range m.conns {
		if c.RoomID == roomID {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b store.Conn) int {
		if c := a.OpenedAt.Compare(b.OpenedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (m *memPresence) Reserve(_ context.Context, roomID string, fileID int64, userID string, now, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := m.reserved[roomID]
	if res == nil {
		res = map[int64]reservedFor{}
		m.reserved[roomID] = res
	}
	if rv, ok := res[fileID]; ok && rv.user != userID && now.Before(rv.until) {
		return false, nil
	}
	for f, rv := range res {
		// Expired reservations go too, so the map stays as small as the room's members.
		if rv.user == userID || !now.Before(rv.until) {
			delete(res, f)
		}
	}
	res[fileID] = reservedFor{user: userID, until: until}
	return true, nil
}

func (m *memPresence) Reserved(_ context.Context, roomID string, now time.Time) (map[int64]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int64]string{}
	for f, rv := range m.reserved[roomID] {
		if now.Before(rv.until) {
			out[f] = rv.user
		}
	}
	return out, nil
}

func (m *memPresence) SetLock(_ context.Context, key store.ObjectKey, userID, userName string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.locks[key] = store.SoftLock{UserID: userID, UserName: userName, At: at}
	return nil
}

func (m *memPresence) Lock(_ context.Context, key store.ObjectKey) (*store.SoftLock, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[key]
	if !ok {
		return nil, fmt.Errorf("rooms: soft lock: %w", store.ErrNotFound)
	}
	return &l, nil
}

// isNotFound is errors.Is(err, store.ErrNotFound).
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
