package rooms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
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
	Suggest(ctx context.Context, items []cdf.AnnotationSuggest) ([]cdf.Annotation, error)
	List(ctx context.Context, filter cdf.AnnotationFilter, opts cdf.ListOptions) (*cdf.AnnotationList, error)
	Update(ctx context.Context, items []cdf.AnnotationUpdate) ([]cdf.Annotation, error)
	Delete(ctx context.Context, ids []int64) error
}

// Writer delivers changes to CDF annotations through the store's durable outbox: accepted
// objects become images.ObjectDetection annotations, reviews set their status, replaced or
// deleted objects take their annotations with them. Nothing accepted is lost to a slow,
// throttling or absent CDF, and because creating annotations is not idempotent, a create that
// may have landed is looked for before it is sent again, so none is created twice. A restart
// resumes the outbox.
type Writer struct {
	outbox store.Outbox
	apiFor func(ctx context.Context, sessionID string) (AnnotationsAPI, error)
	now    func() time.Time
	opts   WriterOptions
	wake   chan struct{}
}

// WriterOptions configure a Writer. Zero fields take their defaults.
type WriterOptions struct {
	// Backoff is the wait after the n-th failed attempt (default 250 ms × 2^n, at most 30 s).
	Backoff func(attempt int) time.Duration
	// Timeout bounds each call to CDF (default 30 s).
	Timeout time.Duration
	// Parallel is how many objects' writes are sent at once (default 4).
	Parallel int
	// Notify, when set, is told each change of a write's state: "saving", "saved" or "failed".
	Notify func(w *store.Write, state, errMsg string)
	// Owner names this writer among the replicas that share the outbox: each write is made
	// by the one owner that claimed it (store.Outbox.Claim). The default, SoleOwner, suits a
	// server that is alone on its database, which after a restart takes its writes up again
	// at once; replicas sharing a database need names of their own (NewOwner), and the writes
	// a dead replica claimed wait for its leases to run out.
	Owner string
	// Lease is how long a claim holds (default 5 × Timeout): when this writer's process
	// dies, the writes it claimed are another replica's after at most Lease. It must outlast
	// a round of attempts, which Flush bounds to a few calls per object.
	Lease time.Duration
}

// withDefaults fills in o's zero fields.
func (o WriterOptions) withDefaults() WriterOptions {
	if o.Backoff == nil {
		o.Backoff = func(n int) time.Duration { return min(250*time.Millisecond<<min(n, 10), 30*time.Second) }
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Notify == nil {
		o.Notify = func(*store.Write, string, string) {}
	}
	if o.Owner == "" {
		o.Owner = SoleOwner
	}
	if o.Lease <= 0 {
		o.Lease = 5 * o.Timeout
	}
	return o
}

func (w *Writer) notify(wr *store.Write, state, errMsg string) { w.opts.Notify(wr, state, errMsg) }

// NewWriter returns a Writer; apiFor gives the annotations client of the login session that
// asked for a write.
func NewWriter(outbox store.Outbox, apiFor func(ctx context.Context, sessionID string) (AnnotationsAPI, error), opts WriterOptions) *Writer {
	return &Writer{
		outbox: outbox,
		apiFor: apiFor,
		now:    time.Now,
		opts:   opts.withDefaults(),
		wake:   make(chan struct{}, 1),
	}
}

// Owner is the name this writer claims writes under (WriterOptions.Owner).
func (w *Writer) Owner() string { return w.opts.Owner }

// SoleOwner is the Owner of a writer alone on its database.
const SoleOwner = "lasso"

// NewOwner returns a writer name unique among the replicas sharing an outbox.
func NewOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "writer-" + hex.EncodeToString(b)
}

// ErrNothingToSave means an accepted object has no finished segment to write yet.
var ErrNothingToSave = errors.New("rooms: the object has no finished segment to save yet")

// reviewPayload is the payload of an OpReview write, and of an OpRelabel write with Label.
type reviewPayload struct {
	Status cdf.AnnotationStatus `json:"status"`
	Label  string               `json:"label,omitempty"`
}

