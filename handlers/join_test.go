package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestJoinNeedsAPost: the share link (GET /rooms/:id/join) only shows a page with a Join
// button: following it from another site, or a prefetch, joins nobody. The button's POST,
// with the CSRF token, joins; a member's share link opens the room.
func TestJoinNeedsAPost(t *testing.T) {
	ana := setup(t, options{})
	roomID := ana.createRoom(t, url.Values{"name": {"Team <one>"}, "labels": {"cat #ff0000"}})
	ben := ana.signIn(t, "Ben")

	doc := ben.page(t, "/rooms/"+roomID+"/join", http.StatusOK)
	form := doc.Find(`form[method="post"][action="/rooms/` + roomID + `/join"]`)
	if form.Length() != 1 || form.Find(`button[type="submit"]`).Length() != 1 {
		t.Fatalf("the join page has no Join form: %s", doc.Find("main").Text())
	}
	if token, _ := form.Find(`input[name="_csrf"]`).Attr("value"); token != ben.csrf {
		t.Errorf("the Join form's token %q, want the session's %q", token, ben.csrf)
	}
	if h := doc.Find("h1").Text(); h != "Join “Team <one>”?" {
		t.Errorf("the join page's heading %q", h)
	}
	if got := ben.status(t, http.MethodGet, "/rooms/"+roomID, ""); got != http.StatusForbidden {
		t.Fatalf("after only loading the join page, Ben opens the room: %d, want 403", got)
	}

	// The button's POST: without the token refused, with it Ben joins.
	res, err := ben.client.PostForm(ben.url+"/rooms/"+roomID+"/join", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("join without a token: %d, want 403", res.StatusCode)
	}
	res, err = ben.client.PostForm(ben.url+"/rooms/"+roomID+"/join", url.Values{"_csrf": {ben.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/rooms/"+roomID {
		t.Fatalf("join: %d to %q, want 303 to the room", res.StatusCode, res.Header.Get("Location"))
	}
	if got := ben.status(t, http.MethodGet, "/rooms/"+roomID, ""); got != http.StatusOK {
		t.Errorf("after joining, Ben opens the room: %d", got)
	}
	// A member's share link goes straight to the room.
	req, _ := http.NewRequest(http.MethodGet, ben.url+"/rooms/"+roomID+"/join", nil)
	res, err = ben.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/rooms/"+roomID {
		t.Errorf("a member's share link: %d to %q, want 303 to the room", res.StatusCode, res.Header.Get("Location"))
	}
	if got := ben.status(t, http.MethodGet, "/rooms/nosuchroom/join", ""); got != http.StatusNotFound {
		t.Errorf("the share link of no room: %d, want 404", got)
	}
}
