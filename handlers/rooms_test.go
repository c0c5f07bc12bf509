package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// createRoom makes a room through the "New room" form and returns its id.
func (a *app) createRoom(t *testing.T, form url.Values) string {
	t.Helper()
	form.Set("_csrf", a.csrf)
	res, err := a.client.PostForm(a.url+"/rooms", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/rooms/") {
		t.Fatalf("create room: status %d, location %q", res.StatusCode, loc)
	}
	return strings.TrimPrefix(loc, "/rooms/")
}

// status sends a request as the app's user and returns the status code.
func (a *app) status(t *testing.T, method, path, body string) int {
	t.Helper()
	var req *http.Request
	if method == http.MethodGet {
		req, _ = http.NewRequest(method, a.url+path, nil)
		req.Header.Set("Accept", "text/html")
	} else {
		req, _ = http.NewRequest(method, a.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestRoomsNewRoomValidation(t *testing.T) {
	a := setup(t, options{})
	for _, tt := range []struct {
		name string
		form url.Values
	}{
		{"no name", url.Values{"name": {""}}},
		{"bad label line", url.Values{"name": {"R"}, "labels": {"cat red"}}},
		{"ten labels", url.Values{"name": {"R"}, "labels": {strings.Repeat("l #112233\n", 10)}}},
		{"nothing matches", url.Values{"name": {"R"}, "directory_prefix": {"/nowhere"}}},
		{"bad file id", url.Values{"name": {"R"}, "source": {"ids"}, "file_ids": {"12x"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("_csrf", a.csrf)
			res, err := a.client.PostForm(a.url+"/rooms", tt.form)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", res.StatusCode)
			}
		})
	}
}

// TestRoomAuthorisation: a non-member gets 403 on every room endpoint and cannot subscribe;
// after joining by the share link they can; once removed they are disconnected and locked out.
func TestRoomAuthorisation(t *testing.T) {
	ana := setup(t, options{})
	roomID := ana.createRoom(t, url.Values{"name": {"Team"}, "labels": {"cat #ff0000\ndog #00ff00"}})
	ben := ana.signIn(t, "Ben")
	file := ana.files["square.jpg"]
	prompt := `{"version":1,"points":[{"x":0.5,"y":0.5,"label":1}],"label":"cat"}`
	endpoints := []struct{ method, path, body string }{
		{http.MethodGet, "/rooms/" + roomID, ""},
		{http.MethodGet, fmt.Sprintf("/rooms/%s/images/%d", roomID, file), ""},
		{http.MethodGet, "/api/rooms/" + roomID + "/state", ""},
		{http.MethodPost, fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1/prompt", roomID, file), prompt},
		{http.MethodPost, fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1", roomID, file), `{"label":"dog"}`},
		{http.MethodPost, fmt.Sprintf("/api/rooms/%s/images/%d/done", roomID, file), `{"done":true}`},
		{http.MethodPost, "/api/rooms/" + roomID + "/next", `{}`},
		{http.MethodPost, "/rooms/" + roomID + "/close", ``},
		{http.MethodPost, "/rooms/" + roomID + "/members/local:ana/remove", ``},
	}
	for _, e := range endpoints {
		if got := ben.status(t, e.method, e.path, e.body); got != http.StatusForbidden {
			t.Errorf("non-member %s %s: status %d, want 403", e.method, e.path, got)
		}
	}
	if _, res, err := ben.dial(t, "room:"+roomID, ben.url); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("non-member WebSocket: %v, %v; want 403", res, err)
	}
	if got := ben.status(t, http.MethodGet, "/rooms/nosuchroom", ""); got != http.StatusNotFound {
		t.Errorf("unknown room: status %d, want 404", got)
	}

	// The share link makes Ben a member.
	if got := ben.status(t, http.MethodPost, "/rooms/"+roomID+"/join", ""); got != http.StatusSeeOther {
		t.Fatalf("join: status %d", got)
	}
	if got := ben.status(t, http.MethodGet, "/rooms/"+roomID, ""); got != http.StatusOK {
		t.Fatalf("member opens the room: status %d", got)
	}
	anaConn, _, err := ana.dial(t, fmt.Sprintf("room:%s&image=%d", roomID, file), ana.url)
	if err != nil {
		t.Fatal(err)
	}
	defer anaConn.Close()
	benConn, _, err := ben.dial(t, "room:"+roomID, ben.url)
	if err != nil {
		t.Fatal(err)
	}
	defer benConn.Close()

	// Ben's prompt: 202, and a replay of the same version is a harmless 200.
	promptPath := fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1/prompt", roomID, file)
	if got := ben.status(t, http.MethodPost, promptPath, prompt); got != http.StatusAccepted {
		t.Fatalf("member prompt: status %d", got)
	}
	if got := ben.status(t, http.MethodPost, promptPath, prompt); got != http.StatusOK {
		t.Errorf("replayed prompt: status %d, want 200", got)
	}
	// Ana, on that image, sees Ben's object finish.
	for {
		var m wsMessage
		_ = anaConn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if err := anaConn.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "object.updated" {
			continue
		}
		var o struct{ ObjectID, AuthorName, Status string }
		if err := json.Unmarshal(m.Data, &o); err != nil {
			t.Fatal(err)
		}
		if o.ObjectID == "o1" && o.AuthorName == "Ben" && o.Status == "done" {
			break
		}
	}

	// Removing Ben closes his socket at once and locks him out.
	res, err := ana.client.PostForm(ana.url+"/rooms/"+roomID+"/members/local:ben/remove", url.Values{"_csrf": {ana.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: status %d", res.StatusCode)
	}
	_ = benConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := benConn.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Errorf("Ben's socket ended with %v, want a policy-violation close", err)
		}
		break
	}
	if got := ben.status(t, http.MethodPost, promptPath, strings.Replace(prompt, `"version":1`, `"version":2`, 1)); got != http.StatusForbidden {
		t.Errorf("removed member's prompt: status %d, want 403", got)
	}
	if got := ben.status(t, http.MethodPost, "/rooms/"+roomID+"/join", ""); got != http.StatusForbidden {
		t.Errorf("removed member rejoining: status %d, want 403", got)
	}
}

func TestRoomExport(t *testing.T) {
	a := setup(t, options{})
	roomID := a.createRoom(t, url.Values{"name": {"Export me"}, "labels": {"thing #ff0000"}})
	file := a.files["square.jpg"]
	conn, _, err := a.dial(t, fmt.Sprintf("room:%s&image=%d", roomID, file), a.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prompt := fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1/prompt", roomID, file)
	if got := a.status(t, http.MethodPost, prompt, `{"version":1,"points":[{"x":0.5,"y":0.5,"label":1}],"label":"thing"}`); got != http.StatusAccepted {
		t.Fatalf("prompt: %d", got)
	}
	for { // wait for the segment
		var m wsMessage
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "object.updated" && strings.Contains(string(m.Data), `"status":"done"`) {
			break
		}
	}
	if got := a.status(t, http.MethodPost, fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1", roomID, file), `{"accepted":true}`); got != http.StatusOK {
		t.Fatalf("accept: %d", got)
	}
	type cocoFile struct {
		Images      []struct{ Width, Height int }
		Categories  []struct{ Name string }
		Annotations []struct {
			BBox         []float64 `json:"bbox"`
			Segmentation [][]float64
		}
	}
	cocoOf := func(query string) cocoFile {
		t.Helper()
		res, err := a.client.Get(a.url + "/rooms/" + roomID + "/export?format=coco" + query)
		if err != nil {
			t.Fatal(err)
		}
		var coco cocoFile
		err = json.NewDecoder(res.Body).Decode(&coco)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("coco%s: status %d, %v", query, res.StatusCode, err)
		}
		return coco
	}
	// By default only approved objects are exported; with none, the export says so and what
	// to choose instead rather than downloading an empty file. status=accepted takes every
	// accepted one.
	for _, format := range []string{"coco", "yolo"} {
		code, body := a.get(t, "/rooms/"+roomID+"/export?format="+format)
		var e struct{ Error struct{ Message string } }
		_ = json.Unmarshal([]byte(body), &e)
		msg := e.Error.Message
		if code != http.StatusConflict || !strings.Contains(msg, "Nothing in this room is approved yet: 1 accepted object awaits review or was rejected.") ||
			!strings.Contains(msg, `"All accepted"`) {
			t.Errorf("%s export before any review: %d %q; want 409 saying nothing is approved and what to choose", format, code, msg)
		}
	}
	coco := cocoOf("&status=accepted&progress=p1")
	if len(coco.Images) != 1 || coco.Images[0].Width != 120 || coco.Images[0].Height != 90 ||
		len(coco.Annotations) != 1 || len(coco.Categories) != 1 || coco.Categories[0].Name != "thing" {
		t.Errorf("coco export %+v", coco)
	}
	// The room heard how it went: both phases, ending complete.
	ended := map[string]bool{}
	for len(ended) < 2 {
		var m wsMessage
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("export progress: got %v, then %v", ended, err)
		}
		var p struct {
			Progress, Phase string
			Done, Total     int
		}
		if m.Type == "export.progress" && json.Unmarshal(m.Data, &p) == nil && p.Progress == "p1" && p.Done == p.Total && p.Total > 0 {
			ended[p.Phase] = true
		}
	}
	if got := a.status(t, http.MethodPost, fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1/review", roomID, file), `{"version":1,"decision":"approved"}`); got != http.StatusOK {
		t.Fatalf("approve: %d", got)
	}
	if coco := cocoOf(""); len(coco.Annotations) != 1 {
		t.Errorf("export after approval has %d annotations, want 1", len(coco.Annotations))
	}
	res, err := a.client.Get(a.url + "/rooms/" + roomID + "/export?format=yolo")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/zip" {
		t.Errorf("yolo: status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, q := range []string{"format=pdf", "format=coco&status=rejected", "format=coco&progress=a/b"} {
		if got := a.status(t, http.MethodGet, "/rooms/"+roomID+"/export?"+q, ""); got != http.StatusBadRequest {
			t.Errorf("export?%s: %d, want 400", q, got)
		}
	}
	ben := a.signIn(t, "Ben")
	if got := ben.status(t, http.MethodGet, "/rooms/"+roomID+"/export?format=coco", ""); got != http.StatusForbidden {
		t.Errorf("non-member export: %d, want 403", got)
	}
}
