package handlers_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lassoteam/lasso/store"
)

// roomWithObject makes a room labelled "thing", prompts object o1 on square.jpg and waits for
// its segment, and returns the room's id and the image's.
func (a *app) roomWithObject(t *testing.T) (string, int64) {
	t.Helper()
	roomID := a.createRoom(t, url.Values{"name": {"Labels"}, "labels": {"thing #ff0000"}})
	file := a.files["square.jpg"]
	conn, _, err := a.dial(t, fmt.Sprintf("room:%s&image=%d", roomID, file), a.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prompt := fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1/prompt", roomID, file)
	if status, body := a.jsonPost(t, prompt, `{"version":1,"points":[{"x":0.5,"y":0.5,"label":1}],"label":"thing"}`); status != http.StatusAccepted {
		t.Fatalf("prompt: %d %s", status, body)
	}
	for {
		var m wsMessage
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "object.updated" && strings.Contains(string(m.Data), `"status":"done"`) {
			return roomID, file
		}
	}
}

// TestLabelRuleOnEveryRoute: every route that takes a label applies the same rule, in
// characters: trimmed, no control characters, 1 to 128 characters (128 "é" are 256 bytes and
// fine; a line break is not).
func TestLabelRuleOnEveryRoute(t *testing.T) {
	a := setup(t, options{})
	roomID, file := a.roomWithObject(t)
	edit := fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1", roomID, file)
	prompt := fmt.Sprintf("/api/rooms/%s/images/%d/objects/o2/prompt", roomID, file)
	solo := fmt.Sprintf("/api/images/%d/objects/s1/accept", file)
	annotation := fmt.Sprintf("/api/images/%d/annotations/12345", file)
	body := map[string]func(label string) string{
		edit: func(l string) string { return `{"label":` + quote(l) + `}` },
		prompt: func(l string) string {
			return `{"version":1,"points":[{"x":0.5,"y":0.5,"label":1}],"label":` + quote(l) + `}`
		},
		solo:       func(l string) string { return `{"version":1,"label":` + quote(l) + `}` },
		annotation: func(l string) string { return `{"label":` + quote(l) + `}` },
	}
	for _, bad := range []struct{ label, want string }{
		{"a\nb", "control character"},
		{"a\tb", "control character"},
		{"a\u0085b", "control character"}, // NEL, a C1 control
		{strings.Repeat("é", 129), "too long"},
	} {
		for path, b := range body {
			if status, answer := a.jsonPost(t, path, b(bad.label)); status != http.StatusBadRequest || !strings.Contains(answer, bad.want) {
				t.Errorf("POST %s with label %q: %d %s; want 400 saying %q", path, bad.label, status, answer, bad.want)
			}
		}
		form := url.Values{"name": {"R"}, "labels": {bad.label + " #112233"}, "_csrf": {a.csrf}}
		res, err := a.client.PostForm(a.url+"/rooms", form)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		// In the form a line break starts the next label, which then lacks its colour.
		if want := bad.want; res.StatusCode != http.StatusBadRequest || !strings.Contains(string(page), want) && !strings.Contains(bad.label, "\n") {
			t.Errorf("a room's label %q: %d; want 400 saying %q", bad.label, res.StatusCode, want)
		}
	}

	// Characters, not bytes: 128 two-byte characters are within the limit everywhere.
	long := strings.Repeat("é", 128)
	if status, answer := a.jsonPost(t, edit, body[edit](long)); status != http.StatusOK || !strings.Contains(answer, long) {
		t.Errorf("room edit with 128 characters: %d %.200s", status, answer)
	}
	if status, answer := a.jsonPost(t, prompt, body[prompt](long)); status != http.StatusAccepted {
		t.Errorf("room prompt with 128 characters: %d %.200s", status, answer)
	}
	if status, answer := a.jsonPost(t, solo, body[solo](long)); status != http.StatusConflict || !strings.Contains(answer, "Nothing to save yet") {
		t.Errorf("accept with 128 characters: %d %.200s; want it past the label check (409, no segment)", status, answer)
	}
	roomForm := url.Values{"name": {"Long"}, "labels": {long + " #112233"}}
	a.createRoom(t, roomForm)

	// Trimmed before it is stored.
	status, answer := a.jsonPost(t, edit, `{"label":"  thing \u00a0"}`)
	var o struct{ Label string }
	if status != http.StatusOK || json.Unmarshal([]byte(answer), &o) != nil || o.Label != "thing" {
		t.Errorf("room edit with spaces around the label: %d, label %q; want %q", status, o.Label, "thing")
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestExportChecksBeforeWriting: an export that cannot be written (here: a label with a line
// break, stored before labels were checked) is refused with a readable error before anything
// is sent, in both formats, instead of a 200 with an empty zip; a valid YOLO export is a zip
// holding the object.
func TestExportChecksBeforeWriting(t *testing.T) {
	a := setup(t, options{})
	roomID, file := a.roomWithObject(t)
	if status, body := a.jsonPost(t, fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1", roomID, file), `{"accepted":true}`); status != http.StatusOK {
		t.Fatalf("accept: %d %s", status, body)
	}
	get := func(format string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, a.url+"/rooms/"+roomID+"/export?status=accepted&format="+format, nil)
		req.Header.Set("Accept", "application/json")
		res, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}

	res, body := get("yolo")
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if res.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("yolo export: %d, %d bytes, %v", res.StatusCode, len(body), err)
	}
	var labels string
	for _, f := range zr.File {
		if f.Name == "labels/square.txt" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			labels = string(b)
		}
	}
	if !strings.HasPrefix(labels, "0 ") {
		t.Errorf("labels/square.txt = %q, want the object's line (class 0)", labels)
	}

	// A label the routes refuse now, as an older Lasso stored it.
	bad := "a\nb"
	if _, err := a.store.Rooms().SetObjectMeta(context.Background(), store.ObjectKey{RoomID: roomID, FileID: file, ObjectID: "o1"},
		&bad, nil, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	a.logs.Reset()
	for _, format := range []string{"yolo", "coco"} {
		res, body := get(format)
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if res.StatusCode != http.StatusUnprocessableEntity || json.Unmarshal(body, &e) != nil ||
			!strings.Contains(e.Error.Message, `"a\nb" holds a control character`) || !strings.Contains(e.Error.Message, "relabel") {
			t.Errorf("%s export of a bad label: %d %q; want 422 saying what is wrong and what to do", format, res.StatusCode, body)
		}
		if cd := res.Header.Get("Content-Disposition"); cd != "" {
			t.Errorf("%s export of a bad label: Content-Disposition %q, want none", format, cd)
		}
	}
	if logs := a.logs.String(); !strings.Contains(logs, "level=INFO") || !strings.Contains(logs, "status=422") {
		t.Errorf("the refused exports are not logged: %s", logs)
	}
}
