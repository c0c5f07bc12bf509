package cdflocal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
)

const annPath = "/api/v1/projects/" + testProject + "/annotations"

// triangle is a valid images.ObjectDetection polygon.
func triangle(label string) cdf.ObjectDetection {
	return cdf.ObjectDetection{Label: label, Confidence: ptr(0.9), Polygon: &cdf.Polygon{Vertices: []cdf.Vertex{{X: .1, Y: .1}, {X: .5, Y: .1}, {X: .3, Y: .4}}}}
}

// detection returns a create item for an object detection on file id.
func detection(t *testing.T, fileID int64, d cdf.ObjectDetection, user *string) cdf.AnnotationCreate {
	t.Helper()
	a, err := cdf.NewObjectDetection(fileID, cdf.AnnotationApproved, "lasso", "1.2.3", user, d)
	must(t, err)
	return a
}

func fileFilter(ids ...int64) cdf.AnnotationFilter {
	f := cdf.AnnotationFilter{AnnotatedResourceType: cdf.ResourceFile}
	for _, id := range ids {
		f.AnnotatedResourceIDs = append(f.AnnotatedResourceIDs, cdf.ID(id))
	}
	return f
}

func annIDs(as []cdf.Annotation) []int64 {
	out := []int64{}
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func TestAnnotationsRoundTrip(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := context.Background()
	wide, small := e.id("wide.png"), e.id("photos/small.jpg")
	alice := ptr("alice@example.com")

	created, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{
		detection(t, wide, triangle("valve"), alice),
		detection(t, small, cdf.ObjectDetection{Label: "pump", BoundingBox: &cdf.AnnotationBox{XMin: .1, YMin: .2, XMax: .3, YMax: .4, Confidence: ptr(.7)}}, nil),
	})
	must(t, err)
	if len(created) != 2 || created[0].ID < 1 || created[1].ID <= created[0].ID {
		t.Fatalf("ids not increasing: %v", annIDs(created))
	}
	now := e.clock.Now().UnixMilli()
	a := created[0]
	if a.AnnotatedResourceType != "file" || a.AnnotatedResourceID != wide || a.AnnotationType != cdf.AnnotationTypeObjectDetection ||
		a.CreatingApp != "lasso" || a.CreatingAppVersion != "1.2.3" || a.CreatingUser == nil || *a.CreatingUser != *alice ||
		a.Status != cdf.AnnotationApproved || a.CreatedTime != now || a.LastUpdatedTime != now {
		t.Errorf("created: %+v", a)
	}
	if created[1].CreatingUser != nil {
		t.Errorf("null creatingUser came back as %q", *created[1].CreatingUser)
	}
	od, err := a.ObjectDetection()
	must(t, err)
	if diff := cmp.Diff(triangle("valve"), *od); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	if _, err := created[1].ObjectDetection(); err != nil {
		t.Errorf("box detection: %v", err)
	}

	got, err := e.c.Annotations.ByIDs(ctx, []int64{created[1].ID, created[0].ID})
	must(t, err)
	if diff := cmp.Diff([]cdf.Annotation{created[1], created[0]}, got); diff != "" {
		t.Errorf("byids keeps request order (-want +got):\n%s", diff)
	}
	one, err := e.c.Annotations.Retrieve(ctx, a.ID)
	must(t, err)
	if diff := cmp.Diff(a, *one); diff != "" {
		t.Errorf("retrieve (-want +got):\n%s", diff)
	}
	page, err := e.c.Annotations.List(ctx, fileFilter(wide), cdf.ListOptions{})
	must(t, err)
	if diff := cmp.Diff([]cdf.Annotation{a}, page.Items); diff != "" || page.NextCursor != "" {
		t.Errorf("list (-want +got):\n%s cursor %q", diff, page.NextCursor)
	}

	e.clock.Add(time.Minute)
	up, err := e.c.Annotations.Update(ctx, []cdf.AnnotationUpdate{{ID: a.ID, Status: cdf.AnnotationRejected}})
	must(t, err)
	if up[0].Status != cdf.AnnotationRejected || up[0].LastUpdatedTime != e.clock.Now().UnixMilli() || up[0].CreatedTime != now || string(up[0].Data) != string(a.Data) {
		t.Errorf("status update: %+v", up[0])
	}
	relabel, _ := json.Marshal(triangle("gate valve"))
	up, err = e.c.Annotations.Update(ctx, []cdf.AnnotationUpdate{{ID: a.ID, Data: relabel}})
	must(t, err)
	if od, _ := up[0].ObjectDetection(); od == nil || od.Label != "gate valve" || up[0].Status != cdf.AnnotationRejected {
		t.Errorf("data update: %+v", up[0])
	}
	up, err = e.c.Annotations.Update(ctx, []cdf.AnnotationUpdate{{ID: a.ID, AnnotationType: cdf.AnnotationTypeClassification, Data: json.RawMessage(`{"label":"valve","confidence":0.5}`)}})
	must(t, err)
	if up[0].AnnotationType != cdf.AnnotationTypeClassification {
		t.Errorf("type update: %+v", up[0])
	}

	must(t, e.c.Annotations.Delete(ctx, []int64{a.ID}))
	_, err = e.c.Annotations.Retrieve(ctx, a.ID)
	ae := apiError(t, err, 400)
	if diff := cmp.Diff([]cdf.Identifier{cdf.ID(a.ID)}, ae.MissingIdentifiers()); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if n := len(e.srv.Annotations()); n != 1 {
		t.Errorf("%d annotations left, want 1", n)
	}

	t.Run("201 and the error envelope on the wire", func(t *testing.T) {
		item := detection(t, wide, triangle("x"), nil)
		body, _ := json.Marshal(map[string]any{"items": []any{item}})
		st, hdr, b := e.raw(http.MethodPost, annPath, string(body))
		if st != http.StatusCreated || hdr.Get("x-request-id") == "" || !strings.Contains(string(b), `"creatingUser":null`) {
			t.Errorf("create: %d %s", st, b)
		}
		st, _, b = e.raw(http.MethodPost, annPath+"/suggest", string(body))
		if st != http.StatusBadRequest || !strings.Contains(string(b), `"code":400`) || !strings.Contains(string(b), "status") {
			t.Errorf("suggest with a status: %d %s", st, b)
		}
		st, _, b = e.raw(http.MethodPost, annPath+"/delete", fmt.Sprintf(`{"items":[{"id":%d}]}`, created[1].ID))
		if st != http.StatusOK || strings.TrimSpace(string(b)) != "{}" {
			t.Errorf("delete: %d %s", st, b)
		}
		st, _, _ = e.raw(http.MethodGet, annPath, "")
		if st != http.StatusMethodNotAllowed {
			t.Errorf("GET /annotations: %d", st)
		}
	})

	t.Run("suggest stores suggested", func(t *testing.T) {
		c := detection(t, small, triangle("valve"), alice)
		c.Status = cdf.AnnotationApproved
		s, err := e.c.Annotations.Suggest(ctx, []cdf.AnnotationSuggest{c.Suggestion()})
		must(t, err)
		if s[0].Status != cdf.AnnotationSuggested {
			t.Errorf("suggest: %+v", s[0])
		}
	})
}

