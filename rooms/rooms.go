// Package rooms runs team annotation sessions: who may be in a room, who is present and on which
// image, the objects members prompt (persisted, their jobs followed and resumed after a
// restart), soft locks, progress, and handing out the next image. It joins the store, the hub
// and jobs; handlers stay a thin HTTP layer over it.
package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/store"
)

// Errors callers branch on; store errors (store.ErrNotFound, store.ErrForbidden,
// store.ErrClosed) pass through wrapped.
var (
	// ErrNotMember means the user is not an active member of the room.
	ErrNotMember = errors.New("rooms: not a member of this room")
	// ErrNotOwner means only the room's owner may do that.
	ErrNotOwner = errors.New("rooms: only the room's owner may do that")
	// ErrNoImage means the file is not one of the room's images.
	ErrNoImage = errors.New("rooms: the image is not in this room")
	// ErrNotReviewer: reviews are for the owner and the members the owner made reviewers.
	ErrNotReviewer = errors.New("rooms: only the room's reviewers may review")
	// ErrNotAccepted: only accepted objects are reviewed.
	ErrNotAccepted = errors.New("rooms: the object is not accepted")
)

// LockedError says that another member holds the soft lock on an object.
type LockedError struct{ Holder string }

func (e *LockedError) Error() string { return e.Holder + " is segmenting this" }

// LockWindow is how long after their last prompt a present member keeps an object's soft lock.
const LockWindow = 30 * time.Second

// reservation is how long "next image" keeps an image for the member it was handed to.
const reservation = 60 * time.Second

// Key is the hub room of a room; jobs of room objects are followed under it too.
func Key(roomID string) string { return "room:" + roomID }

// User is a member as the service sees them. SessionID is the login session acting for them
// (whose token starts jobs and writes annotations).
type User struct {
	ID, Name  string
	SessionID string
}

// Color is the member's stable colour, for avatars and their objects' outlines.
func Color(userID string) string {
	palette := []string{"#e5484d", "#30a46c", "#0090ff", "#f76b15", "#8e4ec6", "#12a594", "#d6409f", "#ffc53d", "#3e63dd", "#46a758"}
	h := fnv.New32a()
	h.Write([]byte(userID))
	return palette[h.Sum32()%uint32(len(palette))]
}

// Publisher is what the service needs of the hub.
type Publisher interface {
	Publish(room, typ string, data any) (hub.Message, error)
	// Kick disconnects the user's subscriptions to the room, on every replica.
	Kick(room, user string) error
}

// JobRunner is what the service needs of jobs.Manager.
type JobRunner interface {
	Submit(api jobs.SegmentAPI, t jobs.Task) error
}

// Service runs rooms. It is safe for concurrent use.
type Service struct {
	store  store.Rooms
	pub    Publisher
	jobs   JobRunner
	writer *Writer
	now    func() time.Time

	// presence holds the rooms' connections, reservations and soft locks: in process by
	// default, in the store when shared with other replicas (Config.Presence).
	presence store.Presence
	replica  string

	mu      sync.Mutex
	local   map[string]bool // this process's connections in presence, for KeepPresence
	connSeq uint64
}

type objectRef struct {
	room     string
	fileID   int64
	objectID string
}

