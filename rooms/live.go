package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/store"
)

// Present is one member's presence as clients see it.
type Present struct {
	UserID string `json:"userId"`
	Name   string `json:"name"`
	Color  string `json:"color"`
	FileID *int64 `json:"fileId"`
	// Present is false in the event that says the member left.
	Present bool `json:"present"`
}

// Connect records that u opened the room (fileID is the image they are on, nil on the room's
// grid) and tells the room. The returned func records that this connection ended. Presence
// is best effort: when the record cannot be written, the member is only missing from it.
func (s *Service) Connect(roomID string, u User, fileID *int64) (leave func()) {
	s.mu.Lock()
	s.connSeq++
	// Zero-padded, so that connections opened at one instant sort in the order of opening.
	id := fmt.Sprintf("%s/%012d", s.replica, s.connSeq)
	s.local[id] = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	now := s.now()
	_ = s.presence.OpenConn(ctx, store.Conn{ID: id, RoomID: roomID, UserID: u.ID, UserName: u.Name, FileID: fileID, OpenedAt: now, ExpiresAt: now.Add(PresenceTTL)})
	s.publishPresence(ctx, roomID, u)

	return func() {
		s.mu.Lock()
		delete(s.local, id)
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
		defer cancel()
		_ = s.presence.CloseConn(ctx, id)
		s.publishPresence(ctx, roomID, u)
	}
}

// publishPresence tells the room where u is now, over every replica's connections.
func (s *Service) publishPresence(ctx context.Context, roomID string, u User) {
	conns, err := s.presence.Conns(ctx, roomID, s.now())
	if err != nil {
		return // a failed read only loses a live update; the next snapshot has the truth
	}
	s.publish(roomID, "member.presence", presenceOf(conns, u))
}

// onImage reports whether the user has the image open in the room.
func onImage(conns []store.Conn, userID string, fileID int64) bool {
	return slices.ContainsFunc(conns, func(c store.Conn) bool {
		return c.UserID == userID && c.FileID != nil && *c.FileID == fileID
	})
}

// lockHolder reports whether another member holds the soft lock on the object: they prompted
// it last, within LockWindow, and still have its image open.
func (s *Service) lockHolder(ctx context.Context, ref objectRef, u User) (string, bool, error) {
	l, err := s.presence.Lock(ctx, store.ObjectKey{RoomID: ref.room, FileID: ref.fileID, ObjectID: ref.objectID})
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("rooms: %w", err)
	}
	now := s.now()
	if l.UserID == u.ID || now.Sub(l.At) > LockWindow {
		return "", false, nil
	}
	conns, err := s.presence.Conns(ctx, ref.room, now)
	if err != nil {
		return "", false, fmt.Errorf("rooms: %w", err)
	}
	if !onImage(conns, l.UserID, ref.fileID) {
		return "", false, nil // they left the image: the lock frees itself
	}
	return l.UserName, true, nil
}

// Next hands u the next untouched image that nobody else is on or was just given, after
// current (in the room's order, wrapping around). ok is false when none is left.
//
// A member holds one reservation at a time: asking again releases what they were given
// before, so pressing "next" repeatedly walks through the room instead of keeping every
// untouched image from the others. With a shared presence (Config.Presence) this holds across
// replicas: of two members asking at once, each gets another image.
func (s *Service) Next(ctx context.Context, roomID string, u User, current int64) (int64, bool, error) {
	r, _, err := s.Access(ctx, roomID, u)
	if err != nil {
		return 0, false, err
	}
	objects, err := s.store.RoomTally(ctx, roomID)
	if err != nil {
		return 0, false, fmt.Errorf("rooms: %w", err)
	}
	touched := map[int64]bool{}
	for _, o := range objects {
		touched[o.FileID] = true
	}
	start := 0
	for i, im := range r.Images {
		if im.FileID == current {
			start = i + 1
		}
	}
	now := s.now()
	conns, err := s.presence.Conns(ctx, roomID, now)
	if err != nil {
		return 0, false, fmt.Errorf("rooms: %w", err)
	}
	busy := map[int64]bool{}
	for _, c := range conns {
		if c.UserID != u.ID && c.FileID != nil {
			busy[*c.FileID] = true
		}
	}
	reserved, err := s.presence.Reserved(ctx, roomID, now)
	if err != nil {
		return 0, false, fmt.Errorf("rooms: %w", err)
	}
	for i := range r.Images {
		im := r.Images[(start+i)%len(r.Images)]
		if im.FileID == current || im.DoneBy != "" || touched[im.FileID] || busy[im.FileID] {
			continue
		}
		if who, ok := reserved[im.FileID]; ok && who != u.ID {
			continue // someone else's, and current
		}
		// Reserve decides: another member may have taken it since Reserved was read.
		got, err := s.presence.Reserve(ctx, roomID, im.FileID, u.ID, now, now.Add(reservation))
		if err != nil {
			return 0, false, fmt.Errorf("rooms: %w", err)
		}
		if got {
			return im.FileID, true, nil
		}
	}
	return 0, false, nil
}

