// Package cdf is Lasso's hand-written client for the subset of the Cognite Data Fusion (CDF)
// REST API that Lasso uses: files, vision segment jobs, annotations and token inspection.
//
// The client is modelled on google/go-github: one Client with a service per resource
// (c.Files, c.Vision, c.Annotations, c.Token), ctx first on every call, and a single typed error, *APIError,
// for every answer CDF gives with a non-2xx status.
//
// The client never sees credentials: New is handed an *http.Client that already carries
// authentication (for example an oauth2 client). Pre-signed download URLs are fetched with a
// separate plain client so the bearer token never reaches the storage host.
//
// Calls are retried with full-jitter exponential backoff on 429, 502, 503 and 504 (and on any
// status marked with the cdf-is-auto-retryable header) and on transport errors, but only when
// the call is idempotent or read-like. Starting a segment job and creating, suggesting or
// deleting annotations are retried on 429 alone, because CDF rejects a throttled request
// before doing any work; Ambiguous tells whether another failure may have taken effect.
//
// Retries happen in one layer per call. A caller that repeats calls on a schedule of its own
// (Lasso's job follower and its annotation outbox do, for as long as a job or a write may take)
// uses Client.Once, whose calls make one attempt each: a client retrying inside a caller that
// retries multiplies the requests CDF gets while it throttles.
package cdf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Version is the version of this client, sent as x-cdp-sdk: lasso-go:<Version>.
const Version = "0.1.0"

// Defaults of the client's configuration.
const (
	DefaultAppName          = "lasso"
	DefaultMaxResponseBytes = 32 << 20  // JSON and icon bodies
	DefaultMaxDownloadBytes = 256 << 20 // file contents fetched through Download
)

// Client talks to one CDF project. Create it with New; it is safe for concurrent use.
type Client struct {
	base     string // cluster root without a trailing slash, e.g. https://api.cognitedata.com
	project  string
	hc       *http.Client
	download *http.Client

	appName          string
	maxResponseBytes int64
	maxDownloadBytes int64
	retry            RetryPolicy
	sleep            func(ctx context.Context, d time.Duration) error
	jitter           func(max time.Duration) time.Duration
	observe          func(Attempt)

	// Files is the Files API (/files/...).
	Files *FilesService
	// Vision is the Vision API's segment endpoints (/context/vision/segment...).
	Vision *VisionService
	// Annotations is the Annotations API (/annotations/...).
	Annotations *AnnotationsService
	// Token is the token inspection endpoint (/api/v1/token/inspect).
	Token *TokenService
}

