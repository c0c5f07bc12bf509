// Package store keeps Lasso's server-side state behind small interfaces: login sessions,
// the record of used sign-ins, rooms with their members and objects, and the outbox of
// annotation writes owed to CDF.
//
// The interfaces are the shared vocabulary of the packages that use them (auth, handlers):
// they speak plain values and typed errors, never SQL, so that the embedded SQLite
// implementation here and a PostgreSQL one for replicas can both satisfy them and both pass
// the contract suite in store/storetest.
//
// The store is deliberately dumb about meaning: it does not decide when a session has
// expired or what a token blob contains. Callers pass the times they computed, and blobs are
// opaque bytes (auth encrypts them before they get here).
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrNotFound is returned (possibly wrapped) when a record with the given key does not
// exist, e.g. an unknown session id.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned (possibly wrapped) when a record is created under a key that is
// already in use.
var ErrConflict = errors.New("store: already exists")

// Session modes: how a login session was established.
const (
	ModeOIDC    = "oidc"    // signed in through the OIDC provider; carries the user's tokens
	ModeLocal   = "local"   // local mode's display-name sign-in; carries no tokens
	ModeService = "service" // a service account (client credentials)
)

// Session is the stored record of a signed-in user.
//
// Times are kept to the microsecond. A zero TokenExpiry means "no tokens".
type Session struct {
	// ID is the record's key: opaque, random, URL-safe. auth stores a digest of the
	// browser's cookie value here, so the cookie itself is never at rest.
	ID      string
	Subject string // stable user identifier, e.g. the OIDC "sub" or "local:<slug>"
	Name    string // display name
	Email   string // may be empty
	Mode    string // ModeOIDC, ModeLocal or ModeService

	// Tokens is the encrypted token blob; the store never looks inside it.
	Tokens      []byte
	TokenExpiry time.Time // when the access token in Tokens expires

	// Capabilities is free JSON for cached capability information (e.g. from CDF's
	// token/inspect); nil when none is cached.
	Capabilities json.RawMessage

	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // the session must not be used at or after this instant
}

// String describes s without its id or token blob, so that a stray %v in a log line leaks
// nothing that could be replayed.
func (s Session) String() string {
	return fmt.Sprintf("session{subject=%q mode=%s expires=%s tokens=%s}",
		s.Subject, s.Mode, s.ExpiresAt.UTC().Format(time.RFC3339), redacted(len(s.Tokens) > 0))
}

// GoString makes %#v redact too.
func (s Session) GoString() string { return s.String() }

// LogValue implements slog.LogValuer with the same redaction as String.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("subject", s.Subject),
		slog.String("mode", s.Mode),
		slog.Time("expires", s.ExpiresAt),
	)
}

func redacted(present bool) string {
	if present {
		return "[redacted]"
	}
	return "none"
}

// Sessions stores login sessions.
type Sessions interface {
	// Create stores a new session; ErrConflict if its ID is taken.
	Create(ctx context.Context, s *Session) error
	// Get returns the session with the given id, expired or not; ErrNotFound if none.
	Get(ctx context.Context, id string) (*Session, error)
	// UpdateTokens replaces the encrypted token blob and its expiry, and ends any refresh
	// lease; ErrNotFound if none.
	UpdateTokens(ctx context.Context, id string, tokens []byte, expiry time.Time) error
	// LeaseRefresh takes, for owner until until, the lease on refreshing the session's
	// tokens, unless another owner holds it at now: then false. Of concurrent callers, one
	// gets true. ErrNotFound if there is no such session.
	LeaseRefresh(ctx context.Context, id, owner string, now, until time.Time) (bool, error)
	// Touch records activity: sets LastSeenAt and moves ExpiresAt (the caller applies its
	// idle and absolute limits); ErrNotFound if none.
	Touch(ctx context.Context, id string, lastSeen, expiresAt time.Time) error
	// SetCapabilities replaces the cached capability JSON (nil clears it); ErrNotFound if none.
	SetCapabilities(ctx context.Context, id string, capabilities json.RawMessage) error
	// Delete removes the session. Deleting an unknown id is not an error: sign-out must be
	// idempotent.
	Delete(ctx context.Context, id string) error
	// DeleteExpired removes every session whose ExpiresAt is at or before now and returns how
	// many it removed.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
}

// PendingLogins records which sign-ins have been used, so that each is used once. A sign-in
// in flight is not stored: auth seals it into a cookie of the browser that started it, so
// that starting sign-ins (which anybody may do) writes nothing. Only sign-ins that produced a
// session are recorded, each until it would have expired, and the caller caps their number.
type PendingLogins interface {
	// Used reports whether key has been recorded by MarkUsed and not yet removed, expired or
	// not: the caller judges expiry.
	Used(ctx context.Context, key string) (bool, error)
	// MarkUsed records key as used until expiresAt. Of any number of callers with the same
	// key, concurrent or not, exactly one gets nil and the others ErrConflict, as long as the
	// record exists. In the same transaction it removes the records that expire at or before
	// now, and then, if more than limit (≥ 1) remain, those that expire first, never key's.
	MarkUsed(ctx context.Context, key string, expiresAt, now time.Time, limit int) error
	// DeleteExpired removes every record whose expiresAt is at or before now.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
}

// Store is one persistence backend: the sub-stores it offers, and Close.
type Store interface {
	// Sessions returns the login-session store.
	Sessions() Sessions
	// PendingLogins returns the record of used sign-ins.
	PendingLogins() PendingLogins
	// Rooms returns the room store.
	Rooms() Rooms
	// Outbox returns the outbox of annotation writes.
	Outbox() Outbox
	// Presence returns who is in the rooms: connections, reservations, soft locks.
	Presence() Presence
	// Settings returns the deployment's settings.
	Settings() Settings
	// Close releases the backend; the sub-stores must not be used afterwards.
	Close() error
}
