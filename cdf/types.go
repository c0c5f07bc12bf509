package cdf

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Wire types shared by the client and the stand-in. Field names and JSON tags follow CDF's
// OpenAPI schemas; see shared/reference/cdf-api.md.

// InstanceID names a data-modeling instance.
type InstanceID struct {
	Space      string `json:"space"`
	ExternalID string `json:"externalId"`
}

// Identifier references a resource by exactly one of internal id, external id or instance id.
type Identifier struct {
	ID         int64       `json:"id,omitempty"`
	ExternalID string      `json:"externalId,omitempty"`
	InstanceID *InstanceID `json:"instanceId,omitempty"`
}

// ID returns an Identifier for an internal id.
func ID(id int64) Identifier { return Identifier{ID: id} }

// File is CDF's FilesMetadata.
type File struct {
	ID              int64             `json:"id"`
	ExternalID      string            `json:"externalId,omitempty"`
	Name            string            `json:"name"`
	Directory       string            `json:"directory,omitempty"`
	Source          string            `json:"source,omitempty"`
	MimeType        string            `json:"mimeType,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	DataSetID       int64             `json:"dataSetId,omitempty"`
	Uploaded        bool              `json:"uploaded"`
	UploadedTime    int64             `json:"uploadedTime,omitempty"`
	CreatedTime     int64             `json:"createdTime"`
	LastUpdatedTime int64             `json:"lastUpdatedTime"`
	InstanceID      *InstanceID       `json:"instanceId,omitempty"`
}

// IsImage reports whether f is a JPEG or PNG image, the kinds Lasso segments: its MIME type
// says so and its name's extension agrees.
func (f *File) IsImage() bool {
	ext := strings.ToLower(path.Ext(f.Name))
	switch f.MimeType {
	case "image/jpeg":
		return ext == ".jpg" || ext == ".jpeg"
	case "image/png":
		return ext == ".png"
	}
	return false
}

// FileFilter is the filter of POST /files/list (the subset Lasso uses).
type FileFilter struct {
	Name             string       `json:"name,omitempty"`
	DirectoryPrefix  string       `json:"directoryPrefix,omitempty"`
	MimeType         string       `json:"mimeType,omitempty"`
	ExternalIDPrefix string       `json:"externalIdPrefix,omitempty"`
	DataSetIDs       []Identifier `json:"dataSetIds,omitempty"`
	Uploaded         *bool        `json:"uploaded,omitempty"`
}

// FileList is one page of POST /files/list.
type FileList struct {
	Items      []File `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// DownloadLink is one item of POST /files/downloadlink.
type DownloadLink struct {
	Identifier
	DownloadURL string `json:"downloadUrl"`
}

// JobStatus is the state of a CDF contextualization job.
type JobStatus string

// Job states, in the order a job passes through them.
const (
	JobQueued    JobStatus = "Queued"
	JobRunning   JobStatus = "Running"
	JobCompleted JobStatus = "Completed"
	JobFailed    JobStatus = "Failed"
)

// Terminal reports whether no further change of status will follow.
func (s JobStatus) Terminal() bool { return s == JobCompleted || s == JobFailed }

// FileReference names the file of a segment request: exactly one field is set.
type FileReference struct {
	FileID         int64       `json:"fileId,omitempty"`
	FileExternalID string      `json:"fileExternalId,omitempty"`
	FileInstanceID *InstanceID `json:"fileInstanceId,omitempty"`
}

// SegmentPoint is a prompt point, normalised to 0..1 from the top-left corner.
// Label 1 is positive (object), 0 negative (background).
type SegmentPoint struct {
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
	Label int     `json:"label"`
}

// BoundingBox is a normalised box with XMin < XMax and YMin < YMax.
type BoundingBox struct {
	XMin float64 `json:"xMin"`
	YMin float64 `json:"yMin"`
	XMax float64 `json:"xMax"`
	YMax float64 `json:"yMax"`
}

// SegmentRequest is the body of POST /context/vision/segment.
type SegmentRequest struct {
	Items []FileReference `json:"items"`
	// Points is omitted when nil and sent as [] when empty; CDF needs points, a box or both.
	Points      []SegmentPoint `json:"points,omitzero"`
	BoundingBox *BoundingBox   `json:"boundingBox,omitempty"`
}

// SegmentPrompt is the prompt as nested under "prompt" in GET /context/vision/segment/{jobId}.
type SegmentPrompt struct {
	Points      []SegmentPoint `json:"points"`
	BoundingBox *BoundingBox   `json:"boundingBox,omitempty"`
}

// Vertex is a polygon vertex, normalised to 0..1.
type Vertex struct {
	X          float64  `json:"x"`
	Y          float64  `json:"y"`
	Confidence *float64 `json:"confidence,omitempty"`
}

// Polygon is a closed ring of 3..1000 vertices.
type Polygon struct {
	Vertices   []Vertex `json:"vertices"`
	Confidence *float64 `json:"confidence,omitempty"`
}

// Segment is one candidate mask: a score in 0..1 and one polygon per connected part.
type Segment struct {
	Score    float64   `json:"score"`
	Polygons []Polygon `json:"polygons"`
}

// SegmentItem is a file of a segment job with its result.
type SegmentItem struct {
	FileID         int64       `json:"fileId"`
	FileExternalID string      `json:"fileExternalId,omitempty"`
	FileInstanceID *InstanceID `json:"fileInstanceId,omitempty"`
	// Segments is nil (omitted) until the job completes; a completed job without a result
	// has an empty, non-nil slice, sent as [].
	Segments []Segment `json:"segments,omitzero"`
}

// FailedBatch lists items that failed, with the reason.
type FailedBatch struct {
	ErrorMessage string        `json:"errorMessage"`
	Items        []SegmentItem `json:"items"`
}

// SegmentJob is the body of both segment endpoints. The POST echoes the prompt at the top
// level (Points, BoundingBox); the GET nests it under Prompt and carries the results.
type SegmentJob struct {
	Status       JobStatus      `json:"status"`
	CreatedTime  int64          `json:"createdTime"`
	StartTime    int64          `json:"startTime"`
	StatusTime   int64          `json:"statusTime"`
	ErrorMessage *string        `json:"errorMessage"`
	JobID        int64          `json:"jobId"`
	Items        []SegmentItem  `json:"items"`
	Points       []SegmentPoint `json:"points,omitzero"`
	BoundingBox  *BoundingBox   `json:"boundingBox,omitempty"`
	Prompt       *SegmentPrompt `json:"prompt,omitempty"`
	FailedItems  []FailedBatch  `json:"failedItems,omitempty"`
}

// TokenInspection is the body of GET /api/v1/token/inspect.
type TokenInspection struct {
	Subject      string                   `json:"subject"`
	Projects     []TokenProject           `json:"projects"`
	Capabilities []map[string]interface{} `json:"capabilities"`
}

// TokenProject is a project the token has access to.
type TokenProject struct {
	ProjectURLName string  `json:"projectUrlName"`
	Groups         []int64 `json:"groups"`
}

// Annotated resource types (annotatedResourceType).
const (
	ResourceFile        = "file"
	ResourceThreeDModel = "threedmodel"
)

// AnnotationTypeObjectDetection is the annotationType of an object found in an image: a label
// with exactly one of a bounding box, a polygon or a polyline (data: ObjectDetection).
const AnnotationTypeObjectDetection = "images.ObjectDetection"

// AnnotationTypeClassification is the annotationType of a label for a whole image.
const AnnotationTypeClassification = "images.Classification"

// AnnotationStatus is the review state of an annotation.
type AnnotationStatus string

// Annotation states. Suggest stores annotations as suggested; a reviewer approves or rejects.
const (
	AnnotationSuggested AnnotationStatus = "suggested"
	AnnotationApproved  AnnotationStatus = "approved"
	AnnotationRejected  AnnotationStatus = "rejected"
)

// Annotation is CDF's annotation object (AnnotationsV2ResponseSchema).
type Annotation struct {
	ID                    int64  `json:"id"`
	AnnotatedResourceType string `json:"annotatedResourceType"`
	AnnotatedResourceID   int64  `json:"annotatedResourceId"`
	AnnotationType        string `json:"annotationType"`
	CreatingApp           string `json:"creatingApp"`
	CreatingAppVersion    string `json:"creatingAppVersion"`
	// CreatingUser is nil for annotations created by a service (JSON null).
	CreatingUser *string          `json:"creatingUser"`
	Status       AnnotationStatus `json:"status"`
	// Data is validated by CDF against AnnotationType; ObjectDetection decodes the
	// images.ObjectDetection form.
	Data            json.RawMessage `json:"data"`
	CreatedTime     int64           `json:"createdTime"`
	LastUpdatedTime int64           `json:"lastUpdatedTime"`
}

// ObjectDetection decodes Data as images.ObjectDetection. It fails if AnnotationType is
// another type or Data does not have the shape.
func (a *Annotation) ObjectDetection() (*ObjectDetection, error) {
	return decodeObjectDetection(a.AnnotationType, a.Data)
}

// AnnotationCreate is an item of POST /annotations (AnnotationsV2CreateSchema). CreatingUser
// is always sent: nil sends null, which CDF reads as "created by a service".
type AnnotationCreate struct {
	AnnotatedResourceType string           `json:"annotatedResourceType"`
	AnnotatedResourceID   int64            `json:"annotatedResourceId"`
	AnnotationType        string           `json:"annotationType"`
	CreatingApp           string           `json:"creatingApp"`
	CreatingAppVersion    string           `json:"creatingAppVersion"`
	CreatingUser          *string          `json:"creatingUser"`
	Status                AnnotationStatus `json:"status"`
	Data                  json.RawMessage  `json:"data"`
}

// Suggestion returns the same annotation as an item of POST /annotations/suggest, which has
// no status (CDF stores it as suggested).
func (a AnnotationCreate) Suggestion() AnnotationSuggest {
	return AnnotationSuggest{
		AnnotatedResourceType: a.AnnotatedResourceType, AnnotatedResourceID: a.AnnotatedResourceID,
		AnnotationType: a.AnnotationType, CreatingApp: a.CreatingApp, CreatingAppVersion: a.CreatingAppVersion,
		CreatingUser: a.CreatingUser, Data: a.Data,
	}
}

// AnnotationSuggest is an item of POST /annotations/suggest (AnnotationsV2SuggestSchema): an
// AnnotationCreate without Status.
type AnnotationSuggest struct {
	AnnotatedResourceType string          `json:"annotatedResourceType"`
	AnnotatedResourceID   int64           `json:"annotatedResourceId"`
	AnnotationType        string          `json:"annotationType"`
	CreatingApp           string          `json:"creatingApp"`
	CreatingAppVersion    string          `json:"creatingAppVersion"`
	CreatingUser          *string         `json:"creatingUser"`
	Data                  json.RawMessage `json:"data"`
}

// NewObjectDetection returns a create item for an images.ObjectDetection annotation on the
// file with internal id fileID. user nil means "created by a service". It fails only if d
// cannot be encoded; call d.Validate first to catch what CDF would reject.
func NewObjectDetection(fileID int64, status AnnotationStatus, app, appVersion string, user *string, d ObjectDetection) (AnnotationCreate, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return AnnotationCreate{}, fmt.Errorf("cdf: encode object detection: %w", err)
	}
	return AnnotationCreate{
		AnnotatedResourceType: ResourceFile, AnnotatedResourceID: fileID,
		AnnotationType: AnnotationTypeObjectDetection, CreatingApp: app, CreatingAppVersion: appVersion,
		CreatingUser: user, Status: status, Data: data,
	}, nil
}