// Provenance is how an accepted object version's mask was made, kept with its create write
// (store.Write.Provenance) so that anyone can see it, and re-run the prompt, later.
type Provenance struct {
	AuthorName string          `json:"authorName"`
	Label      string          `json:"label"`
	Prompt     json.RawMessage `json:"prompt"` // the points and box, normalised
	JobID      int64           `json:"jobId"`
	Backend    string          `json:"backend"`
	// Score and RawPolygons are of the best segment as the backend answered it.
	Score       *float64       `json:"score"`
	RawPolygons [][]cdf.Vertex `json:"rawPolygons"`
}

// provenanceOf is the provenance of o's current version, accepted by u.
func provenanceOf(o *store.Object, u User) (json.RawMessage, error) {
	p := Provenance{AuthorName: u.Name, Label: o.Label, Prompt: o.Prompt, JobID: o.JobID, Backend: o.Backend}
	var segments []cdf.Segment
	if json.Unmarshal(o.Segments, &segments) == nil && len(segments) > 0 {
		p.Score = &segments[0].Score
		for _, poly := range segments[0].Polygons {
			p.RawPolygons = append(p.RawPolygons, poly.Vertices)
		}
	}
	if len(p.Prompt) == 0 {
		p.Prompt = json.RawMessage(`null`)
	}
	return json.Marshal(p)
}

// Detail is how the polygons of an accepted object are simplified for CDF: Douglas–Peucker
// with TolerancePx image pixels (0: as segmented) on the Width×Height image (0×0: unknown).
type Detail struct {
	TolerancePx   float64
	Width, Height int
}

// Enqueue records the accepted object's annotations for delivery (idempotent per object
// version) and wakes the writer. Annotations of the object's earlier versions are deleted once
// the new ones exist: an object has one set of annotations in CDF, that of its accepted shape.
// A version accepted again after its annotations were deleted (an undone accept, redone) is
// written again. The create and those deletes are stored together or not at all.
func (w *Writer) Enqueue(ctx context.Context, o *store.Object, u User, d Detail) error {
	return w.atomically(ctx, func(ob store.Outbox) ([]*store.Write, error) { return w.planCreate(ctx, ob, o, u, d) })
}

// EnqueueDelete deletes the annotations the object has in CDF (once they exist), for an object
// that was deleted or is no longer accepted.
func (w *Writer) EnqueueDelete(ctx context.Context, o *store.Object, u User) error {
	return w.atomically(ctx, func(ob store.Outbox) ([]*store.Write, error) { return w.planDelete(ctx, ob, o, u) })
}

// atomically stores the writes plan makes through the outbox in one transaction, then
// announces them.
func (w *Writer) atomically(ctx context.Context, plan func(ob store.Outbox) ([]*store.Write, error)) error {
	var writes []*store.Write
	err := w.outbox.Atomically(ctx, func(_ store.Rooms, ob store.Outbox) (err error) {
		writes, err = plan(ob)
		return err
	})
	if err != nil {
		return err
	}
	w.announce(writes)
	return nil
}

// announce tells people of writes that are stored for good, and wakes the writer for them.
func (w *Writer) announce(writes []*store.Write) {
	for _, wr := range writes {
		w.notifyState(wr)
	}
	if len(writes) > 0 {
		w.Wake()
	}
}

// The plan functions store the writes one change owes CDF through ob, which is bound to the
// transaction of that change (Service.change, Writer.atomically), and return them, to be
// announced once it has committed.

