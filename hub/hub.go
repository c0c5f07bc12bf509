// Package hub is Lasso's room-scoped publish/subscribe: every event published to a room gets the
// room's next sequence number, is kept in a bounded history, and is fanned out to the room's
// subscribers without ever waiting for any of them.
//
// The hub knows nothing about WebSockets: handlers subscribe on behalf of a socket and pump
// Subscription.C into it. A subscriber that cannot keep up is cut off (its channel is closed and
// Err reports ErrSlow) so that one slow browser never slows the room; it reconnects and resumes
// with Resume, or takes a fresh snapshot when it is too far behind.
package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Message is one event of a room as it goes over the wire:
// {"type":"job.status","room":"…","seq":N,"data":{…}}.
type Message struct {
	// Type is the namespaced event type, e.g. "job.status".
	Type string `json:"type"`
	// Room is the room the event belongs to.
	Room string `json:"room"`
	// Seq numbers the room's events 1, 2, 3, … without gaps; a client remembers the last one it
	// saw to ask for what it missed.
	Seq uint64 `json:"seq"`
	// Data is the event payload, marshalled once by Publish and shared by every subscriber.
	Data json.RawMessage `json:"data"`
}

// Reasons a subscription ends, reported by Subscription.Err.
var (
	// ErrSlow means the subscriber's buffer was full when an event arrived: it was dropped so the
	// room did not have to wait. The client should reconnect and resume.
	ErrSlow = errors.New("hub: subscriber too slow")
	// ErrUnsubscribed means the subscriber called Close itself.
	ErrUnsubscribed = errors.New("hub: unsubscribed")
	// ErrClosed means the hub was closed (server shutdown).
	ErrClosed = errors.New("hub: closed")
	// ErrRemoved means the subscriber's user was removed from the room (see Kick).
	ErrRemoved = errors.New("hub: removed from the room")
)

// Options configures a Hub. The zero value is usable: every zero field takes its default.
type Options struct {
	// Buffer is the number of messages a subscriber may lag behind before it is dropped.
	// Default 64.
	Buffer int
	// History is the number of recent messages kept per room for Since and Resume. Default 256.
	History int
	// IdleTTL is how long a room with no subscribers keeps its history after its last activity
	// before it is freed. Default 10 minutes.
	IdleTTL time.Duration
	// Now tells the time; tests inject it to age rooms. Default time.Now.
	Now func() time.Time
	// SeqBase is where every room's sequence numbers start (the first message gets SeqBase+1).
	// A server that starts it from the clock (e.g. time.Now().UnixMicro()) never reissues the
	// numbers of a previous run, so a client resuming across a restart is too far behind and
	// gets a snapshot instead of someone else's messages. Default 0. Unused with Log.
	SeqBase uint64
	// Log, when set, is the rooms' shared event log of several replicas (see Log): Publish
	// appends there, and events reach this hub's subscribers, in the log's order, when Notify
	// says they exist. Nil keeps everything in this process.
	Log Log
}

const (
	defaultBuffer  = 64
	defaultHistory = 256
	defaultIdleTTL = 10 * time.Minute
)

// Hub routes messages to the subscribers of each room. It is safe for concurrent use.
type Hub struct {
	opts Options

	// mu guards rooms, freedSeq, closed and lastSweep. It is always taken before a room's lock
	// (hand over hand) so that a room is never freed while someone is about to use it.
	mu        sync.Mutex
	rooms     map[string]*room
	freedSeq  map[string]uint64
	closed    bool
	lastSweep time.Time

	// Counters for Stats, updated under room locks but read without them.
	subscribers atomic.Int64
	delivered   atomic.Uint64
	droppedSlow atomic.Uint64
}

// Stats is a snapshot of a Hub's activity, for monitoring.
type Stats struct {
	// Rooms is the number of rooms the hub holds (with subscribers or recent history).
	Rooms int
	// Subscribers is the number of live subscriptions, over all rooms.
	Subscribers int
	// Delivered counts messages handed to a subscriber since the hub was created.
	Delivered uint64
	// DroppedSlow counts subscribers dropped with ErrSlow because their buffer was full.
	DroppedSlow uint64
}

