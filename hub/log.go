package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Log is a shared, ordered record of the rooms' events, through which several replicas'
// hubs carry each other's events: a member on one replica sees what a member on another
// published, in the same order, once. The store's PostgreSQL backend implements it; a hub
// without one keeps its events in process.
type Log interface {
	// Append records an event as the room's next and returns its sequence number (the
	// room's previous one + 1). Every hub sharing the log is to be told of it (Hub.Notify),
	// in the order of the sequence numbers.
	Append(ctx context.Context, room, typ string, data json.RawMessage) (uint64, error)
	// Since returns, oldest first, at most limit of the room's events with a sequence
	// number greater than seq. Events pruned from the log are left out, so the first one
	// returned may be later than seq+1.
	Since(ctx context.Context, room string, seq uint64, limit int) ([]Message, error)
	// Last returns the room's latest sequence number, 0 when it has none.
	Last(ctx context.Context, room string) (uint64, error)
}

// logTimeout bounds each call to the Log.
const logTimeout = 5 * time.Second

func logContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), logTimeout)
}

// publishLogged is Publish with a Log: the event goes to the log, and from there, in the
// log's order, to the subscribers here and on every other replica.
func (h *Hub) publishLogged(roomName, typ string, raw json.RawMessage) (Message, error) {
	ctx, cancel := logContext()
	defer cancel()
	seq, err := h.opts.Log.Append(ctx, roomName, typ, raw)
	if err != nil {
		return Message{}, fmt.Errorf("hub: publish %s to %q: %w", typ, roomName, err)
	}
	msg := Message{Type: typ, Room: roomName, Seq: seq, Data: raw}
	r, err := h.lockRoom(roomName, false)
	if err != nil || r == nil {
		return msg, nil // nobody here listens to the room; other replicas hear of it
	}
	if seq == r.seq+1 {
		// Nothing else came in between: deliver at once, without waiting for the round trip
		// of the notification.
		r.seq = seq
		h.fanOutLocked(r, msg)
		r.mu.Unlock()
		return msg, nil
	}
	r.mu.Unlock()
	h.pull(ctx, roomName)
	return msg, nil
}

// Notify tells the hub that the room's event seq is in the log. It reads from the log every
// event of the room after the last one it has, and delivers them in order; a room nobody
// here subscribes to is ignored (a later subscriber starts from the log).
func (h *Hub) Notify(roomName string, seq uint64) {
	r, err := h.lockRoom(roomName, false)
	if err != nil || r == nil {
		return
	}
	have := r.seq
	r.mu.Unlock()
	if seq <= have {
		return // delivered already, e.g. by Publish here
	}
	ctx, cancel := logContext()
	defer cancel()
	h.pull(ctx, roomName)
}

// Refresh reads from the log what every room held here may have missed, e.g. while the
// notifications did not arrive (a lost connection to the database).
func (h *Hub) Refresh() {
	h.mu.Lock()
	names := make([]string, 0, len(h.rooms))
	for name := range h.rooms {
		names = append(names, name)
	}
	h.mu.Unlock()
	ctx, cancel := logContext()
	defer cancel()
	for _, name := range names {
		h.pull(ctx, name)
	}
}

// pull delivers the room's events after the last one the hub has, read from the log. Events
// are delivered only in sequence, so concurrent pulls of one room deliver each event once.
func (h *Hub) pull(ctx context.Context, roomName string) {
	for {
		r, err := h.lockRoom(roomName, false)
		if err != nil || r == nil {
			return
		}
		from := r.seq
		r.mu.Unlock()
		msgs, err := h.opts.Log.Since(ctx, roomName, from, h.opts.History)
		if err != nil || len(msgs) == 0 {
			return // the next notification or Refresh tries again
		}
		r, err = h.lockRoom(roomName, false)
		if err != nil || r == nil {
			return
		}
		for _, m := range msgs {
			switch {
			case m.Seq <= r.seq:
				continue // delivered meanwhile
			case m.Seq > r.seq+1:
				// The log no longer holds what came between: the subscribers cannot be
				// given a gapless stream, so they resume (and get a snapshot).
				for s := range r.subs {
					h.droppedSlow.Add(1)
					r.endLocked(s, ErrSlow)
				}
				r.ring, r.head, r.count = nil, 0, 0
			}
			r.seq = m.Seq
			h.fanOutLocked(r, m)
		}
		r.mu.Unlock()
		if len(msgs) < h.opts.History {
			return
		}
	}
}