// ImageState is an image's place in the room's progress.
type ImageState struct {
	FileID  int64  `json:"fileId"`
	Status  string `json:"status"` // done, in_progress or untouched
	DoneBy  string `json:"doneBy,omitempty"`
	Objects int    `json:"objects"`
	// Awaiting counts the accepted objects no reviewer has decided on yet.
	Awaiting int      `json:"awaiting"`
	Present  []string `json:"present"`
}

// Progress counts the room's work; its JSON is the "progress" event the room page renders.
type Progress struct {
	Done       int `json:"done"`
	InProgress int `json:"inProgress"`
	Untouched  int `json:"untouched"`
	Total      int `json:"total"`
	// Objects by review: accepted and awaiting a decision, approved, rejected.
	Awaiting int           `json:"awaiting"`
	Approved int           `json:"approved"`
	Rejected int           `json:"rejected"`
	Labels   []LabelCount  `json:"labels"`
	Members  []MemberCount `json:"members"`
}

// LabelCount is the number of objects with one label ("" counts the unlabelled ones).
type LabelCount struct {
	Name    string `json:"name"`
	Color   string `json:"color"`
	Objects int    `json:"objects"`
}

// MemberCount is one member's share of the work (members with none are left out).
type MemberCount struct {
	UserID  string `json:"userId"`
	Name    string `json:"name"`
	Color   string `json:"color"`
	Objects int    `json:"objects"`
	Done    int    `json:"done"`
}

// Snapshot is what a client gets when it (re)connects.
type Snapshot struct {
	Room     *store.Room    `json:"room"`
	Members  []store.Member `json:"members"`
	Presence []Present      `json:"presence"`
	Images   []ImageState   `json:"images"`
	Objects  []store.Object `json:"objects,omitempty"`
	Progress Progress       `json:"progress"`
	Seq      uint64         `json:"seq"`
}

