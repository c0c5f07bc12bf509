package cdf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Limits of the Annotations API.
const (
	MaxAnnotationItems      = 1000 // items per create, suggest, byids, update or delete request
	MaxAnnotationLimit      = 1000 // page size of list
	DefaultAnnotationLimit  = 25   // page size of list when none is given
	MaxLabelLength          = 128
	MaxPolygonVertices      = 1000
	MinPolygonVertices      = 3
	MinPolylineVertices     = 2
	MaxAttributeDescription = 500
)

// ErrBatchSize is returned (wrapped) when a batch call is given no items or more than CDF
// accepts in one request. Nothing is sent; the client never splits batches itself.
var ErrBatchSize = errors.New("cdf: batch size out of range")

// AnnotationsService is CDF's Annotations API (/annotations/...).
//
// Retries: list, byids, retrieve and update are retried like reads (an update sets values, so
// repeating it is harmless). Create, suggest and delete are retried on 429 only: CDF rejects a
// throttled request before doing any work, whereas after a 5xx, a timeout or a dropped
// connection the write may have landed, and repeating it would create a duplicate (or, for
// delete, fail with "missing"). Such failures are reported to the caller; Ambiguous tells them
// apart, and the caller should check with List whether the write landed before sending it again.
type AnnotationsService struct{ c *Client }

type annotationItems struct {
	Items []Annotation `json:"items"`
}

type itemsRequest[T any] struct {
	Items []T `json:"items"`
}

type idItem struct {
	ID int64 `json:"id"`
}

func checkBatch(op string, n int) error {
	if n < 1 || n > MaxAnnotationItems {
		return &notSentError{fmt.Errorf("%w: %s: %d items, CDF accepts 1..%d per request", ErrBatchSize, op, n, MaxAnnotationItems)}
	}
	return nil
}

func idItems(ids []int64) []idItem {
	out := make([]idItem, len(ids))
	for i, id := range ids {
		out[i] = idItem{id}
	}
	return out
}