// RetryPolicy configures retries: full-jitter exponential backoff, where the wait before
// retry n (n = 0, 1, ...) is uniform in [0, min(Cap, Base·2^(n+1))).
type RetryPolicy struct {
	MaxAttempts int           // attempts in total, including the first (default 5; 1 disables retries)
	Base        time.Duration // default 250 ms
	Cap         time.Duration // default 15 s
	// MaxRetryAfter bounds how long a Retry-After header may make the client wait
	// (default 60 s). CDF does not send Retry-After; other servers in front of it may.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy is the policy a Client uses unless WithRetryPolicy says otherwise.
// It mirrors the official JS SDK: 5 attempts, base 250 ms, cap 15 s.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 5, Base: 250 * time.Millisecond, Cap: 15 * time.Second, MaxRetryAfter: 60 * time.Second}

// Option configures a Client in New.
type Option func(*Client)

// WithAppName sets the x-cdp-app header (default "lasso").
func WithAppName(name string) Option { return func(c *Client) { c.appName = name } }

// WithDownloadClient sets the plain client used to fetch pre-signed download URLs. It must
// not carry CDF credentials. The default has no auth and a 10 minute timeout.
func WithDownloadClient(hc *http.Client) Option { return func(c *Client) { c.download = hc } }

// WithMaxResponseBytes bounds the size of JSON and icon responses (default 32 MiB).
func WithMaxResponseBytes(n int64) Option { return func(c *Client) { c.maxResponseBytes = n } }

// WithMaxDownloadBytes bounds the size of a file fetched with Files.Download (default 256 MiB).
func WithMaxDownloadBytes(n int64) Option { return func(c *Client) { c.maxDownloadBytes = n } }

// WithRetryPolicy replaces the retry policy; zero fields take the defaults.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// Attempt describes one HTTP attempt of a call, as reported to an observer (WithObserver).
type Attempt struct {
	// Op names the call as the client's error messages do, e.g. "list files" or "start
	// segment job": a fixed phrase, never an id, so it is safe as a metrics label.
	Op     string
	Method string
	// Status is the HTTP status CDF answered with; 0 when no answer came (a transport error,
	// a timeout, a cancelled context).
	Status int
	// Retry is set on every attempt but a call's first.
	Retry bool
	// Duration is how long the attempt took, up to its response's headers and body.
	Duration time.Duration
}

// WithObserver has the client report every attempt it makes, including retries and 429s, to
// observe (for metrics). observe runs on the calling goroutine and must be quick.
func WithObserver(observe func(Attempt)) Option { return func(c *Client) { c.observe = observe } }

// report hands one attempt to the observer, if there is one.
func (c *Client) report(op, method string, attempt int, start time.Time, err error) {
	if c.observe == nil {
		return
	}
	status := http.StatusOK
	if err != nil {
		status = 0
		if ae := (*APIError)(nil); errors.As(err, &ae) {
			status = ae.Status
		}
	}
	c.observe(Attempt{Op: op, Method: method, Status: status, Retry: attempt > 0, Duration: time.Since(start)})
}

// WithSleep replaces the function that waits between attempts (for tests). It must return
// ctx.Err() when ctx ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// WithJitter replaces the random draw of the backoff (for tests): given the upper bound of
// the current backoff window it returns the wait, normally uniform in [0, max).
func WithJitter(jitter func(max time.Duration) time.Duration) Option {
	return func(c *Client) { c.jitter = jitter }
}

// New returns a client for project on the CDF cluster at baseURL (for example
// "https://api.cognitedata.com", or a stand-in's URL). hc must already authenticate its
// requests; nil means http.DefaultClient, which sends no credentials at all.
func New(baseURL, project string, hc *http.Client, opts ...Option) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{
		base:             strings.TrimRight(baseURL, "/"),
		project:          project,
		hc:               hc,
		appName:          DefaultAppName,
		maxResponseBytes: DefaultMaxResponseBytes,
		maxDownloadBytes: DefaultMaxDownloadBytes,
		retry:            DefaultRetryPolicy,
		sleep:            sleepCtx,
		jitter:           uniformJitter,
	}
	for _, o := range opts {
		o(c)
	}
	if c.download == nil {
		c.download = &http.Client{Timeout: 10 * time.Minute}
	}
	d := DefaultRetryPolicy
	if c.retry.MaxAttempts <= 0 {
		c.retry.MaxAttempts = d.MaxAttempts
	}
	if c.retry.Base <= 0 {
		c.retry.Base = d.Base
	}
	if c.retry.Cap <= 0 {
		c.retry.Cap = d.Cap
	}
	if c.retry.MaxRetryAfter <= 0 {
		c.retry.MaxRetryAfter = d.MaxRetryAfter
	}
	c.services()
	return c
}

// services points the client's services at it.
func (c *Client) services() {
	c.Files = &FilesService{c: c}
	c.Vision = &VisionService{c: c}
	c.Annotations = &AnnotationsService{c: c}
	c.Token = &TokenService{c: c}
}

// Once returns a client like c whose calls each make a single attempt: for a caller that
// retries on its own schedule, and knows better than c how long to go on (see the package
// documentation). Failures are reported as by c, Ambiguous included.
func (c *Client) Once() *Client {
	o := *c
	o.retry.MaxAttempts = 1
	o.services()
	return &o
}

// Project returns the project the client talks to.
func (c *Client) Project() string { return c.project }

// BaseURL returns the cluster URL the client was created with, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func uniformJitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(max)))
}

// retryMode says when a call may be repeated.
type retryMode int

const (
	// retryIdempotent: GET and read-like POSTs; retried on 429/502/503/504, on
	// cdf-is-auto-retryable and on transport errors.
	retryIdempotent retryMode = iota
	// retryThrottledOnly: calls with side effects; retried on 429 only.
	retryThrottledOnly
)

// call describes one API request.
type call struct {
	op     string // for error messages, e.g. "list files"
	method string
	url    string
	body   any // marshalled to JSON when non-nil
	header http.Header
	mode   retryMode
	accept string
}

