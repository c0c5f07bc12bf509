package cdflocal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lassoteam/lasso/cdf"
)

// Limits of the Annotations API, as CDF's OpenAPI schemas give them.
const (
	MaxAnnotationItems     = 1000
	DefaultAnnotationLimit = 25
	MaxAnnotationLimit     = 1000
)

// annotationTypes is the annotationType enum of AnnotationsV2CreateSchema.
var annotationTypes = []string{
	"images.ObjectDetection", "images.Classification", "images.KeypointCollection", "images.TextRegion",
	"images.AssetLink", "images.InstanceLink", "documents.ExtractedText", "forms.Detection",
	"diagrams.AssetLink", "diagrams.FileLink", "diagrams.InstanceLink", "diagrams.Junction", "diagrams.Line",
	"diagrams.UnhandledSymbolObject", "diagrams.UnhandledTextObject", "isoplan.IsoPlanAnnotation",
	"pointcloud.BoundingVolume",
}

var annotationStatuses = []string{string(cdf.AnnotationSuggested), string(cdf.AnnotationApproved), string(cdf.AnnotationRejected)}

var resourceTypes = []string{cdf.ResourceFile, cdf.ResourceThreeDModel}

// semVer is the regular expression of semver.org.
var semVer = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// obj is a JSON object under validation; where is its path in the request, for messages.
type obj struct {
	m     map[string]json.RawMessage
	where string
}

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

func parseObj(raw json.RawMessage, where string) (obj, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return obj{}, badRequest("%s: expected a JSON object", where)
	}
	return obj{m, where}, nil
}

func (o obj) path(k string) string {
	if o.where == "" {
		return k
	}
	return o.where + "." + k
}

// only refuses keys other than allowed (CDF's schemas have additionalProperties: false).
func (o obj) only(allowed ...string) error {
	var extra []string
	for k := range o.m {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return badRequest("%s: unrecognized field %q (allowed: %s)", o.where, extra[0], strings.Join(allowed, ", "))
	}
	return nil
}

// field returns the raw value of k; a required key that is absent or null is an error.
func (o obj) field(k string, required bool) (json.RawMessage, bool, error) {
	r, ok := o.m[k]
	if !ok || isNull(r) {
		if required {
			return nil, false, badRequest("%s: required field is missing or null", o.path(k))
		}
		return nil, false, nil
	}
	return r, true, nil
}

func (o obj) str(k string, required bool, minLen, maxLen int) (string, bool, error) {
	r, ok, err := o.field(k, required)
	if !ok || err != nil {
		return "", false, err
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		return "", false, badRequest("%s: expected a string", o.path(k))
	}
	if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
		return "", false, badRequest("%s: length must be between %d and %d, got %d", o.path(k), minLen, maxLen, n)
	}
	return s, true, nil
}

func (o obj) enum(k string, required bool, values []string) (string, bool, error) {
	s, ok, err := o.str(k, required, 0, 1<<20)
	if !ok || err != nil {
		return "", false, err
	}
	if !slices.Contains(values, s) {
		return "", false, badRequest("%s: %q is not one of %s", o.path(k), s, strings.Join(values, ", "))
	}
	return s, true, nil
}

func (o obj) num(k string, required bool) (float64, bool, error) {
	r, ok, err := o.field(k, required)
	if !ok || err != nil {
		return 0, false, err
	}
	var f float64
	if json.Unmarshal(r, &f) != nil {
		return 0, false, badRequest("%s: expected a number", o.path(k))
	}
	return f, true, nil
}

// unit reads a number that must be in [0, 1].
func (o obj) unit(k string, required bool) (float64, bool, error) {
	f, ok, err := o.num(k, required)
	if ok && (f < 0 || f > 1 || math.IsNaN(f)) {
		return 0, false, badRequest("%s: must be between 0 and 1, got %v", o.path(k), f)
	}
	return f, ok, err
}

func (o obj) id(k string, required bool) (int64, bool, error) {
	r, ok, err := o.field(k, required)
	if !ok || err != nil {
		return 0, false, err
	}
	var id int64
	if json.Unmarshal(r, &id) != nil || id < 1 || id > maxSafeInteger {
		return 0, false, badRequest("%s: expected an integer between 1 and %d", o.path(k), int64(maxSafeInteger))
	}
	return id, true, nil
}

