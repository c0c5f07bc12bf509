package handlers

import (
	"errors"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/auth"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/rooms"
)

const writeWait = 10 * time.Second // time allowed to write one message

// SocketLimits bounds what one WebSocket, and one user's WebSockets together, may cost the
// server. Clients send commands over HTTP: the socket carries pushes, pings and pongs, so a
// client sending more than a few small messages is broken or abusive. The zero value of each
// field takes its default.
type SocketLimits struct {
	// MaxMessageBytes is the largest message a client may send; a larger one closes the
	// socket with 1009 (message too big). Default 4 KB.
	MaxMessageBytes int64
	// MessageRate is how many messages a second a client may send on average, and
	// MessageBurst how many at once; a client over it gets an error message, then a close
	// with 1008 (policy violation). Defaults 5 a second, bursts of 20.
	MessageRate  float64
	MessageBurst int
	// PerUser is how many sockets one user may have open at once (tabs, devices); the next
	// upgrade is refused with 429. Default 16.
	PerUser int
	// PingInterval is how often the server pings; a client that has not answered (with a
	// pong, or any message) within 10/9 of it is dropped. Default 54 s.
	PingInterval time.Duration
	// Upgrades is how many sockets a second one user may open on average, UpgradeBurst how
	// many at once (every tab reconnecting after a restart). The next upgrade is refused with
	// 429 and Retry-After before anything is looked up for it, so a client cut off and
	// reconnecting in a loop costs the others next to nothing. Defaults 5 a second (an
	// annotator paging through images quickly opens about one a second), bursts of 30.
	Upgrades     float64
	UpgradeBurst int
	// AnonymousUpgrades and AnonymousBurst bound the same per client address for upgrades
	// without a valid sign-in, counted before the login session is looked up. Signed-in
	// upgrades do not count, so the users behind one proxy are not limited together.
	// Defaults 2 a second, bursts of 20.
	AnonymousUpgrades float64
	AnonymousBurst    int
}

func (l SocketLimits) withDefaults() SocketLimits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = 4 << 10
	}
	if l.MessageRate <= 0 {
		l.MessageRate = 5
	}
	if l.MessageBurst <= 0 {
		l.MessageBurst = 20
	}
	if l.PerUser <= 0 {
		l.PerUser = 16
	}
	if l.PingInterval <= 0 {
		l.PingInterval = 54 * time.Second
	}
	if l.Upgrades <= 0 {
		l.Upgrades = 5
	}
	if l.UpgradeBurst <= 0 {
		l.UpgradeBurst = 30
	}
	if l.AnonymousUpgrades <= 0 {
		l.AnonymousUpgrades = 2
	}
	if l.AnonymousBurst <= 0 {
		l.AnonymousBurst = 20
	}
	return l
}

// pongWait is how long a client may stay silent: pings go out before its deadline.
func (l SocketLimits) pongWait() time.Duration { return l.PingInterval * 10 / 9 }

// Messages of a socket closed for breaking a limit.
const (
	errTooManySockets  = "Too many open connections: at most %d live views per user; close some tabs or windows and reload."
	msgTooManyInbound  = "Too many messages: this connection sends commands over HTTP, and the socket is closed. Reload the page."
	errTooManyUpgrades = "Reconnecting too often: at most %d new live connections at once and %g a second per user. " +
		"The page reconnects by itself; try again in %d s."
	errTooManyAnonymous = "Too many connection attempts without a sign-in from this address. Sign in, then try again in %d s."
	reasonTooMany       = "too many messages"
)

// socketMessage is the JSON envelope of every WebSocket message.
type socketMessage struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Seq  uint64 `json:"seq"`
	Data any    `json:"data"`
}

// checkOrigin accepts only pages of this very origin, scheme and host alike: a browser always
// sends Origin on a WebSocket upgrade, and neither another site's page nor this site's page
// served over the other scheme (http:// beside https://) may ride on the user's cookies. An
// absent Origin and "null" (sandboxed frames, file: pages) are refused.
func (s *server) checkOrigin(r *http.Request) bool {
	return s.sameOrigin(r, r.Header.Get("Origin"))
}