// State builds the room's snapshot; with fileID it also holds that image's objects.
func (s *Service) State(ctx context.Context, roomID string, u User, fileID *int64) (*Snapshot, error) {
	r, _, err := s.Access(ctx, roomID, u)
	if err != nil {
		return nil, err
	}
	members, err := s.store.Members(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	tally, err := s.store.RoomTally(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	snap := &Snapshot{Room: r, Members: members}
	names := map[string]string{}
	for _, m := range members {
		names[m.UserID] = m.Name
	}
	conns, err := s.presence.Conns(ctx, roomID, s.now())
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range conns {
		if seen[c.UserID] {
			continue
		}
		seen[c.UserID] = true
		name := names[c.UserID]
		if name == "" {
			name = c.UserName
		}
		snap.Presence = append(snap.Presence, presenceOf(conns, User{ID: c.UserID, Name: name}))
	}
	slices.SortFunc(snap.Presence, func(a, b Present) int { return strings.Compare(a.UserID, b.UserID) })
	snap.Images, snap.Progress = progressOf(r, members, tally, snap.Presence)
	if fileID != nil && hasImage(r, *fileID) {
		objects, err := s.store.Objects(ctx, roomID, *fileID)
		if err != nil {
			return nil, fmt.Errorf("rooms: %w", err)
		}
		saves, err := s.saves(ctx, roomID, *fileID)
		if err != nil {
			return nil, err
		}
		for _, o := range objects {
			o.Save = saves(&o)
			snap.Objects = append(snap.Objects, o)
		}
	}
	return snap, nil
}

// saves reads the outbox writes of the image and returns, for an object, how the last write
// of its current version stands, with that version's annotation ids (nil when it has none).
func (s *Service) saves(ctx context.Context, roomID string, fileID int64) (func(o *store.Object) *store.Save, error) {
	if s.writer == nil {
		return func(*store.Object) *store.Save { return nil }, nil
	}
	writes, err := s.writer.outbox.ForImage(ctx, roomID, fileID)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	return func(o *store.Object) *store.Save {
		var save *store.Save
		for _, w := range writes { // newest first
			if w.ObjectID != o.ObjectID || w.Version != o.Version {
				continue // earlier versions' writes only clear up after them
			}
			if save == nil {
				save = &store.Save{Version: w.Version, Op: w.Op, State: w.State, Error: w.LastError}
			}
			if w.Op == store.OpCreate {
				save.AnnotationIDs = w.AnnotationIDs
				break
			}
		}
		return save
	}, nil
}

// AnnotationIDs returns the ids of the CDF annotations the room's objects on the image have
// (their created, not deleted, annotations), for members only: pages that list the image's
// annotations in CDF show these as the room's objects instead.
func (s *Service) AnnotationIDs(ctx context.Context, roomID string, u User, fileID int64) (map[int64]bool, error) {
	if _, _, err := s.Access(ctx, roomID, u); err != nil {
		return nil, err
	}
	ids := map[int64]bool{}
	if s.writer == nil {
		return ids, nil
	}
	writes, err := s.writer.outbox.ForImage(ctx, roomID, fileID)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	for _, w := range standing(writes) {
		if w.State == store.WriteDone {
			for _, id := range w.AnnotationIDs {
				ids[id] = true
			}
		}
	}
	return ids, nil
}

func progressOf(r *store.Room, members []store.Member, objects []store.ObjectTally, present []Present) ([]ImageState, Progress) {
	p := Progress{Total: len(r.Images), Labels: []LabelCount{}, Members: []MemberCount{}}
	count := map[int64]int{}
	awaiting := map[int64]int{}
	perLabel := map[string]int{}
	perAuthor := map[string]int{}
	for _, o := range objects {
		count[o.FileID]++
		perLabel[o.Label]++
		perAuthor[o.AuthorID]++
		switch {
		case o.Review == store.ReviewApproved:
			p.Approved++
		case o.Review == store.ReviewRejected:
			p.Rejected++
		case o.Accepted:
			p.Awaiting++
			awaiting[o.FileID]++
		}
	}
	doneBy := map[string]int{}
	images := make([]ImageState, 0, len(r.Images))
	for _, im := range r.Images {
		st := ImageState{FileID: im.FileID, Objects: count[im.FileID], Awaiting: awaiting[im.FileID], DoneBy: im.DoneBy, Present: []string{}}
		switch {
		case im.DoneBy != "":
			st.Status = "done"
			p.Done++
			doneBy[im.DoneBy]++
		case count[im.FileID] > 0:
			st.Status = "in_progress"
			p.InProgress++
		default:
			st.Status = "untouched"
			p.Untouched++
		}
		for _, m := range present {
			if m.FileID != nil && *m.FileID == im.FileID {
				st.Present = append(st.Present, m.UserID)
			}
		}
		images = append(images, st)
	}
	for _, l := range r.Labels {
		p.Labels = append(p.Labels, LabelCount{Name: l.Name, Color: l.Color, Objects: perLabel[l.Name]})
		delete(perLabel, l.Name)
	}
	others := make([]string, 0, len(perLabel))
	for name := range perLabel {
		others = append(others, name)
	}
	slices.Sort(others)
	for _, name := range others {
		p.Labels = append(p.Labels, LabelCount{Name: name, Objects: perLabel[name]})
	}
	// Only members who did something are listed: the progress event goes to every member, and
	// a large room's idle members would make it grow with the room.
	for _, m := range members {
		if perAuthor[m.UserID] == 0 && doneBy[m.UserID] == 0 {
			continue
		}
		p.Members = append(p.Members, MemberCount{UserID: m.UserID, Name: m.Name, Color: Color(m.UserID), Objects: perAuthor[m.UserID], Done: doneBy[m.UserID]})
	}
	return images, p
}

// publishImageStatus tells the room an image's status and the new progress.
func (s *Service) publishImageStatus(ctx context.Context, r *store.Room, fileID int64) {
	objects, err := s.store.RoomTally(ctx, r.ID)
	if err != nil {
		return
	}
	members, err := s.store.Members(ctx, r.ID)
	if err != nil {
		return
	}
	images, progress := progressOf(r, members, objects, nil)
	for _, im := range images {
		if im.FileID == fileID {
			s.publish(r.ID, "image.status", im)
		}
	}
	s.publish(r.ID, "progress", progress)
}

// JobPublisher sits between jobs and the hub: a room object's job events are stored with the
// object (only for its current version) and go out as object.updated; other events pass
// through unchanged.
type JobPublisher struct {
	Store store.Rooms
	Hub   interface {
		Publish(room, typ string, data any) (hub.Message, error)
	}
	// Following, when set, learns which room objects' jobs this process follows (those
	// with a queued or running event), for KeepJobs to hold their leases.
	Following *Following
}

// Following is the set of room objects whose jobs this process follows. It is safe for
// concurrent use.
type Following struct {
	mu   sync.Mutex
	keys map[store.ObjectKey]bool
}

// NewFollowing returns an empty set.
func NewFollowing() *Following { return &Following{keys: map[store.ObjectKey]bool{}} }

func (f *Following) set(k store.ObjectKey, on bool) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.keys[k] = true
	} else {
		delete(f.keys, k)
	}
}

