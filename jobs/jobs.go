// Package jobs starts CDF segment jobs for prompts and follows them to the end, publishing a
// job.status event to the prompt's room each time what a person would see changes.
//
// One object (Room + ObjectID) has at most one live job: a newer prompt version supersedes the
// older job at once, and once Submit has returned nothing more of the older job is handed to
// the Publisher, even a result that was already on its way. (An event already inside Publish
// when Submit is called is not taken back; it arrives before any event of the newer prompt:
// each object's events reach the Publisher one at a time, in order.) Each job is started and
// polled with the SegmentAPI of the user who made the prompt, never with anyone else's
// credentials. A superseded job that was already started is still looked at, silently, until it
// ends, and holds its user's turn (Options.UserJobs) until then: CDF cannot cancel a job, so a
// burst of refinements runs one job after another, each on the newest prompt when it starts.
//
// One user cannot crowd out the others: each user has at most Options.UserJobs jobs in flight
// and starts at most Options.UserRate a second; their further prompts wait in a queue of their
// own, newest first, whose oldest prompt fails when it grows past Options.UserQueue. Nobody
// waits for another user's queue.
//
// What a reconnecting client is shown of an object (Snapshot) is kept for Options.Retain after
// its job ended; then only the object's last version is remembered, for Options.Forget.
package jobs

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
)

// EventType is the hub message type of every event this package publishes.
const EventType = "job.status"

// SegmentAPI is the part of a user's CDF client that jobs needs; *cdf.Client's Vision service
// satisfies it. Errors are expected to be (or wrap) *cdf.APIError for HTTP failures.
type SegmentAPI interface {
	// StartSegment starts a job (POST /context/vision/segment).
	StartSegment(ctx context.Context, req cdf.SegmentRequest) (*cdf.SegmentJob, error)
	// SegmentJob returns a job's state and, once completed, its segments.
	SegmentJob(ctx context.Context, jobID int64) (*cdf.SegmentJob, error)
}

// Backend names, as Described gives them and events carry them.
const (
	BackendCDF   = "cdf"   // CDF's vision API, with the user's own token
	BackendLocal = "local" // Lasso's engine in process: its jobs do not outlive a restart
	BackendURL   = "url"   // another service with CDF's segment contract
)

// Described is implemented by a SegmentAPI that can say which backend ran its job ("cdf",
// "local", "url") and what, if anything, the user should be told about that choice. The
// Manager asks after StartSegment has returned and puts both into every event of the job.
// A SegmentAPI given to Submit serves that one task, so it may remember what it started.
type Described interface {
	Backend() (name, notice string)
}

// Failure is an error a SegmentAPI returns when it has words for the user: the job fails with
// Reason as its message. Other errors are described as CDF's.
type Failure struct {
	Reason    string
	Retryable bool
}

func (f *Failure) Error() string { return "jobs: " + f.Reason }

// Publisher receives the events; *hub.Hub satisfies it.
type Publisher interface {
	// Publish sends data as an event of type typ to room's subscribers. It may take its time
	// (a store write, say): the Manager hands each object's events over one at a time, in
	// order, from outside its locks, so that a slow Publish holds back only the later events of
	// that one object.
	Publish(room, typ string, data any) (hub.Message, error)
}

// Errors returned by Submit.
var (
	// ErrStale means a prompt with the same or a newer version was already submitted for the
	// object: the caller's prompt is outdated and must not start a job.
	ErrStale = errors.New("jobs: prompt version is not newer than the last one submitted")
	// ErrClosed means the Manager has been closed.
	ErrClosed = errors.New("jobs: manager closed")
)

// errSuperseded is the cancellation cause of a follow replaced by a newer prompt.
var errSuperseded = errors.New("jobs: superseded by a newer prompt")

// errCrowded is the cancellation cause of a waiting prompt pushed out of its user's queue by
// newer ones; crowdedMessage is what the user is told.
var errCrowded = errors.New("jobs: pushed out of the user's queue by newer prompts")

const crowdedMessage = "Too many prompts at once; the newest ones are kept"

// Status is the state of an object's job as the UI shows it.
type Status string

// The statuses of an Event; done and failed are final.
const (
	StatusQueued  Status = "queued"
	StatusRunning Status = "running"
	StatusDone    Status = "done"
	StatusFailed  Status = "failed"
)

