package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/rooms"
)

// listItem is an item of GET /api/images/:id/annotations as the page reads it.
type listItem struct {
	ID                 int64        `json:"id"`
	AnnotationType     string       `json:"annotationType"`
	Status             string       `json:"status"`
	Label              string       `json:"label"`
	Confidence         *float64     `json:"confidence"`
	CreatingApp        string       `json:"creatingApp"`
	CreatingAppVersion string       `json:"creatingAppVersion"`
	CreatingUser       *string      `json:"creatingUser"`
	CreatedTime        int64        `json:"createdTime"`
	LastUpdatedTime    int64        `json:"lastUpdatedTime"`
	Polygon            [][2]float64 `json:"polygon"`
	Polyline           [][2]float64 `json:"polyline"`
	BoundingBox        *struct {
		XMin, YMin, XMax, YMax float64
	} `json:"boundingBox"`
	Editable bool `json:"editable"`
}

type listBody struct {
	Items     []listItem `json:"items"`
	Truncated bool       `json:"truncated"`
}

// get sends a GET as fetch does and returns the status and body.
func (a *app) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
	req.Header.Set("Accept", "application/json")
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// list reads the image's annotations through the app.
func (a *app) list(t *testing.T, file, query string) listBody {
	t.Helper()
	status, body := a.get(t, fmt.Sprintf("/api/images/%d/annotations%s", a.files[file], query))
	if status != http.StatusOK {
		t.Fatalf("list: status %d: %s", status, body)
	}
	var out listBody
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("list: %v: %s", err, body)
	}
	return out
}

// create writes annotations straight into the stand-in, as another tool would, in batches.
func (a *app) create(t *testing.T, items ...cdf.AnnotationCreate) []cdf.Annotation {
	t.Helper()
	var out []cdf.Annotation
	for len(items) > 0 {
		n := min(len(items), cdf.MaxAnnotationItems)
		got, err := a.cdf.Annotations.Create(context.Background(), items[:n])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
		items = items[n:]
	}
	return out
}

