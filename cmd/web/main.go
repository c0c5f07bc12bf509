// Command web runs Lasso.
//
// With no CDF settings it starts in local mode: an in-process CDF stand-in on a loopback port
// serving the bundled sample images (or -images DIR), with the local segmentation engine behind
// its segment endpoint, and a sign-in by display name. With CDF_BASE_URL, CDF_PROJECT and the
// OIDC settings it runs against a real CDF project, every user signed in with the
// organisation's identity provider.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/auth"
	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/handlers"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/metrics"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/static"
	"github.com/lassoteam/lasso/static/samples"
	"github.com/lassoteam/lasso/store"
	"github.com/lassoteam/lasso/vision"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lasso:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.logFormat, stderr)
	m := metrics.New()
	observe := cdf.WithObserver(m.ObserveCDF)

	if err := privateDataDir(cfg.dataDir, log); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := sessionKey(cfg, log)
	if err != nil {
		return err
	}
	authCfg := auth.Config{
		Sessions:      st.Sessions(),
		PendingLogins: st.PendingLogins(),
		Key:           key,
		SecureCookie:  cfg.secureCookies,
	}

	// One engine serves the stand-in and the in-process backend, so they share its image cache.
	engine := m.TimeEngine(segment.New(segment.Options{MaxPixels: cfg.maxPixels, Budget: cfg.budget}))
	var (
		cdfURL  = cfg.cdfURL
		mode    string
		clients func(context.Context, handlers.User) (*cdf.Client, error)
		authMgr *auth.Manager
	)
	if cfg.local() {
		mode = "local"
		standIn, err := startStandIn(ctx, cfg, engine)
		if err != nil {
			return err
		}
		defer standIn.close()
		cdfURL = standIn.url
		// Every local user acts through the stand-in's secret, which nobody else holds.
		client := cdf.New(standIn.url, cfg.project, oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: standIn.token})), observe)
		clients = func(context.Context, handlers.User) (*cdf.Client, error) { return client, nil }
		if authMgr, err = auth.New(ctx, authCfg); err != nil {
			return err
		}
	} else {
		mode = "cdf"
		authCfg.OIDC = &auth.OIDCConfig{
			Issuer:                cfg.oidcIssuer,
			ClientID:              cfg.oidcClientID,
			ClientSecret:          cfg.oidcClientSecret,
			Scopes:                cfg.oidcScopes,
			RedirectURL:           cfg.publicURL + "/auth/callback",
			PostLogoutRedirectURL: cfg.publicURL + "/",
		}
		if authMgr, err = auth.New(ctx, authCfg); err != nil {
			return fmt.Errorf("sign-in with %s: %w", cfg.oidcIssuer, err)
		}
		// Each user's CDF client carries that user's own token, refreshed from their session.
		clients = func(_ context.Context, u handlers.User) (*cdf.Client, error) {
			return cdf.New(cfg.cdfURL, cfg.project, authMgr.Client(u.SessionID, nil), observe), nil
		}
	}

	segmenters, closeSegmenters, err := startSegmenters(ctx, cfg, engine, cdfURL, st.Settings(), log, observe)
	if err != nil {
		return err
	}
	defer closeSegmenters()

	events := newHub(ctx, st)
	// Room objects' job events are stored with the object before they reach the room.
	jobOpts := jobs.Options{Deadline: cfg.jobTimeout}
	if cfg.local() {
		// The stand-in answers on loopback in microseconds and a local job takes a few hundred
		// milliseconds: look more often early on, so a result is drawn soon after it exists.
		jobOpts.FirstPoll, jobOpts.Backoff = 50*time.Millisecond, 1.25
		// A look at the stand-in on loopback costs it well under a millisecond: trade less lag
		// for more looks than against a real cluster.
		jobOpts.PollCost = 10 * time.Millisecond
		// The stand-in segments on this machine's cores, every job at once: one user's jobs in
		// flight must leave the others a core, or a flood slows everybody down.
		jobOpts.UserJobs = max(1, runtime.NumCPU()/2)
	}
	m.Hub(events.Stats)
	m.Outbox(st.OutboxBacklog, 2*time.Second)
	var following *rooms.Following // the jobs this replica follows, when there are several
	if cfg.databaseURL != "" {
		following = rooms.NewFollowing()
	}
	manager := jobs.New(m.Jobs(rooms.JobPublisher{Store: st.Rooms(), Hub: events, Following: following}), jobOpts)
	defer manager.Close()
	// Accepted objects go to CDF as annotations through the store's outbox, with the session of
	// whoever accepted them; what was pending when the server stopped is delivered now. The
	// outbox repeats failed writes itself, so each call makes one attempt (cdf.Client.Once).
	writeOpts := rooms.WriterOptions{
		Notify:  handlers.PublishSaves(events),
		Timeout: cfg.writeTimeout,
		Backoff: func(n int) time.Duration { return min(cfg.writeBackoffMax/128<<min(n, 10), cfg.writeBackoffMax) },
		Lease:   cfg.writeLease,
	}
	teamCfg := rooms.Config{Store: st.Rooms(), Publisher: events, Jobs: manager}
	if cfg.databaseURL != "" {
		// Replicas share the outbox: each claims the writes it makes under a name of its own.
		writeOpts.Owner = rooms.NewOwner()
		// And who is in each room: connections, "next image" reservations, soft locks.
		teamCfg.Presence, teamCfg.Replica = st.Presence(), writeOpts.Owner
	}
	writer := rooms.NewWriter(st.Outbox(), func(ctx context.Context, sessionID string) (rooms.AnnotationsAPI, error) {
		c, err := clients(ctx, handlers.User{SessionID: sessionID})
		if err != nil {
			return nil, err
		}
		return c.Once().Annotations, nil
	}, writeOpts)
	teamCfg.Writer = writer
	teams := rooms.New(teamCfg)
	if teamCfg.Presence != nil {
		go teams.KeepPresence(ctx, func(err error) { log.Warn("keep room presence", "err", err) })
	}
	// The writer stops before the store closes (defers run last first), so that the answer to a
	// write under way is recorded.
	writerCtx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		writer.Run(writerCtx, time.Second)
	}()
	defer func() {
		stopWriter()
		<-writerDone
	}()
	// Jobs that were running when the server stopped are followed with their author's session
	// (segment calls make one attempt each, as for new prompts: see server.segmenter).
	apiFor := func(ctx context.Context, sessionID string) (jobs.SegmentAPI, error) {
		c, err := clients(ctx, handlers.User{SessionID: sessionID})
		if err != nil {
			return nil, err
		}
		return segmenters.For(sessionID, c.Once().Vision, c.Files), nil
	}
	if following != nil {
		// Replicas: each follows the jobs it started, under a lease, and takes up those of a
		// replica that died (its own of before a restart among them) once their leases end.
		go teams.KeepJobs(ctx, writer.Owner(), cfg.jobLease, following, apiFor, func(err error) { log.Warn("keep room jobs", "err", err) })
	} else if err := teams.Resume(ctx, apiFor); err != nil {
		log.Warn("resume room jobs", "err", err)
	}

	hcfg := handlers.Config{
		Log:           log,
		Mode:          mode,
		Project:       cfg.project,
		Auth:          authMgr,
		LocalSignIn:   cfg.local(),
		ProviderName:  cfg.providerName,
		Clients:       clients,
		Jobs:          manager,
		Hub:           events,
		Rooms:         teams,
		Writer:        writer,
		Segmenters:    segmenters,
		Static:        static.FS,
		MaxPixels:     cfg.maxPixels,
		SecureCookies: cfg.secureCookies,
		AllowedHost:   cfg.allowedHost(),
		// In a room, the image's CDF annotations leave out those the room shows as its objects.
		AnnotationIDsOf: teams.AnnotationIDs,
		ObserveRequest:  m.ObserveRequest,
		Ready:           readiness(st, cfg),
	}
	if cfg.metricsAddr == "" {
		hcfg.Metrics = m.Handler()
	}
	app := handlers.New(hcfg)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{
		Handler:           app,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Shutdown stops accepting, then the hub closes every room's sockets with 1012 (service
	// restart), so browsers reconnect to whichever server answers next.
	srv.RegisterOnShutdown(events.Close)
	if cfg.metricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.metricsAddr, m.Handler(), log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics()
	}
	if cfg.pprofAddr != "" {
		stopPprof, err := servePprof(cfg.pprofAddr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopPprof()
	}
	fmt.Fprintf(stdout, "Lasso is running in %s mode at http://%s\n", mode, ln.Addr())
	log.Info("started", "mode", mode, "addr", ln.Addr().String(), "project", cfg.project, "data", cfg.dataDir)

	go sweepSessions(ctx, authMgr, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// startSegmenters starts the deployment's segment backend (cfg.segmentBackend): CDF's vision
// API at cdfURL, the in-process engine on CDF files, a url: service, or auto. The returned
// func stops the engine's workers.
func startSegmenters(ctx context.Context, cfg config, engine vision.Engine, cdfURL string, settings store.Settings, log *slog.Logger, opts ...cdf.Option) (*vision.Service, func(), error) {
	kind, base, err := vision.ParseKind(cfg.segmentBackend)
	if err != nil {
		return nil, nil, err
	}
	vc := vision.Config{
		Kind:     kind,
		Settings: settings,
		OnChange: func(retired bool, reason string) {
			if retired {
				log.Warn("CDF's vision API answers that it is gone: prompts now run on Lasso's engine", "answer", reason)
			} else {
				log.Info("CDF's vision API works again: prompts go to it")
			}
		},
	}
	closeFn := func() {}
	if kind == vision.KindAuto || kind == vision.KindLocal {
		vc.Local = vision.NewLocal(engine, vision.LocalOptions{
			Scope: cdfURL + "/" + cfg.project, Workers: cfg.segmentWorkers, Queue: cfg.segmentQueue,
		})
		closeFn = vc.Local.Close
	}
	if kind == vision.KindURL {
		// The service gets its own credential; users' tokens never leave for it.
		hc := oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: cfg.segmentToken}))
		vc.Remote = cdf.New(base, cfg.project, hc, opts...).Once().Vision
	}
	s, err := vision.New(ctx, vc)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	if retired, reason := s.Retired(); retired {
		log.Info("CDF's vision API was found gone earlier: prompts run on Lasso's engine", "answer", reason)
	}
	return s, closeFn, nil
}