// Keys returns the objects followed now.
func (f *Following) Keys() []store.ObjectKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]store.ObjectKey, 0, len(f.keys))
	for k := range f.keys {
		out = append(out, k)
	}
	return out
}

// Publish implements jobs.Publisher.
func (p JobPublisher) Publish(room, typ string, data any) (hub.Message, error) {
	roomID, isRoom := strings.CutPrefix(room, "room:")
	ev, isEvent := data.(jobs.Event)
	if !isRoom || !isEvent {
		return p.Hub.Publish(room, typ, data)
	}
	fileID, objectID, ok := splitTaskObject(ev.ObjectID)
	if !ok {
		return hub.Message{}, fmt.Errorf("rooms: job event for %q", ev.ObjectID)
	}
	var segments, box json.RawMessage
	if ev.Segments != nil {
		segments, _ = json.Marshal(ev.Segments)
	}
	if ev.BoundingBox != nil {
		box, _ = json.Marshal(ev.BoundingBox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := store.ObjectKey{RoomID: roomID, FileID: fileID, ObjectID: objectID}
	err := p.Store.SetJob(ctx, roomID, fileID, objectID, ev.Version, ev.JobID, ev.Backend, string(ev.Status), ev.Error, segments, box, time.Now())
	if err == nil {
		// A stale version's event says nothing about the current one, which may be followed.
		p.Following.set(key, string(ev.Status) == store.StatusQueued || string(ev.Status) == store.StatusRunning)
	}
	if errors.Is(err, store.ErrStale) {
		return hub.Message{}, nil // a newer prompt exists: this result must not land
	}
	if err != nil {
		return hub.Message{}, fmt.Errorf("rooms: store job status: %w", err)
	}
	obj, err := p.Store.Object(ctx, store.ObjectKey{RoomID: roomID, FileID: fileID, ObjectID: objectID})
	if err != nil {
		return hub.Message{}, fmt.Errorf("rooms: read object: %w", err)
	}
	if ev.Notice != "" && ev.Status == jobs.StatusDone {
		// The notice is the room's news once per result, not once per status change.
		_, _ = p.Hub.Publish(room, NoticeEvent, Notice{Notice: ev.Notice})
	}
	return p.Hub.Publish(room, "object.updated", obj)
}

// NoticeEvent is the type of a room message that tells its members something about the
// segment backend once (e.g. that CDF's vision API is gone); its data is a Notice.
const NoticeEvent = "segment.notice"

// Notice is the data of a NoticeEvent.
type Notice struct {
	Notice string `json:"notice"`
}

// Resume follows, after a restart, every job that was queued or running when the server
// stopped. apiFor returns the client of the login session that started the job; when that
// session is gone the object is marked failed.
func (s *Service) Resume(ctx context.Context, apiFor func(ctx context.Context, sessionID string) (jobs.SegmentAPI, error)) error {
	pending, err := s.store.PendingJobs(ctx)
	if err != nil {
		return fmt.Errorf("rooms: pending jobs: %w", err)
	}
	return s.resume(ctx, pending, apiFor)
}

// KeepJobs is Resume for one of several replicas sharing the rooms, until ctx ends: every
// third of lease it renews, as owner, the leases of the jobs this process follows, and
// claims and follows the jobs nobody holds any more (their replica died). following must be
// the JobPublisher's.
func (s *Service) KeepJobs(ctx context.Context, owner string, lease time.Duration, following *Following,
	apiFor func(ctx context.Context, sessionID string) (jobs.SegmentAPI, error), onErr func(error)) {
	t := time.NewTicker(lease / 3)
	defer t.Stop()
	for {
		now := s.now()
		if err := s.store.LeaseJobs(ctx, owner, now.Add(lease), following.Keys()); err != nil {
			onErr(err)
		}
		orphans, err := s.store.ClaimJobs(ctx, owner, now, now.Add(lease))
		if err != nil {
			onErr(err)
		}
		for _, o := range orphans {
			following.set(store.ObjectKey{RoomID: o.RoomID, FileID: o.FileID, ObjectID: o.ObjectID}, true)
		}
		if err := s.resume(ctx, orphans, apiFor); err != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) resume(ctx context.Context, pending []store.Object, apiFor func(ctx context.Context, sessionID string) (jobs.SegmentAPI, error)) error {
	for _, o := range pending {
		api, err := apiFor(ctx, o.SessionID)
		if err != nil {
			msg := "The job was interrupted by a restart and its author's sign-in has ended; prompt again."
			if s.store.SetJob(ctx, o.RoomID, o.FileID, o.ObjectID, o.Version, o.JobID, "", "failed", msg, nil, nil, s.now()) == nil {
				if obj, err := s.store.Object(ctx, store.ObjectKey{RoomID: o.RoomID, FileID: o.FileID, ObjectID: o.ObjectID}); err == nil {
					s.publish(o.RoomID, "object.updated", obj)
				}
			}
			continue
		}
		t := jobs.Task{
			Room: Key(o.RoomID), ObjectID: taskObject(o.FileID, o.ObjectID), Version: o.Version,
			User: o.AuthorName, UserID: o.AuthorID, FileID: o.FileID, JobID: o.JobID,
		}
		if o.Backend == jobs.BackendLocal || o.JobID == 0 {
			// An in-process job died with the process, or the process died before its job
			// started (only ClaimJobs returns these): run the stored prompt again.
			if t.Request, err = storedRequest(o); err != nil {
				return fmt.Errorf("rooms: resume object %s: %w", o.ObjectID, err)
			}
			t.JobID = 0
		}
		err = s.jobs.Submit(api, t)
		if err != nil && !errors.Is(err, jobs.ErrStale) {
			return fmt.Errorf("rooms: resume job %d: %w", o.JobID, err)
		}
	}
	return nil
}

// storedRequest is the segment request of an object's stored prompt.
func storedRequest(o store.Object) (cdf.SegmentRequest, error) {
	var p struct {
		Points      []cdf.SegmentPoint `json:"points"`
		BoundingBox *cdf.BoundingBox   `json:"box"`
	}
	if err := json.Unmarshal(o.Prompt, &p); err != nil {
		return cdf.SegmentRequest{}, fmt.Errorf("read the stored prompt: %w", err)
	}
	if p.Points == nil {
		p.Points = []cdf.SegmentPoint{}
	}
	return cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: o.FileID}}, Points: p.Points, BoundingBox: p.BoundingBox}, nil
}