func (o obj) object(k string, required bool) (obj, bool, error) {
	r, ok, err := o.field(k, required)
	if !ok || err != nil {
		return obj{}, false, err
	}
	c, err := parseObj(r, o.path(k))
	return c, err == nil, err
}

func (o obj) array(k string, required bool, minN, maxN int) ([]json.RawMessage, bool, error) {
	r, ok, err := o.field(k, required)
	if !ok || err != nil {
		return nil, false, err
	}
	var a []json.RawMessage
	if json.Unmarshal(r, &a) != nil {
		return nil, false, badRequest("%s: expected an array", o.path(k))
	}
	if len(a) < minN || len(a) > maxN {
		return nil, false, badRequest("%s: size must be between %d and %d, got %d", o.path(k), minN, maxN, len(a))
	}
	return a, true, nil
}

// validateData checks data against the schema of annotationType. images.ObjectDetection,
// images.Classification and images.TextRegion are checked in full; data of the other types
// must be a JSON object.
func validateData(annotationType string, raw json.RawMessage, where string) error {
	d, err := parseObj(raw, where)
	if err != nil {
		return err
	}
	switch annotationType {
	case cdf.AnnotationTypeObjectDetection:
		return validateObjectDetection(d)
	case cdf.AnnotationTypeClassification:
		if err := d.only("label", "confidence"); err != nil {
			return err
		}
		if _, _, err := d.str("label", true, 1, cdf.MaxLabelLength); err != nil {
			return err
		}
		_, _, err := d.unit("confidence", false)
		return err
	case "images.TextRegion":
		if err := d.only("text", "textRegion", "confidence"); err != nil {
			return err
		}
		if _, _, err := d.str("text", true, 1, 128); err != nil {
			return err
		}
		if err := validateBox(d, "textRegion", true); err != nil {
			return err
		}
		_, _, err := d.unit("confidence", false)
		return err
	}
	return nil
}

func validateObjectDetection(d obj) error {
	if err := d.only("label", "confidence", "boundingBox", "polygon", "polyline", "attributes"); err != nil {
		return err
	}
	if _, _, err := d.str("label", true, 1, cdf.MaxLabelLength); err != nil {
		return err
	}
	if _, _, err := d.unit("confidence", false); err != nil {
		return err
	}
	geometries := 0
	for _, k := range []string{"boundingBox", "polygon", "polyline"} {
		if _, ok, _ := d.field(k, false); ok {
			geometries++
		}
	}
	if geometries != 1 {
		return badRequest("%s: give exactly one of boundingBox, polygon or polyline, got %d", d.where, geometries)
	}
	if err := validateBox(d, "boundingBox", false); err != nil {
		return err
	}
	if err := validateLine(d, "polygon", cdf.MinPolygonVertices); err != nil {
		return err
	}
	if err := validateLine(d, "polyline", cdf.MinPolylineVertices); err != nil {
		return err
	}
	attrs, ok, err := d.object("attributes", false)
	if err != nil || !ok {
		return err
	}
	names := make([]string, 0, len(attrs.m))
	for k := range attrs.m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		a, _, err := attrs.object(name, true)
		if err != nil {
			return err
		}
		if err := a.only("type", "value", "description"); err != nil {
			return err
		}
		typ, _, err := a.enum("type", true, []string{cdf.AttributeBoolean, cdf.AttributeNumerical})
		if err != nil {
			return err
		}
		v, _, err := a.field("value", true)
		if err != nil {
			return err
		}
		var b bool
		var f float64
		if typ == cdf.AttributeBoolean && json.Unmarshal(v, &b) != nil {
			return badRequest("%s: a boolean attribute needs a boolean value", a.path("value"))
		}
		if typ == cdf.AttributeNumerical && json.Unmarshal(v, &f) != nil {
			return badRequest("%s: a numerical attribute needs a number value", a.path("value"))
		}
		if _, _, err := a.str("description", false, 0, cdf.MaxAttributeDescription); err != nil {
			return err
		}
	}
	return nil
}