// projectURL returns the absolute URL of a project-scoped path such as "/files/list".
func (c *Client) projectURL(path string) string {
	return c.base + "/api/v1/projects/" + url.PathEscape(c.project) + path
}

// do performs a JSON call and decodes a 2xx body into out (when out is non-nil).
func (c *Client) do(ctx context.Context, k call, out any) error {
	body, _, err := c.doRaw(ctx, k, c.maxResponseBytes)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("cdf: %s: decode response: %w", k.op, err)
	}
	return nil
}

// doRaw performs a call with retries and returns the body of a 2xx response (at most limit
// bytes) and its headers.
func (c *Client) doRaw(ctx context.Context, k call, limit int64) ([]byte, http.Header, error) {
	var payload []byte
	if k.body != nil {
		var err error
		if payload, err = json.Marshal(k.body); err != nil {
			return nil, nil, &notSentError{fmt.Errorf("cdf: %s: encode request: %w", k.op, err)}
		}
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.sleep(ctx, c.backoff(attempt-1, lastErr)); err != nil {
				// Both are wrapped: callers see the cancellation and, through Ambiguous or
				// StatusCode, what the last attempt got.
				return nil, nil, fmt.Errorf("cdf: %s: %w (last error: %w)", k.op, err, lastErr)
			}
		}
		start := time.Now()
		body, hdr, err := c.once(ctx, k, payload, limit)
		c.report(k.op, k.method, attempt, start, err)
		if err == nil {
			return body, hdr, nil
		}
		lastErr = err
		if attempt+1 >= c.retry.MaxAttempts || !retryable(k.mode, err) || ctx.Err() != nil {
			return nil, nil, err
		}
	}
}

// once sends one attempt.
func (c *Client) once(ctx context.Context, k call, payload []byte, limit int64) ([]byte, http.Header, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, k.url, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("cdf: %s: %w", k.op, err)
	}
	for key, vs := range k.header {
		req.Header[key] = vs
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if k.accept != "" {
		req.Header.Set("Accept", k.accept)
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if c.appName != "" {
		req.Header.Set("x-cdp-app", c.appName)
	}
	req.Header.Set("x-cdp-sdk", "lasso-go:"+Version)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, &transportError{op: k.op, err: err}
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, limit)
	if err != nil {
		if resp.StatusCode/100 == 2 {
			if errors.Is(err, ErrResponseTooLarge) {
				return nil, nil, fmt.Errorf("cdf: %s: %w", k.op, err)
			}
			return nil, nil, &transportError{op: k.op, err: err}
		}
		// An error body that could not be read in full still tells the status.
	}
	if resp.StatusCode/100 != 2 {
		return nil, nil, newAPIError(k.op, k.method, req.URL.Path, resp, body)
	}
	return body, resp.Header, nil
}

// readCapped reads r up to limit bytes; a longer body gives ErrResponseTooLarge.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("%w (limit %d bytes)", ErrResponseTooLarge, limit)
	}
	return b, nil
}

// backoff returns the wait before retry n, after lastErr.
func (c *Client) backoff(n int, lastErr error) time.Duration {
	var ae *APIError
	if errors.As(lastErr, &ae) && ae.RetryAfter > 0 {
		return min(ae.RetryAfter, c.retry.MaxRetryAfter)
	}
	window := c.retry.Cap
	if n < 40 {
		window = min(c.retry.Cap, c.retry.Base<<(n+1))
	}
	return c.jitter(window)
}

// retryable reports whether an attempt that failed with err may be repeated.
func retryable(mode retryMode, err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusTooManyRequests {
			return true
		}
		if mode != retryIdempotent {
			return false
		}
		switch ae.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return ae.AutoRetryable
	}
	var te *transportError
	if errors.As(err, &te) {
		return mode == retryIdempotent && !errors.Is(te.err, context.Canceled) && !errors.Is(te.err, context.DeadlineExceeded)
	}
	return false
}

// transportError is a failure to get a response at all.
type transportError struct {
	op  string
	err error
}

func (e *transportError) Error() string { return fmt.Sprintf("cdf: %s: %v", e.op, e.err) }
func (e *transportError) Unwrap() error { return e.err }

// parseRetryAfter reads a Retry-After header given in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
