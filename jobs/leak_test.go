package jobs_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/jobs"
)

// TestCloseLeavesNoGoroutines counts goroutines on the real clock: Close must end every follow
// and every deadline watcher, including those stuck in a CDF call that does not answer.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	m := jobs.New(&recorder{}, jobs.Options{FirstPoll: time.Millisecond})
	for i := range 50 {
		api := &fakeAPI{clock: newFakeClock(), post: posts(ok(job(int64(i+1), cdf.JobQueued))),
			hangGets: i%2 == 0, get: script(ok(job(int64(i+1), cdf.JobRunning)))}
		tk := task(1)
		// One user each: one user's prompts beyond Options.UserJobs would wait, not poll.
		tk.ObjectID, tk.UserID = fmt.Sprint("obj-", i), fmt.Sprint("user-", i)
		mustSubmit(t, m, api, tk)
	}
	time.Sleep(20 * time.Millisecond) // let follows reach their polls
	// Two per follow (poll loop and deadline watcher); the baseline may include a runtime
	// goroutine that has ended since, hence the slack.
	if n := runtime.NumGoroutine(); n < before+90 {
		t.Errorf("%d goroutines while following 50 jobs, want about %d", n, before+100)
	}
	m.Close()
	// Close has waited for the follows; give the runtime a moment to reap their stacks.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}
