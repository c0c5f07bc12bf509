package rooms_test

import (
	"context"
	"testing"

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