// Event is the data of a job.status message: the state of one object's job.
type Event struct {
	// ObjectID and Version identify the object and the prompt version the job belongs to.
	ObjectID string `json:"objectId"`
	Version  int    `json:"version"`
	// JobID is CDF's job id; 0 when the job could not be started.
	JobID int64 `json:"jobId"`
	// User made the prompt; FileID is the image.
	User   string `json:"user"`
	FileID int64  `json:"fileId"`
	Status Status `json:"status"`
	// ElapsedMS is the time since the prompt was submitted, in milliseconds.
	ElapsedMS int64 `json:"elapsedMs"`
	// Backend names what ran the job ("cdf", "local" or "url"), when the SegmentAPI said so.
	Backend string `json:"backend,omitempty"`
	// Notice is something the user should be told once about the backend, e.g. that CDF's
	// vision API is gone and Lasso's own engine answers instead.
	Notice string `json:"notice,omitempty"`
	// Error says, for a person, why the job failed.
	Error string `json:"error,omitempty"`
	// Retryable tells the UI whether submitting the same prompt again may succeed.
	Retryable bool `json:"retryable"`
	// Segments are the results of a done job, best first; empty (not absent) when nothing was
	// found, so the UI can tell "nothing found" from "not done yet".
	Segments []cdf.Segment `json:"segments,omitzero"`
	// BoundingBox encloses every polygon of the best segment of a done job.
	BoundingBox *cdf.BoundingBox `json:"boundingBox,omitempty"`
}

// Task is one prompt to segment.
type Task struct {
	// Room receives the events; ObjectID names the object within it. Together they are the
	// unit of supersession.
	Room     string
	ObjectID string
	// Version is the client's prompt version for the object; it must grow with every change.
	Version int
	// User made the prompt, as events name them (a display name); the SegmentAPI given to
	// Submit must be theirs.
	User string
	// UserID identifies the user for the per-user limits (Options.UserJobs, UserQueue,
	// UserRate). Callers should set it to a stable id, such as the signed-in user's id: a
	// display name may be shared by two people and changed by one. When empty, User is used.
	UserID string
	// FileID is the image, echoed in events so that a client can place them.
	FileID int64
	// Pixels is the image's size (width × height) when known, 0 when not: jobs on images of
	// about the same size take about as long, and how long they took sets when to look.
	Pixels int64
	// Request is sent to CDF as is; handlers have validated it.
	Request cdf.SegmentRequest
	// JobID, when set, names a job that was already started (before a restart, say): it is
	// followed without starting another, and without waiting for the user's limits, since its
	// start has been paid for.
	JobID int64
}

// slot is the state of one object: its current follow, the last event published for it, and
// the events on their way to the Publisher. Once freed (Options.Retain) a slot is a tombstone:
// no follow, no event, only the version, until Options.Forget has passed too. All fields are
// guarded by Manager.mu.
type slot struct {
	room, objectID string
	// version is the newest prompt version submitted; Submit refuses any other as stale.
	version int
	// gen counts the Submits, so that a pending expiry can tell that it is out of date.
	gen     uint64
	current *follow // nil in a tombstone

	latest    Event
	hasLatest bool
	latestAt  time.Time // when latest was published, for Options.SnapshotLimit

	// outbox holds the current follow's events not yet handed to the Publisher, oldest first;
	// Submit empties it, so that nothing of a superseded job is handed over after Submit.
	outbox []Event
	// delivering says a deliver goroutine is working through outbox (or is inside Publish):
	// there is at most one per slot, which keeps the object's events in order.
	delivering bool
}

// Manager starts and follows segment jobs. It is safe for concurrent use.
type Manager struct {
	pub   Publisher
	opts  Options
	learn *learner

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	// mu guards everything below, the slots, the users and the follows' bookkeeping. It is held
	// only for bookkeeping: never while calling the Publisher or a SegmentAPI.
	mu     sync.Mutex
	rooms  map[string]map[string]*slot
	users  map[string]*userState
	retire []expiry // ended slots and idle users to let go of, oldest first
	forget []expiry // tombstones to drop, oldest first
	closed bool
}

// New returns a Manager that publishes to pub. Zero fields of opts take their defaults.
func New(pub Publisher, opts Options) *Manager {
	ctx, cancel := context.WithCancelCause(context.Background())
	opts = opts.withDefaults()
	return &Manager{
		pub:    pub,
		opts:   opts,
		learn:  newLearner(opts.PollCost, opts.MinInterval, opts.MaxInterval),
		ctx:    ctx,
		cancel: cancel,
		rooms:  make(map[string]map[string]*slot),
		users:  make(map[string]*userState),
	}
}