// scheme is the scheme the app's pages are served with: https when the server terminates TLS
// itself or is configured as served over TLS (SecureCookies, e.g. an https public URL behind a
// TLS-terminating proxy, where the request reaching Lasso is plain HTTP); else http.
func (s *server) scheme(r *http.Request) string {
	if r.TLS != nil || s.SecureCookies {
		return "https"
	}
	return "http"
}

// withoutDefaultPort lower-cases host and drops the scheme's default port, which browsers
// leave out of Origin and Host but a proxy may add.
func withoutDefaultPort(host, scheme string) string {
	host = strings.ToLower(host)
	switch scheme {
	case "http":
		return strings.TrimSuffix(host, ":80")
	case "https":
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// errOriginNotAllowed answers an upgrade from another origin.
const errOriginNotAllowed = "WebSocket connections are accepted only from this site's own pages."

// Why a login session's sockets close, as the close frame's reason.
const (
	reasonSignedOut    = "signed out"
	reasonSessionEnded = "sign-in ended; sign in again"
)

// sockets keeps the open WebSockets of each login session, so that the session's end closes
// them at once instead of letting them carry the room's events to a signed-out browser, and
// counts each user's, so that one user cannot hold an unbounded number.
type sockets struct {
	mu        sync.Mutex
	bySession map[string]map[*liveSocket]struct{}
	byUser    map[string]int

	// Upgrades by user, and by client address without a sign-in (see SocketLimits).
	upgrades, anonymous buckets
}

// buckets is a token bucket per key (a user, an address). Keys whose bucket has filled up
// again are forgotten now and then, so keys come and go without growing the map.
type buckets struct {
	mu    sync.Mutex
	byKey map[string]*bucket
	swept time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// take takes a token from key's bucket (rate a second, at most burst) at now. Without a
// token it takes nothing and returns false and how long until there is one.
func (b *buckets) take(key string, now time.Time, rate float64, burst int) (bool, time.Duration) {
	return b.use(key, now, rate, burst, true)
}

// peek is take without taking.
func (b *buckets) peek(key string, now time.Time, rate float64, burst int) (bool, time.Duration) {
	return b.use(key, now, rate, burst, false)
}

func (b *buckets) use(key string, now time.Time, rate float64, burst int, take bool) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	full := float64(burst)
	if b.byKey == nil {
		b.byKey = map[string]*bucket{}
	}
	if now.Sub(b.swept) > time.Minute {
		b.swept = now
		for k, v := range b.byKey {
			if v.tokens+now.Sub(v.last).Seconds()*rate >= full {
				delete(b.byKey, k)
			}
		}
	}
	k := b.byKey[key]
	if k == nil {
		k = &bucket{tokens: full, last: now}
		b.byKey[key] = k
	}
	k.tokens = min(full, k.tokens+now.Sub(k.last).Seconds()*rate)
	k.last = now
	if k.tokens < 1 {
		return false, time.Duration((1 - k.tokens) / rate * float64(time.Second))
	}
	if take {
		k.tokens--
	}
	return true, 0
}

// retryAfter answers a refused upgrade's Retry-After header and returns its whole seconds.
func retryAfter(c echo.Context, wait time.Duration) int {
	secs := max(1, int((wait+time.Second-1)/time.Second))
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}

// limitUpgrades goes before requireUser on the socket route, so that a refused upgrade costs
// no store read: an address over its budget of upgrades without a sign-in is refused, and so
// is a browser (known by its cookies) over the per-user budget; the user's own budget is
// spent after sign-in (admitUpgrade). An upgrade that turns out to have no sign-in spends
// from its address's budget.
func (s *server) limitUpgrades(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		addr := clientAddress(r)
		l := s.limits
		now := time.Now()
		if ok, wait := s.sockets.anonymous.peek(addr, now, l.AnonymousUpgrades, l.AnonymousBurst); !ok {
			return newProblem(http.StatusTooManyRequests, errTooManyAnonymous, retryAfter(c, wait))
		}
		if cookies := r.Header.Values("Cookie"); len(cookies) > 0 {
			h := fnv.New64a()
			for _, v := range cookies {
				_, _ = io.WriteString(h, v)
			}
			key := "cookies:" + strconv.FormatUint(h.Sum64(), 36)
			if ok, wait := s.sockets.upgrades.take(key, now, l.Upgrades, l.UpgradeBurst); !ok {
				return newProblem(http.StatusTooManyRequests, errTooManyUpgrades, l.UpgradeBurst, l.Upgrades, retryAfter(c, wait))
			}
		}
		err := next(c)
		if userOf(c).ID == "" {
			s.sockets.anonymous.take(addr, time.Now(), l.AnonymousUpgrades, l.AnonymousBurst)
		}
		return err
	}
}

// clientAddress is the connection's address without its port: forwarding headers are not
// trusted, as anyone can send them.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// admitUpgrade spends one of the user's upgrades, or refuses with 429 and Retry-After.
func (s *server) admitUpgrade(c echo.Context) error {
	l := s.limits
	if ok, wait := s.sockets.upgrades.take("user:"+userOf(c).ID, time.Now(), l.Upgrades, l.UpgradeBurst); !ok {
		return newProblem(http.StatusTooManyRequests, errTooManyUpgrades, l.UpgradeBurst, l.Upgrades, retryAfter(c, wait))
	}
	return nil
}

// liveSocket is one open WebSocket as sockets sees it.
type liveSocket struct {
	sub    *hub.Subscription
	ended  chan struct{} // closed by end; reason, code and notice are set before
	once   sync.Once
	reason string
	code   int    // the close code; 1000 unless a limit was broken
	notice string // when set, sent as an "error" message before the close frame
}

// add registers a socket of the login session and user whose events come from sub; the
// returned func removes it again. It refuses (ok false) a user who has perUser sockets open.
func (r *sockets) add(sessionID, userID string, perUser int, sub *hub.Subscription) (sock *liveSocket, forget func(), ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byUser[userID] >= perUser {
		return nil, nil, false
	}
	sock = &liveSocket{sub: sub, ended: make(chan struct{})}
	if r.bySession == nil {
		r.bySession = make(map[string]map[*liveSocket]struct{})
		r.byUser = make(map[string]int)
	}
	if r.bySession[sessionID] == nil {
		r.bySession[sessionID] = make(map[*liveSocket]struct{})
	}
	r.bySession[sessionID][sock] = struct{}{}
	r.byUser[userID]++
	var once sync.Once
	return sock, func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			delete(r.bySession[sessionID], sock)
			if len(r.bySession[sessionID]) == 0 {
				delete(r.bySession, sessionID)
			}
			if r.byUser[userID]--; r.byUser[userID] <= 0 {
				delete(r.byUser, userID)
			}
		})
	}, true
}