func validateBox(d obj, k string, required bool) error {
	b, ok, err := d.object(k, required)
	if err != nil || !ok {
		return err
	}
	if err := b.only("xMin", "xMax", "yMin", "yMax", "confidence"); err != nil {
		return err
	}
	var v [4]float64
	for i, c := range []string{"xMin", "xMax", "yMin", "yMax"} {
		if v[i], _, err = b.unit(c, true); err != nil {
			return err
		}
	}
	if !(v[0] < v[1]) || !(v[2] < v[3]) {
		return badRequest("%s: needs xMin < xMax and yMin < yMax, got xMin %v xMax %v yMin %v yMax %v", b.where, v[0], v[1], v[2], v[3])
	}
	_, _, err = b.unit("confidence", false)
	return err
}

func validateLine(d obj, k string, minN int) error {
	p, ok, err := d.object(k, false)
	if err != nil || !ok {
		return err
	}
	if err := p.only("vertices", "confidence"); err != nil {
		return err
	}
	vs, _, err := p.array("vertices", true, minN, cdf.MaxPolygonVertices)
	if err != nil {
		return err
	}
	for i, raw := range vs {
		v, err := parseObj(raw, fmt.Sprintf("%s.vertices[%d]", p.where, i))
		if err != nil {
			return err
		}
		if err := v.only("x", "y", "confidence"); err != nil {
			return err
		}
		for _, c := range []string{"x", "y"} {
			if _, _, err := v.unit(c, true); err != nil {
				return err
			}
		}
		if _, _, err := v.unit("confidence", false); err != nil {
			return err
		}
	}
	_, _, err = p.unit("confidence", false)
	return err
}

// parseAnnotation validates one create (withStatus) or suggest item. It returns the
// annotation without id and times; a file that does not exist is returned in missing.
func parseAnnotation(s *Server, raw json.RawMessage, where string, withStatus bool) (a cdf.Annotation, missing int64, err error) {
	o, err := parseObj(raw, where)
	if err != nil {
		return a, 0, err
	}
	fields := []string{"annotatedResourceType", "annotatedResourceId", "annotationType", "creatingApp", "creatingAppVersion", "creatingUser", "data"}
	if withStatus {
		fields = append(fields, "status")
	}
	if err := o.only(fields...); err != nil {
		return a, 0, err
	}
	if a.AnnotatedResourceType, _, err = o.enum("annotatedResourceType", true, resourceTypes); err != nil {
		return a, 0, err
	}
	if a.AnnotatedResourceID, _, err = o.id("annotatedResourceId", true); err != nil {
		return a, 0, err
	}
	if a.AnnotationType, _, err = o.enum("annotationType", true, annotationTypes); err != nil {
		return a, 0, err
	}
	if a.CreatingApp, _, err = o.str("creatingApp", true, 1, 255); err != nil {
		return a, 0, err
	}
	if a.CreatingAppVersion, _, err = o.str("creatingAppVersion", true, 1, 255); err != nil {
		return a, 0, err
	}
	if !semVer.MatchString(a.CreatingAppVersion) {
		return a, 0, badRequest("%s: %q is not a semantic version (MAJOR.MINOR.PATCH)", o.path("creatingAppVersion"), a.CreatingAppVersion)
	}
	// creatingUser may be null (made by a service) but the key must be there.
	if _, ok := o.m["creatingUser"]; !ok {
		return a, 0, badRequest("%s: required field is missing (use null for a service)", o.path("creatingUser"))
	}
	if user, ok, err := o.str("creatingUser", false, 1, 255); err != nil {
		return a, 0, err
	} else if ok {
		a.CreatingUser = &user
	}
	a.Status = cdf.AnnotationSuggested
	if withStatus {
		st, _, err := o.enum("status", true, annotationStatuses)
		if err != nil {
			return a, 0, err
		}
		a.Status = cdf.AnnotationStatus(st)
	}
	data, _, err := o.field("data", true)
	if err != nil {
		return a, 0, err
	}
	if err := validateData(a.AnnotationType, data, o.path("data")); err != nil {
		return a, 0, err
	}
	if a.Data, err = compact(data); err != nil {
		return a, 0, err
	}
	// The stand-in has no 3D models: only files can be annotated.
	if a.AnnotatedResourceType != cdf.ResourceFile || s.files.byID[a.AnnotatedResourceID] == nil {
		return a, a.AnnotatedResourceID, nil
	}
	return a, 0, nil
}

func compact(r json.RawMessage) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, r); err != nil {
		return nil, badRequest("invalid JSON: %v", err)
	}
	return b.Bytes(), nil
}

type rawItems struct {
	Items []json.RawMessage `json:"items"`
}