// database is the store with what operations read of it; both backends have it.
type database interface {
	store.Store
	Ping(ctx context.Context) error
	OutboxBacklog(ctx context.Context) (int, time.Time, error)
}

// openStore opens PostgreSQL when cfg names a database URL, else the SQLite file in the data
// folder.
func openStore(ctx context.Context, cfg config) (database, error) {
	if cfg.databaseURL != "" {
		return store.OpenPostgres(ctx, cfg.databaseURL)
	}
	return store.OpenSQLite(ctx, filepath.Join(cfg.dataDir, "lasso.db"))
}

// privateDataDir creates the data folder for the server's user alone (0700), and makes an
// existing one so where it may: it holds the session key and the database with everyone's
// sessions.
func privateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		// Someone else's folder (a mounted volume) may not be ours to change; the database
		// files in it are private (0600) either way.
		if err := os.Chmod(dir, perm&^0o077); err != nil {
			log.Warn("the data folder is open to other users and cannot be made private", "folder", dir, "mode", perm.String(), "err", err)
			return nil
		}
		log.Warn("the data folder was open to other users; it is private now", "folder", dir, "was", perm.String(), "now", (perm &^ 0o077).String())
	}
	return nil
}

// sessionKey is the key that encrypts tokens at rest: LASSO_SESSION_KEY, or one generated into
// the data folder (enough for a single server; replicas must share a configured key).
func sessionKey(cfg config, log *slog.Logger) (*auth.Key, error) {
	if cfg.sessionKey != "" {
		return auth.ParseKey(cfg.sessionKey)
	}
	if !cfg.local() {
		log.Warn("LASSO_SESSION_KEY is not set: using a key generated into the data folder; replicas must share one key")
	}
	return auth.LoadOrCreateKeyFile(filepath.Join(cfg.dataDir, "session.key"))
}