// Submit starts following t in the background and returns at once. It returns ErrStale if a
// prompt with the same or a newer Version was already submitted for t.Room and t.ObjectID
// (also one whose job ended long ago, for Options.Retain + Options.Forget); otherwise the
// object's previous job, if still followed or waiting, is superseded: it is cancelled and
// nothing more of it is published. The job is started and polled with api only, which should
// carry the credentials of t.User.
//
// The job starts at once unless t's user (Task.UserID) is at a limit: then the prompt waits,
// without an event, and fails if newer prompts of the same user push it out of their queue.
func (m *Manager) Submit(api SegmentAPI, t Task) error {
	if api == nil {
		return errors.New("jobs: submit: nil SegmentAPI")
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	now := m.opts.Clock.Now()
	m.sweep(now)
	objects := m.rooms[t.Room]
	if objects == nil {
		objects = make(map[string]*slot)
		m.rooms[t.Room] = objects
	}
	s := objects[t.ObjectID]
	if s == nil {
		s = &slot{room: t.Room, objectID: t.ObjectID}
		objects[t.ObjectID] = s
	} else if t.Version <= s.version {
		m.mu.Unlock()
		return ErrStale
	}
	old := s.current
	ctx, cancel := context.WithCancelCause(m.ctx)
	f := &follow{
		m:        m,
		slot:     s,
		api:      api,
		task:     t,
		start:    now,
		deadline: now.Add(m.opts.Deadline),
		ctx:      ctx,
		cancel:   cancel,
		admit:    make(chan struct{}),
	}
	s.current, s.version = f, t.Version
	s.gen++
	// The superseded job's last event leaves the snapshot too: a reconnecting client must not
	// draw a result of a prompt that no longer exists. Its events not yet handed over never
	// will be.
	s.latest, s.hasLatest = Event{}, false
	s.outbox = nil
	if old != nil {
		m.unqueue(old)
	}
	pushedOut := m.enter(f)
	m.wg.Add(2)
	m.mu.Unlock()

	if old != nil {
		old.cancel(errSuperseded)
	}
	if pushedOut != nil {
		pushedOut.cancel(errCrowded)
	}
	go f.watchDeadline()
	go f.run()
	return nil
}

// Snapshot returns the latest event of each object in room whose current prompt has published
// one, ordered by ObjectID. A reconnecting client gets it before live events. It holds at
// most Options.SnapshotLimit objects, those whose latest event is newest, and an object's
// event only until Options.Retain after its job ended.
func (m *Manager) Snapshot(room string) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(m.opts.Clock.Now())
	have := make([]*slot, 0, len(m.rooms[room]))
	for _, s := range m.rooms[room] {
		if s.hasLatest {
			have = append(have, s)
		}
	}
	byID := func(a, b *slot) int { return cmp.Compare(a.objectID, b.objectID) }
	if len(have) > m.opts.SnapshotLimit {
		slices.SortFunc(have, func(a, b *slot) int {
			return cmp.Or(b.latestAt.Compare(a.latestAt), byID(a, b))
		})
		have = have[:m.opts.SnapshotLimit]
	}
	slices.SortFunc(have, byID)
	out := make([]Event, len(have))
	for i, s := range have {
		out[i] = s.latest
	}
	return out
}

// Latest returns the latest event of one object's current prompt, as Snapshot would but
// whether or not the object is among the SnapshotLimit newest; false when there is none (no
// event yet, superseded, or freed after Options.Retain).
func (m *Manager) Latest(room, objectID string) (Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(m.opts.Clock.Now())
	s := m.rooms[room][objectID]
	if s == nil || !s.hasLatest {
		return Event{}, false
	}
	return s.latest, true
}

// Close stops following every job, without publishing anything more, and waits until all
// follows have ended and the events they published before have reached the Publisher.
// Submit fails with ErrClosed afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel(ErrClosed)
	m.wg.Wait()
}