func checkItems(n int) error {
	if n < 1 || n > MaxAnnotationItems {
		return badRequest("items: size must be between 1 and %d, got %d", MaxAnnotationItems, n)
	}
	return nil
}

// createAnnotations serves POST /annotations (withStatus) and /annotations/suggest.
func (s *Server) createAnnotations(w http.ResponseWriter, r *http.Request, withStatus bool) error {
	var req rawItems
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := checkItems(len(req.Items)); err != nil {
		return err
	}
	now := s.cfg.Now().UnixMilli()
	items := make([]cdf.Annotation, len(req.Items))
	var missing []any
	seen := map[int64]bool{}
	for i, raw := range req.Items {
		a, miss, err := parseAnnotation(s, raw, fmt.Sprintf("items[%d]", i), withStatus)
		if err != nil {
			return err
		}
		if miss != 0 && !seen[miss] {
			seen[miss] = true
			missing = append(missing, map[string]any{"id": miss})
		}
		a.CreatedTime, a.LastUpdatedTime = now, now
		items[i] = a
	}
	if len(missing) > 0 {
		return &apiError{status: http.StatusBadRequest, msg: "Annotated resources not found", missing: missing}
	}
	out, err := s.ann.add(items)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"items": out})
	return nil
}

// parseIDs reads {items:[{id}]} with 1..1000 unique ids.
func parseIDs(w http.ResponseWriter, r *http.Request) ([]int64, error) {
	var req rawItems
	if err := decodeBody(w, r, &req); err != nil {
		return nil, err
	}
	if err := checkItems(len(req.Items)); err != nil {
		return nil, err
	}
	return itemIDs(req.Items, func(_ int, o obj) error { return o.only("id") })
}

// itemIDs reads the id of each item (checked by check first) and refuses duplicates.
func itemIDs(items []json.RawMessage, check func(i int, o obj) error) ([]int64, error) {
	ids := make([]int64, len(items))
	seen := map[int64]bool{}
	var dup []any
	for i, raw := range items {
		o, err := parseObj(raw, fmt.Sprintf("items[%d]", i))
		if err != nil {
			return nil, err
		}
		if err := check(i, o); err != nil {
			return nil, err
		}
		if ids[i], _, err = o.id("id", true); err != nil {
			return nil, err
		}
		if seen[ids[i]] {
			dup = append(dup, map[string]any{"id": ids[i]})
		}
		seen[ids[i]] = true
	}
	if len(dup) > 0 {
		return nil, &apiError{status: http.StatusBadRequest, msg: "Duplicate ids in request", duplicated: dup}
	}
	return ids, nil
}

func notFound(ids []int64) error {
	m := make([]any, len(ids))
	for i, id := range ids {
		m[i] = map[string]any{"id": id}
	}
	return &apiError{status: http.StatusBadRequest, msg: "Annotations not found", missing: m}
}