// planCreate stores the create of o's accepted version and the deletes of older versions'
// annotations (see Enqueue).
func (w *Writer) planCreate(ctx context.Context, ob store.Outbox, o *store.Object, u User, d Detail) ([]*store.Write, error) {
	items, err := buildAnnotations(o, u.Name, d.TolerancePx, d.Width, d.Height)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	writes, err := writesOf(ctx, ob, o)
	if err != nil {
		return nil, err
	}
	seq := 0
	if i := slices.IndexFunc(writes, func(e store.Write) bool { return e.Op == store.OpCreate && e.Version == o.Version }); i >= 0 {
		seq = writes[i].Seq // the same create again: idempotent
		if deleting(writes, writes[i]) {
			seq++
		}
	}
	provenance, err := provenanceOf(o, u)
	if err != nil {
		return nil, err
	}
	create, err := w.put(ctx, ob, o, store.OpCreate, seq, u, payload, provenance)
	if err != nil {
		return nil, err
	}
	out := []*store.Write{create}
	for _, e := range standing(writes) {
		if e.Version < o.Version {
			del, err := w.putDelete(ctx, ob, o, e, u)
			if err != nil {
				return nil, err
			}
			out = append(out, del)
		}
	}
	return out, nil
}

// planDelete stores the deletes of every annotation the object has (or will have) in CDF.
func (w *Writer) planDelete(ctx context.Context, ob store.Outbox, o *store.Object, u User) ([]*store.Write, error) {
	writes, err := writesOf(ctx, ob, o)
	if err != nil {
		return nil, err
	}
	var out []*store.Write
	for _, e := range standing(writes) {
		del, err := w.putDelete(ctx, ob, o, e, u)
		if err != nil {
			return nil, err
		}
		out = append(out, del)
	}
	return out, nil
}

// writesOf returns the object's writes, newest first.
func writesOf(ctx context.Context, ob store.Outbox, o *store.Object) ([]store.Write, error) {
	writes, err := ob.ForObject(ctx, o.RoomID, o.FileID, o.ObjectID)
	if err != nil {
		return nil, fmt.Errorf("rooms: annotation writes of %s: %w", o.ObjectID, err)
	}
	return writes, nil
}

// standing returns the creates among writes whose annotations are (or will be) in CDF: not
// failed, and not deleted by a delete of the same version and sequence.
func standing(writes []store.Write) []store.Write {
	var out []store.Write
	for _, e := range writes {
		if e.Op == store.OpCreate && e.State != store.WriteFailed && !deleting(writes, e) {
			out = append(out, e)
		}
	}
	return out
}

// deleting reports whether a delete of create's annotations is among writes.
func deleting(writes []store.Write, create store.Write) bool {
	return slices.ContainsFunc(writes, func(e store.Write) bool {
		return e.Op == store.OpDelete && e.ObjectID == create.ObjectID && e.Version == create.Version && e.Seq == create.Seq
	})
}

// putDelete stores the delete of create's annotations (same version and sequence).
func (w *Writer) putDelete(ctx context.Context, ob store.Outbox, o *store.Object, create store.Write, u User) (*store.Write, error) {
	v := *o
	v.Version = create.Version
	return w.put(ctx, ob, &v, store.OpDelete, create.Seq, u, json.RawMessage(`{}`), nil)
}

// planReview stores a reviewer's decision on the annotations of the object's current version
// (status), made with the reviewer's rights once they exist. Every decision is its own write,
// in order, so that a reviewer who changes their mind ends with the last decision in CDF.
func (w *Writer) planReview(ctx context.Context, ob store.Outbox, o *store.Object, reviewer User, status cdf.AnnotationStatus) ([]*store.Write, error) {
	return w.planChange(ctx, ob, o, store.OpReview, reviewer, reviewPayload{Status: status})
}

// planRelabel stores the change that gives the object's annotations in CDF its new label and
// sends them back to review (status suggested), once they exist: a reviewer decided on the
// old label.
func (w *Writer) planRelabel(ctx context.Context, ob store.Outbox, o *store.Object, u User) ([]*store.Write, error) {
	writes, err := writesOf(ctx, ob, o)
	if err != nil {
		return nil, err
	}
	// The annotations in CDF may be of an earlier version than the current prompt (a new
	// prompt not accepted yet): those are the ones that must not keep the old label.
	st := standing(writes)
	if len(st) == 0 {
		return nil, nil // nothing in CDF yet; the create will carry the label
	}
	v := *o
	v.Version = st[0].Version
	return w.planChange(ctx, ob, &v, store.OpRelabel, u, reviewPayload{Status: cdf.AnnotationSuggested, Label: o.Label})
}

