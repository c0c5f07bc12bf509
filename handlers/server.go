// Package handlers is Lasso's HTTP surface: Echo routes, middleware, the error handler, the
// server-side image proxy and the WebSocket endpoint. It is the only package that knows Echo.
package handlers

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/views"
	"github.com/lassoteam/lasso/vision"
)

// maxBodyBytes bounds every request body; a prompt of 100 points is about 5 KB.
const maxBodyBytes = 64 << 10

// jobRunner is what handlers need of jobs.Manager.
type jobRunner interface {
	Submit(api jobs.SegmentAPI, t jobs.Task) error
	Snapshot(room string) []jobs.Event
	Latest(room, objectID string) (jobs.Event, bool)
}

// segmenters picks the segment backend of one task (vision.Service): visionAPI and files are
// the user's own CDF client's.
type segmenters interface {
	For(user string, visionAPI jobs.SegmentAPI, files vision.FilesAPI) jobs.SegmentAPI
}

// subscriber is what handlers need of hub.Hub: subscribing, for room sockets resuming from a
// sequence number, and telling a room how a long export goes.
type subscriber interface {
	publisher
	Subscribe(room string) *hub.Subscription
	SubscribeWith(room string, opts hub.SubscribeOptions) *hub.Subscription
	Resume(room string, seq uint64, opts hub.SubscribeOptions) (*hub.Subscription, []hub.Message, bool)
	LastSeq(room string) uint64
}

// Config holds the dependencies of the HTTP server. All fields but Static, AnnotationIDsOf,
// AllowedHost and SessionCheck are required.
type Config struct {
	Log     *slog.Logger
	Mode    string // "local" or "cdf", shown in the page header
	Project string // CDF project, shown in the page header
	// Auth holds login sessions (see auth.Manager).
	Auth sessions
	// LocalSignIn offers the local display-name sign-in instead of the identity provider.
	LocalSignIn bool
	// ProviderName names the identity provider on the sign-in button.
	ProviderName string
	// Clients returns the CDF client that acts as u: every CDF call a user causes carries
	// that user's own credentials.
	Clients func(ctx context.Context, u User) (*cdf.Client, error)
	Jobs    jobRunner
	Hub     subscriber
	// Rooms runs team rooms.
	Rooms roomService
	// Writer writes accepted objects of images opened outside rooms to CDF.
	Writer annotationWriter
	// Segmenters gives each prompt its segment backend.
	Segmenters segmenters
	Static     fs.FS // served under /static/
	// MaxPixels refuses images with more pixels than this before any decoding (default 40 MP).
	MaxPixels int64
	// SecureCookies marks cookies Secure; set it when the app is served over TLS.
	SecureCookies bool
	// AnnotationIDsOf, when set, returns the ids of the CDF annotations that a room already
	// shows as its own objects on an image (rooms.Service.AnnotationIDs); the image's
	// annotation list asked for in that room (?room=) leaves them out, so they are not drawn
	// twice. Optional.
	AnnotationIDsOf func(ctx context.Context, roomID string, u rooms.User, fileID int64) (map[int64]bool, error)
	// AllowedHost reports whether the server answers requests for a host name (lower case,
	// without port, brackets or trailing dot; see HostAllowList). Any other Host header is
	// refused with 421 Misdirected Request on every page, API call, static file and WebSocket,
	// so that a web page whose name its owner rebinds to this server's address (DNS
	// rebinding) cannot drive Lasso with the victim's browser. /healthz answers any host:
	// orchestrators probe it by IP address, and it tells nothing. nil admits loopback names
	// and addresses only.
	AllowedHost func(host string) bool
	// SessionCheck is how often an open WebSocket checks that its login session still exists
	// (it may have been signed out on another replica, swept or expired); the socket closes
	// when it does not. Default 30 s.
	SessionCheck time.Duration
	// ObserveRequest, when set, is told of every request once it is answered: its method,
	// Echo's route template (e.g. /api/images/:id/segment; "" when no route matched, never
	// the raw URL), status and duration. Optional (metrics).
	ObserveRequest func(method, route string, status int, d time.Duration)
	// Metrics, when set, is served at /metrics. Optional: main leaves it out when metrics
	// have a listener of their own.
	Metrics http.Handler
	// SocketLimits bounds WebSocket messages, rates, connections per user and the ping
	// interval; zero fields take their defaults.
	SocketLimits SocketLimits
	// Ready, when set, tells /readyz whether the server can do its work (the database
	// answers, CDF is reachable); nil means always ready.
	Ready func(ctx context.Context) error
}

