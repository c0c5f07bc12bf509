package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/hub"
)

const (
	writeWait  = 10 * time.Second  // time allowed to write one message
	pongWait   = 60 * time.Second  // time allowed between pongs
	pingPeriod = pongWait * 9 / 10 // pings go out before the peer's deadline
	maxInbound = 4 << 10           // clients send commands over HTTP; the socket carries pongs
)

// socketMessage is the JSON envelope of every WebSocket message.
type socketMessage struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Seq  uint64 `json:"seq"`
	Data any    `json:"data"`
}

// checkOrigin accepts only pages of this very origin: a browser always sends Origin on a
// WebSocket upgrade, and another site's page must not ride on the user's cookies.
func checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 4096,
	CheckOrigin:     checkOrigin,
}

// socket streams a room's events: a snapshot first, then every live event. Slow clients are
// dropped by the hub and reconnect; their snapshot brings them up to date.
func (s *server) socket(c echo.Context) error {
	room := c.QueryParam("room")
	id, ok := strings.CutPrefix(room, "image:")
	fileID, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || fileID <= 0 {
		return newProblem(http.StatusBadRequest, "room must be image:<file id>.")
	}
	if !checkOrigin(c.Request()) {
		return newProblem(http.StatusForbidden, "WebSocket connections are accepted only from this site's own pages.")
	}
	client, err := s.client(c)
	if err != nil {
		return err
	}
	// The user must be able to read the image to follow its room.
	if _, err := client.Files.Retrieve(c.Request().Context(), fileID); err != nil {
		return err
	}
	conn, err := upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered the client already
	}
	hubRoom := userRoom(userOf(c), fileID)
	sub := s.Hub.Subscribe(hubRoom)
	defer sub.Close()
	snapshot := socketMessage{Type: "snapshot", Room: hubRoom, Data: map[string]any{"objects": s.Jobs.Snapshot(hubRoom)}}

	done := make(chan struct{})
	go func() {
		defer close(done)
		s.writePump(conn, snapshot, sub)
	}()
	readPump(conn)
	sub.Close()
	<-done
	return nil
}

// readPump consumes what the client sends (pongs, close) until the connection ends.
func readPump(conn *websocket.Conn) {
	conn.SetReadLimit(maxInbound)
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		if _, _, err := conn.NextReader(); err != nil {
			return
		}
	}
}

// writePump is the connection's only writer: the snapshot, then hub messages and pings.
func (s *server) writePump(conn *websocket.Conn, snapshot socketMessage, sub *hub.Subscription) {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		conn.Close()
	}()
	write := func(v any) error {
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteJSON(v)
	}
	if err := write(snapshot); err != nil {
		return
	}
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				_ = conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "too slow; reconnect"), time.Now().Add(writeWait))
				return
			}
			if err := write(m); err != nil {
				return
			}
		case <-sub.Done():
			return
		case <-ticker.C:
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}
