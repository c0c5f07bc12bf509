package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// ErrForbidden is returned (possibly wrapped) when an action is refused because of who asks:
// a removed member joining again by link, or removing a room's owner.
var ErrForbidden = errors.New("store: forbidden")

// ErrStale is returned (possibly wrapped) when a write carries a version that is not newer
// than (PutPrompt) or not equal to (SetJob) the stored one. It is an expected outcome, not a
// failure: a replayed command or a superseded job result lands here and changes nothing.
// Outbox.Done, Retry and Fail return it too, for a write that is no longer pending.
var ErrStale = errors.New("store: stale version")

// ErrClosed is returned (possibly wrapped) when a closed room is asked to change: closed
// rooms are read-only.
var ErrClosed = errors.New("store: room is closed")

// ErrInvalid is returned (possibly wrapped) when a record breaks the shape the store relies
// on (a duplicate label key, an object id outside its alphabet, JSON that does not parse).
// Handlers validate user input first; this is the backstop that keeps bad rows out.
var ErrInvalid = errors.New("store: invalid record")

// Member roles.
const (
	RoleOwner    = "owner"    // the room's creator: may remove members, close the room and review
	RoleReviewer = "reviewer" // made so by the owner: approves or rejects objects
	RoleMember   = "member"   // joined by link
)

// Reviews of an object's current version: "" until a reviewer decides.
const (
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
)

// Object job statuses. An object has no status ("") until its first job is started.
const (
	StatusQueued  = "queued"
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// Limits of the room model (docs/ROOMS.md); the store refuses records beyond them.
const (
	MaxRoomName     = 100  // characters
	MaxRoomImages   = 1000 // images per room
	MaxRoomLabels   = 9    // labels per room, one per key 1..9
	MaxLabelName    = 128  // characters
	MaxObjectIDSize = 64   // bytes of [A-Za-z0-9_-]
)

// Room is a team annotation session: a named, fixed set of images and a label set.
type Room struct {
	ID          string      `json:"id"` // 12 lower-case base32 characters; see NewRoomID
	Name        string      `json:"name"`
	CreatorID   string      `json:"creatorId"`
	CreatorName string      `json:"creatorName"`
	Images      []RoomImage `json:"images"` // in display order, fixed at creation
	Labels      []Label     `json:"labels"` // in display order, fixed at creation
	CreatedAt   time.Time   `json:"createdAt"`
	ClosedAt    *time.Time  `json:"closedAt,omitempty"` // set once the room is closed (read-only)
}

// Closed reports whether the room is read-only.
func (r *Room) Closed() bool { return r.ClosedAt != nil }

// RoomImage is one CDF image file of a room and whether a member has marked it done.
type RoomImage struct {
	FileID    int64      `json:"fileId"`
	Name      string     `json:"name"`
	Directory string     `json:"directory"`
	Position  int        `json:"position"` // index in Room.Images; CreateRoom assigns it
	DoneBy    string     `json:"doneBy"`   // user id, "" while not done
	DoneAt    *time.Time `json:"doneAt,omitempty"`
}

// Label is one entry of a room's label set.
type Label struct {
	Name  string `json:"name"`
	Color string `json:"color"` // "#rrggbb"
	Key   int    `json:"key"`   // keyboard shortcut 1..9, unique in the room
}

// Member is a user's membership of a room. Removed members keep their record (RemovedAt
// set) so that the link cannot let them back in.
type Member struct {
	RoomID    string     `json:"roomId"`
	UserID    string     `json:"userId"`
	Name      string     `json:"name"`
	Role      string     `json:"role"` // RoleOwner or RoleMember
	JoinedAt  time.Time  `json:"joinedAt"`
	RemovedAt *time.Time `json:"removedAt,omitempty"`
}

// Active reports whether the member may still use the room.
func (m *Member) Active() bool { return m.RemovedAt == nil }

// ObjectKey identifies an object: the primary key of Object.
type ObjectKey struct {
	RoomID   string
	FileID   int64
	ObjectID string
}

// Object is one annotated thing on a room image: its latest prompt, the job that segments
// it, the result, and its label. The JSON form is what handlers send over the WebSocket as
// "object.updated", so field names are the front end's.
type Object struct {
	RoomID   string `json:"roomId"`
	FileID   int64  `json:"fileId"`
	ObjectID string `json:"objectId"` // client-generated, 1..64 of [A-Za-z0-9_-]

	// AuthorID and AuthorName are whoever sent the latest accepted prompt: the soft lock
	// ("Ana is segmenting this") is about the last person to prompt, not the first.
	AuthorID   string `json:"authorId"`
	AuthorName string `json:"authorName"`
	// SessionID is the author's login session, whose token starts and polls the job; kept
	// so that PendingJobs can resume with the same rights. It stays on the server: the
	// WebSocket carries objects to every member.
	SessionID string `json:"-"`
	Label     string `json:"label"`

	Prompt  json.RawMessage `json:"prompt"`  // normalised {"points":[...],"box":...}
	Version int             `json:"version"` // client prompt version, ≥ 1, only ever grows

	JobID       int64           `json:"jobId"`  // 0 before a job is started for Version
	Status      string          `json:"status"` // "" or one of the Status constants
	Error       string          `json:"error"`
	Segments    json.RawMessage `json:"segments"` // CDF segments, best first; null until done
	BoundingBox json.RawMessage `json:"boundingBox"`

	Accepted bool `json:"accepted"`
	// Backend names what segmented the prompt (provenance), e.g. "cdf" or "lasso-local".
	Backend string `json:"backend"`
	// Review is the reviewer's decision on Version: "", ReviewApproved or ReviewRejected. A
	// newer prompt version clears it.
	Review       string     `json:"review"`
	ReviewerID   string     `json:"reviewerId"`
	ReviewerName string     `json:"reviewerName"`
	ReviewedAt   *time.Time `json:"reviewedAt,omitempty"`
	// Save is how the object's annotations in CDF stand. The store does not keep it with the
	// object; rooms fills it in from the outbox.
	Save *Save `json:"save,omitempty"`

	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty"`
}

// Key returns the object's primary key.
func (o *Object) Key() ObjectKey {
	return ObjectKey{RoomID: o.RoomID, FileID: o.FileID, ObjectID: o.ObjectID}
}

// MarshalJSON adds "deleted" (the WebSocket message carries a flag, not only a time) to the
// plain encoding.
func (o Object) MarshalJSON() ([]byte, error) {
	type plain Object // drops the method, so this does not recurse
	return json.Marshal(struct {
		plain
		Deleted bool `json:"deleted"`
	}{plain(o), o.DeletedAt != nil})
}

// Save is how the last outbox write of an object stands, for the people looking at it.
type Save struct {
	Version       int     `json:"version"` // the prompt version written
	Op            string  `json:"op"`      // OpCreate, OpReview or OpDelete
	State         string  `json:"state"`   // WritePending, WriteDone or WriteFailed
	Error         string  `json:"error"`
	AnnotationIDs []int64 `json:"annotationIds"` // of the version's created annotations, once done
}

// NewRoomID returns a fresh room id: 12 random characters of lower-case base32 (60 bits),
// short enough for a share link and too many to guess.
func NewRoomID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, 12)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b)
}

