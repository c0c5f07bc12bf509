package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/export"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/store"
)

// progressEvery is the least time between two export.progress messages of one export.
const progressEvery = 100 * time.Millisecond

// exportProgress tells the room how one export goes ("export.progress"), at most every
// progressEvery and always at the end of a phase, for the page that asked (id) to draw.
type exportProgress struct {
	pub    publisher
	room   string
	id     string
	userID string
	last   time.Time
}

func (p *exportProgress) report(phase string, done, total int) {
	if p.id == "" || (done < total && done > 0 && time.Since(p.last) < progressEvery) {
		return
	}
	p.last = time.Now()
	_, _ = p.pub.Publish(rooms.Key(p.room), "export.progress", map[string]any{
		"progress": p.id, "userId": p.userID, "phase": phase, "done": done, "total": total,
	})
}

// exportRoom downloads a room's approved objects (status=approved, the default) or all its
// accepted ones (status=accepted) as COCO instances JSON (format=coco) or a zip of YOLO
// segmentation labels (format=yolo). Members only. With progress=<id> the room's socket
// carries export.progress messages while the images are read and the file is written.
func (s *server) exportRoom(c echo.Context) error {
	format := c.QueryParam("format")
	if format != "coco" && format != "yolo" {
		return newProblem(http.StatusBadRequest, "Choose format=coco or format=yolo.")
	}
	status := c.QueryParam("status")
	if status == "" {
		status = store.ReviewApproved
	}
	if status != store.ReviewApproved && status != "accepted" {
		return newProblem(http.StatusBadRequest, "Choose status=approved (reviewed and approved objects) or status=accepted (every accepted object).")
	}
	progressID := c.QueryParam("progress")
	if progressID != "" && !objectIDPattern.MatchString(progressID) {
		return newProblem(http.StatusBadRequest, "progress must be 1 to 64 letters, digits, '-' or '_'.")
	}
	ctx := c.Request().Context()
	roomID := c.Param("id")
	snap, err := s.Rooms.State(ctx, roomID, roomUser(c), nil)
	if err != nil {
		return err
	}
	objects, err := s.Rooms.Objects(ctx, roomID, roomUser(c))
	if err != nil {
		return err
	}
	progress := &exportProgress{pub: s.Hub, room: roomID, id: progressID, userID: userOf(c).ID}
	r := snap.Room
	d := export.Dataset{Name: r.Name, Created: r.CreatedAt}
	for _, l := range r.Labels {
		d.Categories = append(d.Categories, export.Category{ID: l.Key, Name: l.Name})
	}
	type part struct {
		o        *store.Object
		segments []cdf.Segment
	}
	var parts []part
	files := map[int64]bool{}
	accepted := 0
	for i := range objects {
		o := &objects[i]
		if o.Accepted {
			accepted++
		}
		if !o.Accepted || (status == store.ReviewApproved && o.Review != store.ReviewApproved) {
			continue
		}
		var segments []cdf.Segment
		if json.Unmarshal(o.Segments, &segments) != nil || len(segments) == 0 || len(segments[0].Polygons) == 0 {
			continue
		}
		parts = append(parts, part{o, segments})
		files[o.FileID] = true
	}
	if len(parts) == 0 {
		return nothingToExport(status, accepted)
	}
	// The images' names and pixel sizes, read as the user: the slow part for a large room.
	done := 0
	progress.report("images", 0, len(files))
	for _, im := range r.Images {
		if !files[im.FileID] {
			continue
		}
		client, f, err := s.openImage(c, im.FileID)
		if err != nil {
			return err
		}
		w, h, err := s.imageSize(ctx, client, f)
		if err != nil {
			return err
		}
		// A relative path, as both formats want it: CDF's root directory is "/", or none.
		fileName := strings.TrimLeft(path.Join(f.Directory, f.Name), "/")
		d.Images = append(d.Images, export.Image{ID: f.ID, FileName: fileName, Width: w, Height: h})
		done++
		progress.report("images", done, len(files))
	}
	for _, p := range parts {
		obj := export.Object{ImageID: p.o.FileID, Category: p.o.Label, Score: p.segments[0].Score}
		for _, poly := range p.segments[0].Polygons {
			ring := make([]export.Point, 0, len(poly.Vertices))
			for _, v := range poly.Vertices {
				ring = append(ring, export.Point{X: v.X, Y: v.Y})
			}
			obj.Polygons = append(obj.Polygons, ring)
		}
		d.Objects = append(d.Objects, obj)
	}
	name := strings.Map(func(r rune) rune {
		if r < 128 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '-'
	}, r.Name)
	opts := export.Options{Progress: func(done, total int) { progress.report("writing", done, total) }}
	// The whole export is checked before the first byte: once the status is out, a refusal
	// could only cut the download short (an empty zip), where now the person is told why.
	check := export.CheckCOCO
	if format == "yolo" {
		check = export.CheckYOLO
	}
	if err := check(d); err != nil {
		return err
	}
	h := c.Response().Header()
	if format == "coco" {
		h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-coco.json"`, name))
		c.Response().WriteHeader(http.StatusOK)
		return export.WriteCOCO(c.Response(), d, opts)
	}
	h.Set(echo.HeaderContentType, "application/zip")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-yolo.zip"`, name))
	c.Response().WriteHeader(http.StatusOK)
	return export.WriteYOLOZip(c.Response(), d, opts)
}

// nothingToExport says why an export would be empty, and what to do instead: an empty file
// downloaded without a word looks like a broken export.
func nothingToExport(status string, accepted int) error {
	switch {
	case accepted == 0:
		return newProblem(http.StatusConflict, "Nothing to export yet: no object in this room is accepted. Accept objects first (Enter on a finished outline).")
	case status == store.ReviewApproved && accepted == 1:
		return newProblem(http.StatusConflict, "Nothing in this room is approved yet: 1 accepted object awaits review or was rejected. Choose \"All accepted\" to export it, or approve it first.")
	case status == store.ReviewApproved:
		return newProblem(http.StatusConflict, "Nothing in this room is approved yet: %d accepted objects await review or were rejected. Choose \"All accepted\" to export them, or approve them first.", accepted)
	}
	return newProblem(http.StatusConflict, "Nothing to export: no accepted object has an outline.")
}
