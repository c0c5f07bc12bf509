// Package cdflocal is Lasso's CDF stand-in: an http.Handler that speaks the subset of the
// Cognite Data Fusion REST API that package cdf calls, the way CDF does, over a folder of files.
//
// Served endpoints, under /api/v1/projects/{project}:
//
//	POST /files/list, /files/search, /files/byids, /files/downloadlink
//	GET  /files/{id}, /files/icon?id=|externalId=|space=&instanceExternalId=
//	POST /context/vision/segment           (cdf-version must contain "beta")
//	GET  /context/vision/segment/{jobId}   (cdf-version must contain "beta")
//	POST /annotations (201), /annotations/suggest (201), /annotations/list,
//	     /annotations/byids, /annotations/update, /annotations/delete
//	GET  /annotations/{id}
//
// plus GET /api/v1/token/inspect and the pre-signed download URLs handed out by
// /files/downloadlink, which need no bearer token.
//
// Like CDF it answers errors with {"error":{"code":N,"message":"..."}} (plus "missing" and
// "duplicated" where they apply) and status N, and sets x-request-id on every response.
// Config.Vision (or SetVision) plays the vision segment API as retired: both segment endpoints
// then answer 404, 410 or 403 as CDF may once the Vision API is gone (retirement date
// 2027-02-17), while the other endpoints go on working. Config.Authenticate lets the caller
// decide which bearer tokens are valid, e.g. only those an OIDC provider signed.
// Segment jobs run the segment engine in goroutines; Close stops them. Annotations are
// validated as CDF validates them and kept in memory, or in Config.DataDir so that they
// survive a restart.
package cdflocal

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/segment"
)

// Defaults and limits, in one place. They mirror CDF's documented numbers where CDF
// documents them (see shared/reference/cdf-api.md §8).
const (
	DefaultProject           = "lasso-local"
	DefaultMaxConcurrentJobs = 20 // CDF documents 20 concurrent extract jobs per project
	DefaultListLimit         = 100
	MaxListLimit             = 1000
	MaxByIDs                 = 1000
	MaxDownloadLinks         = 100
	MaxSegmentPoints         = segment.MaxPoints
	MaxPolygonVertices       = 1000
	DownloadLinkTTL          = 30 * time.Second
	ExtendedDownloadLinkTTL  = time.Hour
	IconLongSide             = 256
	DefaultMaxImagePixels    = 100_000_000
	maxRequestBody           = 4 << 20
	maxRetainedJobs          = 10_000
)

// Segmenter turns an image and a prompt into candidate segments. *segment.Engine implements it.
type Segmenter interface {
	Segment(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error)
}

// Fault is a failure injected by Config.Faults instead of (or after) serving a request.
//
// The plain form {Status: 503} answers the error envelope without doing anything. Delay
// makes the answer slow, so that a client with a timeout gives up; Drop closes the connection
// without an answer. AfterWrite serves the request first, so a create, suggest, update or
// delete takes effect, and only then fails: the ambiguous failure in which the write landed
// but the client sees an error (Status), a dropped connection (Drop) or, with Delay alone,
// a response that comes too late.
type Fault struct {
	Status        int    // HTTP status, e.g. 429, 500, 502, 503, 504; 0 with neither Drop nor a status serves the request
	Message       string // error.message; empty takes a message explaining the cause
	AutoRetryable bool   // adds the header cdf-is-auto-retryable: true
	// Delay waits this long (or until the client gives up or the server closes) before the
	// fault, or before the real answer when there is no Status and no Drop.
	Delay time.Duration
	// Drop aborts the response: the client sees the connection close with no answer (as with
	// a timeout at a proxy). Status is then ignored.
	Drop bool
	// AfterWrite serves the request before failing, so its effect is stored.
	AfterWrite bool
}

// Capability is one ACL of the emulated identity, e.g. {ACL: "filesAcl", Actions: ["READ"]}.
type Capability struct {
	ACL     string
	Actions []string
}

