package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/store"
)

// FuzzSegmentPrompt sends any body (and content type) through the segment route's decoding
// and validation. A refusal is a 400 or 415 with a message that names no Go type; an accepted
// prompt is within the documented limits: at most maxPoints unique points in 0..1 labelled 0 or
// 1, a box (if any) inside the image and not inverted, a version from 1 to maxVersion, an
// object id of the allowed form; and it encodes as CDF's JSON.
func FuzzSegmentPrompt(f *testing.F) {
	f.Add("application/json", []byte(`{"objectId":"obj-1","version":1,"points":[{"x":0.5,"y":0.5,"label":1}]}`))
	f.Add("application/json", []byte(`{"objectId":"o","version":2,"box":{"xMin":0,"yMin":0,"xMax":1,"yMax":1},"points":[]}`))
	f.Add("application/json", []byte(`{"objectId":"o","version":1,"points":[{"x":NaN,"y":0.5,"label":1}]}`))
	f.Add("application/json", []byte(`{"objectId":"o","version":9223372036854775807,"points":[{"x":0.5,"y":0.5,"label":1}]}`))
	f.Add("application/json", []byte(`{"objectId":"o","version":"1","points":[{"x":"0.5","y":0.5,"label":true}]}`))
	f.Add("application/json", []byte(`{"objectId":"o","version":1,"points":[{"x":1e309,"y":0.5,"label":1}]}`))
	f.Add("application/json", []byte(`{"objectId":"o","version":1,"points":[{"x":0.5,"y":0.5,"label":1},{"x":0.5,"y":0.5,"label":1}]}{}`))
	f.Add("application/json; charset=utf-8", []byte(`{"objectId":"o","version":1,"box":{"xMin":0.6,"yMin":0,"xMax":0.5,"yMax":1}}`))
	f.Add("text/plain", []byte(`{}`))
	f.Add("application/json", []byte(`{"objectId":"o","version":1,"points":[`+strings.Repeat(`{"x":0.1,"y":0.1,"label":0},`, 101)+`{"x":0,"y":0,"label":1}]}`))
	f.Add("application/json", []byte(`{"objectId":"o","version":1,"colour":"red"}`))
	e := echo.New()
	goNames := regexp.MustCompile(`segmentRequest|promptPoint|promptBox|float64|\*int\b`)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/images/1/segment", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		c := e.NewContext(req, httptest.NewRecorder())
		var r segmentRequest
		err := decodeJSON(c, &r)
		var out cdf.SegmentRequest
		if err == nil {
			out, err = r.toCDF(1)
		}
		if err != nil {
			var p *problem
			if !errors.As(err, &p) {
				t.Fatalf("refusal %v is not a problem", err)
			}
			if p.status != http.StatusBadRequest && p.status != http.StatusUnsupportedMediaType {
				t.Fatalf("status %d for %q", p.status, p.message)
			}
			if p.message == "" || goNames.MatchString(p.message) {
				t.Fatalf("message %q is empty or names Go types", p.message)
			}
			return
		}
		if !objectIDPattern.MatchString(r.ObjectID) || r.Version < 1 || r.Version > maxVersion {
			t.Fatalf("accepted object %q version %d", r.ObjectID, r.Version)
		}
		if len(out.Points) > maxPoints || len(out.Points) == 0 && out.BoundingBox == nil {
			t.Fatalf("accepted %d points, box %v", len(out.Points), out.BoundingBox)
		}
		if len(out.Items) != 1 || out.Items[0].FileID != 1 {
			t.Fatalf("items %+v", out.Items)
		}
		seen := map[cdf.SegmentPoint]bool{}
		for _, p := range out.Points {
			if !inUnit(p.X) || !inUnit(p.Y) || p.Label != 0 && p.Label != 1 || seen[p] {
				t.Fatalf("accepted point %+v (seen before: %t)", p, seen[p])
			}
			seen[p] = true
		}
		if b := out.BoundingBox; b != nil && !(inUnit(b.XMin) && inUnit(b.YMin) && inUnit(b.XMax) && inUnit(b.YMax) && b.XMin < b.XMax && b.YMin < b.YMax) {
			t.Fatalf("accepted box %+v", b)
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("accepted prompt does not encode: %v", err)
		}
	})
}

// FuzzRoomLabels parses the room form's label set. A refusal says what is wrong in a
// sentence; an accepted set has at most store.MaxRoomLabels labels with unique names that
// checkLabel accepts as they are, lower-case #rrggbb colours and keys 1, 2, 3, … in order;
// and writing the set back as the form's lines parses to the same set.
func FuzzRoomLabels(f *testing.F) {
	f.Add("car #ff0000\nperson #00FF00\n")
	f.Add("  tree   #123abc  \n\n\nsky #000000")
	f.Add("a #000000\na #111111")
	f.Add("no colour")
	f.Add("tab\there #abcdef")
	f.Add("\xff\xfe #abcdef")
	f.Add("1 #000000\n2 #000000\n3 #000000\n4 #000000\n5 #000000\n6 #000000\n7 #000000\n8 #000000\n9 #000000\n10 #000000")
	f.Add("#000000 #111111")
	f.Add("x  #abcdef #abcdef")
	f.Add("a\r #abcdef")
	f.Fuzz(func(t *testing.T, text string) {
		labels, err := parseLabels(text)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty refusal")
			}
			return
		}
		if len(labels) > store.MaxRoomLabels {
			t.Fatalf("%d labels", len(labels))
		}
		colour := regexp.MustCompile(`^#[0-9a-f]{6}$`)
		var lines []string
		seen := map[string]bool{}
		for i, l := range labels {
			if got, err := checkLabel(l.Name, true); err != nil || got != l.Name {
				t.Fatalf("label %q: checkLabel says %q, %v", l.Name, got, err)
			}
			if !utf8.ValidString(l.Name) || strings.ContainsFunc(l.Name, unicode.IsControl) {
				t.Fatalf("label %q is not one line of text", l.Name)
			}
			if seen[l.Name] || !colour.MatchString(l.Color) || l.Key != i+1 {
				t.Fatalf("label %d: %+v (seen before: %t)", i, l, seen[l.Name])
			}
			seen[l.Name] = true
			lines = append(lines, fmt.Sprintf("%s %s", l.Name, l.Color))
		}
		again, err := parseLabels(strings.Join(lines, "\n"))
		if err != nil || fmt.Sprint(again) != fmt.Sprint(labels) {
			t.Fatalf("parsed %+v; written back and parsed again %+v, %v", labels, again, err)
		}
	})
}
