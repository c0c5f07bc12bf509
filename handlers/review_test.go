package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lassoteam/lasso/cdf"
)

// until retries f every 20 ms for up to 10 s until it reports done.
func until(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// provenanceBody is what the tests read of a provenance answer.
type provenanceBody struct {
	ObjectID string
	Prompt   struct {
		Points []struct{ X, Y float64 }
		Box    *struct{ XMin float64 }
	}
	JobID         int64
	Backend       string
	Score         *float64
	RawPolygons   [][]cdf.Vertex
	SavedPolygons [][]cdf.Vertex
	AnnotationIDs []int64
	Review        string
	Writes        []struct{ Op, State string }
}

// flush delivers the outbox's due writes now.
func (a *app) flush() { a.writer.Flush(context.Background()) }

// jsonPost posts body as JSON with the CSRF token and returns the status and body.
func (a *app) jsonPost(t *testing.T, path, body string) (int, string) {
	t.Helper()
	return a.post(t, path, "application/json", []byte(body), true)
}

// TestSoloAccept: outside rooms, Enter writes the finished segment to CDF through the outbox;
// what is not finished, out of range, or someone else's is refused with a reason.
func TestSoloAccept(t *testing.T) {
	a := setup(t, options{})
	file := a.files["square.jpg"]
	accept := fmt.Sprintf("/api/images/%d/objects/o1/accept", file)

	if status, body := a.jsonPost(t, accept, `{"version":1,"label":"cat"}`); status != http.StatusConflict || !strings.Contains(body, "Nothing to save yet") {
		t.Errorf("accept before any segment: %d %s; want 409 Nothing to save yet", status, body)
	}
	if status, body := a.jsonPost(t, a.segmentPath("square.jpg"), `{"objectId":"o1","version":1,"box":{"xMin":0.2,"yMin":0.2,"xMax":0.8,"yMax":0.8}}`); status != http.StatusAccepted {
		t.Fatalf("segment: %d %s", status, body)
	}
	for _, c := range []struct{ body, want string }{
		{`{"version":0,"label":"cat"}`, "version must be"},
		{`{"version":1,"label":"cat","tolerancePx":-1}`, "tolerancePx must be"},
		{`{"version":1,"label":"cat","tolerancePx":51}`, "tolerancePx must be"},
		{`{"version":1,"label":"` + strings.Repeat("x", 129) + `"}`, "too long"},
		{`{"version":1,"colour":"red"}`, "unknown field"},
	} {
		if status, body := a.jsonPost(t, accept, c.body); status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("accept %s: %d %s; want 400 %q", c.body, status, body, c.want)
		}
	}
	if status, body := a.jsonPost(t, accept, `{"version":1,"label":"cat","points":[{"x":2,"y":0.5,"label":1}]}`); status != http.StatusBadRequest || !strings.Contains(body, "outside the image") {
		t.Errorf("accept with a prompt point outside the image: %d %s; want 400", status, body)
	}
	until(t, "the segment to be accepted", func() bool {
		status, _ := a.jsonPost(t, accept, `{"version":1,"label":"cat","tolerancePx":2,"box":{"xMin":0.2,"yMin":0.2,"xMax":0.8,"yMax":0.8}}`)
		return status == http.StatusAccepted
	})
	a.flush()
	got := a.standIn.Annotations()
	if len(got) != 1 {
		t.Fatalf("CDF has %d annotations after one accept, want 1", len(got))
	}

	// How it was made is kept with the write, for its author.
	provenance := fmt.Sprintf("/api/images/%d/annotations/%d/provenance", file, got[0].ID)
	status, body := a.get(t, provenance)
	var p provenanceBody
	if err := json.Unmarshal([]byte(body), &p); status != http.StatusOK || err != nil {
		t.Fatalf("provenance: %d %s (%v)", status, body, err)
	}
	if p.ObjectID != "o1" || p.Prompt.Box == nil || p.Prompt.Box.XMin != 0.2 || p.JobID == 0 || p.Score == nil ||
		len(p.RawPolygons) == 0 || len(p.SavedPolygons) != 1 || len(p.SavedPolygons[0]) > len(p.RawPolygons[0]) ||
		len(p.AnnotationIDs) != 1 || p.AnnotationIDs[0] != got[0].ID || len(p.Writes) != 1 || p.Writes[0].State != "done" {
		t.Errorf("provenance = %s", body)
	}
	if status, _ := a.get(t, fmt.Sprintf("/api/images/%d/annotations/%d/provenance", file, got[0].ID+100)); status != http.StatusNotFound {
		t.Errorf("provenance of an annotation Lasso did not make: %d, want 404", status)
	}
	var d cdf.ObjectDetection
	if err := json.Unmarshal(got[0].Data, &d); err != nil || d.Label != "cat" || d.Polygon == nil || got[0].AnnotatedResourceID != file ||
		got[0].Status != cdf.AnnotationSuggested || got[0].CreatingApp != "lasso" || got[0].CreatingUser == nil || *got[0].CreatingUser != "Tester" {
		t.Errorf("annotation = %+v, data %+v (%v)", got[0], d, err)
	}
	// Accepting the same version again is harmless: still one annotation.
	if status, body := a.jsonPost(t, accept, `{"version":1,"label":"cat"}`); status != http.StatusAccepted {
		t.Errorf("second accept: %d %s", status, body)
	}
	a.flush()
	if n := len(a.standIn.Annotations()); n != 1 {
		t.Errorf("after accepting twice CDF has %d annotations, want 1", n)
	}

	// Another user cannot reach Tester's object by its id, nor its provenance.
	ben := a.signIn(t, "Ben")
	if status, _ := ben.get(t, provenance); status != http.StatusNotFound {
		t.Errorf("Ben reading Tester's provenance: %d, want 404", status)
	}
	if status, body := ben.jsonPost(t, fmt.Sprintf("/api/images/%d/objects/o1/delete", file), `{}`); status != http.StatusConflict {
		t.Errorf("Ben deleting Tester's object: %d %s; want 409", status, body)
	}
	if status, body := a.jsonPost(t, fmt.Sprintf("/api/images/%d/objects/o1/retry", file), `{"version":1}`); status != http.StatusOK || !strings.Contains(body, `"requeued":0`) {
		t.Errorf("retry with nothing failed: %d %s", status, body)
	}
	if status, body := a.jsonPost(t, fmt.Sprintf("/api/images/%d/objects/o1/delete", file), `{}`); status != http.StatusAccepted {
		t.Fatalf("delete: %d %s", status, body)
	}
	a.flush()
	if n := len(a.standIn.Annotations()); n != 0 {
		t.Errorf("after deleting the object CDF has %d annotations, want 0", n)
	}
}