// Options configures a Manager. The zero value gives the defaults documented on each field.
type Options struct {
	// Clock tells time and makes timers; tests inject a fake one. Default: the system clock.
	Clock Clock
	// FirstPoll is the wait between starting a job and the first look at it. Default 100 ms.
	FirstPoll time.Duration
	// Backoff multiplies the wait after each poll (values below 1 take the default). Default 1.5.
	Backoff float64
	// MaxInterval caps the wait between polls. Default 2 s.
	MaxInterval time.Duration
	// PollCost is what one look at a job is worth in lag (the time from a job's end until it is
	// seen): once recent jobs of the same backend and image size say how long a job takes, the
	// looks are placed to minimise the expected lag plus PollCost per look. Lower values look
	// more often. Default 33 ms.
	PollCost time.Duration
	// MinInterval is the least wait between two looks at a job on the learnt schedule.
	// Default 10 ms.
	MinInterval time.Duration
	// Deadline bounds a job from Submit to its end; past it the job is reported failed.
	// Default 60 s.
	Deadline time.Duration
	// ThrottleMin is the least wait after CDF answered 429: the wait is double the current
	// interval, at least ThrottleMin, at most ThrottleMax, plus up to half of that as jitter.
	// Default 1 s.
	ThrottleMin time.Duration
	// ThrottleMax caps the wait after a 429 before jitter. Default 10 s.
	ThrottleMax time.Duration
	// Jitter returns a number in [0, 1) that spreads the waits after 429, so that throttled
	// clients do not come back in step. Default math/rand/v2.Float64.
	Jitter func() float64

	// UserJobs is the most jobs one user (Task.UserID) has in flight at once; their further
	// prompts wait, and when one of their jobs ends the newest waiting prompt starts. A
	// negative value means no limit. Default 4.
	UserJobs int
	// UserQueue is the most prompts one user has waiting; when another arrives, the oldest
	// waiting one fails with "Too many prompts at once; the newest ones are kept" (retryable).
	// A newer prompt for an object that is waiting takes its place rather than a new one.
	// Values below 1 take the default. Default 8.
	UserQueue int
	// UserRate is the jobs one user may start per second once UserBurst is spent (a token
	// bucket); a prompt whose turn has come waits for its token. A negative value means no
	// limit. Default 10.
	UserRate float64
	// UserBurst is the jobs one user may start at once before UserRate applies. Default 20.
	UserBurst int

	// Retain is how long an object's last event stays after its job ended, for Snapshot and
	// Latest; then the object is freed but for its last version. An object opened alone is
	// accepted from this event, so it must outlast a person's pause before Enter. Default 2 h.
	Retain time.Duration
	// Forget is how long a freed object's last version is still known, so that a late replay
	// of a prompt the user has since replaced is still ErrStale. After that a replay may start
	// a job again; its events carry the old version, which clients and rooms ignore.
	// Default 24 h.
	Forget time.Duration
	// SnapshotLimit is the most objects a Snapshot holds: those whose last event is newest.
	// Values below 1 take the default. Default 200.
	SnapshotLimit int
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.FirstPoll <= 0 {
		o.FirstPoll = 100 * time.Millisecond
	}
	if o.Backoff < 1 {
		o.Backoff = 1.5
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = 2 * time.Second
	}
	if o.PollCost <= 0 {
		o.PollCost = 33 * time.Millisecond
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 10 * time.Millisecond
	}
	if o.Deadline <= 0 {
		o.Deadline = 60 * time.Second
	}
	if o.ThrottleMin <= 0 {
		o.ThrottleMin = time.Second
	}
	if o.ThrottleMax < o.ThrottleMin {
		o.ThrottleMax = max(10*time.Second, o.ThrottleMin)
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if o.UserJobs == 0 {
		o.UserJobs = 4
	}
	if o.UserQueue < 1 {
		o.UserQueue = 8
	}
	if o.UserRate == 0 {
		o.UserRate = 10
	}
	if o.UserBurst < 1 {
		o.UserBurst = 20
	}
	if o.Retain <= 0 {
		o.Retain = 2 * time.Hour
	}
	if o.Forget <= 0 {
		o.Forget = 24 * time.Hour
	}
	if o.SnapshotLimit < 1 {
		o.SnapshotLimit = 200
	}
	return o
}

// PollDelay returns the wait before the n-th look (n = 0, 1, …) at a job that has not been
// throttled: FirstPoll·Backoff^n, capped at MaxInterval, with zero fields taking their defaults.
// It is the schedule the Manager follows while it knows too little of how long jobs of the
// backend and image size take (learn.go), so the number of polls such a job costs can be
// computed from it.
func (o Options) PollDelay(n int) time.Duration {
	o = o.withDefaults()
	d := o.FirstPoll
	for range n {
		d = o.next(d)
		if d == o.MaxInterval {
			break
		}
	}
	return d
}

// next is the wait after a poll that came after a wait of d.
func (o Options) next(d time.Duration) time.Duration {
	return min(time.Duration(float64(d)*o.Backoff), o.MaxInterval)
}

// throttled returns the base wait after a 429 that came after a wait of d (it becomes the
// interval later polls grow from) and the wait with jitter. retryAfter, when CDF or a proxy
// sent one, is honoured as a minimum.
func (o Options) throttled(d, retryAfter time.Duration) (base, wait time.Duration) {
	base = min(max(2*d, o.ThrottleMin), o.ThrottleMax)
	wait = base + time.Duration(float64(base)/2*o.Jitter())
	return base, max(wait, retryAfter)
}
