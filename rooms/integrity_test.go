package rooms_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/store"
)

// approved is object id, segmented, accepted, approved by the owner and written to CDF.
func (g *opsRig) approved(id string) {
	g.t.Helper()
	g.segmented(id, 1, 0.1)
	g.accept(id)
	if _, err := g.svc.Review(context.Background(), g.room.ID, ana, g.fileID, id, 1, store.ReviewApproved); err != nil {
		g.t.Fatal(err)
	}
	g.drain()
	if got := g.only(); got.Status != cdf.AnnotationApproved {
		g.t.Fatalf("after approval CDF holds %+v", got)
	}
}

// only returns the one annotation in the stand-in.
func (g *opsRig) only() cdf.Annotation {
	g.t.Helper()
	as := g.standIn.Annotations()
	if len(as) != 1 {
		g.t.Fatalf("CDF holds %d annotations, want 1: %+v", len(as), as)
	}
	return as[0]
}

func labelOf(t *testing.T, a cdf.Annotation) string {
	t.Helper()
	od, err := a.ObjectDetection()
	if err != nil {
		t.Fatal(err)
	}
	return od.Label
}

func (g *opsRig) object(id string) *store.Object {
	g.t.Helper()
	o, err := g.st.Rooms().Object(context.Background(), store.ObjectKey{RoomID: g.room.ID, FileID: g.fileID, ObjectID: id})
	if err != nil {
		g.t.Fatal(err)
	}
	return o
}

// TestReviewIntegrityRelabel: relabelling an approved object sends it back to review, in Lasso
// and in CDF, and the new label reaches CDF: no reviewer approved "dog".
func TestReviewIntegrityRelabel(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	g.approved("o")
	dog := "dog"
	o, err := g.svc.Edit(context.Background(), g.room.ID, ana, g.fileID, "o", rooms.Change{Label: &dog})
	if err != nil {
		t.Fatal(err)
	}
	if o.Review != "" || o.Label != "dog" {
		t.Errorf("after relabel: label %q review %q; want dog, awaiting review", o.Label, o.Review)
	}
	g.drain()
	a := g.only()
	if labelOf(t, a) != "dog" || a.Status != cdf.AnnotationSuggested {
		t.Errorf("CDF holds label %q status %s; want dog, suggested", labelOf(t, a), a.Status)
	}
	if o := g.object("o"); o.Review != "" {
		t.Errorf("stored review %q after relabel", o.Review)
	}
}

// TestReviewIntegrityRelabelAccepted: relabelling an accepted object that nobody reviewed
// reaches CDF too, through the outbox.
func TestReviewIntegrityRelabelAccepted(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	g.segmented("o", 1, 0.1)
	g.accept("o")
	g.drain()
	dog := "dog"
	if _, err := g.svc.Edit(context.Background(), g.room.ID, ana, g.fileID, "o", rooms.Change{Label: &dog}); err != nil {
		t.Fatal(err)
	}
	g.drain()
	if a := g.only(); labelOf(t, a) != "dog" {
		t.Errorf("CDF holds label %q, want dog", labelOf(t, a))
	}
	writes, err := g.w.ForObject(context.Background(), g.room.ID, g.fileID, "o")
	if err != nil {
		t.Fatal(err)
	}
	if writes[0].State != store.WriteDone || writes[0].Op == store.OpCreate {
		t.Errorf("the newest write is %s %s, want the relabel, done", writes[0].Op, writes[0].State)
	}
}

// TestReviewIntegrityReaccept: taking an approved object's accept back and accepting it again
// makes a new annotation that awaits review; the approval does not carry over.
func TestReviewIntegrityReaccept(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	g.approved("o")
	no, yes := false, true
	ctx := context.Background()
	if _, err := g.svc.Edit(ctx, g.room.ID, ana, g.fileID, "o", rooms.Change{Accepted: &no}); err != nil {
		t.Fatal(err)
	}
	o, err := g.svc.Edit(ctx, g.room.ID, ana, g.fileID, "o", rooms.Change{Accepted: &yes})
	if err != nil {
		t.Fatal(err)
	}
	if o.Review != "" {
		t.Errorf("re-accepted object has review %q, want awaiting review", o.Review)
	}
	g.drain()
	if a := g.only(); a.Status != cdf.AnnotationSuggested {
		t.Errorf("CDF holds status %s, want suggested", a.Status)
	}
}

// TestReviewIntegrityReprompt: a new prompt on an approved object replaces its outline, so the
// new version awaits review and CDF's annotation of it is a suggestion.
func TestReviewIntegrityReprompt(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	g.approved("o")
	g.segmented("o", 2, 0.4)
	g.accept("o")
	if o := g.object("o"); o.Review != "" || o.Version != 2 {
		t.Errorf("after a new prompt: version %d review %q", o.Version, o.Review)
	}
	g.drain()
	if a := g.only(); a.Status != cdf.AnnotationSuggested {
		t.Errorf("CDF holds status %s, want suggested", a.Status)
	}
}

