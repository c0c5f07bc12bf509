package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/handlers"
)

// config is everything run reads from flags and the environment.
type config struct {
	addr    string
	dataDir string
	project string

	// databaseURL selects PostgreSQL (postgres://…) instead of the SQLite file in dataDir.
	databaseURL string

	// local mode
	images             string
	queueDelay         time.Duration
	runDelay           time.Duration
	unsafeLocalSignIn  bool
	standInVision      string
	standInFaults      float64 // local mode: share of the stand-in's API requests faulted (cdflocal.SoakFaults)
	maxPixels          int64
	budget, jobTimeout time.Duration

	// the annotation writer and replicas' leases
	writeTimeout, writeBackoffMax, writeLease, jobLease time.Duration

	// segmentation
	segmentBackend string
	segmentToken   string
	segmentWorkers int
	segmentQueue   int

	// CDF mode
	cdfURL           string
	oidcIssuer       string
	oidcClientID     string
	oidcClientSecret string
	oidcScopes       []string
	providerName     string
	publicURL        string
	sessionKey       string
	secureCookies    bool

	// allowedHosts are host names the server answers besides its own (see allowedHost).
	allowedHosts []string

	// operations
	logFormat   string // text or json
	metricsAddr string // a listener of its own for /metrics; empty serves it on addr
	pprofAddr   string // a loopback listener of its own for /debug/pprof; empty: none
}

// local reports whether Lasso runs against its own stand-in.
func (c config) local() bool { return c.cdfURL == "" }

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var c config
	var scopes, hosts string
	ints, err := envInts(getenv, "LASSO_SEGMENT_WORKERS", "LASSO_SEGMENT_QUEUE")
	if err != nil {
		return c, err
	}
	fl := defineFlags(&c, &scopes, &hosts, ints, env)
	fl.SetOutput(stderr)
	if err := fl.Parse(args); err != nil {
		return c, err
	}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if strings.ContainsAny(h, "/@*?# \t") {
			return c, fmt.Errorf("-allowed-hosts: %q is not a host name; give names or addresses such as lasso.internal or 10.0.0.5:8080, without a scheme or path", h)
		}
		c.allowedHosts = append(c.allowedHosts, h)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return c, fmt.Errorf("-log-format %q: want text or json", c.logFormat)
	}
	if fl.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fl.Args())
	}
	if c.pprofAddr != "" && !isLoopback(c.pprofAddr) {
		return c, fmt.Errorf("-pprof-addr %s: profiles show the server's memory, so they are served on a loopback address only (e.g. 127.0.0.1:6060)", c.pprofAddr)
	}
	c.oidcClientSecret = getenv("LASSO_OIDC_CLIENT_SECRET")
	c.sessionKey = getenv("LASSO_SESSION_KEY")
	if err := checkDatabaseURL(c, fl); err != nil {
		return c, err
	}
	c.segmentToken = getenv("LASSO_SEGMENT_TOKEN")
	if strings.HasPrefix(c.segmentBackend, "url:") && c.segmentToken == "" {
		return c, fmt.Errorf("-segment-backend %s needs the service's token in LASSO_SEGMENT_TOKEN", c.segmentBackend)
	}
	for name, d := range map[string]time.Duration{"-job-timeout": c.jobTimeout, "-write-timeout": c.writeTimeout, "-write-backoff-max": c.writeBackoffMax, "-job-lease": c.jobLease} {
		if d <= 0 {
			return c, fmt.Errorf("%s %s: give a positive duration, e.g. 30s", name, d)
		}
	}
	if c.writeLease < 0 {
		return c, fmt.Errorf("-write-lease %s: give a positive duration, or 0 for 5 × -write-timeout", c.writeLease)
	}
	if c.segmentWorkers < 0 || c.segmentQueue < 0 {
		return c, fmt.Errorf("-segment-workers and -segment-queue must not be negative")
	}
	c.publicURL = strings.TrimRight(c.publicURL, "/")
	c.cdfURL = strings.TrimRight(c.cdfURL, "/")
	if c.standInFaults < 0 || c.standInFaults > 1 {
		return c, fmt.Errorf("-standin-faults %g: give a share of requests between 0 and 1, e.g. 0.05", c.standInFaults)
	}
	if _, err := cdflocal.ParseVision(c.standInVision); err != nil {
		return c, fmt.Errorf("-standin-vision: %w", err)
	}
	if c.local() {
		if !c.unsafeLocalSignIn && !isLoopback(c.addr) {
			return c, fmt.Errorf("CDF mode needs %s; without them Lasso runs in local mode, which signs people in by name alone and so listens only on a loopback address (e.g. 127.0.0.1:8080), not %s; for a local demo on the network pass -unsafe-local-signin-on-network (env LASSO_UNSAFE_LOCAL_SIGNIN_ON_NETWORK=true)", strings.Join(cdfSettings, ", "), c.addr)
		}
		if c.project == "" {
			c.project = "lasso-local"
		}
		c.secureCookies = env("LASSO_SECURE_COOKIES", "") == "true"
		return c, nil
	}
	var missing []string
	for name, v := range map[string]string{"CDF_PROJECT": c.project, "LASSO_OIDC_ISSUER": c.oidcIssuer,
		"LASSO_OIDC_CLIENT_ID": c.oidcClientID, "LASSO_OIDC_CLIENT_SECRET": c.oidcClientSecret, "LASSO_PUBLIC_URL": c.publicURL} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("CDF mode (CDF_BASE_URL is set) also needs %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	for _, u := range []string{c.cdfURL, c.publicURL, c.oidcIssuer} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return c, fmt.Errorf("%q is not an http(s) URL", u)
		}
	}
	c.oidcScopes = strings.Fields(scopes)
	if len(c.oidcScopes) == 0 {
		c.oidcScopes = []string{"openid", "profile", "offline_access", c.cdfURL + "/user_impersonation", c.cdfURL + "/IDENTITY"}
	}
	c.secureCookies = strings.HasPrefix(c.publicURL, "https://") || env("LASSO_SECURE_COOKIES", "") == "true"
	return c, nil
}

