package vision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/store"
)

// Settings is where auto remembers that CDF's API is retired; store.Settings satisfies it.
type Settings interface {
	Setting(ctx context.Context, key string) (string, error)
	PutSetting(ctx context.Context, key, value string, at time.Time) error
}

// settingKey names auto's memory in Settings.
const settingKey = "vision.segment"

// RetiredNotice is what a user is told once when auto has moved to Lasso's engine.
const RetiredNotice = "CDF's vision API is no longer available, so Lasso now segments images with its own engine. Everything else works as before."

// Retired reports whether err, the answer to starting a segment job, says that CDF's segment
// API is gone: 404 or 410 on the segment path, or a 403 that names the API as deprecated or
// unavailable. A failed job, a 5xx, a 429 or a plain 403 (a user without the capability) is
// not a retirement.
func Retired(err error) bool {
	var ae *cdf.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Status {
	case http.StatusNotFound, http.StatusGone:
		return true
	case http.StatusForbidden:
		msg := strings.ToLower(ae.Message)
		for _, w := range []string{"deprecat", "retire", "no longer", "unavailable", "not available", "sunset", "decommission", "discontinu", "removed"} {
			if strings.Contains(msg, w) {
				return true
			}
		}
	}
	return false
}

// memory is auto's state as kept in Settings.
type memory struct {
	Retired bool      `json:"retired"`
	Since   time.Time `json:"since,omitzero"`   // when it was first found retired
	Checked time.Time `json:"checked,omitzero"` // when CDF's API was last tried
	Reason  string    `json:"reason,omitempty"` // CDF's answer
}

// auto uses CDF's API until it answers that it is gone, then the local engine; every Recheck
// it lets one prompt try CDF's API again.
type auto struct {
	settings Settings
	recheck  time.Duration
	onChange func(bool, string)
	now      func() time.Time

	mu  sync.Mutex
	mem memory
}

func newAuto(ctx context.Context, cfg Config) (*auto, error) {
	a := &auto{settings: cfg.Settings, recheck: cfg.Recheck, onChange: cfg.OnChange, now: cfg.Now}
	if a.recheck <= 0 {
		a.recheck = 6 * time.Hour
	}
	if a.now == nil {
		a.now = time.Now
	}
	v, err := cfg.Settings.Setting(ctx, settingKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("vision: read what is known of CDF's vision API: %w", err)
	default:
		if err := json.Unmarshal([]byte(v), &a.mem); err != nil {
			return nil, fmt.Errorf("vision: read what is known of CDF's vision API: %w", err)
		}
	}
	return a, nil
}

func (a *auto) state() (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mem.Retired, a.mem.Reason
}

// tryCDF reports whether a new prompt should go to CDF's API: always while it works, and
// once every recheck period after it was found retired (the prompt that tries is the only
// one until the answer is known); recheck says it is such a try.
func (a *auto) tryCDF() (try, recheck bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.mem.Retired {
		return true, false
	}
	if now := a.now(); now.Sub(a.mem.Checked) >= a.recheck {
		a.mem.Checked = now
		return true, true
	}
	return false, false
}

// answered records what CDF's API said to a start: retired (err is its answer) or working.
func (a *auto) answered(ctx context.Context, retired bool, err error) {
	a.mu.Lock()
	was := a.mem.Retired
	now := a.now()
	if retired {
		if !was {
			a.mem.Since = now
		}
		a.mem.Retired, a.mem.Checked, a.mem.Reason = true, now, err.Error()
	} else {
		a.mem = memory{Checked: now}
	}
	mem := a.mem
	a.mu.Unlock()
	if was == retired && !retired {
		return // the usual case: nothing new to remember
	}
	if b, err := json.Marshal(mem); err == nil {
		// A failed write costs only a retry of CDF's API after the next restart.
		_ = a.settings.PutSetting(context.WithoutCancel(ctx), settingKey, string(b), now)
	}
	if was != retired && a.onChange != nil {
		a.onChange(retired, mem.Reason)
	}
}

func (a *auto) forTask(visionAPI, local jobs.SegmentAPI) jobs.SegmentAPI {
	return &autoAPI{a: a, vision: visionAPI, local: local}
}

// autoAPI serves one task: it remembers which backend started the task's job.
type autoAPI struct {
	a             *auto
	vision, local jobs.SegmentAPI
	using         jobs.SegmentAPI
	name, notice  string
}

// Backend implements jobs.Described.
func (x *autoAPI) Backend() (string, string) { return x.name, x.notice }

// StartSegment starts the job on CDF's API while it works; the first answer that says it is
// gone moves the deployment, and this very prompt, to the local engine.
func (x *autoAPI) StartSegment(ctx context.Context, req cdf.SegmentRequest) (*cdf.SegmentJob, error) {
	if try, recheck := x.a.tryCDF(); try {
		j, err := x.vision.StartSegment(ctx, req)
		switch {
		case err == nil:
			x.using, x.name = x.vision, jobs.BackendCDF
			x.a.answered(ctx, false, nil)
			return j, nil
		case Retired(err):
			x.a.answered(ctx, true, err)
		case !recheck:
			return nil, err // a failed start is not a retirement
		}
		// A recheck that met some other failure proves nothing either way: the API stays
		// retired and the user's prompt is not the one to pay for looking.
	}
	x.using, x.name, x.notice = x.local, jobs.BackendLocal, RetiredNotice
	return x.local.StartSegment(ctx, req)
}

// SegmentJob asks the backend that started the job; a job this task did not start (one
// resumed after a restart) is CDF's.
func (x *autoAPI) SegmentJob(ctx context.Context, jobID int64) (*cdf.SegmentJob, error) {
	if x.using == nil {
		return x.vision.SegmentJob(ctx, jobID)
	}
	return x.using.SegmentJob(ctx, jobID)
}
