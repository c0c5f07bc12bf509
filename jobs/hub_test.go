package jobs_test

import (
	"encoding/json"
	"testing"
	"testing/synctest"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
)

// The production types fit the interfaces jobs declares.
var (
	_ jobs.SegmentAPI = (*cdf.VisionService)(nil)
	_ jobs.Publisher  = (*hub.Hub)(nil)
)

// TestThroughHub follows a job into a real hub and reads the wire messages a WebSocket client
// would get.
func TestThroughHub(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeClock()
		h := hub.New(hub.Options{})
		defer h.Close()
		m := jobs.New(h, jobs.Options{Clock: c})
		defer m.Close()
		sub := h.Subscribe("img-42")
		api := &fakeAPI{clock: c, post: posts(ok(job(7, cdf.JobQueued))), get: script(ok(completedJob(7)))}
		mustSubmit(t, m, api, task(1))
		settle(t, c)

		var got []string
		for range 2 {
			msg := <-sub.C()
			var e jobs.Event
			if err := json.Unmarshal(msg.Data, &e); err != nil {
				t.Fatal(err)
			}
			if msg.Type != "job.status" || msg.Room != "img-42" {
				t.Errorf("message %d: type %q room %q", msg.Seq, msg.Type, msg.Room)
			}
			got = append(got, string(e.Status))
		}
		if want := []string{"queued", "done"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("statuses over the hub = %v, want %v", got, want)
		}
	})
}