// Identity is the fake principal every accepted token belongs to.
type Identity struct {
	Subject      string
	Groups       []int64
	Capabilities []Capability
}

// DefaultIdentity returns the identity used when Config.Identity is nil: files READ,
// annotations READ/WRITE/SUGGEST/REVIEW, and the LIST rights token inspection asks for.
func DefaultIdentity() Identity {
	return Identity{
		Subject: "lasso-local-user",
		Groups:  []int64{1},
		Capabilities: []Capability{
			{ACL: "filesAcl", Actions: []string{"READ"}},
			{ACL: "annotationsAcl", Actions: []string{"READ", "WRITE", "SUGGEST", "REVIEW"}},
			{ACL: "projectsAcl", Actions: []string{"LIST"}},
			{ACL: "groupsAcl", Actions: []string{"LIST"}},
		},
	}
}

// Config configures a Server. Only ImagesDir is required.
type Config struct {
	// ImagesDir is the folder whose files (recursively; dot files skipped) are the project's files.
	ImagesDir string
	// Project is the project URL name (default "lasso-local"); other projects get 403.
	Project string
	// Token is the only accepted bearer token when set; when empty any bearer is accepted.
	// Authenticate, when set, replaces it. A request without a bearer always gets 401.
	Token string
	// Authenticate, when set, decides whether a bearer token is accepted, instead of Token:
	// a non-nil error answers 401 "Unauthorized: invalid token". It is called with the
	// request's context, possibly from many goroutines at once.
	Authenticate func(ctx context.Context, token string) error
	// Vision plays CDF's vision segment API as working (VisionOn, also the meaning of "") or
	// retired: VisionRetired404, VisionRetired410 or VisionRetired403 answer both segment
	// endpoints with that error. SetVision changes it while the server runs.
	Vision string
	// QueueDelay is how long a segment job stays Queued; RunDelay the least time it stays Running.
	QueueDelay, RunDelay time.Duration
	// Engine segments images (default segment.New(segment.Options{})).
	Engine Segmenter
	// Now is the clock for timestamps and download-link expiry (default time.Now).
	Now func() time.Time
	// Sleep waits out QueueDelay and RunDelay in job goroutines (default: a timer). It must
	// return ctx.Err() when ctx ends first. Tests replace it to step jobs by hand.
	Sleep func(ctx context.Context, d time.Duration) error
	// Faults, when set, is asked before each /api/v1 request is served; a non-nil Fault is
	// answered instead (see FaultSequence and FaultRate). It is never asked about downloads.
	Faults func(r *http.Request) *Fault
	// Identity is the token's principal (default DefaultIdentity()). Remove filesAcl to make
	// the files and segment endpoints answer 403.
	Identity *Identity
	// MaxConcurrentJobs bounds unfinished segment jobs (default 20); more give 429.
	MaxConcurrentJobs int
	// VersionErrorStatus is the status of a segment call without a beta cdf-version
	// (default 400; CDF's real answer is undocumented).
	VersionErrorStatus int
	// PublicURL is the base of download URLs, e.g. "http://127.0.0.1:4000" (default: the
	// scheme and Host of the request that asked for the link).
	PublicURL string
	// SigningKey signs download URLs (default: random per server).
	SigningKey []byte
	// InstanceSpace, when set, gives every file an instanceId {space, externalId: path}.
	InstanceSpace string
	// DataSetID, when non-zero, is set as every file's dataSetId (DataSetExternalID names it).
	DataSetID         int64
	DataSetExternalID string
	// MaxImagePixels bounds images the icon endpoint decodes (default 100 MP), and through
	// segment.DecodeBudget the bytes their decoding may take: an image over either is
	// refused from its header, and icons decoded at the same time share that budget.
	MaxImagePixels int64
	// DataDir is the folder where annotations are kept (every change synced to AnnotationsLog
	// before it is answered, folded now and then into AnnotationsFile; ReadAnnotations reads
	// them), so that they survive a restart or a crash. Empty keeps them in memory.
	DataDir string
}

