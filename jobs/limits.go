package jobs

import (
	"slices"

	"golang.org/x/time/rate"
)

// userState is one user's share of the Manager: their jobs in flight, their prompts waiting
// for a turn, and their token bucket. Guarded by Manager.mu.
type userState struct {
	key     string
	running int       // follows admitted and not yet ended
	waiting []*follow // prompts waiting for a turn, oldest first
	lim     *rate.Limiter
	// gen counts the changes from idle to busy and back, so that a pending expiry can tell it
	// is out of date.
	gen uint64
}

func (u *userState) idle() bool { return u.running == 0 && len(u.waiting) == 0 }

// user returns the state of t's user, making it if need be.
func (m *Manager) user(t Task) *userState {
	key := "name:" + t.User // so that no display name can pass for someone's id
	if t.UserID != "" {
		key = "id:" + t.UserID
	}
	u := m.users[key]
	if u == nil {
		u = &userState{key: key}
		if m.opts.UserRate >= 0 {
			u.lim = rate.NewLimiter(rate.Limit(m.opts.UserRate), m.opts.UserBurst)
		}
		m.users[key] = u
	}
	return u
}

// enter lets f start at once if its user is under UserJobs, or puts it in the user's queue.
// It returns the waiting prompt that f pushed out of a full queue, which the caller cancels
// with errCrowded outside the lock.
func (m *Manager) enter(f *follow) (pushedOut *follow) {
	if f.task.JobID != 0 {
		close(f.admit) // resuming a job whose start was paid for before the restart
		return nil
	}
	u := m.user(f.task)
	f.user = u
	u.gen++
	if m.opts.UserJobs < 0 || u.running < m.opts.UserJobs {
		u.running++
		f.counted = true
		close(f.admit)
		return nil
	}
	u.waiting = append(u.waiting, f)
	f.waiting = true
	if len(u.waiting) <= m.opts.UserQueue {
		return nil
	}
	pushedOut = u.waiting[0]
	u.waiting = slices.Delete(u.waiting, 0, 1)
	pushedOut.waiting = false
	return pushedOut
}

// unqueue takes f out of its user's queue, if it is waiting there.
func (m *Manager) unqueue(f *follow) {
	if !f.waiting {
		return
	}
	u := f.user
	u.waiting = slices.DeleteFunc(u.waiting, func(w *follow) bool { return w == f })
	f.waiting = false
}

// release gives back the turn of f, which has ended, to the newest prompt waiting.
func (m *Manager) release(f *follow) {
	u := f.user
	m.unqueue(f)
	if !f.counted {
		return
	}
	f.counted = false
	u.running--
	now := m.opts.Clock.Now()
	for (m.opts.UserJobs < 0 || u.running < m.opts.UserJobs) && len(u.waiting) > 0 {
		n := len(u.waiting) - 1
		next := u.waiting[n]
		u.waiting[n] = nil
		u.waiting = u.waiting[:n]
		next.waiting = false
		if !now.Before(next.deadline) {
			continue // its deadline watcher ends it: a job started now would only time out
		}
		u.running++
		next.counted = true
		close(next.admit)
	}
}

// pace waits until f's user may start another job (UserRate, UserBurst). It reports false when
// the follow must end instead.
func (f *follow) pace() bool {
	if f.user == nil || f.user.lim == nil {
		return true
	}
	now := f.m.opts.Clock.Now()
	r := f.user.lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if !r.OK() || d <= 0 {
		return true
	}
	if f.sleep(d) {
		return true
	}
	r.CancelAt(f.m.opts.Clock.Now()) // the token goes to the user's next prompt
	return false
}
