package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/store"
)

// objectPath returns the file id and object id of a room object route.
func objectPath(c echo.Context) (int64, string, error) {
	fileID, err := roomFileID(c)
	if err != nil {
		return 0, "", err
	}
	if !objectIDPattern.MatchString(c.Param("objectId")) {
		return 0, "", newProblem(http.StatusBadRequest, "objectId must be 1 to 64 letters, digits, '-' or '_'.")
	}
	return fileID, c.Param("objectId"), nil
}

// maxVersion bounds an object's prompt version: the browser counts an object's prompts from
// 1, and nobody prompts one object a billion times, so a larger number is a client's mistake
// (or a probe for overflow) and is refused before it reaches the store or a job.
const maxVersion = 1_000_000_000

// checkVersion is the rule for the prompt version a request names: a whole number from 1 to
// maxVersion.
func checkVersion(version int) error {
	if version < 1 || version > maxVersion {
		return newProblem(http.StatusBadRequest, "version must be a whole number from 1 to %d (the object's prompt count); it is %d.", maxVersion, version)
	}
	return nil
}

// versionOf checks the prompt version a command names.
func versionOf(version *int) error {
	if version == nil {
		return newProblem(http.StatusBadRequest, "Say which prompt version of the object you mean: version must be a whole number from 1 to %d.", maxVersion)
	}
	return checkVersion(*version)
}

// decodeVersion reads a body that is only {"version": n}.
func decodeVersion(c echo.Context) (int, error) {
	var body struct {
		Version *int `json:"version"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return 0, err
	}
	if err := versionOf(body.Version); err != nil {
		return 0, err
	}
	return *body.Version, nil
}

// roomReview records a reviewer's decision on an accepted object's current version.
func (s *server) roomReview(c echo.Context) error {
	fileID, objectID, err := objectPath(c)
	if err != nil {
		return err
	}
	var body struct {
		Version  *int    `json:"version"`
		Decision *string `json:"decision"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if err := versionOf(body.Version); err != nil {
		return err
	}
	if body.Decision == nil || (*body.Decision != store.ReviewApproved && *body.Decision != store.ReviewRejected && *body.Decision != "") {
		return newProblem(http.StatusBadRequest, `decision must be "approved", "rejected", or "" to take a decision back.`)
	}
	obj, err := s.Rooms.Review(c.Request().Context(), c.Param("id"), roomUser(c), fileID, objectID, *body.Version, *body.Decision)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, obj)
}

// roomRetrySave sends an object version's failed annotation writes once more.
func (s *server) roomRetrySave(c echo.Context) error {
	fileID, objectID, err := objectPath(c)
	if err != nil {
		return err
	}
	version, err := decodeVersion(c)
	if err != nil {
		return err
	}
	n, err := s.Rooms.RetrySave(c.Request().Context(), c.Param("id"), roomUser(c), fileID, objectID, version)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"requeued": n})
}

// setRole makes a member a reviewer or a plain member again (a form on the room page).
func (s *server) setRole(c echo.Context) error {
	role := c.FormValue("role")
	if role != store.RoleReviewer && role != store.RoleMember {
		return newProblem(http.StatusBadRequest, "role must be reviewer or member.")
	}
	err := s.Rooms.SetRole(c.Request().Context(), c.Param("id"), roomUser(c), c.Param("userId"), role)
	if errors.Is(err, store.ErrForbidden) {
		// The store refuses to change the owner's role (elsewhere ErrForbidden means a
		// removed member, which the error handler says).
		return newProblem(http.StatusConflict, "The room's owner keeps the owner role: it cannot become %s.", role)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/rooms/"+c.Param("id"))
}

// provenanceView is how an object's mask was made and what reached CDF.
type provenanceView struct {
	ObjectID   string          `json:"objectId"`
	FileID     int64           `json:"fileId"`
	Version    int             `json:"version"`
	Label      string          `json:"label"`
	AuthorName string          `json:"authorName"`
	Prompt     json.RawMessage `json:"prompt"` // the points and box, normalised
	JobID      int64           `json:"jobId"`
	Backend    string          `json:"backend"`
	Status     string          `json:"status"`
	// Score and RawPolygons are of the best segment as the backend answered it.
	Score       *float64       `json:"score"`
	RawPolygons [][]cdf.Vertex `json:"rawPolygons"`
	// SavedPolygons are what was written to CDF for Version (simplified), nil if nothing was.
	SavedPolygons [][]cdf.Vertex `json:"savedPolygons"`
	AnnotationIDs []int64        `json:"annotationIds"`
	Accepted      bool           `json:"accepted"`
	Review        string         `json:"review"`
	ReviewerName  string         `json:"reviewerName"`
	ReviewedAt    *time.Time     `json:"reviewedAt,omitempty"`
	Deleted       bool           `json:"deleted"`
	Writes        []writeView    `json:"writes"`
}

// writeView is one outbox write as people see it.
type writeView struct {
	Op            string    `json:"op"`
	Version       int       `json:"version"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"lastError"`
	AnnotationIDs []int64   `json:"annotationIds"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

// addWrites adds the writes of the object, newest first, and what the latest create of v's
// version wrote: its polygons and annotation ids.
func (v *provenanceView) addWrites(writes []store.Write) {
	v.Writes = []writeView{}
	for _, w := range writes {
		v.Writes = append(v.Writes, writeView{Op: w.Op, Version: w.Version, State: w.State, Attempts: w.Attempts,
			LastError: w.LastError, AnnotationIDs: w.AnnotationIDs, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt})
		if w.Op != store.OpCreate || w.Version != v.Version || v.SavedPolygons != nil {
			continue
		}
		v.AnnotationIDs = w.AnnotationIDs
		var items []cdf.AnnotationCreate
		if json.Unmarshal(w.Payload, &items) != nil {
			continue
		}
		v.SavedPolygons = [][]cdf.Vertex{}
		for _, it := range items {
			var d cdf.ObjectDetection
			if json.Unmarshal(it.Data, &d) == nil && d.Polygon != nil {
				v.SavedPolygons = append(v.SavedPolygons, d.Polygon.Vertices)
			}
		}
	}
}

// roomProvenance answers how an object's mask was made: the prompt, the job, the backend, the
// raw and the saved polygons, and every write to CDF.
func (s *server) roomProvenance(c echo.Context) error {
	fileID, objectID, err := objectPath(c)
	if err != nil {
		return err
	}
	o, writes, err := s.Rooms.Provenance(c.Request().Context(), c.Param("id"), roomUser(c), fileID, objectID)
	if err != nil {
		return err
	}
	v := provenanceView{
		ObjectID: o.ObjectID, FileID: o.FileID, Version: o.Version, Label: o.Label, AuthorName: o.AuthorName,
		Prompt: o.Prompt, JobID: o.JobID, Backend: o.Backend, Status: o.Status, Accepted: o.Accepted,
		Review: o.Review, ReviewerName: o.ReviewerName, ReviewedAt: o.ReviewedAt, Deleted: o.DeletedAt != nil,
	}
	var segments []cdf.Segment
	if json.Unmarshal(o.Segments, &segments) == nil && len(segments) > 0 {
		v.Score = &segments[0].Score
		for _, p := range segments[0].Polygons {
			v.RawPolygons = append(v.RawPolygons, p.Vertices)
		}
	}
	v.addWrites(writes)
	return c.JSON(http.StatusOK, v)
}