// Stats returns the hub's current counts. It takes the hub's lock only briefly, never a
// room's, so it is cheap enough for every metrics scrape.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	rooms := len(h.rooms)
	h.mu.Unlock()
	return Stats{
		Rooms:       rooms,
		Subscribers: int(h.subscribers.Load()),
		Delivered:   h.delivered.Load(),
		DroppedSlow: h.droppedSlow.Load(),
	}
}

// room holds one room's subscribers, sequence counter and history ring.
type room struct {
	name string

	mu         sync.Mutex
	seq        uint64
	subs       map[*Subscription]struct{}
	ring       []Message // len == cap == Options.History once full
	head       int       // index of the oldest message in ring
	count      int
	lastActive time.Time
}

// New returns a Hub configured by opts.
func New(opts Options) *Hub {
	if opts.Buffer <= 0 {
		opts.Buffer = defaultBuffer
	}
	if opts.History <= 0 {
		opts.History = defaultHistory
	}
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = defaultIdleTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Hub{
		opts:     opts,
		rooms:    make(map[string]*room),
		freedSeq: make(map[string]uint64),
	}
}

// lockRoom returns the named room locked, creating it if create is set (nil otherwise when the
// room does not exist). The caller must unlock it.
func (h *Hub) lockRoom(name string, create bool) (*room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	now := h.opts.Now()
	h.sweepLocked(now)
	r := h.rooms[name]
	if r == nil {
		if !create {
			return nil, nil
		}
		// A room that was freed and comes back continues its old sequence, so a client holding a
		// seq from before can never mistake new messages for ones it already has.
		seq, freed := h.freedSeq[name]
		if !freed {
			seq = h.opts.SeqBase
		}
		r = &room{
			name:       name,
			seq:        seq,
			subs:       make(map[*Subscription]struct{}),
			lastActive: now,
		}
		delete(h.freedSeq, name)
		h.rooms[name] = r
	}
	r.mu.Lock()
	return r, nil
}

// sweepLocked frees rooms that have no subscribers and have been idle for IdleTTL. It runs at
// most every IdleTTL/2 so that Publish stays O(subscribers), and needs no goroutine of its own.
func (h *Hub) sweepLocked(now time.Time) {
	if now.Sub(h.lastSweep) < h.opts.IdleTTL/2 {
		return
	}
	h.lastSweep = now
	for name, r := range h.rooms {
		r.mu.Lock()
		idle := len(r.subs) == 0 && now.Sub(r.lastActive) >= h.opts.IdleTTL
		if idle {
			delete(h.rooms, name)
			h.freedSeq[name] = r.seq
		}
		r.mu.Unlock()
	}
}

// Publish marshals data once, gives it the room's next sequence number, records it in the room's
// history and offers it to every subscriber of the room. It never blocks on a subscriber: one
// whose buffer is full is dropped with ErrSlow. The error is non-nil only if data cannot be
// marshalled or the hub is closed.
func (h *Hub) Publish(roomName, typ string, data any) (Message, error) {
	// Marshal before taking any lock: the room should only ever wait for bookkeeping.
	raw, err := json.Marshal(data)
	if err != nil {
		return Message{}, fmt.Errorf("hub: publish %s to %q: %w", typ, roomName, err)
	}
	if h.opts.Log != nil {
		return h.publishLogged(roomName, typ, raw)
	}
	r, err := h.lockRoom(roomName, true)
	if err != nil {
		return Message{}, err
	}
	defer r.mu.Unlock()
	r.seq++
	msg := Message{Type: typ, Room: roomName, Seq: r.seq, Data: raw}
	h.fanOutLocked(r, msg)
	return msg, nil
}

