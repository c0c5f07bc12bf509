// Command cdflocal runs Lasso's CDF stand-in (package cdf/cdflocal) on its own: the Files,
// vision segment, annotations and token-inspect endpoints of Cognite Data Fusion over a
// folder of images.
//
//	go run ./cmd/cdflocal -images ./static/samples -data ./cdflocal-data -addr 127.0.0.1:4000
//
// With -data the annotations are kept in that folder across restarts; without it they live in
// memory.
//
// -vision plays CDF's vision segment API as it works today (on, the default) or as CDF may
// answer once it is retired: retired-404 (the path is gone), retired-410 (the endpoint was
// retired) or retired-403 (the Vision API is no longer available for the project). Only the
// two segment endpoints change; files, annotations and token inspection keep working.
//
//	go run ./cmd/cdflocal -images ./static/samples -vision retired-410
//
// -oidc also starts an OIDC provider (mockoidc, with a signing key made for this run) on a
// loopback address (-oidc-addr, default 127.0.0.1:0), so that Lasso's CDF mode can be tried
// end to end on one machine. The provider signs every browser in at once, as mockoidc's
// default user, with no form; it accepts any redirect URI and drops the scopes it does not
// know (offline_access, the cluster's user_impersonation and IDENTITY), so Lasso's default
// scopes work; its token answers give expires_in in seconds. The stand-in then accepts only
// access tokens this provider handed out (not its ID or refresh tokens), checking their
// signature, issuer, audience and expiry; -token cannot be combined with -oidc.
//
//	go run ./cmd/cdflocal -images ./static/samples -oidc
//
// It prints its base URL, e.g. "cdflocal: serving project lasso-local at http://127.0.0.1:4000",
// and with -oidc the issuer URL, client id and secret, and the environment that runs Lasso in
// CDF mode against it:
//
//	CDF_BASE_URL=http://127.0.0.1:4000
//	CDF_PROJECT=lasso-local
//	LASSO_OIDC_ISSUER=http://127.0.0.1:40123/oidc
//	LASSO_OIDC_CLIENT_ID=...
//	LASSO_OIDC_CLIENT_SECRET=...
//	LASSO_PUBLIC_URL=http://127.0.0.1:8080
//
// It stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/segment"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cdflocal:", err)
		os.Exit(1)
	}
}