// AnnotationFilter is the filter of POST /annotations/list. AnnotatedResourceType and
// AnnotatedResourceIDs (1..1000 ids or external ids) are required by CDF; the other fields
// are exact matches when set, and Data is a case-sensitive subset match on the data object,
// e.g. {"label":"valve"}.
type AnnotationFilter struct {
	AnnotatedResourceType string
	AnnotatedResourceIDs  []Identifier
	AnnotationType        string
	CreatingApp           string
	CreatingAppVersion    string
	// CreatingUser matches annotations made by this user; ByService (with CreatingUser nil)
	// matches those whose creatingUser is null.
	CreatingUser *string
	ByService    bool
	Status       AnnotationStatus
	Data         json.RawMessage
}

// MarshalJSON writes the filter as CDF expects it, with "creatingUser": null for ByService.
func (f AnnotationFilter) MarshalJSON() ([]byte, error) {
	w := struct {
		AnnotatedResourceType string           `json:"annotatedResourceType"`
		AnnotatedResourceIDs  []Identifier     `json:"annotatedResourceIds"`
		AnnotationType        string           `json:"annotationType,omitempty"`
		CreatingApp           string           `json:"creatingApp,omitempty"`
		CreatingAppVersion    string           `json:"creatingAppVersion,omitempty"`
		CreatingUser          json.RawMessage  `json:"creatingUser,omitempty"`
		Status                AnnotationStatus `json:"status,omitempty"`
		Data                  json.RawMessage  `json:"data,omitempty"`
	}{
		AnnotatedResourceType: f.AnnotatedResourceType, AnnotatedResourceIDs: f.AnnotatedResourceIDs,
		AnnotationType: f.AnnotationType, CreatingApp: f.CreatingApp, CreatingAppVersion: f.CreatingAppVersion,
		Status: f.Status, Data: f.Data,
	}
	switch {
	case f.CreatingUser != nil:
		b, err := json.Marshal(*f.CreatingUser)
		if err != nil {
			return nil, err
		}
		w.CreatingUser = b
	case f.ByService:
		w.CreatingUser = json.RawMessage("null")
	}
	return json.Marshal(w)
}