func (s *Server) annotationsByIDs(w http.ResponseWriter, r *http.Request) error {
	ids, err := parseIDs(w, r)
	if err != nil {
		return err
	}
	out, missing := s.ann.get(ids)
	if len(missing) > 0 {
		return notFound(missing)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

func (s *Server) retrieveAnnotation(w http.ResponseWriter, idStr string) error {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id < 1 || id > maxSafeInteger {
		return badRequest("Invalid annotation id %q: expected an integer between 1 and %d", idStr, int64(maxSafeInteger))
	}
	out, missing := s.ann.get([]int64{id})
	if len(missing) > 0 {
		return notFound(missing)
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

func (s *Server) deleteAnnotations(w http.ResponseWriter, r *http.Request) error {
	ids, err := parseIDs(w, r)
	if err != nil {
		return err
	}
	if err := s.ann.remove(ids); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// annotationChange is the validated update of one item.
type annotationChange struct {
	status, annotationType *string
	data                   json.RawMessage
}

func (s *Server) updateAnnotations(w http.ResponseWriter, r *http.Request) error {
	var req rawItems
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := checkItems(len(req.Items)); err != nil {
		return err
	}
	changes := make([]annotationChange, len(req.Items))
	ids, err := itemIDs(req.Items, func(i int, o obj) error {
		if err := o.only("id", "update"); err != nil {
			return err
		}
		u, _, err := o.object("update", true)
		if err != nil {
			return err
		}
		if err := u.only("status", "annotationType", "data"); err != nil {
			return err
		}
		if len(u.m) == 0 {
			return badRequest("%s: set at least one of status, annotationType or data", u.where)
		}
		c := &changes[i]
		for _, k := range []string{"status", "annotationType", "data"} {
			raw, present := u.m[k]
			if !present {
				continue
			}
			set, err := parseObj(raw, u.path(k))
			if err != nil {
				return err
			}
			if err := set.only("set"); err != nil {
				return err
			}
			switch k {
			case "status":
				v, _, err := set.enum("set", true, annotationStatuses)
				if err != nil {
					return err
				}
				c.status = &v
			case "annotationType":
				v, _, err := set.enum("set", true, annotationTypes)
				if err != nil {
					return err
				}
				c.annotationType = &v
			case "data":
				v, _, err := set.field("set", true)
				if err != nil {
					return err
				}
				c.data = v
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	now := s.cfg.Now().UnixMilli()
	out, err := s.ann.update(ids, func(i int, a cdf.Annotation) (cdf.Annotation, error) {
		c := changes[i]
		if c.status != nil {
			a.Status = cdf.AnnotationStatus(*c.status)
		}
		if c.annotationType != nil {
			a.AnnotationType = *c.annotationType
		}
		if c.data != nil {
			a.Data = c.data
		}
		if c.annotationType != nil || c.data != nil {
			// The resulting data must fit the resulting type.
			if err := validateData(a.AnnotationType, a.Data, fmt.Sprintf("items[%d].update.data", i)); err != nil {
				return a, err
			}
			d, err := compact(a.Data)
			if err != nil {
				return a, err
			}
			a.Data = d
		}
		a.LastUpdatedTime = now
		return a, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

// annotationFilter is the validated filter of POST /annotations/list.
type annotationFilter struct {
	resourceType string
	resourceIDs  map[int64]bool
	exact        map[string]*string // annotationType, creatingApp, ...: nil value means null
	data         any
}

func (s *Server) parseAnnotationFilter(raw json.RawMessage) (*annotationFilter, error) {
	if raw == nil {
		return nil, badRequest("filter: required field is missing")
	}
	o, err := parseObj(raw, "filter")
	if err != nil {
		return nil, err
	}
	exactKeys := []string{"annotationType", "creatingApp", "creatingAppVersion", "creatingUser", "status"}
	if err := o.only(append([]string{"annotatedResourceType", "annotatedResourceIds", "data"}, exactKeys...)...); err != nil {
		return nil, err
	}
	f := &annotationFilter{resourceIDs: map[int64]bool{}, exact: map[string]*string{}}
	if f.resourceType, _, err = o.enum("annotatedResourceType", true, resourceTypes); err != nil {
		return nil, err
	}
	ids, _, err := o.array("annotatedResourceIds", true, 1, MaxAnnotationItems)
	if err != nil {
		return nil, err
	}
	for i, raw := range ids {
		var it identIn
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		where := fmt.Sprintf("filter.annotatedResourceIds[%d]", i)
		if dec.Decode(&it) != nil || it.InstanceID != nil {
			return nil, badRequest("%s: give {\"id\": ...} or {\"externalId\": ...}", where)
		}
		if err := validateIdent(it, where); err != nil {
			return nil, err
		}
		if e := s.files.lookup(it); e != nil {
			f.resourceIDs[e.meta.ID] = true
		} else if it.ID != nil {
			f.resourceIDs[*it.ID] = true
		}
	}
	for _, k := range exactKeys {
		r, present := o.m[k]
		if !present {
			continue
		}
		if isNull(r) {
			if k != "creatingUser" {
				return nil, badRequest("%s: must not be null", o.path(k))
			}
			f.exact[k] = nil
			continue
		}
		var v string
		if k == "annotationType" {
			v, _, err = o.enum(k, true, annotationTypes)
		} else if k == "status" {
			v, _, err = o.enum(k, true, annotationStatuses)
		} else {
			v, _, err = o.str(k, true, 1, 255)
		}
		if err != nil {
			return nil, err
		}
		f.exact[k] = &v
	}
	if r, ok, _ := o.field("data", false); ok {
		if _, err := parseObj(r, "filter.data"); err != nil {
			return nil, err
		}
		_ = json.Unmarshal(r, &f.data)
	}
	return f, nil
}

func (f *annotationFilter) match(a *cdf.Annotation) bool {
	if a.AnnotatedResourceType != f.resourceType || !f.resourceIDs[a.AnnotatedResourceID] {
		return false
	}
	for k, want := range f.exact {
		var got *string
		switch k {
		case "annotationType":
			got = &a.AnnotationType
		case "creatingApp":
			got = &a.CreatingApp
		case "creatingAppVersion":
			got = &a.CreatingAppVersion
		case "creatingUser":
			got = a.CreatingUser
		case "status":
			st := string(a.Status)
			got = &st
		}
		if (want == nil) != (got == nil) || (want != nil && *want != *got) {
			return false
		}
	}
	if f.data != nil {
		var d any
		if json.Unmarshal(a.Data, &d) != nil || !subset(f.data, d) {
			return false
		}
	}
	return true
}

// subset reports whether want is contained in got: objects match when every key of want is
// in got with a matching value, arrays element by element, other values when equal
// (strings case-sensitively).
func subset(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !subset(wv, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return want == got
}

type annotationListRequest struct {
	Filter json.RawMessage `json:"filter"`
	Limit  *int            `json:"limit"`
	Cursor *string         `json:"cursor"`
}

func (s *Server) listAnnotations(w http.ResponseWriter, r *http.Request) error {
	var req annotationListRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	limit, err := parseLimit(req.Limit, DefaultAnnotationLimit, MaxAnnotationLimit)
	if err != nil {
		return err
	}
	f, err := s.parseAnnotationFilter(req.Filter)
	if err != nil {
		return err
	}
	filterJSON, _ := compact(req.Filter)
	ph := paramsHash(struct {
		F string
		L int
	}{string(filterJSON), limit})
	var after int64
	if req.Cursor != nil && *req.Cursor != "" {
		c, err := s.decodeCursor(*req.Cursor)
		if err != nil {
			return err
		}
		if c.Params != ph {
			return badRequest("Invalid cursor: the filter and limit must stay the same across pages")
		}
		after = c.After
	}
	items := []cdf.Annotation{}
	more := false
	for _, a := range s.ann.snapshot() {
		if a.ID <= after || !f.match(&a) {
			continue
		}
		if len(items) == limit {
			more = true
			break
		}
		items = append(items, a)
	}
	resp := map[string]any{"items": items, "nextCursor": nil}
	if more {
		resp["nextCursor"] = s.encodeCursor(cursor{After: items[len(items)-1].ID, Params: ph})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// routeAnnotations serves /annotations/... (sub is the path after /annotations).
func (s *Server) routeAnnotations(w http.ResponseWriter, r *http.Request, sub string) error {
	// Every call needs read access to the annotated files, as in CDF.
	if err := s.require("filesAcl", "READ"); err != nil {
		return err
	}
	type route struct {
		acl, action string
		h           func(http.ResponseWriter, *http.Request) error
	}
	post := map[string]route{
		"":         {"annotationsAcl", "WRITE", func(w http.ResponseWriter, r *http.Request) error { return s.createAnnotations(w, r, true) }},
		"/suggest": {"annotationsAcl", "SUGGEST", func(w http.ResponseWriter, r *http.Request) error { return s.createAnnotations(w, r, false) }},
		"/list":    {"annotationsAcl", "READ", s.listAnnotations},
		"/byids":   {"annotationsAcl", "READ", s.annotationsByIDs},
		"/update":  {"annotationsAcl", "WRITE", s.updateAnnotations},
		"/delete":  {"annotationsAcl", "WRITE", s.deleteAnnotations},
	}
	if rt, ok := post[sub]; ok {
		if err := allow(r, http.MethodPost); err != nil {
			return err
		}
		if err := s.require(rt.acl, rt.action); err != nil {
			return err
		}
		return rt.h(w, r)
	}
	if id, ok := strings.CutPrefix(sub, "/"); ok && id != "" && !strings.Contains(id, "/") {
		if err := allow(r, http.MethodGet); err != nil {
			return err
		}
		if err := s.require("annotationsAcl", "READ"); err != nil {
			return err
		}
		return s.retrieveAnnotation(w, id)
	}
	return errf(http.StatusNotFound, "Not found: %s", r.URL.Path)
}

// Annotations returns every stored annotation, ordered by id.
func (s *Server) Annotations() []cdf.Annotation { return s.ann.snapshot() }
