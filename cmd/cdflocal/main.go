// Command cdflocal runs Lasso's CDF stand-in (package cdf/cdflocal) on its own: the Files,
// vision segment, annotations and token-inspect endpoints of Cognite Data Fusion over a
// folder of images.
//
//	go run ./cmd/cdflocal -images ./static/samples -data ./cdflocal-data -addr 127.0.0.1:4000
//
// With -data the annotations are kept in that folder across restarts; without it they live in
// memory.
//
// It prints its base URL, e.g. "cdflocal: serving project lasso-local at http://127.0.0.1:4000",
// and stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *images == "" {
		return errors.New("-images DIR is required")
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
	}
	if *faultRate > 0 {
		cfg.Faults = cdflocal.FaultRate(*faultRate, uint64(time.Now().UnixNano()))
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
	fmt.Fprintf(stdout, "cdflocal: serving project %s at %s (%d files from %s)\n", srv.Project(), base, len(srv.Files()), *images)

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
