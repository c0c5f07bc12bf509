package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/metrics"
	"github.com/lassoteam/lasso/segment"
)

// scrape returns the registry's text exposition.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// wantLines fails unless every line is in the exposition.
func wantLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, l+"\n") {
			t.Errorf("the exposition lacks %q", l)
		}
	}
}

type recordingPublisher struct{ got []string }

func (p *recordingPublisher) Publish(room, typ string, data any) (hub.Message, error) {
	p.got = append(p.got, room+" "+typ)
	return hub.Message{Room: room, Type: typ}, nil
}

type engineFunc func(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error)

func (f engineFunc) Segment(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error) {
	return f(ctx, src, p)
}

// TestSeries: each adapter feeds its series, with the labels the documentation names, and the
// runtime and process collectors are there.
func TestSeries(t *testing.T) {
	m := metrics.New()
	m.ObserveRequest("POST", "/api/images/:id/segment", 202, 30*time.Millisecond)
	m.ObserveRequest("BREW", "", 404, time.Millisecond)

	m.ObserveCDF(cdf.Attempt{Op: "get segment job", Method: "GET", Status: 429, Duration: time.Millisecond})
	m.ObserveCDF(cdf.Attempt{Op: "get segment job", Method: "GET", Status: 200, Retry: true, Duration: time.Millisecond})

	next := &recordingPublisher{}
	pub := m.Jobs(next)
	for _, st := range []jobs.Status{jobs.StatusQueued, jobs.StatusRunning, jobs.StatusDone} {
		if _, err := pub.Publish("image:7", jobs.EventType, jobs.Event{Status: st, Backend: "local", ElapsedMS: 1500}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Publish("image:7", jobs.EventType, jobs.Event{Status: jobs.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	if len(next.got) != 4 {
		t.Errorf("the wrapped publisher got %v, want every event", next.got)
	}

	eng := m.TimeEngine(engineFunc(func(context.Context, segment.Source, segment.Prompt) ([]segment.Segment, error) {
		return nil, errors.New("busy")
	}))
	if _, err := eng.Segment(context.Background(), segment.Source{}, segment.Prompt{}); err == nil || err.Error() != "busy" {
		t.Errorf("the timed engine changed the answer: %v", err)
	}

	m.Hub(func() hub.Stats { return hub.Stats{Rooms: 2, Subscribers: 5, Delivered: 40, DroppedSlow: 1} })
	var deadline bool
	m.Outbox(func(ctx context.Context) (int, time.Time, error) {
		_, deadline = ctx.Deadline()
		return 3, time.Now().Add(-time.Hour), nil
	}, time.Second)

	text := scrape(t, m)
	wantLines(t, text,
		`lasso_http_request_duration_seconds_count{method="POST",route="/api/images/:id/segment",status="202"} 1`,
		`lasso_http_request_duration_seconds_count{method="other",route="unmatched",status="404"} 1`,
		`lasso_cdf_requests_total{endpoint="get segment job",status="429"} 1`,
		`lasso_cdf_requests_total{endpoint="get segment job",status="200"} 1`,
		`lasso_cdf_retries_total{endpoint="get segment job"} 1`,
		`lasso_segment_job_duration_seconds_count{backend="local",status="done"} 1`,
		`lasso_segment_job_duration_seconds_sum{backend="local",status="done"} 1.5`,
		`lasso_segment_job_duration_seconds_count{backend="unknown",status="failed"} 1`,
		`lasso_engine_duration_seconds_count{outcome="error"} 1`,
		`lasso_hub_rooms 2`,
		`lasso_websocket_subscriptions 5`,
		`lasso_hub_messages_delivered_total 40`,
		`lasso_hub_slow_subscribers_dropped_total 1`,
		`lasso_outbox_pending_writes 3`,
		`lasso_outbox_read_errors_total 0`,
	)
	for _, name := range []string{"go_goroutines", "go_gc_heap_live_bytes ", "process_start_time_seconds", "lasso_outbox_oldest_pending_age_seconds 3"} {
		if !strings.Contains(text, name) {
			t.Errorf("the exposition lacks %s", name)
		}
	}
	if strings.Contains(text, `status="queued"`) || strings.Contains(text, `status="running"`) {
		t.Error("a job that has not ended was counted")
	}
	if !deadline {
		t.Error("the outbox was read without a timeout")
	}
}

// TestOutboxReadFailure: a backlog that cannot be read leaves the outbox series out and counts
// the failure; the scrape still answers.
func TestOutboxReadFailure(t *testing.T) {
	m := metrics.New()
	m.Outbox(func(ctx context.Context) (int, time.Time, error) { return 0, time.Time{}, context.DeadlineExceeded }, time.Millisecond)
	text := scrape(t, m)
	if strings.Contains(text, "lasso_outbox_pending_writes ") {
		t.Error("a depth was reported although the outbox could not be read")
	}
	wantLines(t, text, "lasso_outbox_read_errors_total 1")
}

// TestNothingPersonalInLabels: whatever personal data passes through the adapters (a user's
// name, a file id, an object id, a room id), none of it reaches the exposition.
func TestNothingPersonalInLabels(t *testing.T) {
	m := metrics.New()
	pub := m.Jobs(&recordingPublisher{})
	_, _ = pub.Publish("room:secret-room-id", jobs.EventType, jobs.Event{
		ObjectID: "object-4242", User: "Zelda Quux", FileID: 987654321, JobID: 13579, Status: jobs.StatusDone, Backend: "cdf",
		Error: "Zelda's file holiday.jpg",
	})
	m.ObserveCDF(cdf.Attempt{Op: "retrieve file", Method: "GET", Status: 404})
	text := scrape(t, m)
	for _, secret := range []string{"Zelda", "Quux", "987654321", "13579", "object-4242", "secret-room-id", "holiday.jpg"} {
		if strings.Contains(text, secret) {
			t.Errorf("the exposition contains %q", secret)
		}
	}
}