// defineFlags is the command line: every flag with its environment variable's value (env) as
// its default. docs/OPERATIONS.md's configuration table is rendered from it (TestOperationsDoc).
func defineFlags(c *config, scopes, hosts *string, ints []int, env func(key, def string) string) *flag.FlagSet {
	fl := flag.NewFlagSet("lasso", flag.ContinueOnError)
	fl.StringVar(&c.addr, "addr", env("LASSO_ADDR", "127.0.0.1:8080"), "listen address (env LASSO_ADDR)")
	fl.StringVar(&c.dataDir, "data", env("LASSO_DATA_DIR", defaultDataDir()), "data folder: the SQLite database and, unless LASSO_SESSION_KEY is set, the session key (env LASSO_DATA_DIR)")
	fl.StringVar(&c.databaseURL, "database-url", env("LASSO_DATABASE_URL", ""), "PostgreSQL instead of the SQLite file, for several replicas: postgres://user@host:5432/database (env LASSO_DATABASE_URL, the only place for a URL with a password; also PGPASSWORD or ~/.pgpass); needs LASSO_SESSION_KEY")
	fl.StringVar(&c.project, "project", env("CDF_PROJECT", ""), "CDF project (env CDF_PROJECT; in local mode the stand-in's project name, default lasso-local)")
	fl.StringVar(&c.images, "images", env("LASSO_IMAGES", ""), "local mode: folder of images to serve (env LASSO_IMAGES; default: the bundled samples)")
	fl.DurationVar(&c.queueDelay, "queue-delay", 150*time.Millisecond, "local mode: how long a segment job stays queued")
	fl.DurationVar(&c.runDelay, "run-delay", 0, "local mode: least time a segment job runs")
	fl.StringVar(&c.standInVision, "standin-vision", "on", "local mode: how the stand-in plays CDF's vision API: on, or retired-404, retired-410, retired-403 to try the move to Lasso's engine by hand")
	fl.Float64Var(&c.standInFaults, "standin-faults", 0, "local mode: share (0..1) of the stand-in's API requests that fail as CDF does on a bad day: 429 storms, 5xx, slow answers, dropped connections, failed job starts, expired tokens (for cmd/soak)")
	fl.BoolVar(&c.unsafeLocalSignIn, "unsafe-local-signin-on-network", env("LASSO_UNSAFE_LOCAL_SIGNIN_ON_NETWORK", "") == "true", "local mode: allow listening on a non-loopback address, where anybody who reaches it can sign in by typing a name (env LASSO_UNSAFE_LOCAL_SIGNIN_ON_NETWORK=true)")
	fl.Int64Var(&c.maxPixels, "max-pixels", 40_000_000, "largest image, in pixels, that Lasso segments")
	fl.DurationVar(&c.budget, "segment-budget", time.Second, "local engine: time budget per prompt")
	fl.DurationVar(&c.jobTimeout, "job-timeout", 60*time.Second, "a segment job that has not finished by then fails")
	fl.DurationVar(&c.writeTimeout, "write-timeout", 30*time.Second, "annotation writer: bound on each call to CDF")
	fl.DurationVar(&c.writeBackoffMax, "write-backoff-max", 30*time.Second, "annotation writer: longest wait before a failed write is tried again (the waits double from 1/128 of it)")
	fl.DurationVar(&c.writeLease, "write-lease", 0, "replicas: how long a replica's claim on a write lasts; when it dies, another replica makes the write after at most this (default: 5 × -write-timeout)")
	fl.DurationVar(&c.jobLease, "job-lease", 15*time.Second, "replicas: how long a replica's hold on the jobs it follows lasts; when it dies, another replica follows them after at most this")
	fl.StringVar(&c.segmentBackend, "segment-backend", env("LASSO_SEGMENT_BACKEND", "auto"), "what segments prompts: auto (CDF's vision API while it works, then Lasso's engine), cdf, local (Lasso's engine on CDF files), or url:<base URL> of a service with CDF's segment API, whose token is read from LASSO_SEGMENT_TOKEN (env LASSO_SEGMENT_BACKEND)")
	fl.IntVar(&c.segmentWorkers, "segment-workers", ints[0], "Lasso's engine: prompts segmented at once (env LASSO_SEGMENT_WORKERS; default: the number of CPUs)")
	fl.IntVar(&c.segmentQueue, "segment-queue", ints[1], "Lasso's engine: prompts that may wait for a worker before new ones are refused as busy (env LASSO_SEGMENT_QUEUE; default: 16 per worker)")
	fl.StringVar(&c.cdfURL, "cdf-url", env("CDF_BASE_URL", ""), "CDF mode: the cluster's base URL, e.g. https://westeurope-1.cognitedata.com (env CDF_BASE_URL)")
	fl.StringVar(&c.oidcIssuer, "oidc-issuer", env("LASSO_OIDC_ISSUER", ""), "CDF mode: the OIDC issuer URL (env LASSO_OIDC_ISSUER)")
	fl.StringVar(&c.oidcClientID, "oidc-client-id", env("LASSO_OIDC_CLIENT_ID", ""), "CDF mode: the OIDC client id (env LASSO_OIDC_CLIENT_ID); the secret is read from LASSO_OIDC_CLIENT_SECRET only")
	fl.StringVar(scopes, "oidc-scopes", env("LASSO_OIDC_SCOPES", ""), "CDF mode: space-separated scopes (env LASSO_OIDC_SCOPES; default: openid profile offline_access and the cluster's user_impersonation and IDENTITY)")
	fl.StringVar(&c.providerName, "oidc-provider-name", env("LASSO_OIDC_PROVIDER_NAME", ""), "CDF mode: the identity provider's name on the sign-in button")
	fl.StringVar(&c.publicURL, "public-url", env("LASSO_PUBLIC_URL", ""), "CDF mode: the URL users open, e.g. https://lasso.example.com; the redirect URI is <public-url>/auth/callback (env LASSO_PUBLIC_URL)")
	fl.StringVar(hosts, "allowed-hosts", env("LASSO_ALLOWED_HOSTS", ""), "comma-separated host names (or addresses, a port is ignored) that Lasso also answers for, besides loopback in local mode and the public URL's host in CDF mode, e.g. the name a proxy sends (env LASSO_ALLOWED_HOSTS)")
	fl.StringVar(&c.logFormat, "log-format", env("LASSO_LOG_FORMAT", "text"), "log format: text (key=value) or json, one object a line (env LASSO_LOG_FORMAT)")
	fl.StringVar(&c.pprofAddr, "pprof-addr", "", "serve Go's profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060, for finding where memory or time goes; empty: not served (refused on a non-loopback address)")
	fl.StringVar(&c.metricsAddr, "metrics-addr", env("LASSO_METRICS_ADDR", ""), "serve /metrics only on this address, e.g. 127.0.0.1:9090; empty serves it on -addr (env LASSO_METRICS_ADDR)")
	return fl
}