type server struct {
	Config
	log      *slog.Logger
	sizes    sync.Map // file id and version → image size, see imageSize
	dirs     dirCache // each login session's directories, see directories
	upgrader websocket.Upgrader
	sockets  sockets // open WebSockets by login session, closed when it ends
	limits   SocketLimits
}

// New returns the application's HTTP handler.
func New(cfg Config) http.Handler {
	if cfg.MaxPixels == 0 {
		cfg.MaxPixels = 40_000_000
	}
	if cfg.ProviderName == "" {
		cfg.ProviderName = "your organisation"
	}
	if cfg.AllowedHost == nil {
		cfg.AllowedHost = HostAllowList(true)
	}
	if cfg.SessionCheck <= 0 {
		cfg.SessionCheck = 30 * time.Second
	}
	s := &server{Config: cfg, log: cfg.Log, limits: cfg.SocketLimits.withDefaults()}
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		// Write buffers go back to a pool between messages: a room of idle members holds none.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.checkOrigin,
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// First, so that every request, even one refused or panicking, has an id and a log line.
	e.Use(s.observe)
	e.Use(middleware.Recover())
	e.Use(securityHeaders(cfg.SecureCookies))
	// Before everything else, so that a foreign host gets nothing of the app, not even a cookie.
	e.Use(s.allowHosts)
	e.Use(noStore)
	e.Use(middleware.BodyLimit("64KB"))
	e.Use(s.csrf)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/readyz", s.readyz)
	if cfg.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(cfg.Metrics))
	}
	if cfg.Static != nil {
		e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticHandler(cfg.Static))))
		e.GET("/favicon.ico", echo.WrapHandler(staticHandler(cfg.Static))) // browsers ask for it on every page
	}

	e.GET("/signin", s.signInPage)
	e.POST("/signin", s.signInLocal)
	e.GET("/auth/login", s.login)
	e.GET("/auth/callback", s.callback)
	e.POST("/auth/logout", s.logout)

	app := e.Group("", s.requireUser)
	app.GET("/", s.browse)
	app.GET("/images/:id", s.annotate)
	app.GET("/files/:id/icon", s.icon)
	app.GET("/files/:id/content", s.content)
	app.POST("/api/images/:id/segment", s.segment)
	app.POST("/api/images/:id/objects/:objectId/accept", s.acceptSolo)
	app.POST("/api/images/:id/objects/:objectId/delete", s.deleteSolo)
	app.POST("/api/images/:id/objects/:objectId/retry", s.retrySolo)
	app.GET("/api/images/:id/annotations", s.listAnnotations)
	app.POST("/api/images/:id/annotations/:annotationId", s.updateAnnotation)
	app.POST("/api/images/:id/annotations/:annotationId/delete", s.deleteAnnotation)
	app.GET("/api/images/:id/annotations/:annotationId/provenance", s.annotationProvenance)
	// The socket route limits upgrades before looking the login session up (see limitUpgrades).
	e.GET("/ws", s.socket, s.limitUpgrades, s.requireUser)
	if cfg.Rooms != nil {
		app.GET("/rooms", s.roomsPage)
		app.POST("/rooms", s.createRoom)
		app.GET("/rooms/:id", s.roomPage)
		app.GET("/rooms/:id/join", s.joinPage)
		app.POST("/rooms/:id/join", s.joinRoom)
		app.POST("/rooms/:id/close", s.closeRoom)
		app.POST("/rooms/:id/members/:userId/remove", s.removeMember)
		app.POST("/rooms/:id/members/:userId/role", s.setRole)
		app.GET("/rooms/:id/images/:fileId", s.roomImage)
		app.GET("/rooms/:id/export", s.exportRoom)
		app.GET("/api/rooms/:id/state", s.roomState)
		app.POST("/api/rooms/:id/images/:fileId/objects/:objectId/prompt", s.roomPrompt)
		app.POST("/api/rooms/:id/images/:fileId/objects/:objectId", s.roomEdit)
		app.POST("/api/rooms/:id/images/:fileId/objects/:objectId/review", s.roomReview)
		app.POST("/api/rooms/:id/images/:fileId/objects/:objectId/retry", s.roomRetrySave)
		app.GET("/api/rooms/:id/images/:fileId/objects/:objectId/provenance", s.roomProvenance)
		app.POST("/api/rooms/:id/images/:fileId/done", s.roomDone)
		app.POST("/api/rooms/:id/next", s.roomNext)
	}
	return e
}

