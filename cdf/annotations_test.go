package cdf

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAnnotationWireFormat(t *testing.T) {
	c, mux, sleeps := setup(t)
	var bodies []string
	answer := map[string]string{
		"/api/v1/projects/proj/annotations":        `{"items":[{"id":5,"creatingUser":null,"data":{"label":"a"}}]}`,
		"/api/v1/projects/proj/annotations/list":   `{"items":[],"nextCursor":null}`,
		"/api/v1/projects/proj/annotations/update": `{"items":[{"id":5}]}`,
		"/api/v1/projects/proj/annotations/delete": `{}`,
	}
	for path, resp := range answer {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			bodies = append(bodies, r.Method+" "+r.URL.Path+" "+string(b))
			if path == "/api/v1/projects/proj/annotations" {
				w.WriteHeader(http.StatusCreated)
			}
			io.WriteString(w, resp)
		})
	}
	ctx := context.Background()
	d := ObjectDetection{Label: "valve", Polygon: &Polygon{Vertices: []Vertex{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 0, Y: 1}}}}
	item, err := NewObjectDetection(9, AnnotationSuggested, "lasso", "1.0.0", nil, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Annotations.Create(ctx, []AnnotationCreate{item})
	if err != nil || len(got) != 1 || got[0].ID != 5 || got[0].CreatingUser != nil {
		t.Fatalf("create: %+v %v", got, err)
	}
	page, err := c.Annotations.List(ctx, AnnotationFilter{AnnotatedResourceType: ResourceFile, AnnotatedResourceIDs: []Identifier{ID(9)}, ByService: true}, ListOptions{})
	if err != nil || page.NextCursor != "" {
		t.Fatalf("list: %+v %v", page, err)
	}
	if _, err := c.Annotations.List(ctx, AnnotationFilter{AnnotatedResourceType: ResourceFile, AnnotatedResourceIDs: []Identifier{ID(9)}, CreatingUser: ptr("al")}, ListOptions{Limit: 3, Cursor: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Annotations.Update(ctx, []AnnotationUpdate{{ID: 5, Status: AnnotationApproved}, {ID: 6, AnnotationType: "images.Classification", Data: json.RawMessage(`{"label":"x"}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Annotations.Delete(ctx, []int64{5}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`POST /api/v1/projects/proj/annotations {"items":[{"annotatedResourceType":"file","annotatedResourceId":9,"annotationType":"images.ObjectDetection","creatingApp":"lasso","creatingAppVersion":"1.0.0","creatingUser":null,"status":"suggested","data":{"label":"valve","polygon":{"vertices":[{"x":0,"y":0},{"x":1,"y":0},{"x":0,"y":1}]}}}]}`,
		`POST /api/v1/projects/proj/annotations/list {"filter":{"annotatedResourceType":"file","annotatedResourceIds":[{"id":9}],"creatingUser":null}}`,
		`POST /api/v1/projects/proj/annotations/list {"filter":{"annotatedResourceType":"file","annotatedResourceIds":[{"id":9}],"creatingUser":"al"},"limit":3,"cursor":"c"}`,
		`POST /api/v1/projects/proj/annotations/update {"items":[{"id":5,"update":{"status":{"set":"approved"}}},{"id":6,"update":{"annotationType":{"set":"images.Classification"},"data":{"set":{"label":"x"}}}}]}`,
		`POST /api/v1/projects/proj/annotations/delete {"items":[{"id":5}]}`,
	}
	if strings.Join(bodies, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(bodies, "\n"), strings.Join(want, "\n"))
	}
	if len(*sleeps) != 0 {
		t.Errorf("waits %v", *sleeps)
	}
}

func TestAmbiguous(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&APIError{Status: 400}, false},
		{&APIError{Status: 429}, false},
		{&APIError{Status: 500}, true},
		{&APIError{Status: 504}, true},
		{&transportError{op: "x", err: io.EOF}, true},
		{&notSentError{errors.New("x")}, false},
		{errors.New("cdf: create annotations: decode response: bad"), true},
	}
	for _, tt := range tests {
		if got := Ambiguous(tt.err); got != tt.want {
			t.Errorf("Ambiguous(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestObjectDetectionDecode(t *testing.T) {
	a := Annotation{AnnotationType: AnnotationTypeClassification, Data: json.RawMessage(`{"label":"x"}`)}
	if _, err := a.ObjectDetection(); err == nil {
		t.Error("a classification decoded as an object detection")
	}
	a = Annotation{AnnotationType: AnnotationTypeObjectDetection, Data: json.RawMessage(`{"label":"x","attributes":{"open":{"type":"boolean","value":true}},"boundingBox":{"xMin":0,"xMax":1,"yMin":0,"yMax":1}}`)}
	d, err := a.ObjectDetection()
	if err != nil || d.Attributes["open"].Value != true || d.Validate() != nil {
		t.Errorf("decode: %+v %v", d, err)
	}
	p := PolygonDetection("valve", 0.8, []Vertex{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 0, Y: 1}})
	if err := p.Validate(); err != nil || *p.Confidence != 0.8 {
		t.Errorf("PolygonDetection: %+v %v", p, err)
	}
	p.Polygon.Vertices = p.Polygon.Vertices[:2]
	if p.Validate() == nil {
		t.Error("a 2-vertex polygon validates")
	}
	d.Attributes["n"] = NumberAttribute(2)
	d.Attributes["b"] = BoolAttribute(false)
	if err := d.Validate(); err != nil {
		t.Error(err)
	}
}

func ptr[T any](v T) *T { return &v }