// Server is the stand-in. It is an http.Handler; Close stops its job goroutines.
type Server struct {
	cfg      Config
	identity Identity
	files    *fileIndex
	ann      *annotationStore
	key      []byte

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	jobs    map[int64]*job
	nextJob int64
	// evictFrom is the lowest job id that may still be retained.
	evictFrom int64
	active    int
	closed    bool

	icons *iconCache

	vision atomic.Value // string: the current Config.Vision mode, as ParseVision returns it
}

// New scans cfg.ImagesDir and returns a Server for it.
func New(cfg Config) (*Server, error) {
	if cfg.ImagesDir == "" {
		return nil, errors.New("cdflocal: Config.ImagesDir is required")
	}
	if cfg.Project == "" {
		cfg.Project = DefaultProject
	}
	if cfg.Engine == nil {
		cfg.Engine = segment.New(segment.Options{})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.MaxConcurrentJobs <= 0 {
		cfg.MaxConcurrentJobs = DefaultMaxConcurrentJobs
	}
	if cfg.VersionErrorStatus == 0 {
		cfg.VersionErrorStatus = http.StatusBadRequest
	}
	if cfg.MaxImagePixels <= 0 {
		cfg.MaxImagePixels = DefaultMaxImagePixels
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	mode, err := ParseVision(cfg.Vision)
	if err != nil {
		return nil, fmt.Errorf("cdflocal: Config.Vision: %w", err)
	}
	cfg.Vision = mode
	s := &Server{cfg: cfg, jobs: map[int64]*job{}, icons: newIconCache(iconCacheBytes, segment.DecodeBudget(cfg.MaxImagePixels))}
	s.vision.Store(mode)
	if cfg.Identity != nil {
		s.identity = *cfg.Identity
	} else {
		s.identity = DefaultIdentity()
	}
	s.key = cfg.SigningKey
	if len(s.key) == 0 {
		s.key = make([]byte, 32)
		if _, err := rand.Read(s.key); err != nil {
			return nil, fmt.Errorf("cdflocal: signing key: %w", err)
		}
	}
	idx, err := scanFiles(cfg)
	if err != nil {
		return nil, err
	}
	s.files = idx
	if s.ann, err = openAnnotationStore(cfg.DataDir); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops the job goroutines and waits for them. Unfinished jobs end as Failed.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return s.ann.close()
}

// Project returns the project URL name the server answers for.
func (s *Server) Project() string { return s.cfg.Project }

// Files returns the metadata of every file, in list order.
func (s *Server) Files() []cdf.File {
	out := make([]cdf.File, len(s.files.list))
	for i, e := range s.files.list {
		out[i] = e.meta
	}
	return out
}

// FileID returns the id of the file at relPath (slash-separated, relative to ImagesDir).
func (s *Server) FileID(relPath string) (int64, bool) {
	e, ok := s.files.byExt[relPath]
	if !ok {
		return 0, false
	}
	return e.meta.ID, true
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// apiError is an error answered with CDF's envelope.
type apiError struct {
	status     int
	msg        string
	missing    []any
	duplicated []any
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func errf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, format, args...)
}

// writeError answers err with the error envelope.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errf(http.StatusInternalServerError, "Internal server error: %v", err)
	}
	body := map[string]any{"code": ae.status, "message": ae.msg}
	if len(ae.missing) > 0 {
		body["missing"] = ae.missing
	}
	if len(ae.duplicated) > 0 {
		body["duplicated"] = ae.duplicated
	}
	writeJSON(w, ae.status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // download URLs keep their '&' as CDF writes them
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":500,"message":"Internal server error: cannot encode response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decodeBody strictly decodes a JSON request body into v, as CDF does: unknown fields,
// trailing data and bodies over the limit are refused.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
		return errf(http.StatusUnsupportedMediaType, "Unsupported content type %q: use application/json", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return errf(http.StatusRequestEntityTooLarge, "Request body exceeds %d bytes", maxRequestBody)
		case errors.Is(err, io.EOF):
			return badRequest("Request body is empty: expected a JSON object")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("Unrecognized field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return badRequest("Invalid value for field %q: expected %s", ute.Field, ute.Type)
		}
		return badRequest("Unable to parse request body: %v", err)
	}
	if dec.More() {
		return badRequest("Unable to parse request body: unexpected data after the JSON object")
	}
	return nil
}

func newRequestID() string {
	var b [8]byte
	for i := range b {
		b[i] = byte(mrand.UintN(256))
	}
	return hex.EncodeToString(b[:])
}

const downloadPrefix = "/cdflocal/download/"

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-request-id", newRequestID())
	p := r.URL.Path
	if strings.HasPrefix(p, downloadPrefix) {
		if err := s.serveDownload(w, r, strings.TrimPrefix(p, downloadPrefix)); err != nil {
			writeError(w, err)
		}
		return
	}
	if !strings.HasPrefix(p, "/api/v1/") {
		writeError(w, errf(http.StatusNotFound, "Not found: %s", p))
		return
	}
	if err := s.serveAPI(w, r); err != nil {
		writeError(w, err)
	}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) error {
	var f *Fault
	if s.cfg.Faults != nil {
		f = s.cfg.Faults(r)
	}
	if f == nil {
		return s.route(w, r)
	}
	if !f.AfterWrite {
		if err := s.faultWait(r, f); err != nil {
			return err
		}
		if f.Drop || f.Status != 0 {
			return s.fault(w, f)
		}
		return s.route(w, r)
	}
	// Serve into a buffer: the effect is stored, the answer held back.
	buf := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	if err := s.route(buf, r); err != nil {
		writeError(buf, err)
	}
	if err := s.faultWait(r, f); err != nil {
		return err
	}
	if f.Drop || f.Status != 0 {
		return s.fault(w, f)
	}
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	w.WriteHeader(buf.status)
	_, _ = w.Write(buf.body.Bytes())
	return nil
}

