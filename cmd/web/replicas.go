package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/store"
)

// eventLog is the hub's Log on PostgreSQL: replicas carry each other's room events through
// the database's event log and NOTIFY.
type eventLog struct{ pg *store.Postgres }

func (l eventLog) Append(ctx context.Context, room, typ string, data json.RawMessage) (uint64, error) {
	return l.pg.AppendEvent(ctx, room, typ, data)
}

func (l eventLog) Since(ctx context.Context, room string, seq uint64, limit int) ([]hub.Message, error) {
	evs, err := l.pg.EventsSince(ctx, room, seq, limit)
	if err != nil {
		return nil, err
	}
	out := make([]hub.Message, len(evs))
	for i, e := range evs {
		out[i] = hub.Message{Type: e.Type, Room: e.Room, Seq: e.Seq, Data: e.Data}
	}
	return out, nil
}

func (l eventLog) Last(ctx context.Context, room string) (uint64, error) {
	return l.pg.LastEvent(ctx, room)
}

// newHub returns the room hub: in process alone on SQLite; on PostgreSQL one that carries
// events between replicas, with its listener running until ctx ends.
func newHub(ctx context.Context, st database) *hub.Hub {
	pg, ok := st.(*store.Postgres)
	if !ok {
		// Sequence numbers start from the clock, so they never repeat across restarts.
		return hub.New(hub.Options{SeqBase: uint64(time.Now().UnixMicro())})
	}
	// Events reach this hub in bursts of up to a history's worth (whatever the log gained
	// while the last read was under way), so a subscriber's buffer holds one such burst.
	events := hub.New(hub.Options{Log: eventLog{pg}, Buffer: 256, History: 256})
	go pg.Listen(ctx, events.Refresh, events.Notify)
	return events
}