// checkDatabaseURL refuses a -database-url that is not PostgreSQL's, one with a password on
// the command line (where every user of the machine can read it), and PostgreSQL without a
// configured session key: every replica must open the sessions the others sealed.
func checkDatabaseURL(c config, fl *flag.FlagSet) error {
	if c.databaseURL == "" {
		return nil
	}
	u, err := url.Parse(c.databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("-database-url (LASSO_DATABASE_URL): want a PostgreSQL URL, postgres://user:password@host:5432/database")
	}
	fl.Visit(func(f *flag.Flag) {
		if _, has := u.User.Password(); has && f.Name == "database-url" {
			err = errors.New("-database-url holds a password, which every user of the machine can read on the command line: give the URL in LASSO_DATABASE_URL, or the password in PGPASSWORD or ~/.pgpass")
		}
	})
	if err != nil {
		return err
	}
	if c.sessionKey == "" {
		return errors.New("with PostgreSQL (-database-url), LASSO_SESSION_KEY must be set, the same on every replica: each replica opens the sessions the others sealed (make one with: openssl rand -base64 32)")
	}
	return nil
}

// envOnly are the settings read from the environment alone (secrets stay off command lines).
var envOnly = []struct{ name, usage string }{
	{"LASSO_OIDC_CLIENT_SECRET", "CDF mode: the OIDC client secret"},
	{"LASSO_SESSION_KEY", "the key that encrypts tokens at rest (replicas must share one); default: one generated into the data folder"},
	{"LASSO_SEGMENT_TOKEN", "the token of a -segment-backend url: service"},
	{"LASSO_SECURE_COOKIES", "true marks cookies Secure also when the public URL is not https (behind a TLS proxy in local mode)"},
}

