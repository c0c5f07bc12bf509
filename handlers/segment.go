package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/jobs"
)

// maxPoints is the largest prompt accepted, as in segment.MaxPoints.
const maxPoints = 100

// segmentRequest is the JSON body of POST /api/images/:id/segment: the whole prompt of one
// object, with the client's version of it. Coordinates are normalised to 0..1.
type segmentRequest struct {
	ObjectID string        `json:"objectId"`
	Version  int           `json:"version"`
	Points   []promptPoint `json:"points"`
	Box      *promptBox    `json:"box"`
}

type promptPoint struct {
	X     *float64 `json:"x"`
	Y     *float64 `json:"y"`
	Label *int     `json:"label"`
}

type promptBox struct {
	XMin *float64 `json:"xMin"`
	YMin *float64 `json:"yMin"`
	XMax *float64 `json:"xMax"`
	YMax *float64 `json:"yMax"`
}

var objectIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// decodeJSON reads a JSON body strictly: the right content type, one object, no unknown fields.
func decodeJSON(c echo.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return newProblem(http.StatusUnsupportedMediaType, "Send the request as JSON (Content-Type: application/json).")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		if tooLarge(err) {
			return echo.ErrStatusRequestEntityTooLarge
		}
		return newProblem(http.StatusBadRequest, "The request body could not be read.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return newProblem(http.StatusBadRequest, "The request is not valid JSON for this endpoint: %s.", jsonReason(err, reflect.TypeOf(v)))
	}
	if dec.More() {
		return newProblem(http.StatusBadRequest, "The request holds more than one JSON value.")
	}
	return nil
}

// jsonReason says in words what is wrong with a JSON body decoded into a value of type t: for
// a value of the wrong type, the field as the JSON names it and what it must be, never Go's
// names for them (encoding/json reports "segmentRequest.objectId" of type "string").
func jsonReason(err error, t reflect.Type) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		want, got := jsonKind(typeErr.Type), jsonValueWords(typeErr.Value)
		if typeErr.Field == "" {
			return fmt.Sprintf("the body must be %s, not %s", want, got)
		}
		return fmt.Sprintf("%q must be %s, not %s", jsonPath(t, typeErr.Field), want, got)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return "it is not well-formed JSON (" + strings.TrimPrefix(err.Error(), "json: ") + ")"
	case errors.Is(err, io.EOF):
		return "the body is empty"
	}
	// The rest are encoding/json's words, e.g. `unknown field "colour"`.
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names what a Go type holds in JSON's words.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object ({…})"
	}
	return "another kind of value"
}

// jsonValueWords names the kind of JSON value encoding/json found ("string", "number 1.5").
func jsonValueWords(v string) string {
	switch kind, literal, _ := strings.Cut(v, " "); kind {
	case "string":
		return "text"
	case "number":
		if literal != "" {
			return literal // a fraction, or too large for the field
		}
		return "a number"
	case "bool":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "an object"
	}
	return v
}

// jsonPath turns encoding/json's path to a field ("segmentRequest.points.x", where embedded
// structs add their Go type's name) into the JSON one ("points.x"), by walking t.
func jsonPath(t reflect.Type, goPath string) string {
	var out []string
	for el := range strings.SplitSeq(goPath, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			out, t = append(out, el), nil
			continue
		}
		var next reflect.Type
		skip := false
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == el || name == "" && f.Name == el {
				next, skip = f.Type, f.Anonymous && name == ""
				break
			}
		}
		if !skip {
			out = append(out, el)
		}
		t = next
	}
	return strings.Join(out, ".")
}

// toCDF validates the prompt and converts it to CDF's segment request for fileID.
func (r *segmentRequest) toCDF(fileID int64) (cdf.SegmentRequest, error) {
	bad := func(format string, args ...any) (cdf.SegmentRequest, error) {
		return cdf.SegmentRequest{}, newProblem(http.StatusBadRequest, format, args...)
	}
	if !objectIDPattern.MatchString(r.ObjectID) {
		return bad("objectId must be 1 to 64 letters, digits, '-' or '_'.")
	}
	if err := checkVersion(r.Version); err != nil {
		return cdf.SegmentRequest{}, err
	}
	if len(r.Points) == 0 && r.Box == nil {
		return bad("The prompt is empty: click a point or drag a box.")
	}
	if len(r.Points) > maxPoints {
		return bad("The prompt has %d points; at most %d are allowed.", len(r.Points), maxPoints)
	}
	out := cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: fileID}}, Points: []cdf.SegmentPoint{}}
	seen := make(map[cdf.SegmentPoint]bool, len(r.Points))
	for i, p := range r.Points {
		if p.X == nil || p.Y == nil || p.Label == nil {
			return bad("Point %d needs x, y and label.", i+1)
		}
		if !inUnit(*p.X) || !inUnit(*p.Y) {
			return bad("Point %d lies outside the image: x and y must be between 0 and 1.", i+1)
		}
		if *p.Label != 0 && *p.Label != 1 {
			return bad("Point %d has label %d; use 1 for the object or 0 for the background.", i+1, *p.Label)
		}
		sp := cdf.SegmentPoint{X: *p.X, Y: *p.Y, Label: *p.Label}
		if seen[sp] {
			continue // CDF wants unique points; a double click adds nothing
		}
		seen[sp] = true
		out.Points = append(out.Points, sp)
	}
	if b := r.Box; b != nil {
		if b.XMin == nil || b.YMin == nil || b.XMax == nil || b.YMax == nil {
			return bad("The box needs xMin, yMin, xMax and yMax.")
		}
		if !inUnit(*b.XMin) || !inUnit(*b.YMin) || !inUnit(*b.XMax) || !inUnit(*b.YMax) {
			return bad("The box lies outside the image: its corners must be between 0 and 1.")
		}
		if !(*b.XMin < *b.XMax && *b.YMin < *b.YMax) {
			return bad("The box is empty or inverted: it needs xMin < xMax and yMin < yMax.")
		}
		out.BoundingBox = &cdf.BoundingBox{XMin: *b.XMin, YMin: *b.YMin, XMax: *b.XMax, YMax: *b.YMax}
	}
	return out, nil
}

func inUnit(v float64) bool { return v >= 0 && v <= 1 }

// segment starts a segment job for one object's prompt; the result arrives over the WebSocket.
func (s *server) segment(c echo.Context) error {
	id, err := fileID(c)
	if err != nil {
		return err
	}
	var body segmentRequest
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	req, err := body.toCDF(id)
	if err != nil {
		return err
	}
	client, f, err := s.openImage(c, id)
	if err != nil {
		return err
	}
	u := userOf(c)
	dims := s.knownSize(f)
	err = s.Jobs.Submit(s.segmenter(u, client), jobs.Task{
		Room:     userRoom(u, id),
		ObjectID: body.ObjectID,
		Version:  body.Version,
		User:     u.Name,
		UserID:   u.ID,
		FileID:   id,
		Pixels:   int64(dims.w) * int64(dims.h),
		Request:  req,
	})
	if errors.Is(err, jobs.ErrStale) {
		return newProblem(http.StatusConflict, "A newer prompt for this object was already sent.")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"objectId": body.ObjectID, "version": body.Version})
}

// segmenter is the segment backend for one of u's prompts, reading through u's own client.
// The job follower repeats segment calls on its own schedule, so they make one attempt each.
func (s *server) segmenter(u User, client *cdf.Client) jobs.SegmentAPI {
	return s.Segmenters.For(u.ID, client.Once().Vision, client.Files)
}