// client returns the CDF client acting as the request's user.
func (s *server) client(c echo.Context) (*cdf.Client, error) {
	return s.Clients(c.Request().Context(), userOf(c))
}

// layout fills the page shell shared by every page.
func (s *server) layout(c echo.Context, title string) views.Layout {
	return views.Layout{
		Title:     title,
		CSRFToken: s.pageToken(c.Request()),
		User:      userOf(c).Name,
		Project:   s.Project,
		Mode:      s.Mode,
		SignedIn:  sessionOf(c) != nil,
	}
}

// pageLayout is the layout of a signed-in page, with warnings about missing CDF access.
func (s *server) pageLayout(c echo.Context, title string) views.Layout {
	l := s.layout(c, title)
	l.Warnings = s.capabilityWarnings(c)
	return l
}

// render writes a templ component as an HTML page.
func (s *server) render(c echo.Context, status int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response())
}

// staticHandler serves embedded assets; they change only with a new build, so a short cache
// plus revalidation is enough. Only files are served, and not the front end's tests
// (*.test.mjs): a folder or a test answers 404 like a missing file, so nothing is listed.
func staticHandler(fsys fs.FS) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if st, err := fs.Stat(fsys, name); err != nil || !st.Mode().IsRegular() || strings.HasSuffix(name, ".test.mjs") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		http.ServeFileFS(w, r, fsys, name)
	})
}

// noStore keeps every answer but the static assets out of caches: pages, JSON answers and
// exports behind sign-in are the user's, and a shared or browser cache must not hand them to
// whoever comes next. Handlers that serve images set their own (private) caching over this.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			c.Response().Header().Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// securityHeaders sets a strict Content-Security-Policy and the usual hardening headers.
func securityHeaders(tls bool) echo.MiddlewareFunc {
	const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
			if tls {
				h.Set("Strict-Transport-Security", "max-age=31536000")
			}
			return next(c)
		}
	}
}

// allowHosts refuses requests whose Host header names a host the server does not answer for
// (see Config.AllowedHost). The refusal is plain text written here rather than by the error
// handler: a rebound page can read the answer, so it carries nothing of the app's, not even
// the page shell with the project's name.
func (s *server) allowHosts(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if probes[r.URL.Path] || s.AllowedHost(hostName(r.Host)) {
			return next(c)
		}
		s.log.Info("refused a request for another host", "host", r.Host, "method", r.Method, "path", r.URL.Path, "request_id", requestID(c))
		return c.String(http.StatusMisdirectedRequest, "This server does not answer for that host name. Open Lasso at its own address.\n")
	}
}

// HostAllowList returns a Config.AllowedHost that admits the given hosts and, when loopback
// is set, localhost and every loopback address (127.0.0.0/8, ::1). A host may be given with a
// port, and an IPv6 address in brackets; both are ignored, as is the case of letters: the
// name is what a rebinding page controls, not the port. Empty entries are skipped.
func HostAllowList(loopback bool, hosts ...string) func(host string) bool {
	names := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		if n := hostName(h); n != "" {
			names[n] = true
		}
	}
	return func(host string) bool {
		if names[host] {
			return true
		}
		if !loopback {
			return false
		}
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
}

// hostName is the host name of a Host header (or an allow-list entry): lower case, without
// port, IPv6 brackets or a trailing dot.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