// TestRoomReview: the owner makes a member a reviewer; the reviewer's decision reaches the
// object and CDF; the provenance shows how the mask was made and what was written.
func TestRoomReview(t *testing.T) {
	ana := setup(t, options{})
	roomID := ana.createRoom(t, url.Values{"name": {"Team"}, "labels": {"cat #ff0000"}})
	ben := ana.signIn(t, "Ben")
	if got := ben.status(t, http.MethodPost, "/rooms/"+roomID+"/join", ""); got != http.StatusSeeOther {
		t.Fatalf("join: %d", got)
	}
	file := ana.files["square.jpg"]
	object := fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1", roomID, file)
	if status, body := ana.jsonPost(t, object+"/prompt", `{"version":1,"points":[{"x":0.5,"y":0.5,"label":1}],"label":"cat"}`); status != http.StatusAccepted {
		t.Fatalf("prompt: %d %s", status, body)
	}
	until(t, "the object to be accepted", func() bool {
		status, _ := ana.jsonPost(t, object, `{"accepted":true,"tolerancePx":1}`)
		return status == http.StatusOK
	})
	ana.flush()
	if n := len(ana.standIn.Annotations()); n != 1 {
		t.Fatalf("CDF has %d annotations, want 1", n)
	}

	if status, body := ben.jsonPost(t, object+"/review", `{"version":1,"decision":"approved"}`); status != http.StatusForbidden || !strings.Contains(body, "reviewer") {
		t.Errorf("review by a plain member: %d %s; want 403 naming reviewers", status, body)
	}
	form := url.Values{"role": {"reviewer"}, "_csrf": {ana.csrf}}
	res, err := ana.client.PostForm(ana.url+"/rooms/"+roomID+"/members/local:ben/role", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("make Ben a reviewer: %d", res.StatusCode)
	}
	res, err = ben.client.PostForm(ben.url+"/rooms/"+roomID+"/members/local:ben/role", url.Values{"role": {"member"}, "_csrf": {ben.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("Ben changing roles: %d, want 403", res.StatusCode)
	}
	for _, c := range []struct{ body, want string }{
		{`{"version":1,"decision":"maybe"}`, "decision must be"},
		{`{"decision":"approved"}`, "version must be"},
	} {
		if status, body := ben.jsonPost(t, object+"/review", c.body); status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("review %s: %d %s; want 400 %q", c.body, status, body, c.want)
		}
	}
	if status, body := ben.jsonPost(t, object+"/review", `{"version":2,"decision":"approved"}`); status != http.StatusConflict {
		t.Errorf("review of a version that is not current: %d %s; want 409", status, body)
	}
	status, body := ben.jsonPost(t, object+"/review", `{"version":1,"decision":"approved"}`)
	if status != http.StatusOK || !strings.Contains(body, `"review":"approved"`) || !strings.Contains(body, `"reviewerName":"Ben"`) {
		t.Fatalf("review: %d %s", status, body)
	}
	ana.flush()
	if got := ana.standIn.Annotations(); len(got) != 1 || got[0].Status != cdf.AnnotationApproved {
		t.Errorf("CDF after approval: %+v; want one approved annotation", got)
	}

	status, body = ben.get(t, object+"/provenance")
	if status != http.StatusOK {
		t.Fatalf("provenance: %d %s", status, body)
	}
	var p provenanceBody
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Prompt.Points) != 1 || p.JobID == 0 || p.Score == nil || len(p.RawPolygons) == 0 || len(p.SavedPolygons) != len(p.AnnotationIDs) ||
		len(p.AnnotationIDs) != 1 || p.Review != "approved" || len(p.Writes) != 2 || p.Writes[0].Op != "review" || p.Writes[1].State != "done" {
		t.Errorf("provenance = %s", body)
	}
	if len(p.SavedPolygons) == 1 && len(p.SavedPolygons[0]) > len(p.RawPolygons[0]) {
		t.Errorf("saved polygon has %d vertices, more than the raw %d", len(p.SavedPolygons[0]), len(p.RawPolygons[0]))
	}
	zed := ana.signIn(t, "Zed")
	if status, _ := zed.get(t, object+"/provenance"); status != http.StatusForbidden {
		t.Errorf("provenance for a non-member: %d, want 403", status)
	}
	if status, _ := zed.jsonPost(t, object+"/retry", `{"version":1}`); status != http.StatusForbidden {
		t.Errorf("retry by a non-member: %d, want 403", status)
	}
}
