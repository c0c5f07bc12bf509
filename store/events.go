package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is one entry of a room's event log (see Postgres.AppendEvent).
type Event struct {
	Room string
	Seq  uint64
	Type string
	Data json.RawMessage
}

// eventChannel is the NOTIFY channel of new room events; the payload is "<seq> <room>".
const eventChannel = "lasso_room_events"

// keepEvents is how many of a room's latest events the log keeps, at least: enough for a
// client that reconnects to another replica to resume instead of taking a snapshot.
const keepEvents = 1000

// AppendEvent records an event as the room's next, returns its sequence number and, when the
// transaction commits, notifies every replica listening (Listen). The counter row's lock
// makes a room's events commit in sequence order, so the notifications come in that order.
func (p *Postgres) AppendEvent(ctx context.Context, room, typ string, data json.RawMessage) (uint64, error) {
	tx, err := p.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return 0, fmt.Errorf("store: append event: %w", err)
	}
	defer tx.Rollback()
	var seq int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO room_event_seqs (room, seq) VALUES (?, 1)
		ON CONFLICT (room) DO UPDATE SET seq = room_event_seqs.seq + 1 RETURNING seq`, room).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: append event: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO room_events (room, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?)`,
		room, seq, typ, string(data), time.Now().UnixMicro()); err != nil {
		return 0, fmt.Errorf("store: append event: %w", err)
	}
	if seq%100 == 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM room_events WHERE room = ? AND seq <= ?`, room, seq-keepEvents); err != nil {
			return 0, fmt.Errorf("store: prune events: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify(?, ?)`, eventChannel, strconv.FormatInt(seq, 10)+" "+room); err != nil {
		return 0, fmt.Errorf("store: notify event: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: append event: %w", err)
	}
	return uint64(seq), nil
}

// EventsSince returns, oldest first, at most limit of the room's events after seq that the
// log still holds.
func (p *Postgres) EventsSince(ctx context.Context, room string, seq uint64, limit int) ([]Event, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT seq, type, data FROM room_events WHERE room = ? AND seq > ?
		ORDER BY seq LIMIT ?`, room, int64(seq), limit)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e    = Event{Room: room}
			s    int64
			data string
		)
		if err := rows.Scan(&s, &e.Type, &data); err != nil {
			return nil, fmt.Errorf("store: events: %w", err)
		}
		e.Seq, e.Data = uint64(s), json.RawMessage(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return out, nil
}

// LastEvent returns the room's latest sequence number, 0 when it has none.
func (p *Postgres) LastEvent(ctx context.Context, room string) (uint64, error) {
	var seq int64
	err := p.db.QueryRowContext(ctx, `SELECT seq FROM room_event_seqs WHERE room = ?`, room).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: last event: %w", err)
	}
	return uint64(seq), nil
}

// Listen hears of new room events on a connection of its own until ctx ends, calling
// onEvent for each in the order they committed. After each (re)connection it calls
// onConnect, so that the caller can read what it missed while not listening. A lost
// connection is made again, after a pause that grows to 5 s.
func (p *Postgres) Listen(ctx context.Context, onConnect func(), onEvent func(room string, seq uint64)) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := p.listenOnce(ctx, onConnect, onEvent)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			pause = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

func (p *Postgres) listenOnce(ctx context.Context, onConnect func(), onEvent func(room string, seq uint64)) error {
	conn, err := pgx.ConnectConfig(ctx, p.ConnConfig())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+eventChannel); err != nil {
		return err
	}
	onConnect()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		num, room, ok := strings.Cut(n.Payload, " ")
		seq, err := strconv.ParseUint(num, 10, 64)
		if !ok || err != nil {
			continue // not ours
		}
		onEvent(room, seq)
	}
}
