package views_test

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/views"
)

func TestRooms(t *testing.T) {
	p := views.RoomsPage{
		Layout: layout,
		Rooms: []views.RoomCard{
			{ID: "abc", Name: "Pumps", Href: "/rooms/abc", Images: 12, Done: 3, InProgress: 2, Created: "3 Mar 2026", CreatedISO: "2026-03-03T10:00:00Z", Owner: "Ana Lima"},
			{ID: "def", Name: "Old", Href: "/rooms/def", Images: 1, Closed: true},
		},
		Form:  views.NewRoomForm{Name: "x", Source: "ids", FileIDs: "1\n2", Labels: "car #ff0000"},
		Error: "Line 1 of the labels needs a colour.",
	}
	doc := render(t, views.Rooms(p))
	checkShell(t, doc)
	var hrefs []string
	doc.Find("[data-room-list] a[data-room-link]").Each(func(_ int, s *goquery.Selection) { hrefs = append(hrefs, s.AttrOr("href", "")) })
	if diff := cmp.Diff([]string{"/rooms/abc", "/rooms/def"}, hrefs); diff != "" {
		t.Errorf("room links (-want +got):\n%s", diff)
	}
	first := doc.Find(".room-row").First().Text()
	for _, want := range []string{"Pumps", "12 images", "Ana Lima", "3/12 done", "2 in progress"} {
		if !strings.Contains(first, want) {
			t.Errorf("room row %q lacks %q", first, want)
		}
	}
	if doc.Find(".room-row").Eq(1).Find(`.badge[data-status="closed"]`).Length() != 1 {
		t.Error("closed room has no badge")
	}
	form := doc.Find("form[data-new-room-form]")
	if form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != "/rooms" {
		t.Errorf("form %s %s", form.AttrOr("method", ""), form.AttrOr("action", ""))
	}
	if got := form.Find(`input[name="_csrf"]`).AttrOr("value", ""); got != layout.CSRFToken {
		t.Errorf("_csrf = %q", got)
	}
	for _, name := range []string{"name", "directory_prefix", "file_name", "external_id_prefix"} {
		if form.Find(`input[name="`+name+`"]`).Length() != 1 {
			t.Errorf("form lacks input %s", name)
		}
	}
	if form.Find(`select[name="mime_type"]`).Length() != 1 || form.Find(`textarea[name="file_ids"]`).Text() != "1\n2" || form.Find(`textarea[name="labels"]`).Text() != "car #ff0000" {
		t.Error("mime type, file ids or labels not echoed")
	}
	if got := form.Find(`input[name="source"][checked]`).AttrOr("value", ""); got != "ids" {
		t.Errorf("checked source = %q", got)
	}
	if got := form.Find(".form-error").Text(); got != p.Error {
		t.Errorf("error = %q", got)
	}

	doc = render(t, views.Rooms(views.RoomsPage{Layout: layout}))
	if doc.Find(".empty-state").Length() != 1 || doc.Find(`input[name="source"][value="filter"][checked]`).Length() != 1 {
		t.Error("empty rooms page: no empty state or default source")
	}
}

func roomPage() views.RoomPage {
	return views.RoomPage{
		Layout: layout, RoomID: "r1", Name: "Pumps", UserID: "me", IsOwner: true,
		ShareURL: "http://lasso.test/rooms/r1/join",
		Images: []views.RoomImageCard{
			{FileID: 7, Name: "a.jpg", IconURL: "/files/7/icon", Href: "/rooms/r1/images/7", Status: "in_progress", Objects: 2},
			{FileID: 8, Name: "b.jpg", Href: "/rooms/r1/images/8", Status: "done", DoneBy: "Ana Lima", Objects: 1},
			{FileID: 9, Name: "c.jpg", Href: "/rooms/r1/images/9"},
		},
		Members: []views.MemberView{
			{UserID: "me", Name: "Me Myself", Role: "owner", Present: true},
			{UserID: "ana", Name: "Ana Lima", Color: "#123456", Role: "member", Present: true, FileID: 7},
			{UserID: "b|o", Name: "Bo", Role: "member"},
		},
		Labels: []views.LabelView{{Name: "car", Color: "#ff0000", Key: 1}},
		Progress: views.ProgressView{
			Done: 1, InProgress: 1, Untouched: 1, Total: 3,
			Labels:  []views.LabelCount{{Name: "car", Color: "#ff0000", Objects: 3}},
			Members: []views.MemberCount{{UserID: "ana", Name: "Ana Lima", Objects: 3, Done: 1}},
		},
	}
}

