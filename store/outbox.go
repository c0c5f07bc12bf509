package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Write states: a write is pending until it is done or has failed for good.
const (
	WritePending = "pending" // waiting for its (next) attempt; Due returns it once NextAt has come
	WriteDone    = "done"    // the annotations exist in CDF; AnnotationIDs lists them
	WriteFailed  = "failed"  // given up; LastError says why
)

// Write ops: what a write does to the annotations of one object version.
const (
	OpCreate  = "create"  // create them; Payload is the create items
	OpReview  = "review"  // set their status; Payload says which
	OpDelete  = "delete"  // delete them
	OpRelabel = "relabel" // set their label and send them back to review; Payload says which
)

// Write is one entry of the outbox: a change to make in CDF to the annotations of one prompt
// version of an object, and how far the attempts to make it have got. It is kept durably from
// before the first attempt until it is done or failed, so that a restarted server owes the
// same writes as before.
type Write struct {
	ID int64 `json:"id"` // assigned by Enqueue
	// RoomID is "" for an object of an image opened outside a room.
	RoomID   string `json:"roomId"`
	FileID   int64  `json:"fileId"`
	ObjectID string `json:"objectId"`
	Version  int    `json:"version"` // the object's prompt version the annotations are of
	Op       string `json:"op"`      // OpCreate, OpReview, OpRelabel or OpDelete
	// Seq tells apart repeated ops on one version, from 0: a second review, or a create made
	// again after the first one's annotations were deleted; a delete has its create's Seq.
	Seq int `json:"seq"`
	// UserID asked for the write and is told how it goes.
	UserID string `json:"userId"`
	// SessionID is the login session whose token makes the write; it stays on the server.
	SessionID string `json:"-"`
	// Payload is what the op needs (the create items, the review), opaque to the store.
	Payload json.RawMessage `json:"payload"`
	// Provenance says, for a create, how the object version's mask was made; opaque to the
	// store, nil when there is none.
	Provenance json.RawMessage `json:"provenance,omitempty"`

	State string `json:"state"` // WritePending, WriteDone or WriteFailed
	// Attempts counts the attempts that failed and were rescheduled (Retry calls).
	Attempts int `json:"attempts"`
	// Ambiguous is set when the last attempt may have landed (e.g. a timeout after sending),
	// so the next attempt must look before it creates again.
	Ambiguous bool      `json:"ambiguous"`
	NextAt    time.Time `json:"nextAt"` // a pending write is due at or after this instant
	LastError string    `json:"lastError"`
	// AnnotationIDs are the CDF annotations the write created, or changed; nil until it is done.
	AnnotationIDs []int64   `json:"annotationIds"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

// Atomic is what Rooms and Outbox share: a change to room objects and the writes owed to CDF
// for it are kept together or not at all.
type Atomic interface {
	// Atomically runs fn with Rooms and an Outbox bound to one transaction and commits what
	// fn did through them when it returns nil; otherwise none of it is kept. Calls made
	// inside fn through the Rooms or Outbox it is given (their own Atomically too) join that
	// transaction. fn may run more than once (PostgreSQL runs a transaction a concurrent one
	// broke again), so it must do nothing outside the store that a second run would repeat
	// wrongly; tell people what happened after Atomically has returned.
	Atomically(ctx context.Context, fn func(Rooms, Outbox) error) error
}

// Outbox stores the annotation writes owed to CDF.
//
// Done, Retry and Fail apply only to a pending write: on a write that is done or failed
// already they change nothing and return ErrStale (another worker finished it first), on
// an unknown id ErrNotFound.
type Outbox interface {
	Atomic
	// Enqueue stores w as a pending write and returns the stored record. It is idempotent
	// per (RoomID, FileID, ObjectID, Version, Op, Seq): when that write exists already, whatever its
	// state, Enqueue returns the existing record unchanged and no error, so of concurrent
	// identical calls exactly one creates the row. State, Attempts, Ambiguous, LastError,
	// AnnotationIDs and ID of w are ignored; a zero NextAt means CreatedAt, and UpdatedAt is
	// set to CreatedAt. ErrNotFound if the image is not in the room (with a room); ErrInvalid
	// for a bad id, version, op, payload or a missing time.
	Enqueue(ctx context.Context, w *Write) (*Write, error)
	// Due returns up to limit pending writes whose NextAt is at or before now, oldest
	// (first enqueued) first. ErrInvalid if limit < 1.
	Due(ctx context.Context, now time.Time, limit int) ([]Write, error)
	// Claim is Due for one of several workers (replicas) sharing the outbox: it returns up to
	// limit due writes, oldest first, that no other owner holds a lease on at now, and holds
	// them for owner until until. A write whose owner died is claimable again once its lease
	// has run out; owner's own leases are renewed. Of concurrent claimers, each write goes to
	// one. ErrInvalid if limit < 1, owner is empty or until is not after now.
	Claim(ctx context.Context, owner string, now, until time.Time, limit int) ([]Write, error)
	// Done marks the write done at at with the ids of the annotations it created, and clears
	// Ambiguous (the write is known to have landed).
	Done(ctx context.Context, id int64, annotationIDs []int64, at time.Time) error
	// Attempting records, before a create is sent, that it may land from now on: Ambiguous
	// is set until Done, Retry or Fail says otherwise, so that a server that dies while the
	// create is under way looks for it before creating again.
	Attempting(ctx context.Context, id int64, at time.Time) error
	// Retry records a failed attempt: Attempts+1, the next attempt's time, the error, and
	// whether the attempt may have landed (replacing the previous flag). The write stays
	// pending.
	Retry(ctx context.Context, id int64, nextAt time.Time, errMsg string, ambiguous bool, at time.Time) error
	// Fail gives the write up at at with the error; Ambiguous is kept.
	Fail(ctx context.Context, id int64, errMsg string, at time.Time) error
	// Requeue makes a failed write pending again, due at at, with its attempts and error
	// kept: a person asked to try once more. ErrStale unless the write has failed.
	Requeue(ctx context.Context, id int64, at time.Time) error
	// ForObject returns every write of the object, whatever its state, newest first.
	ForObject(ctx context.Context, roomID string, fileID int64, objectID string) ([]Write, error)
	// ForImage returns every write of the image's objects (roomID "" for outside rooms),
	// whatever its state, newest first.
	ForImage(ctx context.Context, roomID string, fileID int64) ([]Write, error)
}

// checkWrite checks what Enqueue relies on.
func checkWrite(w *Write) error {
	switch {
	case w.Op != OpCreate && w.Op != OpReview && w.Op != OpRelabel && w.Op != OpDelete:
		return fmt.Errorf("%w: unknown op %q", ErrInvalid, w.Op)
	case w.Seq < 0:
		return fmt.Errorf("%w: op sequence %d, want ≥ 0", ErrInvalid, w.Seq)
	case w.RoomID == "" && w.UserID == "":
		return fmt.Errorf("%w: a write outside a room needs its user", ErrInvalid)
	case !validObjectID(w.ObjectID):
		return fmt.Errorf("%w: object id %q is not 1..%d of [A-Za-z0-9_-]", ErrInvalid, w.ObjectID, MaxObjectIDSize)
	case w.Version < 1:
		return fmt.Errorf("%w: prompt version %d, want ≥ 1", ErrInvalid, w.Version)
	case len(w.Payload) == 0 || !json.Valid(w.Payload):
		return fmt.Errorf("%w: payload is not JSON", ErrInvalid)
	case w.Provenance != nil && !json.Valid(w.Provenance):
		return fmt.Errorf("%w: provenance is not JSON", ErrInvalid)
	case w.CreatedAt.IsZero():
		return fmt.Errorf("%w: no time", ErrInvalid)
	}
	return nil
}