// TestReviewIntegrityRelabelBeforeReaccept: an accepted object prompted again but not yet
// accepted again still has its first version in CDF; a relabel then renames that one.
func TestReviewIntegrityRelabelBeforeReaccept(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	g.approved("o")
	g.segmented("o", 2, 0.4)
	dog := "dog"
	if _, err := g.svc.Edit(context.Background(), g.room.ID, ana, g.fileID, "o", rooms.Change{Label: &dog}); err != nil {
		t.Fatal(err)
	}
	g.drain()
	if a := g.only(); labelOf(t, a) != "dog" || a.Status != cdf.AnnotationSuggested {
		t.Errorf("CDF holds label %q status %s; want dog, suggested", labelOf(t, a), a.Status)
	}
}

// refuseWrites makes the database itself refuse to store outbox writes of op, as a full disk
// or a dying process would at that point: a second connection to the store's file adds a
// trigger that aborts them.
func (g *opsRig) refuseWrites(op string) {
	g.t.Helper()
	db, err := sql.Open("sqlite", g.dbPath)
	if err != nil {
		g.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse_` + op + ` BEFORE INSERT ON writes WHEN NEW.op = '` + op + `'
		BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		g.t.Fatal(err)
	}
}

// writesOf returns the object's stored writes as "op vN".
func (g *opsRig) writesOf(id string) []string {
	g.t.Helper()
	ws, err := g.st.Outbox().ForObject(context.Background(), g.room.ID, g.fileID, id)
	if err != nil {
		g.t.Fatal(err)
	}
	var out []string
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%s v%d", w.Op, w.Version))
	}
	return out
}

// TestEditKeepsObjectAndWritesTogether: accepting a new version owes CDF its create and the
// delete of the old version's annotations. When the delete cannot be stored, the accept is
// not kept either: Lasso does not show an accepted object whose writes CDF will never get
// (or get half of, ending with two annotations for one object).
func TestEditKeepsObjectAndWritesTogether(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	g.segmented("o", 1, 0.1)
	g.accept("o")
	g.drain()
	g.segmented("o", 2, 0.4)
	g.refuseWrites(store.OpDelete)
	before := g.object("o")
	yes, label := true, "hook"
	if _, err := g.svc.Edit(context.Background(), g.room.ID, ana, g.fileID, "o", rooms.Change{Accepted: &yes, Label: &label}); err == nil {
		t.Fatal("accept succeeded although its writes could not be stored")
	}
	if after := g.object("o"); !reflect.DeepEqual(after, before) {
		t.Errorf("the failed accept changed the object:\n%+v\nwas\n%+v", after, before)
	}
	if got := g.writesOf("o"); !slices.Equal(got, []string{"create v1"}) {
		t.Errorf("writes after the failed accept: %v; want only the first version's create", got)
	}
	g.drain()
	if a := g.only(); a.Status != cdf.AnnotationSuggested {
		t.Errorf("CDF holds %+v", a)
	}
}

// TestReviewKeepsDecisionAndWriteTogether: a review whose write to CDF cannot be stored is not
// kept: the reviewer is told, and Lasso does not say "approved" while CDF says "suggested".
func TestReviewKeepsDecisionAndWriteTogether(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	g.segmented("o", 1, 0.1)
	g.accept("o")
	g.drain()
	g.refuseWrites(store.OpReview)
	if _, err := g.svc.Review(context.Background(), g.room.ID, ana, g.fileID, "o", 1, store.ReviewApproved); err == nil {
		t.Fatal("review succeeded although its write could not be stored")
	}
	if o := g.object("o"); o.Review != "" || o.ReviewerID != "" {
		t.Errorf("stored review %q by %q after the failed review; want none", o.Review, o.ReviewerID)
	}
	if a := g.only(); a.Status != cdf.AnnotationSuggested {
		t.Errorf("CDF holds status %s; want suggested", a.Status)
	}
}

// TestAcceptWithoutSegmentIsNotKept: an object whose segment has not finished cannot be
// accepted (there is nothing to write), and the refusal leaves it unaccepted.
func TestAcceptWithoutSegmentIsNotKept(t *testing.T) {
	g := newOpsRig(t, nil, nil)
	if _, err := g.st.Rooms().PutPrompt(context.Background(), &store.Object{RoomID: g.room.ID, FileID: g.fileID, ObjectID: "o", AuthorID: ana.ID,
		AuthorName: ana.Name, Label: "crane", Prompt: json.RawMessage(`{"points":[]}`), Version: 1, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	yes := true
	_, err := g.svc.Edit(context.Background(), g.room.ID, ana, g.fileID, "o", rooms.Change{Accepted: &yes})
	if !errors.Is(err, rooms.ErrNothingToSave) {
		t.Fatalf("accepting an unsegmented object: %v; want ErrNothingToSave", err)
	}
	if o := g.object("o"); o.Accepted {
		t.Error("the refused accept was kept")
	}
	if got := g.writesOf("o"); len(got) != 0 {
		t.Errorf("writes of the refused accept: %v", got)
	}
}
