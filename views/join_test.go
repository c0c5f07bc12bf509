package views_test

import (
	"strings"
	"testing"

	"github.com/lassoteam/lasso/views"
)

// TestJoinRoom: the share link's page asks before joining: a POST form to the room's join
// URL with the CSRF token and a Join button; nothing on it joins by itself.
func TestJoinRoom(t *testing.T) {
	doc := render(t, views.JoinRoom(views.JoinRoomPage{Layout: layout, RoomID: "abc/def", Name: "Pumps <b>", Owner: "Ana", Images: 3, Closed: true}))
	checkShell(t, doc)
	form := doc.Find("form.join-form")
	if form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != "/rooms/abc%2Fdef/join" {
		t.Errorf("join form method %q action %q", form.AttrOr("method", ""), form.AttrOr("action", ""))
	}
	if got := form.Find(`input[name="_csrf"]`).AttrOr("value", ""); got != layout.CSRFToken {
		t.Errorf("join form token %q", got)
	}
	if form.Find(`button[type="submit"][data-join-room]`).Length() != 1 {
		t.Error("no Join button")
	}
	if got := doc.Find("h1").Text(); got != "Join “Pumps <b>”?" {
		t.Errorf("heading %q", got)
	}
	if text := doc.Find("main").Text(); !strings.Contains(text, "Ana shared this room") || !strings.Contains(text, "3 images") || !strings.Contains(text, "closed") {
		t.Errorf("join page says %q", text)
	}
}