// Create creates annotations (POST /annotations, 1..1000 items) and returns them with their
// ids, in request order. It is retried on 429 only; see AnnotationsService and Ambiguous.
func (s *AnnotationsService) Create(ctx context.Context, items []AnnotationCreate) ([]Annotation, error) {
	const op = "create annotations"
	if err := checkBatch(op, len(items)); err != nil {
		return nil, err
	}
	var out annotationItems
	err := s.c.do(ctx, call{
		op: op, method: http.MethodPost, url: s.c.projectURL("/annotations"),
		body: itemsRequest[AnnotationCreate]{items}, mode: retryThrottledOnly,
	}, &out)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// Suggest creates annotations with status suggested (POST /annotations/suggest, 1..1000
// items), which needs only the annotationsAcl:SUGGEST capability. It is retried on 429 only.
func (s *AnnotationsService) Suggest(ctx context.Context, items []AnnotationSuggest) ([]Annotation, error) {
	const op = "suggest annotations"
	if err := checkBatch(op, len(items)); err != nil {
		return nil, err
	}
	var out annotationItems
	err := s.c.do(ctx, call{
		op: op, method: http.MethodPost, url: s.c.projectURL("/annotations/suggest"),
		body: itemsRequest[AnnotationSuggest]{items}, mode: retryThrottledOnly,
	}, &out)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

type annotationListRequest struct {
	Filter AnnotationFilter `json:"filter"`
	Limit  int              `json:"limit,omitempty"`
	Cursor string           `json:"cursor,omitempty"`
}

// List returns one page of the annotations matching filter (POST /annotations/list). Limit 0
// means CDF's default of 25; the maximum is 1000. Every page of one listing must use the same
// filter and limit.
func (s *AnnotationsService) List(ctx context.Context, filter AnnotationFilter, opts ListOptions) (*AnnotationList, error) {
	const op = "list annotations"
	if filter.AnnotatedResourceType == "" || len(filter.AnnotatedResourceIDs) == 0 {
		return nil, &notSentError{fmt.Errorf("cdf: %s: the filter needs AnnotatedResourceType and AnnotatedResourceIDs", op)}
	}
	if n := len(filter.AnnotatedResourceIDs); n > MaxAnnotationItems {
		return nil, &notSentError{fmt.Errorf("%w: %s: %d annotated resource ids, CDF accepts 1..%d", ErrBatchSize, op, n, MaxAnnotationItems)}
	}
	if opts.Limit < 0 || opts.Limit > MaxAnnotationLimit {
		return nil, &notSentError{fmt.Errorf("cdf: %s: limit %d out of range 1..%d", op, opts.Limit, MaxAnnotationLimit)}
	}
	var out AnnotationList
	err := s.c.do(ctx, call{
		op: op, method: http.MethodPost, url: s.c.projectURL("/annotations/list"),
		body: annotationListRequest{Filter: filter, Limit: opts.Limit, Cursor: opts.Cursor}, mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ByIDs returns the annotations with the given ids (POST /annotations/byids, 1..1000 ids), in
// request order. Unknown ids give an *APIError (400) listing them in Missing.
func (s *AnnotationsService) ByIDs(ctx context.Context, ids []int64) ([]Annotation, error) {
	const op = "retrieve annotations"
	if err := checkBatch(op, len(ids)); err != nil {
		return nil, err
	}
	var out annotationItems
	err := s.c.do(ctx, call{
		op: op, method: http.MethodPost, url: s.c.projectURL("/annotations/byids"),
		body: itemsRequest[idItem]{idItems(ids)}, mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// Retrieve returns one annotation (GET /annotations/{id}).
func (s *AnnotationsService) Retrieve(ctx context.Context, id int64) (*Annotation, error) {
	var out Annotation
	err := s.c.do(ctx, call{
		op: "retrieve annotation", method: http.MethodGet,
		url: s.c.projectURL("/annotations/" + strconv.FormatInt(id, 10)), mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Update changes status, type and/or data of annotations (POST /annotations/update, 1..1000
// items) and returns them as updated. Unknown ids give an *APIError (400) listing them in
// Missing, and nothing is changed. Because an update sets values it is retried like a read.
func (s *AnnotationsService) Update(ctx context.Context, items []AnnotationUpdate) ([]Annotation, error) {
	const op = "update annotations"
	if err := checkBatch(op, len(items)); err != nil {
		return nil, err
	}
	var out annotationItems
	err := s.c.do(ctx, call{
		op: op, method: http.MethodPost, url: s.c.projectURL("/annotations/update"),
		body: itemsRequest[AnnotationUpdate]{items}, mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// Delete deletes annotations (POST /annotations/delete, 1..1000 ids). Unknown ids give an
// *APIError (400) listing them in Missing, and nothing is deleted. It is retried on 429 only:
// a repeated delete that had landed would fail with missing ids.
func (s *AnnotationsService) Delete(ctx context.Context, ids []int64) error {
	const op = "delete annotations"
	if err := checkBatch(op, len(ids)); err != nil {
		return err
	}
	return s.c.do(ctx, call{
		op: op, method: http.MethodPost, url: s.c.projectURL("/annotations/delete"),
		body: itemsRequest[idItem]{idItems(ids)}, mode: retryThrottledOnly,
	}, nil)
}

// notSentError marks a failure that happened before the request was sent.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// Ambiguous reports whether a failed call may nevertheless have taken effect in CDF: true
// for transport errors, timeouts, dropped connections, 5xx answers and 2xx answers that could
// not be read; false for nil, for 4xx answers (including 429: CDF rejected the request before
// doing any work) and for errors raised before anything was sent. After an ambiguous failure
// of a create, check whether the annotation exists before creating it again.
func Ambiguous(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	var ns *notSentError
	return !errors.As(err, &ns)
}

func decodeObjectDetection(annotationType string, data json.RawMessage) (*ObjectDetection, error) {
	if annotationType != AnnotationTypeObjectDetection {
		return nil, fmt.Errorf("cdf: annotation type is %q, not %s", annotationType, AnnotationTypeObjectDetection)
	}
	// Decoded leniently: reading annotations made by other tools must not fail on a key
	// this type does not know.
	var d ObjectDetection
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("cdf: decode %s data: %w", AnnotationTypeObjectDetection, err)
	}
	return &d, nil
}

// Validate checks d against CDF's images.ObjectDetection schema: a label of 1..128
// characters, exactly one geometry, coordinates and confidences in 0..1, a box with
// xMin < xMax and yMin < yMax, a polygon of 3..1000 and a polyline of 2..1000 vertices, and
// attributes that are booleans or numbers with descriptions of at most 500 characters.
func (d *ObjectDetection) Validate() error {
	if n := utf8.RuneCountInString(d.Label); n < 1 || n > MaxLabelLength {
		return fmt.Errorf("cdf: object detection: label must be 1..%d characters, got %d", MaxLabelLength, n)
	}
	if err := checkConfidence("confidence", d.Confidence); err != nil {
		return err
	}
	geometries := 0
	if b := d.BoundingBox; b != nil {
		geometries++
		for _, v := range []float64{b.XMin, b.XMax, b.YMin, b.YMax} {
			if !unit(v) {
				return fmt.Errorf("cdf: object detection: boundingBox values must be in 0..1, got %v %v %v %v", b.XMin, b.XMax, b.YMin, b.YMax)
			}
		}
		if !(b.XMin < b.XMax && b.YMin < b.YMax) {
			return fmt.Errorf("cdf: object detection: boundingBox needs xMin < xMax and yMin < yMax, got %v %v %v %v", b.XMin, b.XMax, b.YMin, b.YMax)
		}
		if err := checkConfidence("boundingBox confidence", b.Confidence); err != nil {
			return err
		}
	}
	if p := d.Polygon; p != nil {
		geometries++
		if err := checkVertices("polygon", p.Vertices, MinPolygonVertices, p.Confidence); err != nil {
			return err
		}
	}
	if p := d.Polyline; p != nil {
		geometries++
		if err := checkVertices("polyline", p.Vertices, MinPolylineVertices, p.Confidence); err != nil {
			return err
		}
	}
	if geometries != 1 {
		return fmt.Errorf("cdf: object detection: give exactly one of boundingBox, polygon or polyline, got %d", geometries)
	}
	for name, a := range d.Attributes {
		switch a.Type {
		case AttributeBoolean:
			if _, ok := a.Value.(bool); !ok {
				return fmt.Errorf("cdf: object detection: attribute %q: a boolean attribute needs a bool value, got %T", name, a.Value)
			}
		case AttributeNumerical:
			if !isNumber(a.Value) {
				return fmt.Errorf("cdf: object detection: attribute %q: a numerical attribute needs a number value, got %T", name, a.Value)
			}
		default:
			return fmt.Errorf("cdf: object detection: attribute %q: type must be %q or %q, got %q", name, AttributeBoolean, AttributeNumerical, a.Type)
		}
		if utf8.RuneCountInString(a.Description) > MaxAttributeDescription {
			return fmt.Errorf("cdf: object detection: attribute %q: description longer than %d characters", name, MaxAttributeDescription)
		}
	}
	return nil
}

func unit(v float64) bool { return v >= 0 && v <= 1 && !math.IsNaN(v) }

func checkConfidence(what string, c *float64) error {
	if c != nil && !unit(*c) {
		return fmt.Errorf("cdf: object detection: %s must be in 0..1, got %v", what, *c)
	}
	return nil
}

func checkVertices(what string, vs []Vertex, minN int, conf *float64) error {
	if len(vs) < minN || len(vs) > MaxPolygonVertices {
		return fmt.Errorf("cdf: object detection: %s needs %d..%d vertices, got %d", what, minN, MaxPolygonVertices, len(vs))
	}
	for i, v := range vs {
		if !unit(v.X) || !unit(v.Y) {
			return fmt.Errorf("cdf: object detection: %s vertex %d (%v, %v) is outside 0..1", what, i, v.X, v.Y)
		}
		if err := checkConfidence(fmt.Sprintf("%s vertex %d confidence", what, i), v.Confidence); err != nil {
			return err
		}
	}
	return checkConfidence(what+" confidence", conf)
}

func isNumber(v any) bool {
	switch x := v.(type) {
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return true
	}
	return false
}
