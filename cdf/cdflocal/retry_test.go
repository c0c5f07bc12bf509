package cdflocal_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
)

func TestRetries(t *testing.T) {
	ctx := context.Background()
	list := func(e *env) error {
		_, err := e.c.Files.List(ctx, cdf.FileFilter{}, cdf.ListOptions{})
		return err
	}
	startSeg := func(e *env) error {
		_, err := e.c.Vision.StartSegment(ctx, cdf.SegmentRequest{Items: []cdf.FileReference{{FileExternalID: "wide.png"}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}})
		return err
	}
	getJob := func(e *env) error {
		_, err := e.c.Vision.SegmentJob(ctx, 1)
		return err
	}
	byIDs := func(e *env) error {
		_, err := e.c.Files.ByIDs(ctx, []cdf.Identifier{{ExternalID: "wide.png"}}, false)
		return err
	}
	inspect := func(e *env) error {
		_, err := e.c.Token.Inspect(ctx)
		return err
	}
	ms := time.Millisecond
	tests := []struct {
		name       string
		faults     func(*http.Request) *cdflocal.Fault
		call       func(*env) error
		wantStatus int // 0: success
		attempts   int64
		sleeps     []time.Duration
	}{
		{"429 then success", cdflocal.FaultSequence(429), list, 0, 2, []time.Duration{500 * ms}},
		{"502, 503, 504 then success", cdflocal.FaultSequence(502, 503, 504), byIDs, 0, 4, []time.Duration{500 * ms, 1000 * ms, 2000 * ms}},
		{"token inspect retried", cdflocal.FaultSequence(503), inspect, 0, 2, []time.Duration{500 * ms}},
		{"500 is not retried", cdflocal.FaultSequence(500), list, 500, 1, nil},
		{"500 auto-retryable is retried", func() func(*http.Request) *cdflocal.Fault {
			n := 0
			return func(*http.Request) *cdflocal.Fault {
				if n++; n == 1 {
					return &cdflocal.Fault{Status: 500, AutoRetryable: true}
				}
				return nil
			}
		}(), list, 0, 2, []time.Duration{500 * ms}},
		{"exhausted retries give the last APIError", cdflocal.FaultSequence(503, 503, 503, 503, 503, 503), list, 503, 5,
			[]time.Duration{500 * ms, 1000 * ms, 2000 * ms, 4000 * ms}},
		{"segment start: 503 not retried", cdflocal.FaultSequence(503), startSeg, 503, 1, nil},
		{"segment start: 502 not retried", cdflocal.FaultSequence(502), startSeg, 502, 1, nil},
		{"segment start: 429 retried", cdflocal.FaultSequence(429, 429), startSeg, 0, 3, []time.Duration{500 * ms, 1000 * ms}},
		{"segment job GET: 503 retried", cdflocal.FaultSequence(503), getJob, 400, 2, []time.Duration{500 * ms}}, // job 1 is unknown: 400 after the retry
		{"400 is not retried", nil, getJob, 400, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.Faults = tt.faults }})
			err := tt.call(e)
			if tt.wantStatus == 0 {
				must(t, err)
			} else {
				ae := apiError(t, err, tt.wantStatus)
				if tt.wantStatus >= 500 && ae.Message == "" {
					t.Error("injected fault without a message")
				}
			}
			if n := e.requests.Load(); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			if diff := cmp.Diff(tt.sleeps, e.sleeps); diff != "" {
				t.Errorf("backoff waits (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("backoff is capped", func(t *testing.T) {
		e := setup(t, setupOpts{
			cfg:  func(c *cdflocal.Config) { c.Faults = cdflocal.FaultSequence(429, 429, 429, 429, 429, 429, 429, 429) },
			opts: []cdf.Option{cdf.WithRetryPolicy(cdf.RetryPolicy{MaxAttempts: 8, Base: time.Second, Cap: 5 * time.Second})},
		})
		err := list(e)
		apiError(t, err, 429)
		want := []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
		if diff := cmp.Diff(want, e.sleeps); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
	})

	t.Run("a cancelled context stops retrying", func(t *testing.T) {
		e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.Faults = cdflocal.FaultSequence(503, 503, 503) }})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := e.c.Files.List(cctx, cdf.FileFilter{}, cdf.ListOptions{})
		if err == nil || e.requests.Load() > 1 {
			t.Errorf("err %v after %d requests", err, e.requests.Load())
		}
	})

	t.Run("fault rate", func(t *testing.T) {
		f := cdflocal.FaultRate(0.5, 1)
		faults := 0
		for range 1000 {
			if x := f(nil); x != nil {
				faults++
				switch x.Status {
				case 429, 502, 503, 504:
				default:
					t.Fatalf("status %d", x.Status)
				}
			}
		}
		if faults < 400 || faults > 600 {
			t.Errorf("%d faults in 1000 at rate 0.5", faults)
		}
	})
}