func (a *app) retrieve(t *testing.T, id int64) *cdf.Annotation {
	t.Helper()
	got, err := a.cdf.Annotations.Retrieve(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func rawAnnotation(fileID int64, typ, app string, user *string, status cdf.AnnotationStatus, data string) cdf.AnnotationCreate {
	return cdf.AnnotationCreate{
		AnnotatedResourceType: cdf.ResourceFile, AnnotatedResourceID: fileID, AnnotationType: typ,
		CreatingApp: app, CreatingAppVersion: "1.0.0", CreatingUser: user, Status: status, Data: json.RawMessage(data),
	}
}

func ptr[T any](v T) *T { return &v }

const trianglePolygon = `{"label":"cat","confidence":0.9,"polygon":{"vertices":[{"x":0.1,"y":0.1,"confidence":0.5},{"x":0.5,"y":0.1},{"x":0.3,"y":0.4}],"confidence":0.8},"attributes":{"tail":{"type":"boolean","value":true}}}`

// someAnnotations puts one annotation of each kind on square.jpg and one on large.jpg.
func someAnnotations(t *testing.T, a *app) (polygon, box, classification, polyline, text, elsewhere cdf.Annotation) {
	t.Helper()
	sq, lg := a.files["square.jpg"], a.files["large.jpg"]
	got := a.create(t,
		rawAnnotation(sq, cdf.AnnotationTypeObjectDetection, "lasso", ptr("Tester"), cdf.AnnotationSuggested, trianglePolygon),
		rawAnnotation(sq, cdf.AnnotationTypeObjectDetection, "other-tool", nil, cdf.AnnotationApproved,
			`{"label":"dog","boundingBox":{"xMin":0.2,"yMin":0.3,"xMax":0.6,"yMax":0.9}}`),
		rawAnnotation(sq, cdf.AnnotationTypeClassification, "other-tool", ptr("bob"), cdf.AnnotationRejected, `{"label":"daytime","confidence":0.7}`),
		rawAnnotation(sq, cdf.AnnotationTypeObjectDetection, "other-tool", nil, cdf.AnnotationSuggested,
			`{"label":"wire","polyline":{"vertices":[{"x":0.1,"y":0.9},{"x":0.9,"y":0.9}]}}`),
		rawAnnotation(sq, "images.TextRegion", "ocr", nil, cdf.AnnotationSuggested,
			`{"text":"EXIT","textRegion":{"xMin":0.7,"yMin":0.05,"xMax":0.95,"yMax":0.15}}`),
		rawAnnotation(lg, cdf.AnnotationTypeObjectDetection, "lasso", nil, cdf.AnnotationSuggested,
			`{"label":"elsewhere","boundingBox":{"xMin":0.2,"yMin":0.3,"xMax":0.6,"yMax":0.9}}`),
	)
	return got[0], got[1], got[2], got[3], got[4], got[5]
}

// TestAnnotationsList: every annotation of the image, of any type and from any app, comes in
// the page's shape; geometries Lasso can draw are given, editable only for object detections
// with a polygon or a box.
func TestAnnotationsList(t *testing.T) {
	a := setup(t, options{})
	if got := a.list(t, "square.jpg", ""); len(got.Items) != 0 || got.Truncated {
		t.Fatalf("no annotations yet: %+v", got)
	}
	poly, box, class, line, text, _ := someAnnotations(t, a)

	got := a.list(t, "square.jpg", "")
	type shape struct {
		ID                                  int64
		Type, Status, Label, App, User      string
		Confidence                          float64
		Polygon, Polyline                   [][2]float64
		Box                                 [4]float64
		Editable, HasTimes, HasVersionOfApp bool
	}
	var shapes []shape
	for _, it := range got.Items {
		s := shape{ID: it.ID, Type: it.AnnotationType, Status: it.Status, Label: it.Label, App: it.CreatingApp,
			Polygon: it.Polygon, Polyline: it.Polyline, Editable: it.Editable,
			HasTimes: it.CreatedTime > 0 && it.LastUpdatedTime > 0, HasVersionOfApp: it.CreatingAppVersion == "1.0.0"}
		if it.CreatingUser != nil {
			s.User = *it.CreatingUser
		}
		if it.Confidence != nil {
			s.Confidence = *it.Confidence
		}
		if b := it.BoundingBox; b != nil {
			s.Box = [4]float64{b.XMin, b.YMin, b.XMax, b.YMax}
		}
		shapes = append(shapes, s)
	}
	want := []shape{
		{ID: poly.ID, Type: cdf.AnnotationTypeObjectDetection, Status: "suggested", Label: "cat", App: "lasso", User: "Tester", Confidence: 0.9,
			Polygon: [][2]float64{{0.1, 0.1}, {0.5, 0.1}, {0.3, 0.4}}, Editable: true},
		{ID: box.ID, Type: cdf.AnnotationTypeObjectDetection, Status: "approved", Label: "dog", App: "other-tool",
			Box: [4]float64{0.2, 0.3, 0.6, 0.9}, Editable: true},
		{ID: class.ID, Type: cdf.AnnotationTypeClassification, Status: "rejected", Label: "daytime", App: "other-tool", User: "bob", Confidence: 0.7},
		{ID: line.ID, Type: cdf.AnnotationTypeObjectDetection, Status: "suggested", Label: "wire", App: "other-tool",
			Polyline: [][2]float64{{0.1, 0.9}, {0.9, 0.9}}},
		{ID: text.ID, Type: "images.TextRegion", Status: "suggested", Label: "EXIT", App: "ocr", Box: [4]float64{0.7, 0.05, 0.95, 0.15}},
	}
	for i := range want {
		want[i].HasTimes, want[i].HasVersionOfApp = true, true
	}
	if diff := cmp.Diff(want, shapes); diff != "" {
		t.Errorf("list of square.jpg (-want +got):\n%s", diff)
	}
	if got.Truncated {
		t.Error("truncated with 5 annotations")
	}
	// Absent geometries are null, not missing or empty.
	_, body := a.get(t, fmt.Sprintf("/api/images/%d/annotations", a.files["square.jpg"]))
	if !strings.Contains(body, `"polygon":null`) || !strings.Contains(body, `"boundingBox":null`) || !strings.Contains(body, `"creatingUser":null`) {
		t.Errorf("null geometries and users are not spelt null: %s", body)
	}

	for _, tt := range []struct{ path, want string }{
		{"/api/images/abc/annotations", "not a file id"},
		{"/api/images/0/annotations", "not a file id"},
	} {
		status, body := a.get(t, tt.path)
		if status != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: %d %s, want 400 with %q", tt.path, status, body, tt.want)
		}
	}
}

// TestAnnotationsListPages: the list follows CDF's cursors 1000 at a time and stops at 5000.
func TestAnnotationsListPages(t *testing.T) {
	var lists atomic.Int32
	a := setup(t, options{faults: func(r *http.Request) *cdflocal.Fault {
		if strings.HasSuffix(r.URL.Path, "/annotations/list") {
			lists.Add(1)
		}
		return nil
	}})
	sq, lg := a.files["square.jpg"], a.files["large.jpg"]
	many := func(fileID int64, n int) []cdf.AnnotationCreate {
		items := make([]cdf.AnnotationCreate, n)
		for i := range items {
			items[i] = rawAnnotation(fileID, cdf.AnnotationTypeObjectDetection, "bulk", nil, cdf.AnnotationSuggested,
				fmt.Sprintf(`{"label":"n%d","boundingBox":{"xMin":0.1,"yMin":0.1,"xMax":0.2,"yMax":0.2}}`, i))
		}
		return items
	}
	// Interleaved, so that each file's pages skip the other's annotations.
	a.create(t, append(append(many(sq, 1200), many(lg, 3000)...), append(many(sq, 1300), many(lg, 2500)...)...)...)

	lists.Store(0)
	got := a.list(t, "square.jpg", "")
	if len(got.Items) != 2500 || got.Truncated {
		t.Errorf("square.jpg: %d items, truncated %v; want 2500, false", len(got.Items), got.Truncated)
	}
	if n := lists.Load(); n != 3 {
		t.Errorf("square.jpg: %d list calls, want 3 pages of 1000", n)
	}
	seen := map[int64]bool{}
	for _, it := range got.Items {
		if seen[it.ID] {
			t.Fatalf("annotation %d listed twice", it.ID)
		}
		seen[it.ID] = true
	}

	lists.Store(0)
	got = a.list(t, "large.jpg", "")
	if len(got.Items) != 5000 || !got.Truncated {
		t.Errorf("large.jpg: %d items, truncated %v; want 5000, true", len(got.Items), got.Truncated)
	}
	if n := lists.Load(); n != 5 {
		t.Errorf("large.jpg: %d list calls, want 5", n)
	}
}

// TestAnnotationsListInRoom: with ?room=, a member does not see the annotations the room shows
// as its own objects (Config.AnnotationIDsOf); a non-member is refused.
func TestAnnotationsListInRoom(t *testing.T) {
	var hidden atomic.Int64
	var asked atomic.Value
	a := setup(t, options{annotationIDsOf: func(_ context.Context, roomID string, u rooms.User, fileID int64) (map[int64]bool, error) {
		asked.Store(fmt.Sprintf("%s/%s/%d", roomID, u.Name, fileID))
		return map[int64]bool{hidden.Load(): true}, nil
	}})
	poly, box, _, _, _, _ := someAnnotations(t, a)
	hidden.Store(poly.ID)
	room := a.createRoom(t, url.Values{"name": {"R"}, "source": {"ids"}, "file_ids": {fmt.Sprint(a.files["square.jpg"])}})

	ids := func(l listBody) map[int64]bool {
		m := map[int64]bool{}
		for _, it := range l.Items {
			m[it.ID] = true
		}
		return m
	}
	in := ids(a.list(t, "square.jpg", "?room="+room))
	if in[poly.ID] || !in[box.ID] || len(in) != 4 {
		t.Errorf("in the room: %v; want the four annotations but %d", in, poly.ID)
	}
	if got, want := asked.Load(), fmt.Sprintf("%s/Tester/%d", room, a.files["square.jpg"]); got != want {
		t.Errorf("the hook was asked about %v, want %s", got, want)
	}
	if alone := ids(a.list(t, "square.jpg", "")); !alone[poly.ID] || len(alone) != 5 {
		t.Errorf("outside the room: %v, want all five", alone)
	}

	ben := a.signIn(t, "Ben")
	status, body := ben.get(t, fmt.Sprintf("/api/images/%d/annotations?room=%s", a.files["square.jpg"], room))
	if status != http.StatusForbidden || !strings.Contains(body, "not a member") {
		t.Errorf("a non-member: %d %s, want 403", status, body)
	}
	status, body = a.get(t, fmt.Sprintf("/api/images/%d/annotations?room=nosuchroom", a.files["square.jpg"]))
	if status != http.StatusNotFound {
		t.Errorf("an unknown room: %d %s, want 404", status, body)
	}
}

// edit posts a change of an annotation and returns the status and body.
func (a *app) edit(t *testing.T, file string, id int64, body string) (int, string) {
	t.Helper()
	return a.post(t, fmt.Sprintf("/api/images/%d/annotations/%d", a.files[file], id), "application/json", []byte(body), true)
}

// TestAnnotationUpdate: label, status and polygon changes reach CDF; the other fields of the
// data stay as they were; a box becomes the new polygon.
func TestAnnotationUpdate(t *testing.T) {
	a := setup(t, options{})
	poly, box, class, line, _, elsewhere := someAnnotations(t, a)

	status, body := a.edit(t, "square.jpg", poly.ID, `{"label":"  tabby  ","status":"approved"}`)
	if status != http.StatusOK {
		t.Fatalf("label and status: %d %s", status, body)
	}
	var item listItem
	if err := json.Unmarshal([]byte(body), &item); err != nil {
		t.Fatal(err)
	}
	if item.ID != poly.ID || item.Label != "tabby" || item.Status != "approved" || !item.Editable || len(item.Polygon) != 3 {
		t.Errorf("answered %+v", item)
	}
	stored := a.retrieve(t, poly.ID)
	if stored.Status != cdf.AnnotationApproved || !strings.Contains(string(stored.Data), `"label":"tabby"`) ||
		!strings.Contains(string(stored.Data), `"attributes"`) {
		t.Errorf("stored %s %s", stored.Status, stored.Data)
	}

	status, body = a.edit(t, "square.jpg", poly.ID, `{"polygon":[[0.2,0.2],[0.6,0.2],[0.4,0.5]]}`)
	if status != http.StatusOK {
		t.Fatalf("polygon: %d %s", status, body)
	}
	od, err := a.retrieve(t, poly.ID).ObjectDetection()
	if err != nil {
		t.Fatal(err)
	}
	wantPoly := &cdf.Polygon{Vertices: []cdf.Vertex{{X: 0.2, Y: 0.2, Confidence: ptr(0.5)}, {X: 0.6, Y: 0.2}, {X: 0.4, Y: 0.5}}, Confidence: ptr(0.8)}
	if diff := cmp.Diff(wantPoly, od.Polygon); diff != "" || od.Label != "tabby" || *od.Confidence != 0.9 || len(od.Attributes) != 1 {
		t.Errorf("after moving the vertices: %+v (-want +got polygon):\n%s", od, diff)
	}

	// A box's new shape is a polygon: CDF wants exactly one geometry.
	status, body = a.edit(t, "square.jpg", box.ID, `{"polygon":[[0.2,0.3],[0.6,0.3],[0.6,0.9],[0.25,0.85]]}`)
	if status != http.StatusOK || !strings.Contains(body, `"boundingBox":null`) {
		t.Fatalf("box to polygon: %d %s", status, body)
	}
	if od, _ := a.retrieve(t, box.ID).ObjectDetection(); od.BoundingBox != nil || od.Polygon == nil || len(od.Polygon.Vertices) != 4 {
		t.Errorf("box to polygon stored %+v", od)
	}

	// Any annotation's status can change; the label and shape only of object detections.
	if status, body := a.edit(t, "square.jpg", class.ID, `{"status":"approved"}`); status != http.StatusOK {
		t.Errorf("status of a classification: %d %s", status, body)
	}

	for _, tt := range []struct {
		name   string
		id     int64
		body   string
		status int
		want   string
	}{
		{"nothing", poly.ID, `{}`, 400, "Say what to change"},
		{"empty label", poly.ID, `{"label":"   "}`, 400, "1 to 128 characters"},
		{"long label", poly.ID, `{"label":"` + strings.Repeat("x", 129) + `"}`, 400, "1 to 128 characters"},
		{"bad status", poly.ID, `{"status":"done"}`, 400, "suggested, approved or rejected"},
		{"two vertices", poly.ID, `{"polygon":[[0.1,0.1],[0.2,0.2]]}`, 400, "3 to 1000 vertices; it has 2"},
		{"outside", poly.ID, `{"polygon":[[0.1,0.1],[0.2,1.2],[0.3,0.1]]}`, 400, "Vertex 2 of the polygon lies outside the image"},
		{"not a pair", poly.ID, `{"polygon":[[0.1,0.1],[0.2],[0.3,0.1]]}`, 400, "Vertex 2 of the polygon must be [x, y]"},
		{"unknown field", poly.ID, `{"label":"x","colour":"red"}`, 400, "unknown field"},
		{"not JSON", poly.ID, `{"label":`, 400, "not valid JSON"},
		{"label of a classification", class.ID, `{"label":"night"}`, 422, "images.ObjectDetection annotations only"},
		{"shape of a polyline", line.ID, `{"polygon":[[0.1,0.1],[0.2,0.2],[0.3,0.1]]}`, 422, "polyline"},
		{"another image's annotation", elsewhere.ID, `{"label":"x"}`, 404, "is not on this image"},
		{"no such annotation", 999999, `{"label":"x"}`, 404, "This annotation no longer exists"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := a.edit(t, "square.jpg", tt.id, tt.body)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("%d %s, want %d with %q", status, body, tt.status, tt.want)
			}
			if !strings.HasPrefix(body, `{"error":{"message":`) {
				t.Errorf("not the JSON error shape: %s", body)
			}
		})
	}
	if status, _ := a.post(t, fmt.Sprintf("/api/images/%d/annotations/%d", a.files["square.jpg"], poly.ID), "application/json", []byte(`{"label":"x"}`), false); status != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d, want 403", status)
	}
	if status, body := a.post(t, fmt.Sprintf("/api/images/%d/annotations/x1", a.files["square.jpg"]), "application/json", []byte(`{"label":"x"}`), true); status != 400 || !strings.Contains(body, "not an annotation id") {
		t.Errorf("a bad annotation id: %d %s", status, body)
	}
	if got := a.retrieve(t, elsewhere.ID); !strings.Contains(string(got.Data), "elsewhere") {
		t.Errorf("another image's annotation changed: %s", got.Data)
	}
}