// planChange stores a review or relabel of the object's current version. Every change is its
// own write, in order, so that the last one made is the one CDF ends with.
func (w *Writer) planChange(ctx context.Context, ob store.Outbox, o *store.Object, op string, u User, p reviewPayload) ([]*store.Write, error) {
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	writes, err := writesOf(ctx, ob, o)
	if err != nil {
		return nil, err
	}
	seq := 0
	for _, e := range writes {
		if e.Op == op && e.Version == o.Version {
			seq = max(seq, e.Seq+1)
		}
	}
	// A concurrent change may take the same sequence number; the loser takes the next one.
	for range 8 {
		wr, err := w.put(ctx, ob, o, op, seq, u, payload, nil)
		if err != nil {
			return nil, err
		}
		if wr.SessionID == u.SessionID && string(wr.Payload) == string(payload) && wr.UserID == u.ID {
			return []*store.Write{wr}, nil
		}
		seq++
	}
	return nil, fmt.Errorf("rooms: too many concurrent %s writes of %s", op, o.ObjectID)
}

// put stores one write through ob.
func (w *Writer) put(ctx context.Context, ob store.Outbox, o *store.Object, op string, seq int, u User, payload, provenance json.RawMessage) (*store.Write, error) {
	now := w.now()
	wr, err := ob.Enqueue(ctx, &store.Write{RoomID: o.RoomID, FileID: o.FileID, ObjectID: o.ObjectID, Version: o.Version,
		Op: op, Seq: seq, UserID: u.ID, SessionID: u.SessionID, Payload: payload, Provenance: provenance, NextAt: now, CreatedAt: now})
	if err != nil {
		return nil, fmt.Errorf("rooms: enqueue annotation %s: %w", op, err)
	}
	return wr, nil
}

func (w *Writer) notifyState(wr *store.Write) {
	state, errMsg := saveState(wr)
	w.notify(wr, state, errMsg)
}

// saveState is how a stored write stands for people: "saving", "saved" or "failed" and why.
func saveState(wr *store.Write) (state, errMsg string) {
	switch wr.State {
	case store.WriteDone:
		return "saved", ""
	case store.WriteFailed:
		return "failed", wr.LastError
	}
	return "saving", ""
}

// ForImage returns every write of the image's objects, newest first (roomID "" outside rooms).
func (w *Writer) ForImage(ctx context.Context, roomID string, fileID int64) ([]store.Write, error) {
	return w.outbox.ForImage(ctx, roomID, fileID)
}

// Wake makes Run look for due writes now.
func (w *Writer) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// ForObject returns every write of the object, newest first (roomID "" outside rooms).
func (w *Writer) ForObject(ctx context.Context, roomID string, fileID int64, objectID string) ([]store.Write, error) {
	return w.outbox.ForObject(ctx, roomID, fileID, objectID)
}

// RetryFailed sends the object's failed writes of version once more, at once: a person pressed
// retry. It returns how many writes were requeued.
func (w *Writer) RetryFailed(ctx context.Context, roomID string, fileID int64, objectID string, version int) (int, error) {
	writes, err := w.outbox.ForObject(ctx, roomID, fileID, objectID)
	if err != nil {
		return 0, fmt.Errorf("rooms: annotation writes of %s: %w", objectID, err)
	}
	n := 0
	for i := range writes {
		wr := &writes[i]
		if wr.Version != version || wr.State != store.WriteFailed {
			continue
		}
		err := w.outbox.Requeue(ctx, wr.ID, w.now())
		if errors.Is(err, store.ErrStale) {
			continue // someone else pressed retry first
		}
		if err != nil {
			return n, fmt.Errorf("rooms: retry annotation write: %w", err)
		}
		n++
		w.notify(wr, "saving", "")
	}
	if n > 0 {
		w.Wake()
	}
	return n, nil
}

