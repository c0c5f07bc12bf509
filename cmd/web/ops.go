package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

// newLogger returns the server's logger: key=value text or one JSON object a line.
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// pinger is what readiness needs of the store.
type pinger interface {
	Ping(ctx context.Context) error
}

// readiness is /readyz's check: the database answers within 2 s (its migrations ran when it
// was opened, before the server listens), and in CDF mode the cluster answers an
// unauthenticated GET of its base URL, looked at most every 10 s.
func readiness(db pinger, cfg config) func(context.Context) error {
	var cdfCheck func(context.Context) error
	if !cfg.local() {
		cdfCheck = reachable(cfg.cdfURL, &http.Client{Timeout: 3 * time.Second}, 10*time.Second, time.Now)
	}
	return func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := db.Ping(pctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		if cdfCheck != nil {
			return cdfCheck(ctx)
		}
		return nil
	}
}

// reachable returns a check that GETs url without credentials and caches the outcome for ttl:
// any HTTP answer (even 401 or 404) means the cluster is reachable; no answer means not.
func reachable(url string, hc *http.Client, ttl time.Duration, now func() time.Time) func(context.Context) error {
	var (
		mu      sync.Mutex
		checked time.Time
		last    error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !checked.IsZero() && now().Sub(checked) < ttl {
			return last
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err == nil {
			var res *http.Response
			if res, err = hc.Do(req); err == nil {
				io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) //nolint:errcheck // drained for reuse
				res.Body.Close()
			}
		}
		last = nil
		if err != nil {
			last = fmt.Errorf("CDF at %s is not reachable: %w", url, err)
		}
		checked = now()
		return last
	}
}

// serveMetrics serves /metrics alone on addr; the returned func stops it.
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return serveAlone("metrics", addr, mux, log)
}

// servePprof serves Go's runtime profiles alone on addr (a loopback address: parseConfig
// refuses others); the returned func stops it.
func servePprof(addr string, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return serveAlone("pprof", addr, mux, log)
}

// serveAlone serves h on a listener of its own on addr; the returned func stops it.
func serveAlone(name, addr string, h http.Handler, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for %s on %s: %w", name, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+" listener", "err", err)
		}
	}()
	log.Info(name, "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