func TestRoom(t *testing.T) {
	p := roomPage()
	doc := render(t, views.Room(p))
	checkShell(t, doc)
	if got := doc.Find("script").AttrOr("src", ""); got != "/static/js/room.js" {
		t.Errorf("script = %q", got)
	}
	root := doc.Find("[data-room-page]")
	if root.AttrOr("data-room-id", "") != "r1" || root.AttrOr("data-user-id", "") != "me" || root.AttrOr("data-owner", "") != "true" {
		t.Errorf("root data: %v", root.Nodes[0].Attr)
	}
	var cards [][3]string
	root.Find("[data-room-grid] [data-file-id]").Each(func(_ int, s *goquery.Selection) {
		cards = append(cards, [3]string{s.AttrOr("data-file-id", ""), s.AttrOr("data-status", ""), s.Find("a").AttrOr("href", "")})
	})
	want := [][3]string{{"7", "in_progress", "/rooms/r1/images/7"}, {"8", "done", "/rooms/r1/images/8"}, {"9", "untouched", "/rooms/r1/images/9"}}
	if diff := cmp.Diff(want, cards); diff != "" {
		t.Errorf("cards (-want +got):\n%s", diff)
	}
	if got := root.Find(`[data-file-id="7"] [data-presence-user]`); got.Length() != 1 || got.AttrOr("data-presence-user", "") != "ana" || got.Text() != "AL" || got.AttrOr("data-color", "") != "#123456" {
		t.Errorf("presence on 7: %d %q", got.Length(), got.Text())
	}
	if root.Find(`[data-file-id="8"] [data-presence-user]`).Length() != 0 {
		t.Error("presence on an image nobody is on")
	}
	if got := root.Find(`[data-file-id="8"] [data-done-by]`).Text(); !strings.Contains(got, "Ana Lima") {
		t.Errorf("done by = %q", got)
	}
	if got := root.Find("[data-share-url]").AttrOr("value", ""); got != p.ShareURL {
		t.Errorf("share = %q", got)
	}
	// Members: presence text and the owner's remove buttons (not for the owner).
	var where []string
	root.Find("[data-member-list] [data-member-id]").Each(func(_ int, s *goquery.Selection) {
		where = append(where, s.AttrOr("data-member-id", "")+" "+s.AttrOr("data-present", "")+" "+s.Find("[data-where]").Text())
	})
	if diff := cmp.Diff([]string{"me true in the room", "ana true on a.jpg", "b|o false away"}, where); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	forms := root.Find("form[data-remove-form]")
	if forms.Length() != 2 || forms.Eq(1).AttrOr("action", "") != "/rooms/r1/members/b%7Co/remove" || forms.Find(`input[name="_csrf"]`).AttrOr("value", "") != layout.CSRFToken {
		t.Errorf("remove forms: %d, action %q", forms.Length(), forms.Eq(1).AttrOr("action", ""))
	}
	if root.Find(`form[action="/rooms/r1/close"] input[name="_csrf"]`).Length() != 1 || root.Find(`[data-action="next-image"]`).Length() != 1 {
		t.Error("no close form or next button")
	}
	for k, v := range map[string]string{"done": "1", "in_progress": "1", "untouched": "1"} {
		if got := root.Find(`[data-count="` + k + `"]`).Text(); got != v {
			t.Errorf("count %s = %q", k, got)
		}
	}
	if got := root.Find("[data-label-counts]").Text(); !strings.Contains(got, "car") || !strings.Contains(got, "3") {
		t.Errorf("label counts = %q", got)
	}

	// A member sees no owner controls; a closed room offers no actions.
	p.IsOwner, p.Closed = false, false
	doc = render(t, views.Room(p))
	if doc.Find("form[data-remove-form], form[data-close-form]").Length() != 0 {
		t.Error("a member sees owner controls")
	}
	p.IsOwner, p.Closed = true, true
	doc = render(t, views.Room(p))
	if doc.Find(`form[data-remove-form], form[data-close-form], [data-action="next-image"]`).Length() != 0 {
		t.Error("a closed room offers actions")
	}
}

