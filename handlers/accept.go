package handlers

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/store"
)

// annotationWriter is what handlers need of rooms.Writer for images opened outside rooms:
// there, accepting writes the object's annotations through the outbox directly.
type annotationWriter interface {
	Enqueue(ctx context.Context, o *store.Object, u rooms.User, d rooms.Detail) error
	EnqueueDelete(ctx context.Context, o *store.Object, u rooms.User) error
	RetryFailed(ctx context.Context, roomID string, fileID int64, objectID string, version int) (int, error)
	ForObject(ctx context.Context, roomID string, fileID int64, objectID string) ([]store.Write, error)
	ForImage(ctx context.Context, roomID string, fileID int64) ([]store.Write, error)
}

// soloSaves returns how the user's last write of each object on the image stands, as
// "object.saved" data, for the snapshot of a page reopened while writes were under way.
func (s *server) soloSaves(ctx context.Context, u User, fileID int64) ([]map[string]any, error) {
	writes, err := s.Writer.ForImage(ctx, "", fileID)
	if err != nil {
		return nil, err
	}
	saves := []map[string]any{}
	seen := map[string]bool{}
	for i := range writes { // newest first
		w := &writes[i]
		if w.UserID != u.ID || seen[w.ObjectID] {
			continue
		}
		seen[w.ObjectID] = true
		saves = append(saves, rooms.SavedEventOf(w))
	}
	return saves, nil
}

// maxTolerancePx bounds the polygon simplification a client may ask for.
const maxTolerancePx = 50

// acceptDetail is the part of an accept command that says how to simplify the polygons.
type acceptDetail struct {
	// TolerancePx is the Douglas–Peucker tolerance in image pixels, 0..50; absent means 0
	// (the polygons as segmented).
	TolerancePx *float64 `json:"tolerancePx"`
}

// detail checks d and completes it with the image's pixel size.
func (s *server) detail(c echo.Context, fileID int64, d acceptDetail) (rooms.Detail, error) {
	var out rooms.Detail
	if d.TolerancePx != nil {
		t := *d.TolerancePx
		if math.IsNaN(t) || t < 0 || t > maxTolerancePx {
			return out, newProblem(http.StatusBadRequest, "tolerancePx must be between 0 and %d pixels.", maxTolerancePx)
		}
		out.TolerancePx = t
	}
	client, f, err := s.openImage(c, fileID)
	if err != nil {
		return out, err
	}
	out.Width, out.Height, err = s.imageSize(c.Request().Context(), client, f)
	return out, err
}

// soloObject reads the file and object ids of /api/images/:id/objects/:objectId and checks
// that the object's writes, if any, are the user's own: object ids are the client's, so
// another user's id must not reach their writes.
func (s *server) soloObject(c echo.Context) (int64, string, error) {
	id, err := fileID(c)
	if err != nil {
		return 0, "", err
	}
	objectID := c.Param("objectId")
	if !objectIDPattern.MatchString(objectID) {
		return 0, "", newProblem(http.StatusBadRequest, "objectId must be 1 to 64 letters, digits, '-' or '_'.")
	}
	writes, err := s.Writer.ForObject(c.Request().Context(), "", id, objectID)
	if err != nil {
		return 0, "", err
	}
	for _, w := range writes {
		if w.UserID != userOf(c).ID {
			return 0, "", newProblem(http.StatusConflict, "That object id is taken: reload the page to get fresh ids.")
		}
	}
	return id, objectID, nil
}