// baseItem is a valid create item as a generic map, for the validation table.
func baseItem(fileID int64) map[string]any {
	return map[string]any{
		"annotatedResourceType": "file", "annotatedResourceId": fileID,
		"annotationType": "images.ObjectDetection", "creatingApp": "lasso", "creatingAppVersion": "1.0.0",
		"creatingUser": "alice", "status": "approved",
		"data": map[string]any{"label": "valve", "confidence": 0.5, "polygon": map[string]any{"vertices": vertices(3)}},
	}
}

func vertices(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"x": float64(i%10) / 10, "y": float64(i%7) / 7}
	}
	return out
}

func box(xMin, xMax, yMin, yMax any) map[string]any {
	return map[string]any{"xMin": xMin, "xMax": xMax, "yMin": yMin, "yMax": yMax}
}

func TestAnnotationValidation(t *testing.T) {
	e := setup(t, setupOpts{})
	id := e.id("wide.png")
	data := func(f func(d map[string]any)) func(map[string]any) {
		return func(it map[string]any) { f(it["data"].(map[string]any)) }
	}
	geometry := func(k string, v any) func(map[string]any) {
		return data(func(d map[string]any) { delete(d, "polygon"); d[k] = v })
	}
	attr := func(v any) func(map[string]any) {
		return data(func(d map[string]any) { d["attributes"] = map[string]any{"open": v} })
	}
	long := strings.Repeat("é", 129)
	tests := []struct {
		name   string
		mutate func(map[string]any)
		ok     bool
		// clientToo: the same data must also fail cdf.ObjectDetection.Validate.
		clientToo bool
	}{
		{"valid polygon", func(map[string]any) {}, true, false},
		{"valid box", geometry("boundingBox", box(0, 1, 0, 1)), true, false},
		{"valid polyline", geometry("polyline", map[string]any{"vertices": vertices(2)}), true, false},
		{"valid attributes", attr(map[string]any{"type": "boolean", "value": true, "description": "is it open"}), true, false},
		{"valid numerical attribute", attr(map[string]any{"type": "numerical", "value": 3.5}), true, false},
		{"null creatingUser", func(it map[string]any) { it["creatingUser"] = nil }, true, false},
		{"threedmodel type is valid, but no such model", func(it map[string]any) { it["annotatedResourceType"] = "threedmodel" }, false, false},
		{"semver with pre-release and build", func(it map[string]any) { it["creatingAppVersion"] = "1.0.0-rc.1+abc" }, true, false},
		{"label of 128 characters", data(func(d map[string]any) { d["label"] = long[2:] }), true, false},
		{"1000 vertices", data(func(d map[string]any) { d["polygon"] = map[string]any{"vertices": vertices(1000)} }), true, false},

		{"missing annotatedResourceType", func(it map[string]any) { delete(it, "annotatedResourceType") }, false, false},
		{"bad annotatedResourceType", func(it map[string]any) { it["annotatedResourceType"] = "asset" }, false, false},
		{"missing annotatedResourceId", func(it map[string]any) { delete(it, "annotatedResourceId") }, false, false},
		{"non-integer annotatedResourceId", func(it map[string]any) { it["annotatedResourceId"] = 1.5 }, false, false},
		{"externalId is not accepted", func(it map[string]any) { it["annotatedResourceId"] = "wide.png" }, false, false},
		{"missing annotationType", func(it map[string]any) { delete(it, "annotationType") }, false, false},
		{"bad annotationType", func(it map[string]any) { it["annotationType"] = "images.Mask" }, false, false},
		{"missing creatingApp", func(it map[string]any) { delete(it, "creatingApp") }, false, false},
		{"empty creatingApp", func(it map[string]any) { it["creatingApp"] = "" }, false, false},
		{"missing creatingAppVersion", func(it map[string]any) { delete(it, "creatingAppVersion") }, false, false},
		{"creatingAppVersion not semver", func(it map[string]any) { it["creatingAppVersion"] = "v1.0" }, false, false},
		{"creatingAppVersion with a v", func(it map[string]any) { it["creatingAppVersion"] = "v1.0.0" }, false, false},
		{"creatingUser key absent", func(it map[string]any) { delete(it, "creatingUser") }, false, false},
		{"creatingUser empty", func(it map[string]any) { it["creatingUser"] = "" }, false, false},
		{"missing status", func(it map[string]any) { delete(it, "status") }, false, false},
		{"bad status", func(it map[string]any) { it["status"] = "accepted" }, false, false},
		{"missing data", func(it map[string]any) { delete(it, "data") }, false, false},
		{"null data", func(it map[string]any) { it["data"] = nil }, false, false},
		{"data not an object", func(it map[string]any) { it["data"] = "valve" }, false, false},
		{"unknown item field", func(it map[string]any) { it["externalId"] = "x" }, false, false},

		{"missing label", data(func(d map[string]any) { delete(d, "label") }), false, true},
		{"empty label", data(func(d map[string]any) { d["label"] = "" }), false, true},
		{"label of 129 characters", data(func(d map[string]any) { d["label"] = long }), false, true},
		{"confidence above 1", data(func(d map[string]any) { d["confidence"] = 1.01 }), false, true},
		{"confidence below 0", data(func(d map[string]any) { d["confidence"] = -0.1 }), false, true},
		{"unknown data key", data(func(d map[string]any) { d["mask"] = "rle" }), false, false},
		{"no geometry", data(func(d map[string]any) { delete(d, "polygon") }), false, true},
		{"two geometries", data(func(d map[string]any) { d["boundingBox"] = box(0, 1, 0, 1) }), false, true},
		{"box xMin = xMax", geometry("boundingBox", box(.5, .5, 0, 1)), false, true},
		{"box yMin > yMax", geometry("boundingBox", box(0, 1, .6, .5)), false, true},
		{"box value above 1", geometry("boundingBox", box(0, 1.2, 0, 1)), false, true},
		{"box value below 0", geometry("boundingBox", box(-0.1, 1, 0, 1)), false, true},
		{"box key missing", geometry("boundingBox", map[string]any{"xMin": 0, "xMax": 1, "yMin": 0}), false, false},
		{"box confidence above 1", geometry("boundingBox", map[string]any{"xMin": 0, "xMax": 1, "yMin": 0, "yMax": 1, "confidence": 1.5}), false, true},
		{"box unknown key", geometry("boundingBox", map[string]any{"xMin": 0, "xMax": 1, "yMin": 0, "yMax": 1, "zMin": 0}), false, false},
		{"polygon of 2 vertices", data(func(d map[string]any) { d["polygon"] = map[string]any{"vertices": vertices(2)} }), false, true},
		{"polygon of 1001 vertices", data(func(d map[string]any) { d["polygon"] = map[string]any{"vertices": vertices(1001)} }), false, true},
		{"polygon without vertices", data(func(d map[string]any) { d["polygon"] = map[string]any{} }), false, true},
		{"polygon vertex outside", data(func(d map[string]any) {
			d["polygon"] = map[string]any{"vertices": []any{map[string]any{"x": 0, "y": 0}, map[string]any{"x": 1.5, "y": 0}, map[string]any{"x": 0, "y": 1}}}
		}), false, true},
		{"polygon vertex without y", data(func(d map[string]any) {
			d["polygon"] = map[string]any{"vertices": []any{map[string]any{"x": 0, "y": 0}, map[string]any{"x": 1}, map[string]any{"x": 0, "y": 1}}}
		}), false, false},
		{"vertex confidence above 1", data(func(d map[string]any) {
			d["polygon"] = map[string]any{"vertices": []any{map[string]any{"x": 0, "y": 0, "confidence": 2}, map[string]any{"x": 1, "y": 0}, map[string]any{"x": 0, "y": 1}}}
		}), false, true},
		{"polygon confidence above 1", data(func(d map[string]any) { d["polygon"] = map[string]any{"vertices": vertices(3), "confidence": 1.5} }), false, true},
		{"polyline of 1 vertex", geometry("polyline", map[string]any{"vertices": vertices(1)}), false, true},
		{"polyline of 1001 vertices", geometry("polyline", map[string]any{"vertices": vertices(1001)}), false, true},
		{"attribute of unknown type", attr(map[string]any{"type": "string", "value": "x"}), false, true},
		{"boolean attribute with a number", attr(map[string]any{"type": "boolean", "value": 1}), false, true},
		{"numerical attribute with a bool", attr(map[string]any{"type": "numerical", "value": true}), false, true},
		{"attribute without value", attr(map[string]any{"type": "boolean"}), false, false},
		{"attribute description of 501 characters", attr(map[string]any{"type": "boolean", "value": true, "description": strings.Repeat("d", 501)}), false, true},
		{"attribute unknown key", attr(map[string]any{"type": "boolean", "value": true, "unit": "m"}), false, false},
		{"attribute not an object", attr(true), false, false},
		{"classification data on an object detection type", func(it map[string]any) { it["data"] = map[string]any{"label": "x"} }, false, true},
		{"classification with a polygon", func(it map[string]any) { it["annotationType"] = "images.Classification" }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := baseItem(id)
			tt.mutate(it)
			body, err := json.Marshal(map[string]any{"items": []any{it}})
			must(t, err)
			for _, path := range []string{annPath, annPath + "/suggest"} {
				if path == annPath+"/suggest" {
					delete(it, "status")
					if tt.name == "missing status" || tt.name == "bad status" {
						continue
					}
					body, _ = json.Marshal(map[string]any{"items": []any{it}})
				}
				st, _, b := e.raw(http.MethodPost, path, string(body))
				if tt.ok && st != http.StatusCreated {
					t.Errorf("%s: %d %s, want 201", path, st, b)
				}
				if !tt.ok {
					var env struct {
						Error struct {
							Code    int    `json:"code"`
							Message string `json:"message"`
						} `json:"error"`
					}
					if st != http.StatusBadRequest || json.Unmarshal(b, &env) != nil || env.Error.Code != 400 || env.Error.Message == "" {
						t.Errorf("%s: %d %s, want 400 with the error envelope", path, st, b)
					}
				}
			}
			if tt.clientToo || (tt.ok && it["annotationType"] == "images.ObjectDetection") {
				raw, _ := json.Marshal(it["data"])
				var d cdf.ObjectDetection
				if err := json.Unmarshal(raw, &d); err == nil {
					verr := d.Validate()
					if tt.ok && verr != nil {
						t.Errorf("Validate refuses valid data: %v", verr)
					}
					if !tt.ok && verr == nil {
						t.Errorf("Validate accepts data the stand-in refuses: %s", raw)
					}
				} else if tt.ok {
					t.Errorf("valid data does not decode: %v", err)
				}
			}
		})
	}
	if n := len(e.srv.Annotations()); n != 2*9 {
		t.Errorf("%d annotations stored, want %d (the valid cases, created and suggested)", n, 2*9)
	}
}

