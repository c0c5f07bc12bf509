package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// errorMessage is the message of a JSON error answer.
func errorMessage(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	return e.Error.Message
}

// TestInputBounds: the room form's image source is one of its two choices; a prompt version
// is at most a billion on every route that takes one; a body over the limit is 413 also when
// it comes without a length (chunked), for JSON and for forms.
func TestInputBounds(t *testing.T) {
	a := setup(t, options{})
	res, err := a.client.PostForm(a.url+"/rooms", url.Values{"name": {"R"}, "source": {"evil"}, "_csrf": {a.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(page), "source=filter") {
		t.Errorf("source=evil: %d; want 400 naming the choices", res.StatusCode)
	}

	roomID := a.createRoom(t, url.Values{"name": {"Bounds"}, "source": {"filter"}})
	file := a.files["square.jpg"]
	huge := fmt.Sprint(int64(1<<63 - 1))
	roomObject := fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1", roomID, file)
	soloObject := fmt.Sprintf("/api/images/%d/objects/o1", file)
	for _, r := range []struct{ path, body string }{
		{a.segmentPath("square.jpg"), `{"objectId":"o1","version":` + huge + `,"points":[{"x":0.5,"y":0.5,"label":1}]}`},
		{roomObject + "/prompt", `{"version":` + huge + `,"points":[{"x":0.5,"y":0.5,"label":1}]}`},
		{roomObject + "/prompt", `{"version":1000000001,"points":[{"x":0.5,"y":0.5,"label":1}]}`},
		{roomObject + "/review", `{"version":` + huge + `,"decision":"approved"}`},
		{roomObject + "/retry", `{"version":` + huge + `}`},
		{soloObject + "/accept", `{"version":` + huge + `}`},
		{soloObject + "/retry", `{"version":` + huge + `}`},
	} {
		status, answer := a.jsonPost(t, r.path, r.body)
		if status != http.StatusBadRequest || !strings.Contains(errorMessage(t, answer), "from 1 to 1000000000") {
			t.Errorf("POST %s %s: %d %s; want 400 saying the bounds", r.path, r.body, status, answer)
		}
	}
	if status, answer := a.jsonPost(t, a.segmentPath("square.jpg"), `{"objectId":"o1","version":1000000000,"points":[{"x":0.5,"y":0.5,"label":1}]}`); status != http.StatusAccepted {
		t.Errorf("version 1000000000: %d %s; want 202", status, answer)
	}

	// 20 MB without Content-Length, to a JSON route and to a form.
	for path, contentType := range map[string]string{a.segmentPath("square.jpg"): "application/json", "/rooms": "application/x-www-form-urlencoded"} {
		big := io.MultiReader(strings.NewReader(`{"objectId":"`), bytes.NewReader(bytes.Repeat([]byte("a"), 20<<20)), strings.NewReader(`"}`))
		req, _ := http.NewRequest(http.MethodPost, a.url+path, big)
		req.ContentLength = -1 // chunked
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-CSRF-Token", a.csrf)
		res, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "too large") {
			t.Errorf("a chunked 20 MB %s body: %d %s; want 413", contentType, res.StatusCode, b)
		}
	}
}

// goNames are Go's names for types and fields, which messages must not show.
var goNames = regexp.MustCompile(`handlers\.|segmentRequest|acceptDetail|\b(u?int(8|16|32|64)?|float(32|64)|bool|string)\b|\[\]`)

// TestMessagesSayWhatIsWrong: a JSON value of the wrong type is named as the JSON names it and
// its expected type in words, never with Go's names; the owner is told what is refused when
// changing their own role or removing themselves.
func TestMessagesSayWhatIsWrong(t *testing.T) {
	a := setup(t, options{})
	roomID := a.createRoom(t, url.Values{"name": {"Words"}, "labels": {"cat #ff0000"}})
	file := a.files["square.jpg"]
	segment := a.segmentPath("square.jpg")
	prompt := fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1/prompt", roomID, file)
	for _, tt := range []struct{ path, body, want string }{
		{segment, `{"objectId":1}`, `"objectId" must be text, not a number`},
		{segment, `{"objectId":"o1","version":"one"}`, `"version" must be a whole number, not text`},
		{segment, `{"objectId":"o1","version":1.5}`, `"version" must be a whole number, not 1.5`},
		{segment, `{"objectId":"o1","version":1,"points":{}}`, `"points" must be a list, not an object`},
		{segment, `{"objectId":"o1","version":1,"points":[{"x":"left"}]}`, `"points.x" must be a number, not text`},
		{segment, `[1,2]`, `the body must be an object ({…}), not a list`},
		{prompt, `{"version":"one"}`, `"version" must be a whole number, not text`},
		{prompt, `{"version":1,"box":{"xMin":true}}`, `"box.xMin" must be a number, not true or false`},
		{prompt, `{"version":1,"takeOver":"yes"}`, `"takeOver" must be true or false, not text`},
		{prompt, `{"version":1,"label":["cat"]}`, `"label" must be text, not a list`},
		{fmt.Sprintf("/api/images/%d/objects/o1/accept", file), `{"version":1,"tolerancePx":"2"}`, `"tolerancePx" must be a number, not text`},
		{fmt.Sprintf("/api/rooms/%s/images/%d/done", roomID, file), `{"done":"yes"}`, `"done" must be true or false, not text`},
	} {
		status, answer := a.jsonPost(t, tt.path, tt.body)
		msg := errorMessage(t, answer)
		if status != http.StatusBadRequest || !strings.Contains(msg, tt.want) {
			t.Errorf("POST %s %s: %d %q; want 400 saying %q", tt.path, tt.body, status, msg, tt.want)
		}
		if goName := goNames.FindString(msg); goName != "" {
			t.Errorf("POST %s %s: %q names Go's %q", tt.path, tt.body, msg, goName)
		}
	}

	owner := "/rooms/" + roomID + "/members/local:tester/"
	for _, tt := range []struct {
		action string
		form   url.Values
		want   string
	}{
		{"role", url.Values{"role": {"reviewer"}}, "The room's owner keeps the owner role"},
		{"remove", url.Values{}, "You own this room, so you cannot remove yourself from it"},
	} {
		tt.form.Set("_csrf", a.csrf)
		res, err := a.client.PostForm(a.url+owner+tt.action, tt.form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if msg := errorMessage(t, string(b)); res.StatusCode != http.StatusConflict || !strings.Contains(msg, tt.want) {
			t.Errorf("the owner's own %s: %d %q; want 409 saying %q", tt.action, res.StatusCode, msg, tt.want)
		}
	}
	// Someone who is not the owner is still told that only the owner may.
	ben := a.signIn(t, "Ben")
	if got := ben.status(t, http.MethodPost, "/rooms/"+roomID+"/join", ""); got != http.StatusSeeOther {
		t.Fatalf("join: %d", got)
	}
	status, answer := ben.jsonPost(t, "/rooms/"+roomID+"/members/local:ben/remove", `{}`)
	if msg := errorMessage(t, answer); status != http.StatusForbidden || !strings.Contains(msg, "Only the room's owner may do that") {
		t.Errorf("a member removing themselves: %d %q; want 403 only the owner", status, msg)
	}
}