// ObjectTally is what room progress counts of an object: its image, label and author, and
// how far it got.
type ObjectTally struct {
	FileID   int64
	Label    string
	AuthorID string
	Accepted bool
	Review   string
}

// Rooms stores rooms, their members and the objects annotated in them.
//
// List methods return an empty result (not ErrNotFound) for an unknown room: callers load
// the room first. Every write to a closed room, except membership changes, fails with
// ErrClosed.
type Rooms interface {
	Atomic
	// CreateRoom stores r with its images and labels and makes creator its owner. An empty
	// r.ID is filled with NewRoomID; r.CreatorID/CreatorName default to the creator's, each
	// image's Position is set to its index, and creator.JoinedAt defaults to r.CreatedAt.
	// ErrConflict if the id is taken, ErrInvalid if r breaks the model's limits.
	CreateRoom(ctx context.Context, r *Room, creator Member) error
	// Room returns the room with its images and labels; ErrNotFound if none.
	Room(ctx context.Context, id string) (*Room, error)
	// RoomsOf returns the rooms userID is an active member of, closed ones included, newest
	// first, each with its images and labels.
	RoomsOf(ctx context.Context, userID string) ([]Room, error)
	// CloseRoom makes the room read-only from at on. Closing a closed room keeps the first
	// time and is not an error; ErrNotFound if there is no such room.
	CloseRoom(ctx context.Context, id string, at time.Time) error

	// Join adds m.UserID to the room as a member (Role and RoomID are set by the store) and
	// returns the stored membership. It is idempotent: an active member gets their existing
	// record back unchanged. ErrForbidden if the user was removed, ErrClosed if the room is
	// closed and the user is not a member yet, ErrNotFound if there is no such room.
	Join(ctx context.Context, roomID string, m Member) (*Member, error)
	// Member returns the user's membership, RemovedAt set if removed; ErrNotFound if the user
	// never joined (or there is no such room).
	Member(ctx context.Context, roomID, userID string) (*Member, error)
	// Members returns every membership of the room, removed ones included, in joining order.
	Members(ctx context.Context, roomID string) ([]Member, error)
	// RemoveMember marks the member removed at at; removing a removed member keeps the first
	// time. It works on closed rooms too: taking access away must always be possible.
	// ErrNotFound if the user never joined, ErrForbidden for the owner.
	RemoveMember(ctx context.Context, roomID, userID string, at time.Time) error

	// SetImageDone marks the image done by userID at at, or not done. Marking a done image
	// done again keeps who and when. ErrNotFound if the image is not in the room.
	SetImageDone(ctx context.Context, roomID string, fileID int64, userID string, done bool, at time.Time) error

	// PutPrompt stores the prompt of (o.RoomID, o.FileID, o.ObjectID) at o.Version and
	// returns the stored object.
	//
	// The first call creates the object (CreatedAt = o.CreatedAt, or o.UpdatedAt when zero).
	// A newer version replaces Prompt, AuthorID, AuthorName, SessionID, Label (when o.Label
	// is not empty), Version, Backend and UpdatedAt and resets JobID, Status, Error, Segments,
	// BoundingBox and the review; Accepted is kept. A version ≤ the stored one changes nothing and returns
	// the stored object together with ErrStale, so a replayed command is harmless and of
	// concurrent identical calls exactly one wins. Result fields of o are ignored.
	//
	// ErrNotFound if the image is not in the room, or the object was deleted (a deleted
	// object is not revived); ErrInvalid for a bad id, version or prompt.
	PutPrompt(ctx context.Context, o *Object) (*Object, error)
	// SetJob records the job started for, or the state reached by the job of, the object's
	// prompt version. It applies only while version is the stored version: otherwise it
	// changes nothing and returns ErrStale, so a superseded job's result never lands.
	// segments and box replace the stored ones (nil clears them); a non-empty backend (what
	// ran the job) replaces the stored one. ErrNotFound if there is no such object or it was
	// deleted; ErrInvalid for an unknown status.
	SetJob(ctx context.Context, roomID string, fileID int64, objectID string, version int, jobID int64, backend string,
		status, errMsg string, segments, box json.RawMessage, at time.Time) error
	// SetObjectMeta changes the label (when label is not nil) and acceptance (when accepted is
	// not nil) and/or deletes the object, and returns the stored object. A label or acceptance
	// that differs from the stored one withdraws the review: the reviewer decided on what the
	// object was, not on what it has become. Deleting a deleted
	// object returns it unchanged (retries are harmless); any other change to a deleted
	// object is ErrNotFound, as is an unknown object.
	SetObjectMeta(ctx context.Context, key ObjectKey, label *string, accepted *bool, deleted bool, at time.Time) (*Object, error)
	// SetReview records a reviewer's decision (ReviewApproved, ReviewRejected, or "" to
	// withdraw it) on the object's prompt version and returns the stored object. ErrStale
	// (with the stored object) if version is not the stored one, ErrNotFound for an unknown
	// or deleted object, ErrInvalid for another review.
	SetReview(ctx context.Context, key ObjectKey, version int, review, reviewerID, reviewerName string, at time.Time) (*Object, error)
	// SetRole makes an active member a reviewer or a plain member. ErrForbidden for the
	// owner, ErrNotFound for someone who is not an active member, ErrInvalid for another role.
	SetRole(ctx context.Context, roomID, userID, role string) error
	// Object returns one object, deleted or not; ErrNotFound if it never existed.
	Object(ctx context.Context, key ObjectKey) (*Object, error)
	// Objects returns the image's objects that are not deleted, oldest first.
	Objects(ctx context.Context, roomID string, fileID int64) ([]Object, error)
	// RoomObjects returns the room's objects that are not deleted, by image then oldest first.
	RoomObjects(ctx context.Context, roomID string) ([]Object, error)
	// RoomTally returns what room progress counts of the same objects, in the same order,
	// without their prompts and polygons: for a room of thousands of objects that is a few
	// hundred kB to read where RoomObjects reads tens of MB.
	RoomTally(ctx context.Context, roomID string) ([]ObjectTally, error)
	// PendingJobs returns the objects, in open rooms and not deleted, whose job is queued or
	// running (JobID set), so that a restarted server can follow those jobs to the end.
	PendingJobs(ctx context.Context) ([]Object, error)
	// LeaseJobs holds, for owner until until, the leases of those of the objects whose job
	// is still to start, queued or running at their current version: the jobs one replica
	// follows.
	LeaseJobs(ctx context.Context, owner string, until time.Time, keys []ObjectKey) error
	// ClaimJobs is PendingJobs for one of several replicas, with the prompts whose job has not
	// started yet (no status; queued without a JobID) among them: it returns those nobody holds at now (their lease ran out, or none was taken and the object has not
	// changed for as long as a lease lasts, until−now), leased to owner until until. Of
	// concurrent claimers, each job goes to one. ErrInvalid if owner is empty or until is not
	// after now.
	ClaimJobs(ctx context.Context, owner string, now, until time.Time) ([]Object, error)
}

