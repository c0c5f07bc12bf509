package views_test

import (
	"strings"
	"testing"

	"github.com/lassoteam/lasso/views"
)

// TestRoomReviewAndExport: the room page offers review to the owner and reviewers only, and
// an export form that works without script (a GET to /rooms/{id}/export with format and status).
func TestRoomReviewAndExport(t *testing.T) {
	p := roomPage()
	doc := render(t, views.Room(p))
	checkShell(t, doc)
	link := doc.Find("a[data-review-link]")
	if link.Length() != 1 || link.AttrOr("href", "") != "/rooms/r1/images/7?review=1" || link.Is("[hidden]") {
		t.Errorf("review link for the owner: %d, href %q", link.Length(), link.AttrOr("href", ""))
	}
	if title := link.AttrOr("title", ""); !strings.Contains(title, "A approves") || !strings.Contains(title, "R rejects") {
		t.Errorf("review link title %q lacks its keys", title)
	}
	form := doc.Find("form[data-export-form]")
	if form.AttrOr("method", "") != "get" || form.AttrOr("action", "") != "/rooms/r1/export" {
		t.Errorf("export form method %q action %q", form.AttrOr("method", ""), form.AttrOr("action", ""))
	}
	for _, sel := range []string{`input[name="format"][value="coco"][checked]`, `input[name="format"][value="yolo"]`,
		`input[name="status"][value="approved"][checked]`, `input[name="status"][value="accepted"]`,
		`button[type="submit"][data-export-button]`, `progress[data-export-progress][hidden]`} {
		if form.Find(sel).Length() != 1 {
			t.Errorf("export form lacks %s", sel)
		}
	}

	// A plain member is not offered review (the link is there, hidden, for a live role change);
	// a reviewer is, at the first image when none has objects.
	p.UserID, p.IsOwner = "ana", false
	if link := render(t, views.Room(p)).Find("a[data-review-link]"); !link.Is("[hidden]") || link.AttrOr("href", "") != "" {
		t.Error("a plain member is offered review")
	}
	p.Members[1].Role = "reviewer"
	for i := range p.Images {
		p.Images[i].Objects = 0
	}
	doc = render(t, views.Room(p))
	if link := doc.Find("a[data-review-link]"); link.Is("[hidden]") || link.AttrOr("href", "") != "/rooms/r1/images/7?review=1" {
		t.Errorf("reviewer's link: hidden %v, href %q", link.Is("[hidden]"), link.AttrOr("href", ""))
	}
	if got := doc.Find(`[data-member-id="ana"] .member-role`).AttrOr("data-role", ""); got != "reviewer" {
		t.Errorf("ana's role chip %q", got)
	}
}

// TestAnnotateReview: the annotation page's review toggle (owner and reviewers), review bar,
// per-object review and save controls, the "How this was made" drawer, and their keys in the
// tooltips and the help.
func TestAnnotateReview(t *testing.T) {
	p := views.AnnotatePage{
		Layout: layout, FileID: 7, Name: "a.jpg", ImageURL: "/images/7/content", BackHref: "/rooms/r1",
		RoomID: "r1", RoomName: "Pumps", UserID: "me", Members: roomPage().Members,
	}
	doc := render(t, views.Annotate(p))
	checkShell(t, doc)
	root := doc.Find("[data-annotator]")
	if got := root.AttrOr("data-role", ""); got != "owner" {
		t.Errorf("data-role = %q", got)
	}
	toggle := root.Find(`.toolbar [data-action="toggle-review"]`)
	if toggle.Length() != 1 || toggle.Is("[hidden]") || toggle.AttrOr("aria-pressed", "") != "false" {
		t.Errorf("review toggle for the owner: %d, hidden %v", toggle.Length(), toggle.Is("[hidden]"))
	}
	title := toggle.AttrOr("title", "")
	for _, k := range []string{"(V)", "Tab", "Shift+Tab", "J / K", "A approves", "R rejects", "U takes back", "← / →"} {
		if !strings.Contains(title, k) {
			t.Errorf("review toggle title %q lacks %q", title, k)
		}
	}
	if root.Find("[data-review-bar][hidden] [data-review-counts]").Length() != 1 || root.Find(`[data-review-bar] [data-action="next-review"]`).Length() != 1 {
		t.Error("no review bar")
	}
	tpl, err := root.Find("template[data-object-template]").Html()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-field="review"`, `data-action="retry-save"`, `data-field="review-actions"`,
		`data-decision="approved"`, `title="Approve (A)"`, `data-decision="rejected"`, `title="Reject (R)"`, `title="Take the decision back (U)"`,
		`data-action="provenance"`, `title="How this was made (I)"`} {
		if !strings.Contains(tpl, want) {
			t.Errorf("object template lacks %s", want)
		}
	}
	prov := root.Find("[data-provenance][hidden]")
	if prov.Length() != 1 || prov.Find("[data-prov-rows]").Length() != 1 || prov.Find("[data-prov-writes]").Length() != 1 ||
		prov.Find(`input[type="checkbox"][data-prov-overlay]`).Length() != 1 || prov.Find(`[data-action="rerun"]`).Length() != 1 ||
		!strings.Contains(prov.Find(`[data-action="close-provenance"]`).AttrOr("title", ""), "(I)") {
		t.Error("the provenance drawer is incomplete")
	}
	help := root.Find("dialog[data-help]").Text()
	for _, k := range []string{"Review mode", "Shift+Tab", "Approve the selected object", "Reject the selected object", "Take the decision back", "How the selected object was made"} {
		if !strings.Contains(help, k) {
			t.Errorf("help lacks %q", k)
		}
	}

	// A plain member: the toggle is there for a live role change, hidden.
	p.UserID = "ana"
	root = render(t, views.Annotate(p)).Find("[data-annotator]")
	if root.AttrOr("data-role", "") != "member" || !root.Find(`[data-action="toggle-review"]`).Is("[hidden]") {
		t.Error("a plain member sees the review toggle")
	}
	// Alone: no review, but the drawer and the save controls.
	root = render(t, views.Annotate(views.AnnotatePage{Layout: layout, FileID: 7, Room: "image:7"})).Find("[data-annotator]")
	if root.Find(`[data-action="toggle-review"], [data-review-bar]`).Length() != 0 || root.Find("[data-provenance]").Length() != 1 ||
		strings.Contains(root.Find("dialog[data-help]").Text(), "Review mode") {
		t.Error("standalone page: review parts shown, or the drawer missing")
	}
}
