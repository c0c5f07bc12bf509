package cdf

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestObserverSeesEveryAttempt: WithObserver reports each attempt with the call's op name (no
// ids in it), its status (0 for no answer) and whether it was a retry, so 429s and the retries
// they cause can be counted.
func TestObserverSeesEveryAttempt(t *testing.T) {
	var mu sync.Mutex
	var got []Attempt
	c, mux, _ := setup(t, WithObserver(func(a Attempt) {
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	n := 0
	mux.HandleFunc("/api/v1/projects/proj/context/vision/segment/7", func(w http.ResponseWriter, r *http.Request) {
		if n++; n == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"code":429,"message":"slow down"}}`)
			return
		}
		io.WriteString(w, `{"status":"Running","jobId":7,"items":[{"fileId":1}],"prompt":{"points":[]}}`)
	})
	mux.HandleFunc("/api/v1/projects/proj/files/42", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"code":403,"message":"no"}}`)
	})
	ctx := context.Background()
	if _, err := c.Vision.SegmentJob(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Files.Retrieve(ctx, 42); err == nil {
		t.Fatal("want the 403")
	}
	want := []Attempt{
		{Op: "get segment job", Method: http.MethodGet, Status: http.StatusTooManyRequests},
		{Op: "get segment job", Method: http.MethodGet, Status: http.StatusOK, Retry: true},
		{Op: "retrieve file", Method: http.MethodGet, Status: http.StatusForbidden},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Attempt{}, "Duration")); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}