// end closes every socket of the login session with a normal close frame carrying reason.
// When it returns, no event published afterwards reaches any of them.
func (r *sockets) end(sessionID, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for sock := range r.bySession[sessionID] {
		sock.end(reason)
	}
}

// end tells the socket's write pump to close with reason and unsubscribes it, so that nothing
// published from now on is sent. Later calls do nothing.
func (s *liveSocket) end(reason string) { s.endWith(websocket.CloseNormalClosure, reason, "") }

// endWith is end with a close code and, when notice is set, an "error" message sent first
// that says why in words.
func (s *liveSocket) endWith(code int, reason, notice string) {
	s.once.Do(func() {
		s.reason, s.code, s.notice = reason, code, notice
		close(s.ended)
		s.sub.Close()
	})
}

// endedWith returns the reason the socket was ended with, if it was.
func (s *liveSocket) endedWith() (string, bool) {
	select {
	case <-s.ended:
		return s.reason, true
	default:
		return "", false
	}
}

// socket streams a room's events: a snapshot first, then every live event. Slow clients are
// dropped by the hub and reconnect; their snapshot brings them up to date.
func (s *server) socket(c echo.Context) error {
	if err := s.admitUpgrade(c); err != nil {
		return err
	}
	room := c.QueryParam("room")
	if roomID, ok := strings.CutPrefix(room, "room:"); ok && s.Rooms != nil {
		return s.roomSocket(c, roomID)
	}
	id, ok := strings.CutPrefix(room, "image:")
	fileID, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || fileID <= 0 {
		return newProblem(http.StatusBadRequest, "room must be image:<file id> or room:<room id>.")
	}
	if !s.checkOrigin(c.Request()) {
		return newProblem(http.StatusForbidden, errOriginNotAllowed)
	}
	client, err := s.client(c)
	if err != nil {
		return err
	}
	// The user must be able to read the image to follow its room.
	if _, err := client.Files.Retrieve(c.Request().Context(), fileID); err != nil {
		return err
	}
	hubRoom := userRoom(userOf(c), fileID)
	sub := s.Hub.Subscribe(hubRoom)
	defer sub.Close()
	conn, sock, forget, err := s.upgrade(c, sub)
	if conn == nil {
		return err // refused, or the upgrader has answered the client already
	}
	defer forget()
	saves, err := s.soloSaves(c.Request().Context(), userOf(c), fileID)
	if err != nil {
		s.Log.Warn("writes of the image", "file", fileID, "err", err)
	}
	snapshot := socketMessage{Type: "snapshot", Room: hubRoom, Data: map[string]any{"objects": s.Jobs.Snapshot(hubRoom), "saves": saves}}

	done := make(chan struct{})
	go func() {
		defer close(done)
		s.writePump(conn, []any{snapshot}, sock, s.sessionCheck(c.Request()))
	}()
	s.readPump(conn, sock)
	sub.Close()
	<-done
	return nil
}