// acceptSolo writes an object of an image opened outside a room to CDF: the result of its
// current job, which must be done, simplified as asked. It answers 202 at once; the socket
// tells how the write goes ("object.saved").
func (s *server) acceptSolo(c echo.Context) error {
	fileID, objectID, err := s.soloObject(c)
	if err != nil {
		return err
	}
	var body struct {
		Version *int   `json:"version"`
		Label   string `json:"label"`
		acceptDetail
		// Points and Box are the prompt, kept as the object's provenance.
		Points []promptPoint `json:"points"`
		Box    *promptBox    `json:"box"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if err := versionOf(body.Version); err != nil {
		return err
	}
	var prompt json.RawMessage
	if len(body.Points) > 0 || body.Box != nil {
		req, err := (&segmentRequest{ObjectID: objectID, Version: *body.Version, Points: body.Points, Box: body.Box}).toCDF(fileID)
		if err != nil {
			return err
		}
		if prompt, err = json.Marshal(map[string]any{"points": req.Points, "box": req.BoundingBox}); err != nil {
			return err
		}
	}
	if body.Label, err = checkLabel(body.Label, false); err != nil {
		return err
	}
	d, err := s.detail(c, fileID, body.acceptDetail)
	if err != nil {
		return err
	}
	u := userOf(c)
	result, ok := s.Jobs.Latest(userRoom(u, fileID), objectID)
	if !ok || result.Version != *body.Version || result.Status != jobs.StatusDone {
		return newProblem(http.StatusConflict, "Nothing to save yet: wait until the object's segment is done, then accept it.")
	}
	segments, err := json.Marshal(result.Segments)
	if err != nil {
		return err
	}
	o := &store.Object{FileID: fileID, ObjectID: objectID, Version: *body.Version, Label: body.Label, Prompt: prompt,
		JobID: result.JobID, Status: store.StatusDone, Segments: segments, Accepted: true, Backend: result.Backend}
	if err := s.Writer.Enqueue(c.Request().Context(), o, roomUser(c), d); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"objectId": objectID, "version": *body.Version, "state": "saving"})
}

// deleteSolo deletes the annotations an object of an image opened outside a room has in CDF
// (once its writes are through).
func (s *server) deleteSolo(c echo.Context) error {
	fileID, objectID, err := s.soloObject(c)
	if err != nil {
		return err
	}
	o := &store.Object{FileID: fileID, ObjectID: objectID}
	if err := s.Writer.EnqueueDelete(c.Request().Context(), o, roomUser(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}

// retrySolo sends an object version's failed writes once more.
func (s *server) retrySolo(c echo.Context) error {
	fileID, objectID, err := s.soloObject(c)
	if err != nil {
		return err
	}
	version, err := decodeVersion(c)
	if err != nil {
		return err
	}
	n, err := s.Writer.RetryFailed(c.Request().Context(), "", fileID, objectID, version)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"requeued": n})
}

// annotationProvenance answers how an annotation of the image was made, when the user made it
// with Lasso outside a room: the provenance kept with the write that created it, and the
// object's writes since. (Room objects have their own, for every member.)
func (s *server) annotationProvenance(c echo.Context) error {
	id, annID, err := annotationPath(c)
	if err != nil {
		return err
	}
	writes, err := s.Writer.ForImage(c.Request().Context(), "", id)
	if err != nil {
		return err
	}
	u := userOf(c)
	for _, w := range writes {
		if w.Op != store.OpCreate || w.UserID != u.ID || w.Provenance == nil || !slices.Contains(w.AnnotationIDs, annID) {
			continue
		}
		var p rooms.Provenance
		if err := json.Unmarshal(w.Provenance, &p); err != nil {
			return err
		}
		v := provenanceView{ObjectID: w.ObjectID, FileID: id, Version: w.Version, Label: p.Label, AuthorName: p.AuthorName,
			Prompt: p.Prompt, JobID: p.JobID, Backend: p.Backend, Status: store.StatusDone, Accepted: true,
			Score: p.Score, RawPolygons: p.RawPolygons}
		v.addWrites(slices.DeleteFunc(slices.Clone(writes), func(o store.Write) bool { return o.ObjectID != w.ObjectID }))
		return c.JSON(http.StatusOK, v)
	}
	return newProblem(http.StatusNotFound, "Lasso has no record of how annotation %d was made here: it was made by another tool, by someone else, or in a room.", annID)
}

// publisher is what PublishSaves needs of the hub.
type publisher interface {
	Publish(room, typ string, data any) (hub.Message, error)
}

// PublishSaves returns a rooms.Writer Notify that tells the people concerned how each write
// goes ("object.saved"): the room's members, or, outside rooms, the user's page of the image.
// A lost message only delays the news: the next snapshot has the truth.
func PublishSaves(pub publisher) func(wr *store.Write, state, errMsg string) {
	return func(wr *store.Write, state, errMsg string) {
		key := rooms.Key(wr.RoomID)
		if wr.RoomID == "" {
			key = ImageKey(wr.UserID, wr.FileID)
		}
		_, _ = pub.Publish(key, "object.saved", rooms.SavedEvent(wr, state, errMsg))
	}
}