// TestAnnotationDelete: deleting removes the annotation from CDF; a second delete says it no
// longer exists; another image's annotation is not touched.
func TestAnnotationDelete(t *testing.T) {
	a := setup(t, options{})
	poly, _, _, _, _, elsewhere := someAnnotations(t, a)
	del := func(id int64) (int, string) {
		return a.post(t, fmt.Sprintf("/api/images/%d/annotations/%d/delete", a.files["square.jpg"], id), "application/json", nil, true)
	}
	if status, body := del(poly.ID); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	if _, err := a.cdf.Annotations.Retrieve(context.Background(), poly.ID); cdf.StatusCode(err) != http.StatusBadRequest {
		t.Errorf("after delete the stand-in still has it: %v", err)
	}
	if n := len(a.list(t, "square.jpg", "").Items); n != 4 {
		t.Errorf("%d annotations listed after the delete, want 4", n)
	}
	if status, body := del(poly.ID); status != http.StatusNotFound || !strings.Contains(body, "This annotation no longer exists") {
		t.Errorf("deleting again: %d %s, want 404", status, body)
	}
	if status, body := del(elsewhere.ID); status != http.StatusNotFound || !strings.Contains(body, "is not on this image") {
		t.Errorf("another image's annotation: %d %s, want 404", status, body)
	}
	a.retrieve(t, elsewhere.ID)
}