// run parses args, serves the stand-in until ctx ends, then shuts it down. Environment
// variables CDFLOCAL_IMAGES, CDFLOCAL_DATA, CDFLOCAL_PROJECT and CDFLOCAL_TOKEN give flag defaults.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cdflocal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4000", "listen address (host:port; port 0 picks a free one)")
	images := fs.String("images", getenv("CDFLOCAL_IMAGES"), "folder whose files become the project's files (required)")
	data := fs.String("data", getenv("CDFLOCAL_DATA"), "folder where annotations are kept across restarts (empty: in memory)")
	project := fs.String("project", orDefault(getenv("CDFLOCAL_PROJECT"), cdflocal.DefaultProject), "project URL name")
	token := fs.String("token", getenv("CDFLOCAL_TOKEN"), "the only accepted bearer token (empty: any bearer)")
	queueDelay := fs.Duration("queue-delay", 200*time.Millisecond, "how long a segment job stays Queued")
	runDelay := fs.Duration("run-delay", 300*time.Millisecond, "the least time a segment job stays Running")
	publicURL := fs.String("public-url", "", "base of download URLs (default: from each request's Host)")
	maxJobs := fs.Int("max-jobs", cdflocal.DefaultMaxConcurrentJobs, "unfinished segment jobs allowed at once; more get 429")
	faultRate := fs.Float64("fault-rate", 0, "share of API requests (0..1) answered with an injected 429/502/503/504")
	vision := fs.String("vision", cdflocal.VisionOn, "the vision segment API: on, or retired as CDF may answer: retired-404, retired-410 or retired-403")
	withOIDC := fs.Bool("oidc", false, "also run an OIDC provider that signs everyone in, and accept only its access tokens (not with -token)")
	oidcAddr := fs.String("oidc-addr", "127.0.0.1:0", "with -oidc: the provider's loopback listen address (port 0 picks a free one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *images == "" {
		return errors.New("-images DIR is required")
	}
	mode, err := cdflocal.ParseVision(*vision)
	if err != nil {
		return fmt.Errorf("-vision: %w", err)
	}
	if *withOIDC && *token != "" {
		return errors.New("-oidc and -token (or CDFLOCAL_TOKEN) cannot be used together: with -oidc only the provider's access tokens are accepted")
	}
	if *withOIDC && !isLoopback(*oidcAddr) {
		return fmt.Errorf("-oidc-addr %s: the provider signs anybody in, so it listens only on a loopback address (e.g. 127.0.0.1:0)", *oidcAddr)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	cfg := cdflocal.Config{
		ImagesDir:         *images,
		Project:           *project,
		Token:             *token,
		QueueDelay:        *queueDelay,
		RunDelay:          *runDelay,
		Engine:            segment.New(segment.Options{}),
		PublicURL:         *publicURL,
		MaxConcurrentJobs: *maxJobs,
		DataDir:           *data,
		Vision:            mode,
	}
	if *faultRate > 0 {
		cfg.Faults = cdflocal.FaultRate(*faultRate, uint64(time.Now().UnixNano()))
	}
	var op *oidcProvider
	if *withOIDC {
		if op, err = startOIDC(*oidcAddr); err != nil {
			return fmt.Errorf("-oidc: %w", err)
		}
		defer op.shutdown()
		cfg.Authenticate = op.authenticate
	}
	srv, err := cdflocal.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	hs := &http.Server{
		Handler:           logRequests(log, srv),
		ReadHeaderTimeout: 10 * time.Second,
	}
	// One write, so that a reader who sees the base URL sees the rest too.
	var banner strings.Builder
	fmt.Fprintf(&banner, "cdflocal: serving project %s at %s (%d files from %s)\n", srv.Project(), base, len(srv.Files()), *images)
	if mode != cdflocal.VisionOn {
		fmt.Fprintf(&banner, "cdflocal: the vision segment API plays retired (%s)\n", mode)
	}
	if op != nil {
		op.describe(&banner, base, srv.Project())
	}
	io.WriteString(stdout, banner.String())

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequests logs one line per request, with the x-request-id the stand-in set.
func logRequests(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start), "request_id", w.Header().Get("x-request-id"))
	})
}

// isLoopback reports whether addr (host:port) listens only on the loopback interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// oidcProvider is the -oidc issuer: mockoidc, signing with a key made for this run (not
// mockoidc's published default key, with which anybody could sign tokens), plus what the
// stand-in needs to accept only the access tokens it handed out.
type oidcProvider struct {
	m *mockoidc.MockOIDC
	// now is the clock that token expiry is checked against (time.Now; tests move it).
	now func() time.Time

	// serve serialises the provider's requests: mockoidc keeps its sessions in a plain map.
	serve sync.Mutex

	mu     sync.Mutex
	issued map[string]time.Time // access tokens handed out → their expiry
}

// startOIDC starts the provider on addr.
func startOIDC(addr string) (*oidcProvider, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	m, err := mockoidc.NewServer(key)
	if err != nil {
		return nil, err
	}
	// KeyID fills Keypair.Kid on first use; do it now, before requests share the keypair.
	if _, err := m.Keypair.KeyID(); err != nil {
		return nil, err
	}
	p := &oidcProvider{m: m, now: time.Now, issued: map[string]time.Time{}}
	for _, mw := range []func(http.Handler) http.Handler{p.serialise, p.knownScopes, p.tokenAnswers} {
		if err := m.AddMiddleware(mw); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ln, nil); err != nil {
		ln.Close()
		return nil, err
	}
	return p, nil
}

func (p *oidcProvider) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.m.Server.Shutdown(ctx)
}