func TestAnnotationBatchesAndIDs(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := context.Background()
	wide := e.id("wide.png")
	created, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, wide, triangle("a"), nil), detection(t, wide, triangle("b"), nil)})
	must(t, err)
	a, b := created[0].ID, created[1].ID
	unknown := b + 100

	t.Run("client refuses empty and oversized batches without sending", func(t *testing.T) {
		before := e.requests.Load()
		big := make([]cdf.AnnotationCreate, 1001)
		_, err1 := e.c.Annotations.Create(ctx, big)
		_, err2 := e.c.Annotations.Suggest(ctx, nil)
		_, err3 := e.c.Annotations.ByIDs(ctx, nil)
		_, err4 := e.c.Annotations.Update(ctx, make([]cdf.AnnotationUpdate, 1001))
		err5 := e.c.Annotations.Delete(ctx, []int64{})
		for i, err := range []error{err1, err2, err3, err4, err5} {
			if !errors.Is(err, cdf.ErrBatchSize) || cdf.Ambiguous(err) {
				t.Errorf("call %d: %v, want ErrBatchSize (not ambiguous)", i+1, err)
			}
		}
		_, err = e.c.Annotations.List(ctx, cdf.AnnotationFilter{AnnotatedResourceType: "file"}, cdf.ListOptions{})
		if err == nil {
			t.Error("list without resource ids: no error")
		}
		if n := e.requests.Load(); n != before {
			t.Errorf("%d requests sent", n-before)
		}
	})

	t.Run("stand-in refuses empty and oversized batches", func(t *testing.T) {
		items := make([]string, 1001)
		for i := range items {
			items[i] = fmt.Sprintf(`{"id":%d}`, i+1)
		}
		for _, p := range []string{"", "/suggest", "/byids", "/update", "/delete"} {
			for _, body := range []string{`{"items":[]}`, `{"items":[` + strings.Join(items, ",") + `]}`, `{}`} {
				if st, _, b := e.raw(http.MethodPost, annPath+p, body); st != http.StatusBadRequest {
					t.Errorf("%s %.40s: %d %s", p, body, st, b)
				}
			}
		}
	})

	t.Run("missing ids", func(t *testing.T) {
		want := []cdf.Identifier{cdf.ID(unknown)}
		_, err := e.c.Annotations.ByIDs(ctx, []int64{a, unknown})
		if diff := cmp.Diff(want, apiError(t, err, 400).MissingIdentifiers()); diff != "" {
			t.Errorf("byids missing (-want +got):\n%s", diff)
		}
		_, err = e.c.Annotations.Update(ctx, []cdf.AnnotationUpdate{{ID: a, Status: cdf.AnnotationRejected}, {ID: unknown, Status: cdf.AnnotationRejected}})
		if diff := cmp.Diff(want, apiError(t, err, 400).MissingIdentifiers()); diff != "" {
			t.Errorf("update missing (-want +got):\n%s", diff)
		}
		err = e.c.Annotations.Delete(ctx, []int64{b, unknown})
		if diff := cmp.Diff(want, apiError(t, err, 400).MissingIdentifiers()); diff != "" {
			t.Errorf("delete missing (-want +got):\n%s", diff)
		}
		got, err := e.c.Annotations.ByIDs(ctx, []int64{a, b})
		must(t, err)
		if got[0].Status != cdf.AnnotationApproved || len(got) != 2 {
			t.Errorf("a failed update or delete changed something: %+v", got)
		}
		st, _, _ := e.raw(http.MethodGet, annPath+"/abc", "")
		if st != http.StatusBadRequest {
			t.Errorf("GET /annotations/abc: %d", st)
		}
	})

	t.Run("duplicated ids", func(t *testing.T) {
		_, err := e.c.Annotations.ByIDs(ctx, []int64{a, a})
		if diff := cmp.Diff([]cdf.Identifier{cdf.ID(a)}, apiError(t, err, 400).DuplicatedIdentifiers()); diff != "" {
			t.Errorf("duplicated (-want +got):\n%s", diff)
		}
		err = e.c.Annotations.Delete(ctx, []int64{b, b})
		apiError(t, err, 400)
	})

	t.Run("missing files", func(t *testing.T) {
		_, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, wide, triangle("a"), nil), detection(t, 12345, triangle("b"), nil), detection(t, 12345, triangle("c"), nil)})
		if diff := cmp.Diff([]cdf.Identifier{cdf.ID(12345)}, apiError(t, err, 400).MissingIdentifiers()); diff != "" {
			t.Errorf("missing (-want +got):\n%s", diff)
		}
		if n := len(e.srv.Annotations()); n != 2 {
			t.Errorf("a refused batch stored something: %d annotations", n)
		}
	})

	t.Run("update validation", func(t *testing.T) {
		bad := []struct{ name, body string }{
			{"bad status", fmt.Sprintf(`{"items":[{"id":%d,"update":{"status":{"set":"done"}}}]}`, a)},
			{"type change leaves data invalid", fmt.Sprintf(`{"items":[{"id":%d,"update":{"annotationType":{"set":"images.Classification"}}}]}`, a)},
			{"invalid data", fmt.Sprintf(`{"items":[{"id":%d,"update":{"data":{"set":{"label":"x"}}}}]}`, a)},
			{"unknown data key", fmt.Sprintf(`{"items":[{"id":%d,"update":{"data":{"set":{"label":"x","boundingBox":{"xMin":0,"xMax":1,"yMin":0,"yMax":1},"color":"red"}}}}]}`, a)},
			{"bad type", fmt.Sprintf(`{"items":[{"id":%d,"update":{"annotationType":{"set":"images.Mask"}}}]}`, a)},
			{"no set", fmt.Sprintf(`{"items":[{"id":%d,"update":{"status":"approved"}}]}`, a)},
			{"unknown update key", fmt.Sprintf(`{"items":[{"id":%d,"update":{"creatingApp":{"set":"x"}}}]}`, a)},
			{"empty update", fmt.Sprintf(`{"items":[{"id":%d,"update":{}}]}`, a)},
			{"no update", fmt.Sprintf(`{"items":[{"id":%d}]}`, a)},
			{"second item invalid", fmt.Sprintf(`{"items":[{"id":%d,"update":{"status":{"set":"rejected"}}},{"id":%d,"update":{"data":{"set":{}}}}]}`, a, b)},
		}
		for _, tt := range bad {
			if st, _, body := e.raw(http.MethodPost, annPath+"/update", tt.body); st != http.StatusBadRequest {
				t.Errorf("%s: %d %s", tt.name, st, body)
			}
		}
		got, err := e.c.Annotations.ByIDs(ctx, []int64{a})
		must(t, err)
		if got[0].Status != cdf.AnnotationApproved || got[0].AnnotationType != cdf.AnnotationTypeObjectDetection {
			t.Errorf("a refused update changed the annotation: %+v", got[0])
		}
	})
}