// cdfSettings are the environment variables CDF mode needs.
var cdfSettings = []string{"CDF_BASE_URL", "CDF_PROJECT", "LASSO_OIDC_ISSUER", "LASSO_OIDC_CLIENT_ID", "LASSO_OIDC_CLIENT_SECRET", "LASSO_PUBLIC_URL"}

// allowedHost is the server's Host allow-list, against DNS rebinding: loopback names and
// addresses in local mode, the public URL's host in CDF mode, and -allowed-hosts in both.
func (c config) allowedHost() func(host string) bool {
	if c.local() {
		return handlers.HostAllowList(true, c.allowedHosts...)
	}
	public, _ := url.Parse(c.publicURL) // parseConfig checked it
	return handlers.HostAllowList(false, append([]string{public.Host}, c.allowedHosts...)...)
}

// envInts reads whole numbers from the environment variables keys (0 when unset).
func envInts(getenv func(string) string, keys ...string) ([]int, error) {
	out := make([]int, len(keys))
	for i, k := range keys {
		if v := getenv(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("%s=%q is not a whole number", k, v)
			}
			out[i] = n
		}
	}
	return out, nil
}

// isLoopback reports whether addr listens only on the loopback interface.
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

// defaultDataDir is the per-user configuration folder, e.g. ~/.config/lasso.
func defaultDataDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "lasso")
	}
	return filepath.Join(dir, "lasso")
}