// Run delivers due writes until ctx ends, looking every interval and whenever woken.
func (w *Writer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if w.Flush(ctx) == w.batch() {
			continue // a full batch: more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
	}
}

// batch is how many writes Flush claims at once: a few rounds of Parallel, so that a claim's
// lease outlasts the calls it covers.
func (w *Writer) batch() int { return 4 * w.opts.Parallel }

// Flush claims a batch of the writes due now (those no other replica holds) and attempts each
// once. It returns how many it claimed.
//
// Objects are written side by side, up to Parallel at once, so that one slow or failing
// write does not hold up everybody else's; the writes of one object go one after the other,
// oldest first.
func (w *Writer) Flush(ctx context.Context) int {
	now := w.now()
	due, err := w.outbox.Claim(ctx, w.opts.Owner, now, now.Add(w.opts.Lease), w.batch())
	if err != nil {
		return 0 // the next tick tries again
	}
	type object struct {
		room, id string
		file     int64
	}
	var order []object
	byObject := map[object][]*store.Write{}
	for i := range due {
		k := object{due[i].RoomID, due[i].ObjectID, due[i].FileID}
		if byObject[k] == nil {
			order = append(order, k)
		}
		byObject[k] = append(byObject[k], &due[i])
	}
	sem := make(chan struct{}, w.opts.Parallel)
	var wg sync.WaitGroup
	for _, k := range order {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, wr := range byObject[k] {
				w.attempt(ctx, wr)
			}
		})
	}
	wg.Wait()
	return len(due)
}