func TestAnnotationList(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := context.Background()
	wide, small := e.id("wide.png"), e.id("photos/small.jpg")
	var items []cdf.AnnotationCreate
	for i := range 30 {
		user := ptr("alice")
		if i%3 == 0 {
			user = nil
		}
		label := []string{"valve", "pump", "Valve"}[i%3]
		it := detection(t, wide, triangle(label), user)
		if i%2 == 1 {
			it.Status = cdf.AnnotationSuggested
		}
		if i == 29 {
			it.CreatingApp, it.CreatingAppVersion, it.AnnotatedResourceID = "other", "2.0.0", small
		}
		items = append(items, it)
	}
	created, err := e.c.Annotations.Create(ctx, items)
	must(t, err)
	count := func(f func(i int, c cdf.AnnotationCreate) bool) int {
		n := 0
		for i, c := range items {
			if f(i, c) {
				n++
			}
		}
		return n
	}
	listAll := func(t *testing.T, f cdf.AnnotationFilter, limit int) []cdf.Annotation {
		t.Helper()
		var out []cdf.Annotation
		cur := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("paging does not end")
			}
			p, err := e.c.Annotations.List(ctx, f, cdf.ListOptions{Limit: limit, Cursor: cur})
			must(t, err)
			out = append(out, p.Items...)
			if cur = p.NextCursor; cur == "" {
				return out
			}
		}
	}
	both := fileFilter(wide, small)
	withFilter := func(mod func(*cdf.AnnotationFilter)) cdf.AnnotationFilter {
		f := both
		mod(&f)
		return f
	}
	tests := []struct {
		name   string
		filter cdf.AnnotationFilter
		want   int
	}{
		{"both files", both, 30},
		{"one file", fileFilter(small), 1},
		{"by externalId", cdf.AnnotationFilter{AnnotatedResourceType: "file", AnnotatedResourceIDs: []cdf.Identifier{{ExternalID: "wide.png"}}}, 29},
		{"unknown file matches nothing", fileFilter(999), 0},
		{"threedmodel matches nothing", withFilter(func(f *cdf.AnnotationFilter) { f.AnnotatedResourceType = "threedmodel" }), 0},
		{"status", withFilter(func(f *cdf.AnnotationFilter) { f.Status = cdf.AnnotationSuggested }), 15},
		{"annotationType", withFilter(func(f *cdf.AnnotationFilter) { f.AnnotationType = cdf.AnnotationTypeObjectDetection }), 30},
		{"annotationType other", withFilter(func(f *cdf.AnnotationFilter) { f.AnnotationType = cdf.AnnotationTypeClassification }), 0},
		{"creatingApp", withFilter(func(f *cdf.AnnotationFilter) { f.CreatingApp = "other" }), 1},
		{"creatingAppVersion", withFilter(func(f *cdf.AnnotationFilter) { f.CreatingAppVersion = "1.2.3" }), 29},
		{"creatingUser", withFilter(func(f *cdf.AnnotationFilter) { f.CreatingUser = ptr("alice") }), 20},
		{"creatingUser null", withFilter(func(f *cdf.AnnotationFilter) { f.ByService = true }), 10},
		{"data label", withFilter(func(f *cdf.AnnotationFilter) { f.Data = json.RawMessage(`{"label":"valve"}`) }), 10},
		{"data is case-sensitive", withFilter(func(f *cdf.AnnotationFilter) { f.Data = json.RawMessage(`{"label":"VALVE"}`) }), 0},
		{"data nested", withFilter(func(f *cdf.AnnotationFilter) {
			f.Data = json.RawMessage(`{"label":"pump","polygon":{"vertices":[{"x":0.1,"y":0.1},{"x":0.5},{"x":0.3,"y":0.4}]}}`)
		}), 10},
		{"data key absent", withFilter(func(f *cdf.AnnotationFilter) { f.Data = json.RawMessage(`{"boundingBox":{}}`) }), 0},
		{"combined", withFilter(func(f *cdf.AnnotationFilter) {
			f.Status = cdf.AnnotationApproved
			f.Data = json.RawMessage(`{"label":"valve"}`)
		}), count(func(i int, _ cdf.AnnotationCreate) bool { return i%3 == 0 && i%2 == 0 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listAll(t, tt.filter, 1000)
			if len(got) != tt.want {
				t.Errorf("%d annotations, want %d", len(got), tt.want)
			}
		})
	}

	t.Run("limit default 25 and cursor paging", func(t *testing.T) {
		p, err := e.c.Annotations.List(ctx, both, cdf.ListOptions{})
		must(t, err)
		if len(p.Items) != 25 || p.NextCursor == "" {
			t.Fatalf("first page: %d items, cursor %q", len(p.Items), p.NextCursor)
		}
		got := listAll(t, both, 7)
		if diff := cmp.Diff(annIDs(created), annIDs(got)); diff != "" {
			t.Errorf("paged ids (-want +got):\n%s", diff)
		}
	})

	t.Run("paging is stable while annotations change", func(t *testing.T) {
		p1, err := e.c.Annotations.List(ctx, both, cdf.ListOptions{Limit: 10})
		must(t, err)
		must(t, e.c.Annotations.Delete(ctx, []int64{p1.Items[0].ID}))
		p2, err := e.c.Annotations.List(ctx, both, cdf.ListOptions{Limit: 10, Cursor: p1.NextCursor})
		must(t, err)
		if p2.Items[0].ID != created[10].ID {
			t.Errorf("second page starts at %d, want %d", p2.Items[0].ID, created[10].ID)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		p, err := e.c.Annotations.List(ctx, both, cdf.ListOptions{Limit: 5})
		must(t, err)
		files := fmt.Sprintf(`"annotatedResourceIds":[{"id":%d}]`, wide)
		bad := []struct{ name, body string }{
			{"no filter", `{}`},
			{"no annotatedResourceType", `{"filter":{` + files + `}}`},
			{"bad annotatedResourceType", `{"filter":{"annotatedResourceType":"asset",` + files + `}}`},
			{"no annotatedResourceIds", `{"filter":{"annotatedResourceType":"file"}}`},
			{"empty annotatedResourceIds", `{"filter":{"annotatedResourceType":"file","annotatedResourceIds":[]}}`},
			{"id and externalId", `{"filter":{"annotatedResourceType":"file","annotatedResourceIds":[{"id":1,"externalId":"x"}]}}`},
			{"unknown filter key", `{"filter":{"annotatedResourceType":"file",` + files + `,"label":"x"}}`},
			{"bad status", `{"filter":{"annotatedResourceType":"file",` + files + `,"status":"done"}}`},
			{"data not an object", `{"filter":{"annotatedResourceType":"file",` + files + `,"data":"x"}}`},
			{"limit 0", `{"filter":{"annotatedResourceType":"file",` + files + `},"limit":0}`},
			{"limit 1001", `{"filter":{"annotatedResourceType":"file",` + files + `},"limit":1001}`},
			{"bad cursor", `{"filter":{"annotatedResourceType":"file",` + files + `},"cursor":"nope"}`},
			{"cursor with another filter", `{"filter":{"annotatedResourceType":"file",` + files + `},"limit":5,"cursor":"` + p.NextCursor + `"}`},
		}
		for _, tt := range bad {
			if st, _, b := e.raw(http.MethodPost, annPath+"/list", tt.body); st != http.StatusBadRequest {
				t.Errorf("%s: %d %s", tt.name, st, b)
			}
		}
		st, _, b := e.raw(http.MethodPost, annPath+"/list", `{"filter":{"annotatedResourceType":"file",`+files+`},"limit":1000}`)
		if st != http.StatusOK || !strings.Contains(string(b), `"nextCursor":null`) {
			t.Errorf("last page: %d %.200s", st, b)
		}
	})
}

func TestAnnotationsPersist(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	withData := setupOpts{cfg: func(c *cdflocal.Config) { c.DataDir = dataDir }}
	e1 := setup(t, withData)
	wide := e1.id("wide.png")
	created, err := e1.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, wide, triangle("a"), nil), detection(t, wide, triangle("b"), ptr("bob")), detection(t, wide, triangle("c"), nil)})
	must(t, err)
	must(t, e1.c.Annotations.Delete(ctx, []int64{created[2].ID}))
	_, err = e1.c.Annotations.Update(ctx, []cdf.AnnotationUpdate{{ID: created[1].ID, Status: cdf.AnnotationRejected}})
	must(t, err)
	before := e1.srv.Annotations()
	entries, err := os.ReadDir(dataDir)
	must(t, err)
	if len(entries) != 1 || entries[0].Name() != cdflocal.AnnotationsLog {
		t.Errorf("data folder holds %v, want only %s (no snapshot before the log is folded)", entries, cdflocal.AnnotationsLog)
	}
	if read, err := cdflocal.ReadAnnotations(dataDir); err != nil || !cmp.Equal(read, before) {
		t.Errorf("ReadAnnotations while the stand-in runs: %v, %v; want %v", read, err, before)
	}

	e2 := setup(t, withData) // a second stand-in on the same folder, as after a restart
	if diff := cmp.Diff(before, e2.srv.Annotations()); diff != "" {
		t.Errorf("annotations after a restart (-want +got):\n%s", diff)
	}
	page, err := e2.c.Annotations.List(ctx, fileFilter(wide), cdf.ListOptions{})
	must(t, err)
	if diff := cmp.Diff(before, page.Items); diff != "" {
		t.Errorf("listed after a restart (-want +got):\n%s", diff)
	}
	more, err := e2.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, wide, triangle("d"), nil)})
	must(t, err)
	if more[0].ID <= created[2].ID {
		t.Errorf("id %d after a restart reuses or precedes %d", more[0].ID, created[2].ID)
	}

	t.Run("in memory without DataDir", func(t *testing.T) {
		e := setup(t, setupOpts{})
		_, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, wide, triangle("a"), nil)})
		must(t, err)
		if e2 := setup(t, setupOpts{}); len(e2.srv.Annotations()) != 0 {
			t.Error("annotations outlived an in-memory stand-in")
		}
	})

	t.Run("a corrupt file is an error", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, cdflocal.AnnotationsFile), []byte("{not json"), 0o644))
		if _, err := cdflocal.New(cdflocal.Config{ImagesDir: e1.dir, DataDir: dir}); err == nil {
			t.Error("New accepted a corrupt annotations file")
		}
	})

	t.Run("a corrupt line before the last is an error", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, cdflocal.AnnotationsLog), []byte("{not json\n{\"nextId\":2}\n"), 0o644))
		if _, err := cdflocal.New(cdflocal.Config{ImagesDir: e1.dir, DataDir: dir}); err == nil {
			t.Error("New accepted a corrupt annotations log")
		}
	})

	t.Run("a last line cut short by a crash is dropped", func(t *testing.T) {
		dir := t.TempDir()
		e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.DataDir = dir }})
		kept, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, wide, triangle("a"), nil)})
		must(t, err)
		e.srv.Close()
		f, err := os.OpenFile(filepath.Join(dir, cdflocal.AnnotationsLog), os.O_APPEND|os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteString(`{"nextId":3,"put":[{"id":2,"annotatedResourceType":"fi`) // the process died here
		must(t, err)
		must(t, f.Close())
		e2 := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.DataDir = dir }})
		if got := e2.srv.Annotations(); !cmp.Equal(got, kept) {
			t.Errorf("after a torn last line: %v, want the whole changes only: %v", got, kept)
		}
		// The next change follows the last whole line, not the torn one.
		more, err := e2.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, wide, triangle("b"), nil)})
		must(t, err)
		e2.srv.Close()
		if read, err := cdflocal.ReadAnnotations(dir); err != nil || !cmp.Equal(read, append(kept, more...)) {
			t.Errorf("after the next change: %v, %v", read, err)
		}
	})
}

