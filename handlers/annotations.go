package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/cdf"
)

// Listing an image's annotations: pages of the largest size CDF allows, up to a cap that keeps
// the page (and the canvas) usable.
const (
	annotationPage = cdf.MaxAnnotationLimit
	maxAnnotations = 5000
	maxRoomIDLen   = 128
)

// annotationItem is one CDF annotation as the annotation page shows it. Coordinates are
// normalised to 0..1 from the image's top-left corner; a geometry Lasso cannot read is null.
type annotationItem struct {
	ID                 int64        `json:"id"`
	AnnotationType     string       `json:"annotationType"`
	Status             string       `json:"status"`
	Label              string       `json:"label"` // "" when the annotation has none
	Confidence         *float64     `json:"confidence"`
	CreatingApp        string       `json:"creatingApp"`
	CreatingAppVersion string       `json:"creatingAppVersion"`
	CreatingUser       *string      `json:"creatingUser"` // null: created by a service
	CreatedTime        int64        `json:"createdTime"`
	LastUpdatedTime    int64        `json:"lastUpdatedTime"`
	Polygon            [][2]float64 `json:"polygon"`  // [[x,y],...] or null
	Polyline           [][2]float64 `json:"polyline"` // an open line, [[x,y],...] or null
	BoundingBox        *itemBox     `json:"boundingBox"`
	// Editable is true for an images.ObjectDetection with a polygon or a box: its label and
	// shape can be changed here. Status and deletion apply to every annotation.
	Editable bool `json:"editable"`
}

type itemBox struct {
	XMin float64 `json:"xMin"`
	YMin float64 `json:"yMin"`
	XMax float64 `json:"xMax"`
	YMax float64 `json:"yMax"`
}

// annotationList is the body of GET /api/images/:id/annotations.
type annotationList struct {
	Items []annotationItem `json:"items"`
	// Truncated is true when the image has more than maxAnnotations annotations.
	Truncated bool `json:"truncated"`
}

// regions are the geometries of the image annotation types that have one: ObjectDetection
// (at the top level), AssetLink and InstanceLink (objectRegion, textRegion), TextRegion
// (textRegion). Decoded leniently: other tools' data must never break the list.
type regions struct {
	BoundingBox *cdf.AnnotationBox `json:"boundingBox"`
	Polygon     *cdf.Polygon       `json:"polygon"`
	Polyline    *cdf.Polyline      `json:"polyline"`
}

type annotationData struct {
	regions
	Label        *string            `json:"label"`
	Text         *string            `json:"text"`
	Confidence   *float64           `json:"confidence"`
	ObjectRegion *regions           `json:"objectRegion"`
	TextRegion   *cdf.AnnotationBox `json:"textRegion"`
}

// itemOf turns a CDF annotation into what the page shows.
func itemOf(a cdf.Annotation) annotationItem {
	it := annotationItem{
		ID: a.ID, AnnotationType: a.AnnotationType, Status: string(a.Status),
		CreatingApp: a.CreatingApp, CreatingAppVersion: a.CreatingAppVersion, CreatingUser: a.CreatingUser,
		CreatedTime: a.CreatedTime, LastUpdatedTime: a.LastUpdatedTime,
	}
	var d annotationData
	_ = json.Unmarshal(a.Data, &d) // keeps what decoded; a field of an unexpected type stays empty
	switch {
	case d.Label != nil:
		it.Label = *d.Label
	case d.Text != nil:
		it.Label = *d.Text
	}
	if d.Confidence != nil && inUnit(*d.Confidence) {
		it.Confidence = d.Confidence
	}
	r := d.regions
	if o := d.ObjectRegion; o != nil && r.BoundingBox == nil && r.Polygon == nil && r.Polyline == nil {
		r = *o
	}
	if r.BoundingBox == nil && r.Polygon == nil && r.Polyline == nil {
		r.BoundingBox = d.TextRegion
	}
	if r.Polygon != nil {
		it.Polygon = vertices(r.Polygon.Vertices, cdf.MinPolygonVertices)
	}
	if r.Polyline != nil {
		it.Polyline = vertices(r.Polyline.Vertices, cdf.MinPolylineVertices)
	}
	if b := r.BoundingBox; b != nil && inUnit(b.XMin) && inUnit(b.YMin) && inUnit(b.XMax) && inUnit(b.YMax) && b.XMin < b.XMax && b.YMin < b.YMax {
		it.BoundingBox = &itemBox{XMin: b.XMin, YMin: b.YMin, XMax: b.XMax, YMax: b.YMax}
	}
	it.Editable = a.AnnotationType == cdf.AnnotationTypeObjectDetection && it.Polyline == nil &&
		(it.Polygon != nil || it.BoundingBox != nil)
	return it
}