// fanOutLocked records msg, the room's newest, and offers it to every subscriber. The room's
// lock must be held.
func (h *Hub) fanOutLocked(r *room, msg Message) {
	r.remember(msg, h.opts.History)
	r.lastActive = h.opts.Now()
	if msg.Type == KickType {
		var k kickData
		if json.Unmarshal(msg.Data, &k) == nil && k.User != "" {
			for s := range r.subs {
				if s.user == k.User {
					r.endLocked(s, ErrRemoved)
				}
			}
		}
	}
	for s := range r.subs {
		select {
		case s.c <- msg:
			h.delivered.Add(1)
		default:
			h.droppedSlow.Add(1)
			r.endLocked(s, ErrSlow)
		}
	}
}

// remember appends msg to the history ring, overwriting the oldest message when full.
func (r *room) remember(msg Message, size int) {
	if r.ring == nil {
		r.ring = make([]Message, size)
	}
	if r.count < size {
		r.ring[(r.head+r.count)%size] = msg
		r.count++
		return
	}
	r.ring[r.head] = msg
	r.head = (r.head + 1) % size
}

// sinceLocked returns the messages after seq, and false when some of them are no longer kept (or
// seq is from the future, which means the client's view is not this room's).
func (r *room) sinceLocked(seq uint64) ([]Message, bool) {
	if seq > r.seq {
		return nil, false
	}
	missing := r.seq - seq
	if missing > uint64(r.count) {
		return nil, false
	}
	out := make([]Message, 0, missing)
	size := len(r.ring)
	for i := r.count - int(missing); i < r.count; i++ {
		out = append(out, r.ring[(r.head+i)%size])
	}
	return out, true
}

// Since returns the room's messages with a sequence number greater than seq, oldest first. ok is
// false when the client is too far behind (the history no longer reaches back to seq+1) or seq is
// not one this room has issued: the client then needs a fresh snapshot. Since(room, 0) on a room
// that has never published returns no messages and ok.
func (h *Hub) Since(roomName string, seq uint64) ([]Message, bool) {
	if h.opts.Log != nil {
		return h.sinceLogged(roomName, seq)
	}
	r, err := h.lockRoom(roomName, false)
	if err != nil {
		return nil, false
	}
	if r == nil {
		h.mu.Lock()
		last := h.freedSeq[roomName]
		h.mu.Unlock()
		// A freed room has no history left, so only a client that is fully up to date is fine.
		return nil, seq == last
	}
	defer r.mu.Unlock()
	return r.sinceLocked(seq)
}

// LastSeq returns the sequence number of the room's latest message (0 if none). A handler sends
// it with a snapshot so that the client can later resume from there.
func (h *Hub) LastSeq(roomName string) uint64 {
	if h.opts.Log != nil {
		return h.lastLogged(roomName)
	}
	r, err := h.lockRoom(roomName, false)
	if err != nil {
		return 0
	}
	if r == nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.freedSeq[roomName]
	}
	defer r.mu.Unlock()
	return r.seq
}

// SubscribeOptions describes a subscriber beyond its room.
type SubscribeOptions struct {
	// User identifies who is behind the subscription (a login session's user id). The hub does
	// not interpret it; it is carried so presence can be built on subscriptions.
	User string
}

// Subscribe starts delivering the room's messages published from now on. The subscription ends
// when its owner calls Close, when it falls behind (ErrSlow), or when the hub closes.
func (h *Hub) Subscribe(roomName string) *Subscription {
	sub, _, _ := h.subscribe(roomName, SubscribeOptions{}, nil)
	return sub
}

// SubscribeWith is Subscribe with options, such as the subscribing user.
func (h *Hub) SubscribeWith(roomName string, opts SubscribeOptions) *Subscription {
	sub, _, _ := h.subscribe(roomName, opts, nil)
	return sub
}

// Resume subscribes and, in the same step, returns the messages after seq that the client
// missed, so that there is neither a gap nor a duplicate between the replay and the live
// messages: every message on the subscription's channel has a Seq greater than the last missed
// one. ok is false, as for Since, when the client is too far behind; the subscription is live all
// the same, and the caller should send a fresh snapshot taken after this call (messages published
// meanwhile may then arrive twice, which is harmless for state-carrying events).
func (h *Hub) Resume(roomName string, seq uint64, opts SubscribeOptions) (sub *Subscription, missed []Message, ok bool) {
	return h.subscribe(roomName, opts, &seq)
}