// AnnotationList is one page of POST /annotations/list.
type AnnotationList struct {
	Items []Annotation `json:"items"`
	// NextCursor continues the listing; empty on the last page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// AnnotationUpdate changes one annotation (an item of POST /annotations/update). Zero fields
// are left as they are. When AnnotationType or Data changes, CDF validates the resulting data
// against the resulting type.
type AnnotationUpdate struct {
	ID             int64
	Status         AnnotationStatus
	AnnotationType string
	Data           json.RawMessage
}

type setValue[T any] struct {
	Set T `json:"set"`
}

// MarshalJSON writes the update as {"id":..,"update":{"status":{"set":..},...}}.
func (u AnnotationUpdate) MarshalJSON() ([]byte, error) {
	type change struct {
		Status         *setValue[AnnotationStatus] `json:"status,omitempty"`
		AnnotationType *setValue[string]           `json:"annotationType,omitempty"`
		Data           *setValue[json.RawMessage]  `json:"data,omitempty"`
	}
	var c change
	if u.Status != "" {
		c.Status = &setValue[AnnotationStatus]{u.Status}
	}
	if u.AnnotationType != "" {
		c.AnnotationType = &setValue[string]{u.AnnotationType}
	}
	if len(u.Data) > 0 {
		c.Data = &setValue[json.RawMessage]{u.Data}
	}
	return json.Marshal(struct {
		ID     int64  `json:"id"`
		Update change `json:"update"`
	}{u.ID, c})
}

// ObjectDetection is the data of an images.ObjectDetection annotation. CDF requires Label
// (1..128 characters) and exactly one geometry: BoundingBox, Polygon or Polyline. All
// coordinates are normalised to 0..1 from the top-left corner.
type ObjectDetection struct {
	Label       string               `json:"label"`
	Confidence  *float64             `json:"confidence,omitempty"`
	BoundingBox *AnnotationBox       `json:"boundingBox,omitempty"`
	Polygon     *Polygon             `json:"polygon,omitempty"`
	Polyline    *Polyline            `json:"polyline,omitempty"`
	Attributes  map[string]Attribute `json:"attributes,omitempty"`
}

// AnnotationBox is the bounding box of annotation data: normalised, with XMin < XMax and
// YMin < YMax, and an optional confidence (which a segment prompt's BoundingBox lacks).
type AnnotationBox struct {
	XMin       float64  `json:"xMin"`
	XMax       float64  `json:"xMax"`
	YMin       float64  `json:"yMin"`
	YMax       float64  `json:"yMax"`
	Confidence *float64 `json:"confidence,omitempty"`
}

// Polyline is an open line of 2..1000 vertices.
type Polyline struct {
	Vertices   []Vertex `json:"vertices"`
	Confidence *float64 `json:"confidence,omitempty"`
}

// Attribute types of an ObjectDetection attribute.
const (
	AttributeBoolean   = "boolean"
	AttributeNumerical = "numerical"
)

// Attribute is a named extra value of an ObjectDetection: {type:"boolean", value: bool} or
// {type:"numerical", value: number}, with an optional description of at most 500 characters.
type Attribute struct {
	Type        string `json:"type"`
	Value       any    `json:"value"`
	Description string `json:"description,omitempty"`
}

// BoolAttribute returns a boolean attribute.
func BoolAttribute(v bool) Attribute { return Attribute{Type: AttributeBoolean, Value: v} }

// NumberAttribute returns a numerical attribute.
func NumberAttribute(v float64) Attribute { return Attribute{Type: AttributeNumerical, Value: v} }

// PolygonDetection returns the data of an images.ObjectDetection outlined by a polygon of
// normalised vertices, with confidence in 0..1 (for Lasso, the segment's score).
func PolygonDetection(label string, confidence float64, vertices []Vertex) ObjectDetection {
	return ObjectDetection{Label: label, Confidence: &confidence, Polygon: &Polygon{Vertices: vertices}}
}