// vertices returns vs as [[x,y],...], or nil when there are too few or too many, or one lies
// outside the image.
func vertices(vs []cdf.Vertex, minN int) [][2]float64 {
	if len(vs) < minN || len(vs) > cdf.MaxPolygonVertices {
		return nil
	}
	out := make([][2]float64, len(vs))
	for i, v := range vs {
		if !inUnit(v.X) || !inUnit(v.Y) {
			return nil
		}
		out[i] = [2]float64{v.X, v.Y}
	}
	return out
}

// annotationID parses the :annotationId path parameter.
func annotationID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("annotationId"), 10, 64)
	if err != nil || id <= 0 {
		return 0, newProblem(http.StatusBadRequest, "%q is not an annotation id: it must be a positive whole number.", c.Param("annotationId"))
	}
	return id, nil
}

// annotationPath parses the :id and :annotationId path parameters.
func annotationPath(c echo.Context) (int64, int64, error) {
	id, err := fileID(c)
	if err != nil {
		return 0, 0, err
	}
	annID, err := annotationID(c)
	return id, annID, err
}

// listAnnotations answers every annotation on the image, read from CDF page by page. With
// ?room=<id> and a member of that room asking, the annotations the room already shows as its
// own objects (Config.AnnotationIDsOf) are left out.
func (s *server) listAnnotations(c echo.Context) error {
	id, err := fileID(c)
	if err != nil {
		return err
	}
	hidden, err := s.roomAnnotationIDs(c, id)
	if err != nil {
		return err
	}
	client, err := s.client(c)
	if err != nil {
		return err
	}
	all, truncated, err := fileAnnotations(c.Request().Context(), client, id)
	if err != nil {
		return err
	}
	out := annotationList{Items: make([]annotationItem, 0, len(all)), Truncated: truncated}
	for _, a := range all {
		if !hidden[a.ID] {
			out.Items = append(out.Items, itemOf(a))
		}
	}
	return c.JSON(http.StatusOK, out)
}

// roomAnnotationIDs returns the annotations the room of ?room= shows as its objects on the
// image, after checking that the user may see the room; nil without a room or without the hook.
func (s *server) roomAnnotationIDs(c echo.Context, fileID int64) (map[int64]bool, error) {
	roomID := c.QueryParam("room")
	if roomID == "" || s.AnnotationIDsOf == nil || s.Rooms == nil {
		return nil, nil
	}
	if len(roomID) > maxRoomIDLen {
		return nil, newProblem(http.StatusBadRequest, "The room id is too long.")
	}
	ctx := c.Request().Context()
	u := roomUser(c)
	if _, _, err := s.Rooms.Access(ctx, roomID, u); err != nil {
		return nil, err
	}
	return s.AnnotationIDsOf(ctx, roomID, u, fileID)
}

// fileAnnotations lists the file's annotations, following cursors, up to maxAnnotations;
// truncated says that there were more.
func fileAnnotations(ctx context.Context, client *cdf.Client, fileID int64) (all []cdf.Annotation, truncated bool, err error) {
	filter := cdf.AnnotationFilter{AnnotatedResourceType: cdf.ResourceFile, AnnotatedResourceIDs: []cdf.Identifier{cdf.ID(fileID)}}
	cursor := ""
	for {
		page, err := client.Annotations.List(ctx, filter, cdf.ListOptions{Limit: annotationPage, Cursor: cursor})
		if err != nil {
			return nil, false, err
		}
		all = append(all, page.Items...)
		cursor = page.NextCursor
		if len(all) >= maxAnnotations {
			return all[:maxAnnotations], cursor != "" || len(all) > maxAnnotations, nil
		}
		if cursor == "" {
			return all, false, nil
		}
	}
}

// annotationEdit is the body of POST /api/images/:id/annotations/:annotationId. Absent fields
// are left as they are.
type annotationEdit struct {
	Label   *string     `json:"label"`
	Status  *string     `json:"status"`
	Polygon [][]float64 `json:"polygon"`
}

// check validates the edit at the edge, with messages a person understands.
func (e *annotationEdit) check() error {
	bad := func(format string, args ...any) error { return newProblem(http.StatusBadRequest, format, args...) }
	if e.Label == nil && e.Status == nil && e.Polygon == nil {
		return bad("Say what to change: label, status or polygon.")
	}
	if e.Label != nil {
		l, err := checkLabel(*e.Label, true) // an annotation in CDF always has a label
		if err != nil {
			return err
		}
		e.Label = &l
	}
	if e.Status != nil {
		switch cdf.AnnotationStatus(*e.Status) {
		case cdf.AnnotationSuggested, cdf.AnnotationApproved, cdf.AnnotationRejected:
		default:
			return bad("The status must be suggested, approved or rejected.")
		}
	}
	if e.Polygon != nil {
		if n := len(e.Polygon); n < cdf.MinPolygonVertices || n > cdf.MaxPolygonVertices {
			return bad("The polygon needs %d to %d vertices; it has %d.", cdf.MinPolygonVertices, cdf.MaxPolygonVertices, n)
		}
		for i, v := range e.Polygon {
			if len(v) != 2 {
				return bad("Vertex %d of the polygon must be [x, y].", i+1)
			}
			if !inUnit(v[0]) || !inUnit(v[1]) {
				return bad("Vertex %d of the polygon lies outside the image: x and y must be between 0 and 1.", i+1)
			}
		}
	}
	return nil
}