func (h *Hub) subscribe(roomName string, opts SubscribeOptions, since *uint64) (*Subscription, []Message, bool) {
	if h.opts.Log != nil {
		return h.subscribeLogged(roomName, opts, since)
	}
	s := &Subscription{
		user: opts.User,
		c:    make(chan Message, h.opts.Buffer),
		done: make(chan struct{}),
	}
	r, err := h.lockRoom(roomName, true)
	if err != nil {
		s.err = err
		close(s.c)
		close(s.done)
		return s, nil, false
	}
	defer r.mu.Unlock()
	s.room = r
	s.hub = h
	r.subs[s] = struct{}{}
	h.subscribers.Add(1)
	r.lastActive = h.opts.Now()
	if since == nil {
		return s, nil, true
	}
	missed, ok := r.sinceLocked(*since)
	return s, missed, ok
}

// KickType is the type of the event by which Kick, with a Log, reaches the subscriptions on
// every replica; its data is {"user": "…"}. Subscribers other than the kicked user receive it
// like any event (clients ignore it) so that the room's sequence stays without gaps.
const KickType = "hub.kick"

type kickData struct {
	User string `json:"user"`
}

// Kick ends, with ErrRemoved, every subscription of user in the room: a member removed from a
// room is disconnected at once. With a Log it goes through the log as a KickType event, so
// that every replica's hub ends that user's subscriptions it holds; the error is that of
// Publish. Without one it acts at once and never fails.
func (h *Hub) Kick(roomName, user string) error {
	if h.opts.Log != nil {
		_, err := h.Publish(roomName, KickType, kickData{User: user})
		return err
	}
	h.kick(roomName, user)
	return nil
}

func (h *Hub) kick(roomName, user string) {
	h.mu.Lock()
	r := h.rooms[roomName]
	h.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs {
		if s.user == user {
			r.endLocked(s, ErrRemoved)
		}
	}
}

// Close ends every subscription with ErrClosed; later calls fail with ErrClosed.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, r := range h.rooms {
		r.mu.Lock()
		for s := range r.subs {
			r.endLocked(s, ErrClosed)
		}
		r.mu.Unlock()
	}
}

// endLocked removes s from the room and closes its channels. The room's lock must be held: that
// is what makes closing s.c safe against a concurrent Publish sending on it.
func (r *room) endLocked(s *Subscription, reason error) {
	if _, ok := r.subs[s]; !ok {
		return
	}
	delete(r.subs, s)
	s.hub.subscribers.Add(-1)
	s.err = reason
	// done first: whoever sees C closed and then asks Err must get the reason, not nil.
	close(s.done)
	close(s.c)
}

// Subscription is one subscriber's view of a room.
type Subscription struct {
	user string
	room *room // nil when the subscription never started (hub closed)
	hub  *Hub  // set with room
	c    chan Message
	done chan struct{}
	err  error // set before done is closed, read after
}

// C delivers the room's messages in sequence order. It is closed when the subscription ends.
func (s *Subscription) C() <-chan Message { return s.c }

// Done is closed when the subscription has ended; Err then says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns nil while the subscription is live, then ErrSlow, ErrUnsubscribed or ErrClosed.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// User returns the user given in SubscribeOptions.
func (s *Subscription) User() string { return s.user }

// Room returns the name of the subscribed room.
func (s *Subscription) Room() string {
	if s.room == nil {
		return ""
	}
	return s.room.name
}

// Close ends the subscription with ErrUnsubscribed. It is safe to call more than once and after
// the subscription has ended for another reason. Messages still buffered remain readable from C.
func (s *Subscription) Close() {
	if s.room == nil {
		return
	}
	s.room.mu.Lock()
	defer s.room.mu.Unlock()
	s.room.endLocked(s, ErrUnsubscribed)
}
