// Command web runs Lasso. With no CDF settings it starts in local mode: an in-process CDF
// stand-in on a loopback port serving the bundled sample images (or -images DIR), with the
// local segmentation engine behind its segment endpoint.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/handlers"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/static"
	"github.com/lassoteam/lasso/static/samples"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lasso:", err)
		os.Exit(1)
	}
}

// config is everything run reads from flags and the environment.
type config struct {
	addr       string
	images     string
	project    string
	queueDelay time.Duration
	runDelay   time.Duration
	maxPixels  int64
	budget     time.Duration
	jobTimeout time.Duration
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var c config
	fl := flag.NewFlagSet("lasso", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&c.addr, "addr", env("LASSO_ADDR", "127.0.0.1:8080"), "listen address (env LASSO_ADDR)")
	fl.StringVar(&c.images, "images", env("LASSO_IMAGES", ""), "local mode: folder of images to serve (env LASSO_IMAGES; default: the bundled samples)")
	fl.StringVar(&c.project, "project", env("LASSO_PROJECT", "lasso-local"), "local mode: the stand-in's project name")
	fl.DurationVar(&c.queueDelay, "queue-delay", 150*time.Millisecond, "local mode: how long a segment job stays queued")
	fl.DurationVar(&c.runDelay, "run-delay", 0, "local mode: least time a segment job runs")
	fl.Int64Var(&c.maxPixels, "max-pixels", 40_000_000, "largest image, in pixels, that Lasso segments")
	fl.DurationVar(&c.budget, "segment-budget", time.Second, "local engine: time budget per prompt")
	fl.DurationVar(&c.jobTimeout, "job-timeout", 60*time.Second, "a segment job that has not finished by then fails")
	if err := fl.Parse(args); err != nil {
		return c, err
	}
	if fl.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fl.Args())
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	images, cleanup, err := imageFolder(cfg.images)
	if err != nil {
		return err
	}
	defer cleanup()
	engine := segment.New(segment.Options{MaxPixels: cfg.maxPixels, Budget: cfg.budget})
	token, err := randomToken()
	if err != nil {
		return err
	}
	standIn, err := cdflocal.New(cdflocal.Config{
		ImagesDir:  images,
		Project:    cfg.project,
		Token:      token,
		QueueDelay: cfg.queueDelay,
		RunDelay:   cfg.runDelay,
		Engine:     engine,
	})
	if err != nil {
		return fmt.Errorf("start the CDF stand-in: %w", err)
	}
	defer standIn.Close() // stops the stand-in's job goroutines
	standInURL, stopStandIn, err := serveLoopback(standIn)
	if err != nil {
		return err
	}
	defer stopStandIn()

	// Local mode has one user, whose token is the stand-in's secret.
	hc := oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"}))
	client := cdf.New(standInURL, cfg.project, hc)

	events := hub.New(hub.Options{})
	manager := jobs.New(events, jobs.Options{Deadline: cfg.jobTimeout})
	defer manager.Close()

	app := handlers.New(handlers.Config{
		Log:       log,
		Mode:      "local",
		Project:   cfg.project,
		Users:     handlers.LocalUser{ID: "local", Name: "Local user"},
		Clients:   func(context.Context, handlers.User) (*cdf.Client, error) { return client, nil },
		Jobs:      manager,
		Hub:       events,
		Static:    static.FS,
		MaxPixels: cfg.maxPixels,
	})

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{
		Handler:           app,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	fmt.Fprintf(stdout, "Lasso is running in local mode at http://%s\n", ln.Addr())
	log.Info("started", "mode", "local", "addr", ln.Addr().String(), "images", describeImages(cfg.images), "project", cfg.project)

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

func describeImages(dir string) string {
	if dir == "" {
		return "bundled samples"
	}
	return dir
}

// serveLoopback serves h on a free loopback port and returns its base URL.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen for the CDF stand-in: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