// describe writes the provider's settings and the environment that runs Lasso in CDF mode
// against the stand-in at base.
func (p *oidcProvider) describe(w io.Writer, base, project string) {
	c := p.m.Config()
	user := mockoidc.DefaultUser()
	fmt.Fprintf(w, "cdflocal: OIDC issuer: %s (signs every browser in as %s, with no form)\n", c.Issuer, user.Email)
	fmt.Fprintf(w, "cdflocal: OIDC client id: %s\n", c.ClientID)
	fmt.Fprintf(w, "cdflocal: OIDC client secret: %s\n", c.ClientSecret)
	fmt.Fprintf(w, "cdflocal: only access tokens from this issuer are accepted; run Lasso (go run ./cmd/web) in CDF mode with this environment:\n")
	for _, kv := range [][2]string{
		{"CDF_BASE_URL", base},
		{"CDF_PROJECT", project},
		{"LASSO_OIDC_ISSUER", c.Issuer},
		{"LASSO_OIDC_CLIENT_ID", c.ClientID},
		{"LASSO_OIDC_CLIENT_SECRET", c.ClientSecret},
		{"LASSO_PUBLIC_URL", "http://127.0.0.1:8080"},
	} {
		fmt.Fprintf(w, "%s=%s\n", kv[0], kv[1])
	}
}

// authenticate is the stand-in's Config.Authenticate: token must be an unexpired JWT that
// this provider signed and handed out as an access token (not an ID or refresh token, which
// mockoidc signs alike).
func (p *oidcProvider) authenticate(_ context.Context, token string) error {
	tok, err := p.m.Keypair.VerifyJWT(token, p.now) // checks the signature, exp and nbf
	if err != nil {
		return err
	}
	if alg := tok.Method.Alg(); alg != "RS256" {
		return fmt.Errorf("token signed with %s, want RS256", alg)
	}
	exp, err := tok.Claims.GetExpirationTime()
	if err != nil || exp == nil || !p.now().Before(exp.Time) {
		return errors.New("token has no expiry or has expired")
	}
	if iss, _ := tok.Claims.GetIssuer(); iss != p.m.Issuer() {
		return fmt.Errorf("token issued by %q, not by %q", iss, p.m.Issuer())
	}
	if aud, _ := tok.Claims.GetAudience(); !slices.Contains(aud, p.m.ClientID) {
		return errors.New("token is not meant for this client")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.issued[token]; !ok {
		return errors.New("not an access token this provider handed out")
	}
	return nil
}

// serialise runs one provider request at a time.
func (p *oidcProvider) serialise(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.serve.Lock()
		defer p.serve.Unlock()
		next.ServeHTTP(w, r)
	})
}

// knownScopes drops from a sign-in the scopes mockoidc refuses (offline_access and the
// cluster's user_impersonation and IDENTITY, which Lasso asks for by default), as an
// identity provider that does not know them would grant the rest. mockoidc issues a refresh
// token anyway.
func (p *oidcProvider) knownScopes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == mockoidc.AuthorizationEndpoint && r.ParseForm() == nil {
			var kept []string
			for _, s := range strings.Fields(r.Form.Get("scope")) {
				if slices.Contains(mockoidc.ScopesSupported, s) {
					kept = append(kept, s)
				}
			}
			if len(kept) > 0 { // else mockoidc names the scope it refuses
				r.Form.Set("scope", strings.Join(kept, " "))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// tokenAnswers fixes the token endpoint's expires_in, which mockoidc writes as a Go
// duration (nanoseconds) rather than seconds, so that Lasso refreshes in time; and it
// records the access tokens handed out.
func (p *oidcProvider) tokenAnswers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != mockoidc.TokenEndpoint {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var body map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			copyAnswer(w, rec, rec.Body.Bytes())
			return
		}
		ttl := p.m.AccessTTL
		body["expires_in"] = int64(ttl / time.Second)
		if at, _ := body["access_token"].(string); at != "" {
			p.record(at, p.now().Add(ttl))
		}
		b, err := json.Marshal(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		rec.Header().Del("Content-Length")
		copyAnswer(w, rec, b)
	})
}

// record remembers an access token until exp, and forgets those that have expired.
func (p *oidcProvider) record(token string, exp time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for t, e := range p.issued {
		if !now.Before(e) {
			delete(p.issued, t)
		}
	}
	p.issued[token] = exp
}

// copyAnswer sends the recorded answer rec to w with body in place of rec's.
func copyAnswer(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}