// updateAnnotation changes an annotation's label, status and/or polygon in CDF and answers it
// as the list shows it.
func (s *server) updateAnnotation(c echo.Context) error {
	fileID, annID, err := annotationPath(c)
	if err != nil {
		return err
	}
	var body annotationEdit
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if err := body.check(); err != nil {
		return err
	}
	client, a, err := s.fileAnnotation(c, fileID, annID)
	if err != nil {
		return err
	}
	upd := cdf.AnnotationUpdate{ID: a.ID}
	if body.Status != nil {
		upd.Status = cdf.AnnotationStatus(*body.Status)
	}
	if body.Label != nil || body.Polygon != nil {
		if upd.Data, err = editedData(a, body.Label, body.Polygon); err != nil {
			return err
		}
	}
	out, err := client.Annotations.Update(c.Request().Context(), []cdf.AnnotationUpdate{upd})
	if err != nil {
		return err
	}
	if len(out) != 1 {
		return newProblem(http.StatusBadGateway, "CDF answered the update without the annotation. Reload to see its state.")
	}
	return c.JSON(http.StatusOK, itemOf(out[0]))
}

// editedData is a's data with the new label and/or polygon; every other field is kept as it
// was. A new polygon replaces a bounding box, since CDF wants exactly one geometry.
func editedData(a *cdf.Annotation, label *string, polygon [][]float64) (json.RawMessage, error) {
	if a.AnnotationType != cdf.AnnotationTypeObjectDetection {
		return nil, newProblem(http.StatusUnprocessableEntity,
			"This annotation is an %s; Lasso changes the label and shape of images.ObjectDetection annotations only.", a.AnnotationType)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(a.Data, &m); err != nil || m == nil {
		return nil, newProblem(http.StatusUnprocessableEntity, "This annotation's data cannot be read, so Lasso cannot change it.")
	}
	if label != nil {
		m["label"], _ = json.Marshal(*label)
	}
	if polygon != nil {
		if _, ok := m["polyline"]; ok {
			return nil, newProblem(http.StatusUnprocessableEntity, "This annotation is a polyline; Lasso changes the shape of polygons and boxes only.")
		}
		var old cdf.Polygon
		if raw, ok := m["polygon"]; ok {
			_ = json.Unmarshal(raw, &old)
		}
		p := cdf.Polygon{Vertices: make([]cdf.Vertex, len(polygon)), Confidence: old.Confidence}
		for i, v := range polygon {
			p.Vertices[i] = cdf.Vertex{X: v[0], Y: v[1]}
			// Moving vertices keeps their count, and with it what CDF knew about each.
			if len(old.Vertices) == len(polygon) {
				p.Vertices[i].Confidence = old.Vertices[i].Confidence
			}
		}
		m["polygon"], _ = json.Marshal(p)
		delete(m, "boundingBox")
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var d cdf.ObjectDetection
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, newProblem(http.StatusUnprocessableEntity, "This annotation's data cannot be read, so Lasso cannot change it.")
	}
	if err := d.Validate(); err != nil {
		return nil, newProblem(http.StatusUnprocessableEntity, "CDF would not accept the changed annotation: %s.",
			strings.TrimPrefix(err.Error(), "cdf: object detection: "))
	}
	return data, nil
}

// deleteAnnotation deletes an annotation of the image from CDF.
func (s *server) deleteAnnotation(c echo.Context) error {
	fileID, annID, err := annotationPath(c)
	if err != nil {
		return err
	}
	client, a, err := s.fileAnnotation(c, fileID, annID)
	if err != nil {
		return err
	}
	if err := client.Annotations.Delete(c.Request().Context(), []int64{a.ID}); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// fileAnnotation retrieves an annotation with the user's client and checks that it is on the
// file; it returns that client for the calls that follow.
func (s *server) fileAnnotation(c echo.Context, fileID, annID int64) (*cdf.Client, *cdf.Annotation, error) {
	client, err := s.client(c)
	if err != nil {
		return nil, nil, err
	}
	a, err := client.Annotations.Retrieve(c.Request().Context(), annID)
	if err != nil {
		return nil, nil, err
	}
	if a.AnnotatedResourceType != cdf.ResourceFile || a.AnnotatedResourceID != fileID {
		return nil, nil, newProblem(http.StatusNotFound, "Annotation %d is not on this image.", annID)
	}
	return client, a, nil
}