// roomSocket streams a team room: a snapshot (or, with since=N, what the client missed), then
// live events. Members only; a member removed from the room is disconnected by the hub.
func (s *server) roomSocket(c echo.Context, roomID string) error {
	if !s.checkOrigin(c.Request()) {
		return newProblem(http.StatusForbidden, errOriginNotAllowed)
	}
	var fileID *int64
	if v := c.QueryParam("image"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return newProblem(http.StatusBadRequest, "image must be a file id.")
		}
		fileID = &id
	}
	u := roomUser(c)
	ctx := c.Request().Context()
	if _, _, err := s.Rooms.Access(ctx, roomID, u); err != nil {
		return err
	}
	key := rooms.Key(roomID)
	opts := hub.SubscribeOptions{User: u.ID}
	var sub *hub.Subscription
	var first []any
	if since, err := strconv.ParseUint(c.QueryParam("since"), 10, 64); err == nil && c.QueryParam("since") != "" {
		var missed []hub.Message
		var ok bool
		sub, missed, ok = s.Hub.Resume(key, since, opts)
		if ok {
			for _, m := range missed {
				first = append(first, m)
			}
		} else {
			sub.Close()
			sub = nil
		}
	}
	if sub == nil {
		sub = s.Hub.SubscribeWith(key, opts)
		snap, err := s.Rooms.State(ctx, roomID, u, fileID)
		if err != nil {
			sub.Close()
			return err
		}
		snap.Seq = s.Hub.LastSeq(key)
		first = append(first, socketMessage{Type: "snapshot", Room: key, Seq: snap.Seq, Data: snap})
	}
	defer sub.Close()
	conn, sock, forget, err := s.upgrade(c, sub)
	if conn == nil {
		return err // refused, or the upgrader has answered the client already
	}
	defer forget()
	leave := s.Rooms.Connect(roomID, u, fileID)
	defer leave()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.writePump(conn, first, sock, s.sessionCheck(c.Request()))
	}()
	s.readPump(conn, sock)
	sub.Close()
	<-done
	return nil
}

// closeFor tells the client why its subscription ended: removed from the room (do not come
// back), or too slow (reconnect and resume).
func closeFor(conn *websocket.Conn, reason error) {
	code, text := websocket.CloseTryAgainLater, "too slow; reconnect"
	switch {
	case errors.Is(reason, hub.ErrRemoved):
		code, text = websocket.ClosePolicyViolation, "removed from the room"
	case errors.Is(reason, hub.ErrClosed):
		// 1012: the client reconnects (with backoff) to whichever server answers next.
		code, text = websocket.CloseServiceRestart, "service restart"
	case errors.Is(reason, hub.ErrUnsubscribed):
		return // the client went away
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeWait))
}