// lastLogged is LastSeq with a Log: the last event delivered here, or the log's for a room
// not held here.
func (h *Hub) lastLogged(roomName string) uint64 {
	r, err := h.lockRoom(roomName, false)
	if err != nil {
		return 0
	}
	if r != nil {
		defer r.mu.Unlock()
		return r.seq
	}
	ctx, cancel := logContext()
	defer cancel()
	last, err := h.opts.Log.Last(ctx, roomName)
	if err != nil {
		return 0
	}
	return last
}

// sinceLogged is Since with a Log.
func (h *Hub) sinceLogged(roomName string, seq uint64) ([]Message, bool) {
	ctx, cancel := logContext()
	defer cancel()
	last, err := h.opts.Log.Last(ctx, roomName)
	if err != nil || seq > last {
		return nil, false
	}
	return h.fromLog(ctx, roomName, seq, last)
}

// fromLog reads the room's events seq+1 … upto from the log; ok is false when it no longer
// holds them all.
func (h *Hub) fromLog(ctx context.Context, roomName string, seq, upto uint64) ([]Message, bool) {
	if seq >= upto {
		return []Message{}, true
	}
	if upto-seq > uint64(h.opts.History) {
		return nil, false
	}
	msgs, err := h.opts.Log.Since(ctx, roomName, seq, int(upto-seq))
	if err != nil || len(msgs) == 0 || msgs[0].Seq != seq+1 {
		return nil, false
	}
	out := msgs[:0]
	for _, m := range msgs {
		if m.Seq <= upto {
			out = append(out, m)
		}
	}
	return out, len(out) == int(upto-seq)
}

// subscribeLogged is subscribe with a Log. A room new to this hub starts at the log's last
// event; whatever the log gains meanwhile is pulled once the subscriber is in.
func (h *Hub) subscribeLogged(roomName string, opts SubscribeOptions, since *uint64) (*Subscription, []Message, bool) {
	s := &Subscription{
		user: opts.User,
		c:    make(chan Message, h.opts.Buffer),
		done: make(chan struct{}),
	}
	ended := func(err error) (*Subscription, []Message, bool) {
		s.err = err
		close(s.c)
		close(s.done)
		return s, nil, false
	}
	ctx, cancel := logContext()
	defer cancel()
	r, err := h.lockRoom(roomName, false)
	if err != nil {
		return ended(err)
	}
	if r == nil {
		last, err := h.opts.Log.Last(ctx, roomName)
		if err != nil {
			return ended(fmt.Errorf("hub: read the room's log: %w", err))
		}
		if r, err = h.lockRoomAt(roomName, last); err != nil {
			return ended(err)
		}
	}
	s.room = r
	s.hub = h
	r.subs[s] = struct{}{}
	h.subscribers.Add(1)
	r.lastActive = h.opts.Now()
	at := r.seq
	var (
		missed []Message
		ok     = true
		inRing = false
	)
	if since != nil {
		missed, inRing = r.sinceLocked(*since)
	}
	r.mu.Unlock()
	if since != nil && !inRing {
		// Another replica served the client before, or this one's history is short: the
		// log has the events up to where this subscription's live stream begins.
		missed, ok = h.fromLog(ctx, roomName, *since, at)
		if *since > at {
			ok = false
		}
	}
	h.pull(ctx, roomName)
	return s, missed, ok
}

// lockRoomAt is lockRoom(name, true) for a room that, when new here, starts at seq.
func (h *Hub) lockRoomAt(name string, seq uint64) (*room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	r := h.rooms[name]
	if r == nil {
		r = &room{name: name, seq: seq, subs: make(map[*Subscription]struct{}), lastActive: h.opts.Now()}
		delete(h.freedSeq, name)
		h.rooms[name] = r
	}
	r.mu.Lock()
	return r, nil
}