// faultWait waits out f.Delay; it fails when the client gives up or the server closes first.
func (s *Server) faultWait(r *http.Request, f *Fault) error {
	if f.Delay <= 0 {
		return nil
	}
	// net/http notices a client that went away only once the body has been read, so read it
	// first: a request whose client gave up during the delay must not be served after it.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return errf(http.StatusBadRequest, "The request body could not be read: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	t := time.NewTimer(f.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.Context().Done():
		return errf(http.StatusGatewayTimeout, "The client gave up (fault injected by cdflocal)")
	case <-s.ctx.Done():
		return errf(http.StatusServiceUnavailable, "The stand-in is shutting down")
	}
}

// fault answers f: the error envelope with f.Status, or no answer at all for f.Drop.
func (s *Server) fault(w http.ResponseWriter, f *Fault) error {
	if f.Drop {
		// net/http closes the connection without logging; the client sees EOF.
		panic(http.ErrAbortHandler)
	}
	if f.AutoRetryable {
		w.Header().Set("cdf-is-auto-retryable", "true")
	}
	msg := f.Message
	if msg == "" {
		msg = faultMessage(f.Status)
	}
	return errf(f.Status, "%s", msg)
}

// bufferedResponse holds a response that an AfterWrite fault replaces.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }

func (s *Server) route(w http.ResponseWriter, r *http.Request) error {
	if err := s.authenticate(r); err != nil {
		return err
	}
	p := r.URL.Path
	if p == "/api/v1/token/inspect" {
		if err := allow(r, http.MethodGet); err != nil {
			return err
		}
		return s.tokenInspect(w)
	}
	rest, ok := strings.CutPrefix(p, "/api/v1/projects/")
	if !ok {
		return errf(http.StatusNotFound, "Not found: %s", p)
	}
	project, sub, _ := strings.Cut(rest, "/")
	if pu, err := url.PathUnescape(project); err == nil {
		project = pu
	}
	route := "/" + sub
	isSegment := route == "/context/vision/segment" || strings.HasPrefix(route, "/context/vision/segment/")
	if isSegment {
		// A retired API is gone for every project, method and header: nothing else is checked.
		if err := s.retired(project); err != nil {
			return err
		}
	}
	if project != s.cfg.Project {
		return errf(http.StatusForbidden, "Project %q is not available to this token (cdflocal serves %q)", project, s.cfg.Project)
	}
	switch {
	case strings.HasPrefix(route, "/files"):
		if err := s.require("filesAcl", "READ"); err != nil {
			return err
		}
		return s.routeFiles(w, r, strings.TrimPrefix(route, "/files"))
	case route == "/annotations" || strings.HasPrefix(route, "/annotations/"):
		return s.routeAnnotations(w, r, strings.TrimPrefix(route, "/annotations"))
	case isSegment:
		if err := s.require("filesAcl", "READ"); err != nil {
			return err
		}
		if !strings.Contains(strings.ToLower(r.Header.Get("cdf-version")), "beta") {
			return errf(s.cfg.VersionErrorStatus, "The segment API is only available in beta: send the header cdf-version: beta (got %q)", r.Header.Get("cdf-version"))
		}
		if route == "/context/vision/segment" {
			if err := allow(r, http.MethodPost); err != nil {
				return err
			}
			return s.startSegment(w, r)
		}
		if err := allow(r, http.MethodGet); err != nil {
			return err
		}
		return s.getSegmentJob(w, strings.TrimPrefix(route, "/context/vision/segment/"))
	}
	return errf(http.StatusNotFound, "Not found: %s", p)
}