// Config is what a Service is built from.
type Config struct {
	Store     store.Rooms
	Publisher Publisher
	// Jobs runs the prompts' segment jobs. (Jobs publish to the rooms through JobPublisher,
	// which needs no Service, so the runner is built first.)
	Jobs JobRunner
	// Writer makes accepted objects CDF annotations; whoever builds it tells people how each
	// write goes (WriterOptions.Notify; see SavedEvent). Nil keeps accepted objects in Lasso only.
	Writer *Writer
	// Presence keeps who is in each room (open connections, "next image" reservations, soft
	// locks), shared with the other replicas using it; Replica names this process's
	// connections there, uniquely among them, and KeepPresence must then run. Nil keeps
	// presence in process.
	Presence store.Presence
	Replica  string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{
		store:    cfg.Store,
		pub:      cfg.Publisher,
		jobs:     cfg.Jobs,
		writer:   cfg.Writer,
		now:      cfg.Now,
		presence: cfg.Presence,
		replica:  cfg.Replica,
		local:    map[string]bool{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.presence == nil {
		s.presence, s.replica = newMemPresence(), "local"
	}
	return s
}

// SavedEvent is the data of an "object.saved" message: how a write of an object goes
// (state "saving", "saved" or "failed").
func SavedEvent(wr *store.Write, state, errMsg string) map[string]any {
	return map[string]any{
		"fileId": wr.FileID, "objectId": wr.ObjectID, "version": wr.Version, "op": wr.Op, "state": state, "error": errMsg,
		"annotationIds": wr.AnnotationIDs,
	}
}

// SavedEventOf is SavedEvent for a stored write, as it stands.
func SavedEventOf(wr *store.Write) map[string]any {
	state, errMsg := saveState(wr)
	return SavedEvent(wr, state, errMsg)
}

// NewRoom is what a user asks for when creating a room.
type NewRoom struct {
	Name   string
	Images []store.RoomImage
	Labels []store.Label
}

// Create makes a room with its creator as owner.
func (s *Service) Create(ctx context.Context, creator User, nr NewRoom) (*store.Room, error) {
	now := s.now()
	id := store.NewRoomID()
	r := &store.Room{ID: id, Name: nr.Name, CreatorID: creator.ID, CreatorName: creator.Name, Images: nr.Images, Labels: nr.Labels, CreatedAt: now}
	owner := store.Member{RoomID: id, UserID: creator.ID, Name: creator.Name, Role: store.RoleOwner, JoinedAt: now}
	if err := s.store.CreateRoom(ctx, r, owner); err != nil {
		return nil, fmt.Errorf("rooms: create: %w", err)
	}
	return r, nil
}

// Access returns the room and the user's membership, or ErrNotMember.
func (s *Service) Access(ctx context.Context, roomID string, u User) (*store.Room, *store.Member, error) {
	r, err := s.store.Room(ctx, roomID)
	if err != nil {
		return nil, nil, fmt.Errorf("rooms: %w", err)
	}
	m, err := s.store.Member(ctx, roomID, u.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.RemovedAt != nil) {
		return r, nil, ErrNotMember
	}
	if err != nil {
		return nil, nil, fmt.Errorf("rooms: %w", err)
	}
	return r, m, nil
}

// Join adds the user to the room (idempotent); a removed member may not come back.
func (s *Service) Join(ctx context.Context, roomID string, u User) error {
	if _, err := s.store.Room(ctx, roomID); err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	if _, err := s.store.Join(ctx, roomID, store.Member{RoomID: roomID, UserID: u.ID, Name: u.Name, Role: store.RoleMember, JoinedAt: s.now()}); err != nil {
		return fmt.Errorf("rooms: join: %w", err)
	}
	return nil
}

// Remove takes a member out of the room and disconnects them at once. Only the owner may.
func (s *Service) Remove(ctx context.Context, roomID string, owner User, userID string) error {
	if err := s.requireOwner(ctx, roomID, owner); err != nil {
		return err
	}
	if userID == owner.ID {
		return fmt.Errorf("rooms: the owner cannot remove themselves: %w", ErrNotOwner)
	}
	if err := s.store.RemoveMember(ctx, roomID, userID, s.now()); err != nil {
		return fmt.Errorf("rooms: remove member: %w", err)
	}
	s.publish(roomID, "member.removed", map[string]string{"userId": userID})
	if err := s.pub.Kick(Key(roomID), userID); err != nil {
		// They are removed all the same: their socket checks access when it reconnects.
		return fmt.Errorf("rooms: disconnect the removed member: %w", err)
	}
	return nil
}

// CloseRoom makes the room read-only. Only the owner may.
func (s *Service) CloseRoom(ctx context.Context, roomID string, owner User) error {
	if err := s.requireOwner(ctx, roomID, owner); err != nil {
		return err
	}
	if err := s.store.CloseRoom(ctx, roomID, s.now()); err != nil {
		return fmt.Errorf("rooms: close: %w", err)
	}
	s.publish(roomID, "room.closed", map[string]string{"roomId": roomID})
	return nil
}

func (s *Service) requireOwner(ctx context.Context, roomID string, u User) error {
	_, m, err := s.Access(ctx, roomID, u)
	if err != nil {
		return err
	}
	if m.Role != store.RoleOwner {
		return ErrNotOwner
	}
	return nil
}

// Prompt is one change of an object's prompt in a room.
type Prompt struct {
	FileID   int64
	ObjectID string
	Version  int
	Label    string
	Request  cdf.SegmentRequest // validated by handlers
	TakeOver bool               // ignore another member's soft lock
	// SessionID is the login session whose token starts and polls the job; it is kept with the
	// object so that the job can be resumed after a restart.
	SessionID string
}

// Prompt stores the prompt and starts its job with api, the user's own client. A replay of a
// version already stored returns (object, false, nil) and starts nothing: commands are
// idempotent by object id and version.
func (s *Service) Prompt(ctx context.Context, api jobs.SegmentAPI, roomID string, u User, p Prompt) (*store.Object, bool, error) {
	r, _, err := s.Access(ctx, roomID, u)
	if err != nil {
		return nil, false, err
	}
	if !hasImage(r, p.FileID) {
		return nil, false, ErrNoImage
	}
	ref := objectRef{roomID, p.FileID, p.ObjectID}
	holder, locked, err := s.lockHolder(ctx, ref, u)
	if err != nil {
		return nil, false, err
	}
	if locked && !p.TakeOver {
		return nil, false, &LockedError{Holder: holder}
	}
	promptJSON, err := json.Marshal(struct {
		Points      []cdf.SegmentPoint `json:"points"`
		BoundingBox *cdf.BoundingBox   `json:"box,omitempty"`
	}{p.Request.Points, p.Request.BoundingBox})
	if err != nil {
		return nil, false, err
	}
	now := s.now()
	obj, err := s.store.PutPrompt(ctx, &store.Object{
		RoomID: roomID, FileID: p.FileID, ObjectID: p.ObjectID,
		AuthorID: u.ID, AuthorName: u.Name, SessionID: p.SessionID, Label: p.Label,
		Prompt: promptJSON, Version: p.Version, CreatedAt: now, UpdatedAt: now,
	})
	if errors.Is(err, store.ErrStale) {
		return obj, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("rooms: store prompt: %w", err)
	}
	if err := s.presence.SetLock(ctx, store.ObjectKey{RoomID: roomID, FileID: p.FileID, ObjectID: p.ObjectID}, u.ID, u.Name, now); err != nil {
		return obj, true, fmt.Errorf("rooms: %w", err)
	}
	s.publish(roomID, "object.updated", obj)
	s.publishImageStatus(ctx, r, p.FileID)
	err = s.jobs.Submit(api, jobs.Task{
		Room: Key(roomID), ObjectID: taskObject(p.FileID, p.ObjectID), Version: p.Version,
		User: u.Name, UserID: u.ID, FileID: p.FileID, Request: p.Request,
	})
	if err != nil && !errors.Is(err, jobs.ErrStale) {
		return obj, true, fmt.Errorf("rooms: start the job: %w", err)
	}
	return obj, true, nil
}

// taskObject names a room object for jobs, which know objects by one string per room.
func taskObject(fileID int64, objectID string) string {
	return strconv.FormatInt(fileID, 10) + "/" + objectID
}

func splitTaskObject(s string) (int64, string, bool) {
	f, o, ok := strings.Cut(s, "/")
	id, err := strconv.ParseInt(f, 10, 64)
	return id, o, ok && err == nil
}

// Change is an edit of an object: any of a new label, acceptance, or deletion.
type Change struct {
	Label    *string
	Accepted *bool
	Deleted  bool
	// Detail is how much to simplify the polygons written to CDF on acceptance.
	Detail Detail
}

// Edit changes an object's label, accepts it, or deletes it.
func (s *Service) Edit(ctx context.Context, roomID string, u User, fileID int64, objectID string, ch Change) (*store.Object, error) {
	label, accepted, deleted := ch.Label, ch.Accepted, ch.Deleted
	r, _, err := s.Access(ctx, roomID, u)
	if err != nil {
		return nil, err
	}
	if !hasImage(r, fileID) {
		return nil, ErrNoImage
	}
	key := store.ObjectKey{RoomID: roomID, FileID: fileID, ObjectID: objectID}
	// The change and the writes it owes CDF are kept together or not at all: an object
	// accepted, deleted or relabelled in Lasso is so in CDF too, whenever the server dies.
	obj, err := s.change(ctx, func(st store.Rooms, ob store.Outbox) (*store.Object, []*store.Write, error) {
		before, err := st.Object(ctx, key)
		if err != nil {
			return nil, nil, err
		}
		obj, err := st.SetObjectMeta(ctx, key, label, accepted, deleted, s.now())
		if err != nil || s.writer == nil {
			return obj, nil, err
		}
		var writes, more []*store.Write
		switch {
		case deleted || accepted != nil && !*accepted:
			writes, err = s.writer.planDelete(ctx, ob, obj, u)
		case accepted != nil && *accepted:
			writes, err = s.writer.planCreate(ctx, ob, obj, u, ch.Detail)
		}
		if err == nil && before.Accepted && obj.Accepted && obj.Label != before.Label {
			// What CDF holds must say what Lasso says, and a reviewer decided on the old label.
			more, err = s.writer.planRelabel(ctx, ob, obj, u)
		}
		return obj, append(writes, more...), err
	})
	if err != nil {
		return nil, fmt.Errorf("rooms: edit object: %w", err)
	}
	s.publish(roomID, "object.updated", obj)
	s.publishImageStatus(ctx, r, fileID)
	return obj, nil
}

// change runs fn, which changes an object and stores the writes it owes CDF through the
// Outbox it is given, in one transaction (store.Atomic), and once that has committed tells
// people of the writes.
func (s *Service) change(ctx context.Context, fn func(st store.Rooms, ob store.Outbox) (*store.Object, []*store.Write, error)) (*store.Object, error) {
	var (
		obj    *store.Object
		writes []*store.Write
	)
	err := s.store.Atomically(ctx, func(st store.Rooms, ob store.Outbox) (err error) {
		obj, writes, err = fn(st, ob)
		return err
	})
	if err == nil && s.writer != nil {
		s.writer.announce(writes)
	}
	return obj, err
}

// Review records a reviewer's decision on the current version of an accepted object
// (store.ReviewApproved, store.ReviewRejected, or "" to take it back), tells the room, and
// sets the status of the object's annotations in CDF to match with the reviewer's rights.
// A decision on a version that is no longer current is store.ErrStale.
func (s *Service) Review(ctx context.Context, roomID string, u User, fileID int64, objectID string, version int, review string) (*store.Object, error) {
	r, m, err := s.Access(ctx, roomID, u)
	if err != nil {
		return nil, err
	}
	if m.Role != store.RoleOwner && m.Role != store.RoleReviewer {
		return nil, ErrNotReviewer
	}
	if !hasImage(r, fileID) {
		return nil, ErrNoImage
	}
	key := store.ObjectKey{RoomID: roomID, FileID: fileID, ObjectID: objectID}
	status := cdf.AnnotationSuggested
	switch review {
	case store.ReviewApproved:
		status = cdf.AnnotationApproved
	case store.ReviewRejected:
		status = cdf.AnnotationRejected
	}
	// The decision and its write to CDF are kept together or not at all (see Edit).
	obj, err := s.change(ctx, func(st store.Rooms, ob store.Outbox) (*store.Object, []*store.Write, error) {
		cur, err := st.Object(ctx, key)
		if err != nil {
			return nil, nil, err
		}
		if !cur.Accepted {
			return nil, nil, ErrNotAccepted
		}
		obj, err := st.SetReview(ctx, key, version, review, u.ID, u.Name, s.now())
		if err != nil || s.writer == nil {
			return obj, nil, err
		}
		writes, err := s.writer.planReview(ctx, ob, obj, u, status)
		return obj, writes, err
	})
	if errors.Is(err, ErrNotAccepted) {
		return nil, err
	}
	if err != nil {
		return obj, fmt.Errorf("rooms: review: %w", err)
	}
	s.publish(roomID, "object.updated", obj)
	s.publishImageStatus(ctx, r, fileID)
	return obj, nil
}

// RetrySave sends the failed annotation writes of an object version once more. Any member
// may: the write keeps the rights of whoever asked for it.
func (s *Service) RetrySave(ctx context.Context, roomID string, u User, fileID int64, objectID string, version int) (int, error) {
	r, _, err := s.Access(ctx, roomID, u)
	if err != nil {
		return 0, err
	}
	if !hasImage(r, fileID) {
		return 0, ErrNoImage
	}
	if s.writer == nil {
		return 0, nil
	}
	return s.writer.RetryFailed(ctx, roomID, fileID, objectID, version)
}

// SetRole makes a member a reviewer (store.RoleReviewer) or a plain member again. Only the
// owner may.
func (s *Service) SetRole(ctx context.Context, roomID string, owner User, userID, role string) error {
	if err := s.requireOwner(ctx, roomID, owner); err != nil {
		return err
	}
	if err := s.store.SetRole(ctx, roomID, userID, role); err != nil {
		return fmt.Errorf("rooms: set role: %w", err)
	}
	s.publish(roomID, "member.role", map[string]string{"userId": userID, "role": role})
	return nil
}

// MarkDone marks an image done (or not) for the room.
func (s *Service) MarkDone(ctx context.Context, roomID string, u User, fileID int64, done bool) error {
	r, _, err := s.Access(ctx, roomID, u)
	if err != nil {
		return err
	}
	if !hasImage(r, fileID) {
		return ErrNoImage
	}
	if err := s.store.SetImageDone(ctx, roomID, fileID, u.ID, done, s.now()); err != nil {
		return fmt.Errorf("rooms: mark done: %w", err)
	}
	r, err = s.store.Room(ctx, roomID)
	if err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	s.publishImageStatus(ctx, r, fileID)
	return nil
}

func hasImage(r *store.Room, fileID int64) bool {
	return slices.ContainsFunc(r.Images, func(im store.RoomImage) bool { return im.FileID == fileID })
}

func (s *Service) publish(roomID, typ string, data any) {
	// A failed publish only loses a live update; the next snapshot has the truth.
	_, _ = s.pub.Publish(Key(roomID), typ, data)
}