// sweepSessions removes expired login sessions and sign-ins every hour.
func sweepSessions(ctx context.Context, m *auth.Manager, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Sweep(ctx); err != nil {
				log.Warn("sweep sessions", "err", err)
			}
		}
	}
}

// standIn is the CDF stand-in of local mode, served on a loopback port.
type standIn struct {
	url, token string
	close      func()
}

func startStandIn(ctx context.Context, cfg config, engine cdflocal.Segmenter) (*standIn, error) {
	images, cleanup, err := imageFolder(cfg.images)
	if err != nil {
		return nil, err
	}
	token, err := randomToken()
	if err != nil {
		cleanup()
		return nil, err
	}
	server, err := cdflocal.New(cdflocal.Config{
		ImagesDir:  images,
		Project:    cfg.project,
		Token:      token,
		QueueDelay: cfg.queueDelay,
		RunDelay:   cfg.runDelay,
		Engine:     engine,
		Vision:     cfg.standInVision,
		Faults:     standInFaults(cfg.standInFaults),
		// Icons follow -max-pixels too, and with it the decode budget it implies.
		MaxImagePixels: cfg.maxPixels,
		// The stand-in's annotations live beside Lasso's own data, so local mode keeps them.
		DataDir: filepath.Join(cfg.dataDir, "cdflocal"),
	})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("start the CDF stand-in: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		server.Close()
		cleanup()
		return nil, fmt.Errorf("listen for the CDF stand-in: %w", err)
	}
	srv := &http.Server{Handler: server, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return &standIn{
		url:   "http://" + ln.Addr().String(),
		token: token,
		close: func() {
			srv.Close()
			server.Close() // stops the stand-in's job goroutines
			cleanup()
		},
	}, nil
}

// standInFaults is the stand-in's fault injection for -standin-faults: none at 0.
func standInFaults(rate float64) func(*http.Request) *cdflocal.Fault {
	if rate <= 0 {
		return nil
	}
	return cdflocal.SoakFaults(rate, uint64(time.Now().UnixNano()))
}

// imageFolder is the stand-in's image folder: the one given, or a temporary copy of the
// bundled samples that cleanup removes.
func imageFolder(dir string) (folder string, cleanup func(), err error) {
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return "", nil, fmt.Errorf("image folder: %w", err)
		}
		if !st.IsDir() {
			return "", nil, fmt.Errorf("image folder: %s is not a folder", dir)
		}
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "lasso-samples-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	if err := os.CopyFS(tmp, samples.FS); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("unpack the sample images: %w", err)
	}
	return tmp, cleanup, nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