// Summary is a room with its progress, for the list of a user's rooms.
type Summary struct {
	Room     store.Room
	Progress Progress
}

// RoomsOf lists the rooms u is an active member of, newest first, with their progress.
func (s *Service) RoomsOf(ctx context.Context, u User) ([]Summary, error) {
	list, err := s.store.RoomsOf(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	out := make([]Summary, 0, len(list))
	for i := range list {
		objects, err := s.store.RoomTally(ctx, list[i].ID)
		if err != nil {
			return nil, fmt.Errorf("rooms: %w", err)
		}
		_, p := progressOf(&list[i], nil, objects, nil)
		out = append(out, Summary{Room: list[i], Progress: p})
	}
	return out, nil
}

// Objects returns every object of the room, for members only.
func (s *Service) Objects(ctx context.Context, roomID string, u User) ([]store.Object, error) {
	if _, _, err := s.Access(ctx, roomID, u); err != nil {
		return nil, err
	}
	objects, err := s.store.RoomObjects(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	return objects, nil
}

// Provenance returns an object (deleted or not) with every outbox write of it, newest first:
// how its mask was made and what reached CDF. For members only.
func (s *Service) Provenance(ctx context.Context, roomID string, u User, fileID int64, objectID string) (*store.Object, []store.Write, error) {
	r, _, err := s.Access(ctx, roomID, u)
	if err != nil {
		return nil, nil, err
	}
	if !hasImage(r, fileID) {
		return nil, nil, ErrNoImage
	}
	o, err := s.store.Object(ctx, store.ObjectKey{RoomID: roomID, FileID: fileID, ObjectID: objectID})
	if err != nil {
		return nil, nil, fmt.Errorf("rooms: %w", err)
	}
	writes := []store.Write{}
	if s.writer != nil {
		if writes, err = s.writer.outbox.ForObject(ctx, roomID, fileID, objectID); err != nil {
			return nil, nil, fmt.Errorf("rooms: %w", err)
		}
	}
	return o, writes, nil
}
