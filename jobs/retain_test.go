package jobs_test

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/jobs"
)

// TestRetainFreesEndedObjects: an object's last event stays in the snapshot for Retain after
// its job ended and is then let go; its last version is remembered for Forget longer, so that
// a late replay of a prompt the user has since replaced still does not start a job.
func TestRetainFreesEndedObjects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{Retain: 10 * time.Minute, Forget: time.Hour})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock, post: posts(ok(job(1, cdf.JobQueued))), get: script(ok(completedJob(1)))}
		mustSubmit(t, h.m, api, task(3))
		settle(t, h.clock) // done at 100 ms

		advanceTo(t, h.clock, 10*time.Minute+ms(99))
		diffEvents(t, []jobs.Event{done(ev(3, 1, jobs.StatusDone, 100))}, h.m.Snapshot("img-42"))
		if _, ok := h.m.Latest("img-42", "obj-1"); !ok {
			t.Error("Latest lost the object before Retain had passed")
		}
		advanceTo(t, h.clock, 10*time.Minute+ms(100))
		if got := h.m.Snapshot("img-42"); len(got) != 0 {
			t.Errorf("Snapshot after Retain = %+v", got)
		}
		if e, ok := h.m.Latest("img-42", "obj-1"); ok {
			t.Errorf("Latest after Retain = %+v", e)
		}
		if got := jobs.Tracked(h.m); got != (jobs.Counts{Tombstones: 1}) {
			t.Errorf("after Retain the Manager holds %+v, want one tombstone", got)
		}

		// The freed object still knows its version.
		for _, v := range []int{2, 3} {
			if err := h.m.Submit(api, task(v)); !errors.Is(err, jobs.ErrStale) {
				t.Errorf("Submit(version %d) of a freed version-3 object = %v, want ErrStale", v, err)
			}
		}
		settle(t, h.clock)
		if n := len(api.postTimes()); n != 1 {
			t.Errorf("%d jobs started, want 1", n)
		}

		// After Forget the object is forgotten altogether.
		advanceTo(t, h.clock, time.Hour+10*time.Minute+ms(100))
		h.m.Snapshot("img-42") // the Manager tidies up when it is used
		if got := jobs.Tracked(h.m); got != (jobs.Counts{}) {
			t.Errorf("after Forget the Manager holds %+v, want nothing", got)
		}

		// A newer version starts a job in a freed slot as in a new one.
		again := &fakeAPI{clock: h.clock, post: posts(ok(job(2, cdf.JobQueued))), get: script(ok(completedJob(2)))}
		mustSubmit(t, h.m, again, task(4))
		settle(t, h.clock)
		if got := h.m.Snapshot("img-42"); len(got) != 1 || got[0].Version != 4 || got[0].Status != jobs.StatusDone {
			t.Errorf("Snapshot after a new prompt = %+v", got)
		}
	})
}

// TestRetainKeepsRunningJobs: only ended jobs are let go; a job still followed stays however
// long it runs.
func TestRetainKeepsRunningJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{Retain: time.Minute, Deadline: time.Hour})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock, post: posts(ok(job(1, cdf.JobQueued))), get: script(ok(job(1, cdf.JobRunning)))}
		mustSubmit(t, h.m, api, task(1))
		runUntil(t, h.clock, 30*time.Minute)
		if got := h.m.Snapshot("img-42"); len(got) != 1 || got[0].Status != jobs.StatusRunning {
			t.Errorf("Snapshot of a job running for 30 min = %+v", got)
		}
		settle(t, h.clock) // times out at 1 h
		if got := h.m.Snapshot("img-42"); len(got) != 1 || got[0].Status != jobs.StatusFailed {
			t.Errorf("Snapshot right after the timeout = %+v", got)
		}
	})
}

// TestFloodIsFreed is the socket snapshot of 1 199 objects: once their jobs have ended
// and Retain has passed, nothing of them is sent or held but their tombstones, and after
// Forget nothing at all.
func TestFloodIsFreed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{UserJobs: -1, UserRate: -1})
		defer h.m.Close()
		api := &fakeAPI{clock: h.clock, post: func(n int) reply { return ok(completedJob(int64(n + 1))) }}
		for i := range 1199 {
			tk := task(1)
			tk.ObjectID = fmt.Sprint("obj-", i)
			mustSubmit(t, h.m, api, tk)
		}
		settle(t, h.clock)
		if n := len(h.m.Snapshot("img-42")); n != 200 {
			t.Errorf("Snapshot has %d objects, want the default limit of 200", n)
		}
		advanceTo(t, h.clock, 2*time.Hour) // the default Retain
		if n := len(h.m.Snapshot("img-42")); n != 0 {
			t.Errorf("Snapshot after Retain has %d objects", n)
		}
		if got := jobs.Tracked(h.m); got != (jobs.Counts{Tombstones: 1199}) {
			t.Errorf("after Retain the Manager holds %+v", got)
		}
		advanceTo(t, h.clock, 26*time.Hour) // and Forget
		h.m.Snapshot("img-42")
		if got := jobs.Tracked(h.m); got != (jobs.Counts{}) {
			t.Errorf("after Forget the Manager holds %+v", got)
		}
	})
}

// TestSnapshotLimit: a snapshot holds the SnapshotLimit objects whose last event is newest,
// ordered by ObjectID; Latest still finds the others.
func TestSnapshotLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(jobs.Options{SnapshotLimit: 3})
		defer h.m.Close()
		// Seen done at: o3 100 ms, o1 250, o5 475, o2 812.5, o4 1318.75.
		for i, d := range map[string]time.Duration{"o1": ms(200), "o2": ms(800), "o3": 0, "o4": time.Second, "o5": ms(400)} {
			tk := task(1)
			tk.ObjectID = i
			mustSubmit(t, h.m, lasting(h.clock, 1, d), tk)
		}
		settle(t, h.clock)
		var got []string
		for _, e := range h.m.Snapshot("img-42") {
			got = append(got, fmt.Sprint(e.ObjectID, " ", e.Status))
		}
		if want := []string{"o2 done", "o4 done", "o5 done"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Snapshot = %v, want %v", got, want)
		}
		if e, ok := h.m.Latest("img-42", "o3"); !ok || e.Status != jobs.StatusDone || e.ObjectID != "o3" {
			t.Errorf("Latest(o3) = %+v, %v", e, ok)
		}
		if e, ok := h.m.Latest("img-42", "o9"); ok {
			t.Errorf("Latest of an unknown object = %+v", e)
		}
	})
}