// attempt makes one write, or, when an earlier attempt may have landed, first looks for it.
func (w *Writer) attempt(ctx context.Context, wr *store.Write) {
	api, err := w.apiFor(ctx, wr.SessionID)
	if err != nil {
		w.fail(ctx, wr, "the sign-in that asked for this write has ended")
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	// What CDF answered is recorded even when the server is shutting down meanwhile.
	ctx = context.WithoutCancel(ctx)
	switch wr.Op {
	case store.OpCreate:
		w.create(ctx, callCtx, api, wr)
	case store.OpReview, store.OpRelabel, store.OpDelete:
		w.change(ctx, callCtx, api, wr)
	default:
		w.fail(ctx, wr, "unknown write "+wr.Op)
	}
}

// create creates the annotations of wr, through /annotations/suggest when the user may only
// suggest.
func (w *Writer) create(ctx, callCtx context.Context, api AnnotationsAPI, wr *store.Write) {
	var items []cdf.AnnotationCreate
	if err := json.Unmarshal(wr.Payload, &items); err != nil || len(items) == 0 {
		w.fail(ctx, wr, "the stored annotation is unreadable")
		return
	}
	if wr.Ambiguous {
		claimed, err := w.claimed(ctx, wr)
		if err != nil {
			w.retry(ctx, wr, err, true)
			return
		}
		ids, err := landed(callCtx, api, items, claimed)
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
	// From here until the answer is recorded the create may have landed; should this process
	// die in between, the next attempt looks before it creates.
	if !wr.Ambiguous {
		if err := w.outbox.Attempting(ctx, wr.ID, w.now()); err != nil {
			return // finished elsewhere, or the store is down: the next round sees
		}
	}
	created, err := api.Create(callCtx, items)
	if cdf.StatusCode(err) == http.StatusForbidden {
		// No annotationsAcl:WRITE: annotators who may only suggest still get their work in.
		suggestions := make([]cdf.AnnotationSuggest, len(items))
		for i, it := range items {
			suggestions[i] = it.Suggestion()
		}
		created, err = api.Suggest(callCtx, suggestions)
	}
	if err == nil {
		w.done(ctx, wr, annotationIDs(created))
		return
	}
	w.failed(ctx, wr, err)
}

// failed retries wr after a failed call when trying again may help, and gives up otherwise.
func (w *Writer) failed(ctx context.Context, wr *store.Write, err error) {
	status := cdf.StatusCode(err)
	switch {
	case cdf.Ambiguous(err):
		w.retry(ctx, wr, err, true)
	case status == http.StatusTooManyRequests || status == http.StatusUnauthorized || status >= 500:
		// Throttled or failed before any work, or a token that a refresh will fix.
		w.retry(ctx, wr, err, false)
	case status == http.StatusForbidden:
		w.fail(ctx, wr, "CDF refused: your account may not write annotations (annotationsAcl:WRITE or SUGGEST is needed)")
	default:
		w.fail(ctx, wr, reason(err))
	}
}

// change reviews or deletes the annotations that the object version's create made, once it
// has made them.
func (w *Writer) change(ctx, callCtx context.Context, api AnnotationsAPI, wr *store.Write) {
	writes, err := w.outbox.ForObject(ctx, wr.RoomID, wr.FileID, wr.ObjectID)
	if err != nil {
		w.retry(ctx, wr, err, false)
		return
	}
	// A delete removes what its create made; a review applies to the version's latest create
	// (writes are newest first).
	i := slices.IndexFunc(writes, func(c store.Write) bool {
		return c.Op == store.OpCreate && c.Version == wr.Version && (wr.Op != store.OpDelete || c.Seq == wr.Seq)
	})
	switch {
	case i < 0 || writes[i].State == store.WriteFailed:
		if wr.Op == store.OpDelete {
			w.done(ctx, wr, nil) // nothing reached CDF, so nothing is left there
		} else {
			w.fail(ctx, wr, "the object is not in CDF: retry its save first")
		}
		return
	case writes[i].State == store.WritePending:
		w.wait(ctx, wr)
		return
	}
	ids := writes[i].AnnotationIDs
	if wr.Op == store.OpDelete {
		err = deleteAll(callCtx, api, ids)
	} else {
		updates, err := changes(wr, writes[i], ids)
		if err != nil {
			w.fail(ctx, wr, err.Error())
			return
		}
		_, err = api.Update(callCtx, updates)
		if missing(err) {
			w.fail(ctx, wr, "the object's annotation was deleted in CDF")
			return
		}
	}
	if err != nil {
		w.failed(ctx, wr, err)
		return
	}
	w.done(ctx, wr, ids)
}

// changes are the annotation updates of a review or relabel write wr of the annotations ids
// that create made. A relabel rewrites each annotation's data as created with the new label.
func changes(wr *store.Write, create store.Write, ids []int64) ([]cdf.AnnotationUpdate, error) {
	var p reviewPayload
	if err := json.Unmarshal(wr.Payload, &p); err != nil {
		return nil, errors.New("the stored change is unreadable")
	}
	var items []cdf.AnnotationCreate
	if wr.Op == store.OpRelabel && (json.Unmarshal(create.Payload, &items) != nil || len(items) != len(ids)) {
		return nil, errors.New("the object's stored annotations are unreadable")
	}
	updates := make([]cdf.AnnotationUpdate, len(ids))
	for j, id := range ids {
		updates[j] = cdf.AnnotationUpdate{ID: id, Status: p.Status}
		if wr.Op == store.OpRelabel {
			var data map[string]json.RawMessage
			if err := json.Unmarshal(items[j].Data, &data); err != nil {
				return nil, errors.New("the object's stored annotations are unreadable")
			}
			data["label"], _ = json.Marshal(p.Label)
			updates[j].Data, _ = json.Marshal(data)
		}
	}
	return updates, nil
}

// deleteAll deletes ids; those already gone (an earlier attempt that landed, or someone else)
// count as deleted.
func deleteAll(ctx context.Context, api AnnotationsAPI, ids []int64) error {
	for len(ids) > 0 {
		err := api.Delete(ctx, ids)
		if !missing(err) {
			return err
		}
		var apiErr *cdf.APIError
		errors.As(err, &apiErr)
		gone := map[int64]bool{}
		for _, m := range apiErr.MissingIdentifiers() {
			gone[m.ID] = true
		}
		left := slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return gone[id] })
		if len(left) == len(ids) {
			return err // CDF named none of them: do not loop
		}
		ids = left
	}
	return nil
}

