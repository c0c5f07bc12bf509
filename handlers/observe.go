package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// requestIDHeader carries a request's id, in the answer and, from a proxy that assigned one,
// in the request.
const requestIDHeader = "X-Request-Id"

// requestIDKey is where observe keeps the request's id in the Echo context.
const requestIDKey = "lasso.requestID"

// observe gives every request an id (a proxy's X-Request-Id when it is a plain token,
// otherwise a new one), sends it back in X-Request-Id, answers errors through the error
// handler here so the final status is known, then writes one log line per request (method,
// route template, status, duration, request id) and reports the request to ObserveRequest.
// Nothing else of the request is logged: no URL, query, header or cookie, so neither ids in
// paths nor tokens reach the log.
func (s *server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		r := c.Request()
		id := r.Header.Get(requestIDHeader)
		if !plainToken(id) {
			id = newRequestID()
		}
		c.Set(requestIDKey, id)
		c.Response().Header().Set(requestIDHeader, id)
		if err := next(c); err != nil {
			c.Error(err)
		}
		status, route, d := c.Response().Status, c.Path(), time.Since(start)
		s.log.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("route", route), slog.Int("status", status),
			slog.Duration("duration", d), slog.String("request_id", id))
		if s.ObserveRequest != nil {
			s.ObserveRequest(r.Method, route, status, d)
		}
		return nil
	}
}

// requestID is the id observe gave the request ("" outside it).
func requestID(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// plainToken reports whether a proxy's request id is safe to adopt: 1 to 64 letters, digits,
// dots, dashes or underscores, so it cannot forge log lines or grow without bound.
func plainToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random hexadecimal digits.
func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// probes are answered for any Host: orchestrators and scrapers reach them by address, and
// they tell nothing about users.
var probes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// readyz answers 200 when Ready finds the server's dependencies reachable, 503 with the
// reason otherwise.
func (s *server) readyz(c echo.Context) error {
	if s.Ready != nil {
		if err := s.Ready(c.Request().Context()); err != nil {
			s.log.Warn("not ready", "err", err, "request_id", requestID(c))
			return c.String(http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
		}
	}
	return c.String(http.StatusOK, "ready\n")
}