func TestAnnotationFaults(t *testing.T) {
	ctx := context.Background()
	create := func(e *env) error {
		_, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(e.t, e.id("wide.png"), triangle("a"), nil)})
		return err
	}
	suggest := func(e *env) error {
		c := detection(e.t, e.id("wide.png"), triangle("a"), nil)
		_, err := e.c.Annotations.Suggest(ctx, []cdf.AnnotationSuggest{c.Suggestion()})
		return err
	}
	list := func(e *env) error {
		_, err := e.c.Annotations.List(ctx, fileFilter(e.id("wide.png")), cdf.ListOptions{})
		return err
	}
	seq := cdflocal.FaultSequence
	one := func(f cdflocal.Fault) func(*http.Request) *cdflocal.Fault {
		n := 0
		return func(*http.Request) *cdflocal.Fault {
			if n++; n == 1 {
				return &f
			}
			return nil
		}
	}
	tests := []struct {
		name      string
		faults    func(*http.Request) *cdflocal.Fault
		call      func(*env) error
		status    int   // APIError status; -1 a transport error; 0 success
		attempts  int64 // requests that reached the stand-in
		stored    int   // annotations stored afterwards
		ambiguous bool
	}{
		{"create: 500 not retried", seq(500), create, 500, 1, 0, true},
		{"create: 503 not retried", seq(503), create, 503, 1, 0, true},
		{"create: 429 retried", seq(429, 429), create, 0, 3, 1, false},
		{"suggest: 502 not retried", seq(502), suggest, 502, 1, 0, true},
		{"suggest: 429 retried", seq(429), suggest, 0, 2, 1, false},
		{"create: dropped connection, not stored", one(cdflocal.Fault{Drop: true}), create, -1, 1, 0, true},
		{"create: 500 after the write", one(cdflocal.Fault{Status: 500, AfterWrite: true}), create, 500, 1, 1, true},
		{"create: dropped after the write", one(cdflocal.Fault{Drop: true, AfterWrite: true}), create, -1, 1, 1, true},
		{"create: 429 after the write is a lie the client believes", one(cdflocal.Fault{Status: 429, AfterWrite: true}), create, 0, 2, 2, false},
		{"list: 503 retried", seq(503, 503), list, 0, 3, 0, false},
		{"list: dropped connection retried", one(cdflocal.Fault{Drop: true}), list, 0, 2, 0, false},
		{"list: 500 not retried", seq(500), list, 500, 1, 0, true},
		{"slow answer without a fault", one(cdflocal.Fault{Delay: time.Millisecond}), create, 0, 1, 1, false},
		{"fault only on creates", cdflocal.FaultOn(http.MethodPost, "/annotations", seq(503)), list, 0, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.Faults = tt.faults }})
			err := tt.call(e)
			switch tt.status {
			case 0:
				must(t, err)
			case -1:
				var ae *cdf.APIError
				if err == nil || errors.As(err, &ae) {
					t.Errorf("err %v, want a transport error", err)
				}
			default:
				apiError(t, err, tt.status)
			}
			if got := cdf.Ambiguous(err); got != tt.ambiguous {
				t.Errorf("Ambiguous(%v) = %v, want %v", err, got, tt.ambiguous)
			}
			if n := e.requests.Load(); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			if n := len(e.srv.Annotations()); n != tt.stored {
				t.Errorf("%d annotations stored, want %d", n, tt.stored)
			}
		})
	}

	t.Run("update and delete after the write", func(t *testing.T) {
		var fault *cdflocal.Fault
		e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) {
			c.Faults = func(*http.Request) *cdflocal.Fault { f := fault; fault = nil; return f }
		}})
		created, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, e.id("wide.png"), triangle("a"), nil)})
		must(t, err)
		id := created[0].ID
		fault = &cdflocal.Fault{Status: 503, AfterWrite: true}
		up, err := e.c.Annotations.Update(ctx, []cdf.AnnotationUpdate{{ID: id, Status: cdf.AnnotationRejected}})
		must(t, err) // retried: setting a value twice is harmless
		if up[0].Status != cdf.AnnotationRejected {
			t.Errorf("update: %+v", up[0])
		}
		fault = &cdflocal.Fault{Status: 502, AfterWrite: true}
		err = e.c.Annotations.Delete(ctx, []int64{id})
		apiError(t, err, 502)
		if len(e.srv.Annotations()) != 0 {
			t.Error("delete did not land")
		}
		// Repeating it now would be a 400 with missing: why delete is not retried on 5xx.
		ae := apiError(t, e.c.Annotations.Delete(ctx, []int64{id}), 400)
		if cdf.Ambiguous(ae) {
			t.Error("a 400 is ambiguous")
		}
	})

	t.Run("timeout after the write", func(t *testing.T) {
		e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) {
			c.Faults = cdflocal.FaultOn(http.MethodPost, "/annotations", func(*http.Request) *cdflocal.Fault {
				return &cdflocal.Fault{Delay: 10 * time.Second, AfterWrite: true}
			})
		}})
		tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.c.Annotations.Create(tctx, []cdf.AnnotationCreate{detection(t, e.id("wide.png"), triangle("a"), nil)})
		if !errors.Is(err, context.DeadlineExceeded) || !cdf.Ambiguous(err) {
			t.Errorf("err %v, want an ambiguous deadline error", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Error("the stand-in held the client past its deadline")
		}
		if n := len(e.srv.Annotations()); n != 1 {
			t.Errorf("%d annotations stored, want 1: the write lands before the timeout", n)
		}
	})

	t.Run("fault mix", func(t *testing.T) {
		f := cdflocal.FaultMix(0.5, 7, cdflocal.Fault{Status: 429}, cdflocal.Fault{Drop: true, AfterWrite: true})
		seen := map[string]int{}
		for range 1000 {
			if x := f(nil); x != nil {
				seen[fmt.Sprintf("%d/%v", x.Status, x.Drop)]++
			}
		}
		if seen["429/false"] < 150 || seen["0/true"] < 150 || len(seen) != 2 {
			t.Errorf("faults drawn: %v", seen)
		}
		if cdflocal.FaultMix(1, 1)(nil) != nil {
			t.Error("FaultMix without faults injected one")
		}
	})
}