// TestAnnotationsWithoutWrite: a user who may read but not write annotations sees them and is
// told plainly what they lack when they try to change one.
func TestAnnotationsWithoutWrite(t *testing.T) {
	// The annotation is made by a stand-in with every right, then read by one without WRITE
	// from the same data folder (file ids follow the file names, so they agree).
	data := t.TempDir()
	writer := setup(t, options{standInData: data})
	poly, _, _, _, _, _ := someAnnotations(t, writer)

	readOnly := cdflocal.DefaultIdentity()
	for i, c := range readOnly.Capabilities {
		if c.ACL == "annotationsAcl" {
			readOnly.Capabilities[i].Actions = []string{"READ"}
		}
	}
	a := setup(t, options{standInData: data, identity: &readOnly})
	if n := len(a.list(t, "square.jpg", "").Items); n != 5 {
		t.Fatalf("%d annotations listed, want 5", n)
	}
	const want = "You may not change annotations in this CDF project. Ask your administrator for annotationsAcl:WRITE."
	if status, body := a.edit(t, "square.jpg", poly.ID, `{"status":"approved"}`); status != http.StatusForbidden || !strings.Contains(body, want) {
		t.Errorf("update: %d %s, want 403 %q", status, body, want)
	}
	status, body := a.post(t, fmt.Sprintf("/api/images/%d/annotations/%d/delete", a.files["square.jpg"], poly.ID), "application/json", nil, true)
	if status != http.StatusForbidden || !strings.Contains(body, want) {
		t.Errorf("delete: %d %s, want 403 %q", status, body, want)
	}

	noRead := cdflocal.DefaultIdentity()
	for i, c := range noRead.Capabilities {
		if c.ACL == "annotationsAcl" {
			noRead.Capabilities[i].Actions = nil
		}
	}
	b := setup(t, options{standInData: data, identity: &noRead})
	status, body = b.get(t, fmt.Sprintf("/api/images/%d/annotations", b.files["square.jpg"]))
	if status != http.StatusForbidden || !strings.Contains(body, "annotationsAcl:READ") {
		t.Errorf("list without READ: %d %s, want 403 naming annotationsAcl:READ", status, body)
	}
}