// upgrade registers a socket for sub under the user's login session, refusing one past the
// per-user cap, and upgrades the connection. With a nil conn the socket is not registered and
// err is what to answer (nil when the upgrader has answered already); otherwise forget must
// be called when the socket ends.
func (s *server) upgrade(c echo.Context, sub *hub.Subscription) (*websocket.Conn, *liveSocket, func(), error) {
	u := userOf(c)
	sock, forget, ok := s.sockets.add(u.SessionID, u.ID, s.limits.PerUser, sub)
	if !ok {
		return nil, nil, nil, newProblem(http.StatusTooManyRequests, errTooManySockets, s.limits.PerUser)
	}
	conn, err := s.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		forget()
		return nil, nil, nil, nil
	}
	return conn, sock, forget, nil
}

// readPump consumes what the client sends (pongs, close) until the connection ends. A
// message over MaxMessageBytes closes the socket (gorilla answers 1009); messages beyond
// MessageRate (token bucket of MessageBurst) end it with an error message and 1008. Any
// message, like a pong, shows the client is alive.
func (s *server) readPump(conn *websocket.Conn, sock *liveSocket) {
	l := s.limits
	conn.SetReadLimit(l.MaxMessageBytes)
	alive := func() error { return conn.SetReadDeadline(time.Now().Add(l.pongWait())) }
	_ = alive()
	conn.SetPongHandler(func(string) error { return alive() })
	tokens, last := float64(l.MessageBurst), time.Now()
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return
		}
		now := time.Now()
		tokens = min(float64(l.MessageBurst), tokens+now.Sub(last).Seconds()*l.MessageRate)
		last = now
		if tokens < 1 {
			sock.endWith(websocket.ClosePolicyViolation, reasonTooMany, msgTooManyInbound)
			return
		}
		tokens--
		// Drain the message within the read limit; its content means nothing to the server.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
		_ = alive()
	}
}

// sessionCheck returns what a socket opened by r asks every SessionCheck: whether its login
// session still exists. The upgrade request's context lives as long as the socket.
func (s *server) sessionCheck(r *http.Request) func() error {
	return func() error {
		_, err := s.Auth.Current(r)
		return err
	}
}

// closeWith sends a close frame with code and reason.
func closeWith(conn *websocket.Conn, code int, reason string) {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(writeWait))
}

// writePump is the connection's only writer: the first messages (a snapshot, or what a
// resuming client missed), then hub messages and pings. Every SessionCheck it asks check
// whether the login session still exists and closes the socket when it does not; a socket
// ended by sock.end (sign-out) closes with its reason and sends nothing more.
func (s *server) writePump(conn *websocket.Conn, first []any, sock *liveSocket, check func() error) {
	ticker := time.NewTicker(s.limits.PingInterval)
	checker := time.NewTicker(s.SessionCheck)
	defer func() {
		ticker.Stop()
		checker.Stop()
		conn.Close()
	}()
	sub := sock.sub
	write := func(v any) error {
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteJSON(v)
	}
	// ended closes the connection if the socket was ended, and says so.
	ended := func() bool {
		reason, ok := sock.endedWith()
		if ok {
			if sock.notice != "" {
				_ = write(socketMessage{Type: "error", Data: map[string]string{"message": sock.notice}})
			}
			closeWith(conn, sock.code, reason)
		}
		return ok
	}
	for _, m := range first {
		if ended() {
			return
		}
		if err := write(m); err != nil {
			return
		}
	}
	for {
		if ended() {
			return
		}
		select {
		case <-sock.ended:
			ended()
			return
		case m, ok := <-sub.C():
			if !ok {
				if !ended() {
					closeFor(conn, sub.Err())
				}
				return
			}
			// A message taken as the session ended is not sent.
			if ended() {
				return
			}
			if err := write(m); err != nil {
				return
			}
		case <-sub.Done():
			if !ended() {
				closeFor(conn, sub.Err())
			}
			return
		case <-ticker.C:
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case <-checker.C:
			err := check()
			if errors.Is(err, auth.ErrNoSession) {
				sock.end(reasonSessionEnded)
				ended()
				return
			}
			if err != nil {
				// The store may be back at the next check; the socket stays until then.
				s.log.Warn("WebSocket session check", "err", err)
			}
		}
	}
}