func TestAnnotateRoomMode(t *testing.T) {
	p := views.AnnotatePage{
		Layout: layout, FileID: 7, Name: "a.jpg", ImageURL: "/images/7/content", Width: 100, Height: 80,
		Room: "ignored", PrevHref: "/rooms/r1/images/6", BackHref: "/rooms/r1",
		RoomID: "r1", RoomName: "Pumps", UserID: "me", ImageDone: true, DoneHref: "/rooms/r1",
		Labels:  []views.LabelView{{Name: "car", Color: "#ff0000", Key: 1}, {Name: "person", Color: "#00ff00", Key: 2}},
		Members: roomPage().Members,
	}
	doc := render(t, views.Annotate(p))
	checkShell(t, doc)
	root := doc.Find("[data-annotator]")
	for k, v := range map[string]string{"data-room": "room:r1", "data-room-id": "r1", "data-user-id": "me", "data-image-done": "true", "data-done-href": "/rooms/r1", "data-file-id": "7"} {
		if got := root.AttrOr(k, "?"); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	var chips []string
	root.Find("[data-room-label]").Each(func(_ int, s *goquery.Selection) {
		chips = append(chips, s.AttrOr("data-label-key", "")+":"+s.AttrOr("data-room-label", "")+":"+s.AttrOr("data-color", ""))
	})
	if diff := cmp.Diff([]string{"1:car:#ff0000", "2:person:#00ff00"}, chips); diff != "" {
		t.Errorf("label chips (-want +got):\n%s", diff)
	}
	if root.Find("[data-sticky-label]").Length() != 0 {
		t.Error("free label input shown although the room has labels")
	}
	if got := root.Find("[data-here] [data-presence-user]"); got.Length() != 1 || got.AttrOr("data-presence-user", "") != "ana" {
		t.Errorf("who is here: %d", got.Length())
	}
	next := root.Find(`.toolbar [data-action="next-image"]`).AttrOr("title", "")
	for _, k := range []string{"D", "→", "Shift+N"} {
		if !strings.Contains(next, k) {
			t.Errorf("next title %q lacks %q", next, k)
		}
	}
	if root.Find(`[data-action="toggle-done"]`).AttrOr("aria-pressed", "") != "true" {
		t.Error("done toggle not pressed")
	}
	if root.Find("[data-lock-banner] [data-action=take-over]").Length() != 1 || root.Find("[data-removed]").Length() != 1 {
		t.Error("no lock banner or removed notice")
	}
	if !strings.Contains(root.Find("dialog[data-help]").Text(), "Shift+N") {
		t.Error("help lacks the room bindings")
	}

	// Alone, the page has none of it.
	doc = render(t, views.Annotate(views.AnnotatePage{Layout: layout, FileID: 7, Room: "image:7"}))
	root = doc.Find("[data-annotator]")
	if root.AttrOr("data-room", "") != "image:7" || root.Is("[data-room-id]") || root.Find("[data-here], [data-lock-banner], [data-room-label]").Length() != 0 {
		t.Error("standalone page shows room parts")
	}
	if root.Find("[data-sticky-label]").Length() != 1 || strings.Contains(root.Find("dialog[data-help]").Text(), "Shift+N") {
		t.Error("standalone page lost its free labels or gained room help")
	}
}