// reason says for people why a call failed: CDF's own message and status rather than the
// client's full error (operation, path, request id).
func reason(err error) string {
	var (
		apiErr *cdf.APIError
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "CDF did not answer in time"
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "CDF could not be reached, or the connection dropped"
	case !errors.As(err, &apiErr):
		return err.Error()
	}
	msg := apiErr.Message
	if msg == "" {
		msg = http.StatusText(apiErr.Status)
	}
	return fmt.Sprintf("CDF answered %d: %s", apiErr.Status, msg)
}

// missing reports whether err is CDF's 400 naming unknown ids.
func missing(err error) bool {
	var apiErr *cdf.APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest && len(apiErr.Missing) > 0
}

func annotationIDs(as []cdf.Annotation) []int64 {
	ids := make([]int64, 0, len(as))
	for _, a := range as {
		ids = append(ids, a.ID)
	}
	return ids
}

// wait looks again soon at a write that waits for its object's create, without counting it
// as a failure.
func (w *Writer) wait(ctx context.Context, wr *store.Write) {
	_ = w.outbox.Retry(ctx, wr.ID, w.now().Add(time.Second), "waiting for the object to reach CDF", false, w.now())
}

func (w *Writer) retry(ctx context.Context, wr *store.Write, err error, ambiguous bool) {
	if w.outbox.Retry(ctx, wr.ID, w.now().Add(w.opts.Backoff(wr.Attempts)), reason(err), ambiguous || wr.Ambiguous, w.now()) == nil {
		w.notify(wr, "saving", "CDF did not take it yet; trying again")
	}
}

func (w *Writer) done(ctx context.Context, wr *store.Write, ids []int64) {
	if w.outbox.Done(ctx, wr.ID, ids, w.now()) == nil {
		wr.AnnotationIDs = ids
		w.notify(wr, "saved", "")
	}
}

func (w *Writer) fail(ctx context.Context, wr *store.Write, msg string) {
	if w.outbox.Fail(ctx, wr.ID, msg, w.now()) == nil {
		w.notify(wr, "failed", msg)
	}
}

// claimed returns the annotation ids that the image's other writes have created: an equal
// annotation that one of them made (two objects can have the same outline) is not wr's.
func (w *Writer) claimed(ctx context.Context, wr *store.Write) (map[int64]bool, error) {
	writes, err := w.outbox.ForImage(ctx, wr.RoomID, wr.FileID)
	if err != nil {
		return nil, err
	}
	ids := map[int64]bool{}
	for _, o := range writes {
		if o.ID != wr.ID && o.Op == store.OpCreate {
			for _, id := range o.AnnotationIDs {
				ids[id] = true
			}
		}
	}
	return ids, nil
}

// landed looks in CDF for annotations equal to items (same file, app, user, label and
// polygon) that no other write claimed, and returns their ids in item order, or fewer when
// some are missing.
func landed(ctx context.Context, api AnnotationsAPI, items []cdf.AnnotationCreate, claimed map[int64]bool) ([]int64, error) {
	var ids []int64
	for _, it := range items {
		list, err := api.List(ctx, cdf.AnnotationFilter{
			AnnotatedResourceType: cdf.ResourceFile,
			AnnotatedResourceIDs:  []cdf.Identifier{cdf.ID(it.AnnotatedResourceID)},
			AnnotationType:        it.AnnotationType,
			CreatingApp:           it.CreatingApp,
			CreatingUser:          it.CreatingUser,
			Data:                  it.Data,
		}, cdf.ListOptions{Limit: cdf.MaxAnnotationLimit})
		if err != nil {
			return nil, err
		}
		for _, a := range list.Items {
			if !claimed[a.ID] && !slices.Contains(ids, a.ID) {
				ids = append(ids, a.ID)
				break
			}
		}
	}
	return ids, nil
}