func TestAnnotationAccess(t *testing.T) {
	id := cdflocal.Identity{Subject: "annotator", Capabilities: []cdflocal.Capability{
		{ACL: "filesAcl", Actions: []string{"READ"}},
		{ACL: "annotationsAcl", Actions: []string{"READ", "SUGGEST"}},
	}}
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.Identity = &id }})
	ctx := context.Background()
	c := detection(t, e.id("wide.png"), triangle("a"), nil)
	_, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{c})
	apiError(t, err, 403)
	s, err := e.c.Annotations.Suggest(ctx, []cdf.AnnotationSuggest{c.Suggestion()})
	must(t, err)
	_, err = e.c.Annotations.Update(ctx, []cdf.AnnotationUpdate{{ID: s[0].ID, Status: cdf.AnnotationApproved}})
	apiError(t, err, 403)
	apiError(t, e.c.Annotations.Delete(ctx, []int64{s[0].ID}), 403)
	_, err = e.c.Annotations.Retrieve(ctx, s[0].ID)
	must(t, err)

	noFiles := cdflocal.Identity{Subject: "x", Capabilities: []cdflocal.Capability{{ACL: "annotationsAcl", Actions: []string{"READ", "WRITE"}}}}
	e2 := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.Identity = &noFiles }})
	_, err = e2.c.Annotations.List(ctx, fileFilter(e2.id("wide.png")), cdf.ListOptions{})
	apiError(t, err, 403)
}

// TestSlowCreateAbandoned: a create whose client gives up during an injected delay is not
// served afterwards (only AfterWrite faults land unseen), so tests of "timeout, not stored"
// mean what they say.
func TestSlowCreateAbandoned(t *testing.T) {
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) {
		c.Faults = cdflocal.FaultOn(http.MethodPost, "/annotations", func(*http.Request) *cdflocal.Fault {
			return &cdflocal.Fault{Delay: 300 * time.Millisecond}
		})
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.c.Annotations.Create(ctx, []cdf.AnnotationCreate{detection(t, e.id("wide.png"), triangle("a"), nil)})
	if err == nil {
		t.Fatal("a create that outlived its client's timeout succeeded")
	}
	time.Sleep(500 * time.Millisecond) // past the delay
	if n := len(e.srv.Annotations()); n != 0 {
		t.Errorf("%d annotations stored after the client gave up, want 0", n)
	}
}