func (s *Server) routeFiles(w http.ResponseWriter, r *http.Request, sub string) error {
	post := map[string]func(http.ResponseWriter, *http.Request) error{
		"/list": s.listFiles, "/search": s.searchFiles, "/byids": s.filesByIDs, "/downloadlink": s.downloadLinks,
	}
	if h, ok := post[sub]; ok {
		if err := allow(r, http.MethodPost); err != nil {
			return err
		}
		return h(w, r)
	}
	if sub == "/icon" {
		if err := allow(r, http.MethodGet); err != nil {
			return err
		}
		return s.icon(w, r)
	}
	if id, ok := strings.CutPrefix(sub, "/"); ok && id != "" && !strings.Contains(id, "/") {
		if err := allow(r, http.MethodGet); err != nil {
			return err
		}
		return s.retrieveFile(w, id)
	}
	return errf(http.StatusNotFound, "Not found: %s", r.URL.Path)
}

// allow answers 405 unless r uses method (HEAD counts as GET).
func allow(r *http.Request, method string) error {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return nil
	}
	return errf(http.StatusMethodNotAllowed, "Method %s is not allowed on %s: use %s", r.Method, r.URL.Path, method)
}

func (s *Server) authenticate(r *http.Request) error {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return errf(http.StatusUnauthorized, "Unauthorized: missing bearer token in the Authorization header")
	}
	if s.cfg.Authenticate != nil {
		if err := s.cfg.Authenticate(r.Context(), tok); err != nil {
			return errf(http.StatusUnauthorized, "Unauthorized: invalid token")
		}
		return nil
	}
	if s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) != 1 {
		return errf(http.StatusUnauthorized, "Unauthorized: invalid token")
	}
	return nil
}

// require answers 403 unless the identity holds action of acl.
func (s *Server) require(acl, action string) error {
	for _, c := range s.identity.Capabilities {
		if c.ACL != acl {
			continue
		}
		for _, a := range c.Actions {
			if a == action {
				return nil
			}
		}
	}
	return errf(http.StatusForbidden, "Resource not found. This may also be due to insufficient access rights (the token lacks %s:%s).", acl, action)
}

