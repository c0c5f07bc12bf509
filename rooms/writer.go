package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/store"
)

// AppName and AppVersion are written as creatingApp and creatingAppVersion (SemVer).
const (
	AppName    = "lasso"
	AppVersion = "0.1.0"
)

// AnnotationsAPI is what the writer needs of a user's CDF client (cdf.AnnotationsService).
type AnnotationsAPI interface {
	Create(ctx context.Context, items []cdf.AnnotationCreate) ([]cdf.Annotation, error)
	List(ctx context.Context, filter cdf.AnnotationFilter, opts cdf.ListOptions) (*cdf.AnnotationList, error)
}

// Writer delivers accepted objects to CDF as images.ObjectDetection annotations through the
// store's durable outbox: an accepted object is never lost to a slow, throttling or absent CDF,
// and because creating annotations is not idempotent, a write that may have landed is checked
// for before it is sent again, so none is created twice. A restart resumes the outbox.
type Writer struct {
	outbox store.Outbox
	apiFor func(ctx context.Context, sessionID string) (AnnotationsAPI, error)
	now    func() time.Time
	// Backoff is the wait after the n-th failed attempt (default 250 ms × 2^n, at most 30 s).
	Backoff func(attempt int) time.Duration
	// Timeout bounds each call to CDF (default 30 s).
	Timeout time.Duration
	// Notify, when set, is told each change of a write's state: "saving", "saved" or "failed".
	Notify func(w *store.Write, state, errMsg string)
	wake   chan struct{}
}

func (w *Writer) notify(wr *store.Write, state, errMsg string) {
	if w.Notify != nil {
		w.Notify(wr, state, errMsg)
	}
}

// NewWriter returns a Writer; apiFor gives the annotations client of the login session that
// accepted the object.
func NewWriter(outbox store.Outbox, apiFor func(ctx context.Context, sessionID string) (AnnotationsAPI, error)) *Writer {
	return &Writer{
		outbox: outbox,
		apiFor: apiFor,
		now:    time.Now,
		Backoff: func(n int) time.Duration {
			return min(250*time.Millisecond<<min(n, 10), 30*time.Second)
		},
		Timeout: 30 * time.Second,
		wake:    make(chan struct{}, 1),
	}
}

// ErrNothingToSave means an accepted object has no finished segment to write yet.
var ErrNothingToSave = errors.New("rooms: the object has no finished segment to save yet")

// Enqueue records the accepted object's annotations for delivery (idempotent per object
// version) and wakes the writer.
func (w *Writer) Enqueue(ctx context.Context, o *store.Object, user, sessionID string) error {
	items, err := annotationsFor(o, user)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(items)
	if err != nil {
		return err
	}
	now := w.now()
	wr, err := w.outbox.Enqueue(ctx, &store.Write{RoomID: o.RoomID, FileID: o.FileID, ObjectID: o.ObjectID, Version: o.Version,
		SessionID: sessionID, Payload: payload, State: store.WritePending, NextAt: now, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return fmt.Errorf("rooms: enqueue annotation write: %w", err)
	}
	switch wr.State {
	case store.WriteDone:
		w.notify(wr, "saved", "")
	case store.WriteFailed:
		w.notify(wr, "failed", wr.LastError)
	default:
		w.notify(wr, "saving", "")
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run delivers due writes until ctx ends, looking every interval and whenever woken.
func (w *Writer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		w.Flush(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
	}
}

// Flush attempts every write that is due now, once.
func (w *Writer) Flush(ctx context.Context) {
	due, err := w.outbox.Due(ctx, w.now(), 50)
	if err != nil {
		return // the next tick tries again
	}
	for i := range due {
		w.attempt(ctx, &due[i])
	}
}

// attempt sends one write, or, when an earlier attempt may have landed, first looks for it.
func (w *Writer) attempt(ctx context.Context, wr *store.Write) {
	var items []cdf.AnnotationCreate
	if err := json.Unmarshal(wr.Payload, &items); err != nil || len(items) == 0 {
		w.fail(ctx, wr, "the stored annotation is unreadable")
		return
	}
	api, err := w.apiFor(ctx, wr.SessionID)
	if err != nil {
		w.fail(ctx, wr, "the sign-in that accepted this object has ended")
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	if wr.Ambiguous {
		ids, err := landed(callCtx, api, items)
		if err != nil {
			w.retry(ctx, wr, err, true)
			return
		}
		if len(ids) == len(items) {
			w.done(ctx, wr, ids)
			return
		}
		if len(ids) > 0 {
			// A batch is all or nothing at CDF; partial presence means someone else wrote some.
			w.fail(ctx, wr, "some of the object's annotations exist already; check them in CDF")
			return
		}
	}
	created, err := api.Create(callCtx, items)
	if err == nil {
		ids := make([]int64, 0, len(created))
		for _, a := range created {
			ids = append(ids, a.ID)
		}
		w.done(ctx, wr, ids)
		return
	}
	status := cdf.StatusCode(err)
	switch {
	case cdf.Ambiguous(err):
		w.retry(ctx, wr, err, true)
	case status == http.StatusTooManyRequests || status == http.StatusUnauthorized:
		// Throttled (refused before any work), or a token that a refresh will fix.
		w.retry(ctx, wr, err, false)
	default:
		w.fail(ctx, wr, err.Error())
	}
}

func (w *Writer) retry(ctx context.Context, wr *store.Write, err error, ambiguous bool) {
	if w.outbox.Retry(ctx, wr.ID, w.now().Add(w.Backoff(wr.Attempts)), err.Error(), ambiguous || wr.Ambiguous, w.now()) == nil {
		w.notify(wr, "saving", "CDF did not take it yet; trying again")
	}
}

func (w *Writer) done(ctx context.Context, wr *store.Write, ids []int64) {
	if w.outbox.Done(ctx, wr.ID, ids, w.now()) == nil {
		w.notify(wr, "saved", "")
	}
}

func (w *Writer) fail(ctx context.Context, wr *store.Write, msg string) {
	if w.outbox.Fail(ctx, wr.ID, msg, w.now()) == nil {
		w.notify(wr, "failed", msg)
	}
}

// landed looks in CDF for annotations equal to items (same file, app, user, label and
// polygon) and returns their ids in item order, or fewer when some are missing.
func landed(ctx context.Context, api AnnotationsAPI, items []cdf.AnnotationCreate) ([]int64, error) {
	var ids []int64
	for _, it := range items {
		list, err := api.List(ctx, cdf.AnnotationFilter{
			AnnotatedResourceType: cdf.ResourceFile,
			AnnotatedResourceIDs:  []cdf.Identifier{cdf.ID(it.AnnotatedResourceID)},
			AnnotationType:        it.AnnotationType,
			CreatingApp:           it.CreatingApp,
			CreatingUser:          it.CreatingUser,
			Data:                  it.Data,
		}, cdf.ListOptions{Limit: 2})
		if err != nil {
			return nil, err
		}
		if len(list.Items) > 0 {
			ids = append(ids, list.Items[0].ID)
		}
	}
	return ids, nil
}
