package cdf

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