func (s *Server) tokenInspect(w http.ResponseWriter) error {
	caps := make([]map[string]any, 0, len(s.identity.Capabilities))
	for _, c := range s.identity.Capabilities {
		caps = append(caps, map[string]any{
			c.ACL:          map[string]any{"actions": c.Actions, "scope": map[string]any{"all": map[string]any{}}},
			"projectScope": map[string]any{"projects": []string{s.cfg.Project}},
		})
	}
	groups := s.identity.Groups
	if groups == nil {
		groups = []int64{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"subject":      s.identity.Subject,
		"projects":     []any{map[string]any{"projectUrlName": s.cfg.Project, "groups": groups}},
		"capabilities": caps,
	})
	return nil
}

func faultMessage(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "Too many requests: the request rate for this identity exceeds the project's limit, retry with backoff (fault injected by cdflocal)"
	case http.StatusInternalServerError:
		return "Internal server error (fault injected by cdflocal)"
	case http.StatusBadGateway:
		return "Bad gateway: an upstream service did not answer properly (fault injected by cdflocal)"
	case http.StatusServiceUnavailable:
		return "Service unavailable, retry later (fault injected by cdflocal)"
	case http.StatusGatewayTimeout:
		return "Gateway timeout: an upstream service timed out (fault injected by cdflocal)"
	}
	return http.StatusText(status) + " (fault injected by cdflocal)"
}

// FaultSequence returns a Config.Faults function that answers the n-th API request with
// statuses[n] (0 lets it through) and lets every request after the last one through.
func FaultSequence(statuses ...int) func(*http.Request) *Fault {
	var mu sync.Mutex
	n := 0
	return func(*http.Request) *Fault {
		mu.Lock()
		defer mu.Unlock()
		if n >= len(statuses) {
			return nil
		}
		st := statuses[n]
		n++
		if st == 0 {
			return nil
		}
		return &Fault{Status: st}
	}
}

// FaultRate returns a Config.Faults function that fails each API request with probability
// rate, with a status drawn from statuses (default 429, 502, 503, 504), seeded for repeatability.
func FaultRate(rate float64, seed uint64, statuses ...int) func(*http.Request) *Fault {
	if len(statuses) == 0 {
		statuses = []int{429, 502, 503, 504}
	}
	faults := make([]Fault, len(statuses))
	for i, st := range statuses {
		faults[i] = Fault{Status: st}
	}
	return FaultMix(rate, seed, faults...)
}

// sign returns the signature of a download URL for file id expiring at exp (Unix ms).
func (s *Server) sign(id, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%d:%d", id, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// FaultMix returns a Config.Faults function that fails each API request with probability
// rate, with a copy of one of faults drawn at random (seeded for repeatability). With
// faults such as {Status: 429}, {Status: 500, AfterWrite: true} and {Drop: true,
// AfterWrite: true} it makes the throttling, errors and timeouts a client must survive.
func FaultMix(rate float64, seed uint64, faults ...Fault) func(*http.Request) *Fault {
	if len(faults) == 0 {
		return func(*http.Request) *Fault { return nil }
	}
	var mu sync.Mutex
	rng := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(*http.Request) *Fault {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= rate {
			return nil
		}
		f := faults[rng.IntN(len(faults))]
		return &f
	}
}

// FaultOn returns a Config.Faults function that asks faults only about requests with the
// given method whose path ends with suffix (e.g. http.MethodPost, "/annotations" for
// creates), and lets every other request through.
func FaultOn(method, suffix string, faults func(*http.Request) *Fault) func(*http.Request) *Fault {
	return func(r *http.Request) *Fault {
		if r.Method != method || !strings.HasSuffix(r.URL.Path, suffix) {
			return nil
		}
		return faults(r)
	}
}