// prepareRoom fills CreateRoom's defaults into r and creator and checks both against the
// model, so that every implementation stores the same shapes.
func prepareRoom(r *Room, creator *Member) error {
	if r.ID == "" {
		r.ID = NewRoomID()
	}
	if r.CreatorID == "" {
		r.CreatorID, r.CreatorName = creator.UserID, creator.Name
	}
	creator.RoomID, creator.Role, creator.RemovedAt = r.ID, RoleOwner, nil
	if creator.JoinedAt.IsZero() {
		creator.JoinedAt = r.CreatedAt
	}
	switch {
	case r.CreatorID != creator.UserID:
		return fmt.Errorf("%w: creator %q is not the room's creator %q", ErrInvalid, creator.UserID, r.CreatorID)
	case creator.UserID == "":
		return fmt.Errorf("%w: no creator", ErrInvalid)
	case r.Name == "" || utf8.RuneCountInString(r.Name) > MaxRoomName:
		return fmt.Errorf("%w: room name must have 1..%d characters", ErrInvalid, MaxRoomName)
	case r.CreatedAt.IsZero():
		return fmt.Errorf("%w: no creation time", ErrInvalid)
	case len(r.Images) > MaxRoomImages:
		return fmt.Errorf("%w: %d images, at most %d", ErrInvalid, len(r.Images), MaxRoomImages)
	case len(r.Labels) > MaxRoomLabels:
		return fmt.Errorf("%w: %d labels, at most %d", ErrInvalid, len(r.Labels), MaxRoomLabels)
	}
	files := make(map[int64]bool, len(r.Images))
	for i := range r.Images {
		im := &r.Images[i]
		if files[im.FileID] {
			return fmt.Errorf("%w: file %d appears twice", ErrInvalid, im.FileID)
		}
		files[im.FileID] = true
		im.Position = i
	}
	keys, names := map[int]bool{}, map[string]bool{}
	for _, l := range r.Labels {
		switch {
		case l.Key < 1 || l.Key > 9 || keys[l.Key]:
			return fmt.Errorf("%w: label %q: key %d is out of 1..9 or used twice", ErrInvalid, l.Name, l.Key)
		case l.Name == "" || utf8.RuneCountInString(l.Name) > MaxLabelName || names[l.Name]:
			return fmt.Errorf("%w: label name %q is empty, too long or used twice", ErrInvalid, l.Name)
		case !isColor(l.Color):
			return fmt.Errorf("%w: label %q: colour %q is not #rrggbb", ErrInvalid, l.Name, l.Color)
		}
		keys[l.Key], names[l.Name] = true, true
	}
	return nil
}

func isColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// validObjectID reports whether id is 1..64 of [A-Za-z0-9_-]: ids come from browsers and
// end up in URLs and keys.
func validObjectID(id string) bool {
	if id == "" || len(id) > MaxObjectIDSize {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkPrompt checks what PutPrompt relies on.
func checkPrompt(o *Object) error {
	switch {
	case o.RoomID == "":
		return fmt.Errorf("%w: no room id", ErrInvalid)
	case !validObjectID(o.ObjectID):
		return fmt.Errorf("%w: object id %q is not 1..%d of [A-Za-z0-9_-]", ErrInvalid, o.ObjectID, MaxObjectIDSize)
	case o.Version < 1:
		return fmt.Errorf("%w: prompt version %d, want ≥ 1", ErrInvalid, o.Version)
	case o.AuthorID == "":
		return fmt.Errorf("%w: no author", ErrInvalid)
	case len(o.Prompt) == 0 || !json.Valid(o.Prompt):
		return fmt.Errorf("%w: prompt is not JSON", ErrInvalid)
	case o.UpdatedAt.IsZero():
		return fmt.Errorf("%w: no time", ErrInvalid)
	}
	return nil
}

// checkJob checks what SetJob relies on.
func checkJob(status string, segments, box json.RawMessage) error {
	switch status {
	case StatusQueued, StatusRunning, StatusDone, StatusFailed:
	default:
		return fmt.Errorf("%w: job status %q", ErrInvalid, status)
	}
	for _, raw := range []json.RawMessage{segments, box} {
		if raw != nil && !json.Valid(raw) {
			return fmt.Errorf("%w: job result is not JSON", ErrInvalid)
		}
	}
	return nil
}
