package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/export"
)

// exportRoom downloads a room's accepted objects as COCO instances JSON (format=coco) or a
// zip of YOLO segmentation labels (format=yolo). Members only.
func (s *server) exportRoom(c echo.Context) error {
	format := c.QueryParam("format")
	if format != "coco" && format != "yolo" {
		return newProblem(http.StatusBadRequest, "Choose format=coco or format=yolo.")
	}
	ctx := c.Request().Context()
	snap, err := s.Rooms.State(ctx, c.Param("id"), roomUser(c), nil)
	if err != nil {
		return err
	}
	objects, err := s.Rooms.Objects(ctx, c.Param("id"), roomUser(c))
	if err != nil {
		return err
	}
	r := snap.Room
	d := export.Dataset{Name: r.Name, Created: r.CreatedAt}
	for _, l := range r.Labels {
		d.Categories = append(d.Categories, export.Category{ID: l.Key, Name: l.Name})
	}
	sized := map[int64]bool{}
	for _, o := range objects {
		if !o.Accepted {
			continue
		}
		var segments []cdf.Segment
		if json.Unmarshal(o.Segments, &segments) != nil || len(segments) == 0 || len(segments[0].Polygons) == 0 {
			continue
		}
		if !sized[o.FileID] {
			// The image's size, read from its header as the user.
			_, f, err := s.openImage(c, o.FileID)
			if err != nil {
				return err
			}
			dims := s.knownSize(f)
			d.Images = append(d.Images, export.Image{ID: f.ID, FileName: strings.TrimPrefix(f.Directory+"/"+f.Name, "/"), Width: dims.w, Height: dims.h})
			sized[o.FileID] = true
		}
		obj := export.Object{ImageID: o.FileID, Category: o.Label, Score: segments[0].Score}
		for _, p := range segments[0].Polygons {
			ring := make([]export.Point, 0, len(p.Vertices))
			for _, v := range p.Vertices {
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
	h := c.Response().Header()
	if format == "coco" {
		h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-coco.json"`, name))
		c.Response().WriteHeader(http.StatusOK)
		return export.WriteCOCO(c.Response(), d, export.Options{})
	}
	h.Set(echo.HeaderContentType, "application/zip")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-yolo.zip"`, name))
	c.Response().WriteHeader(http.StatusOK)
	return export.WriteYOLOZip(c.Response(), d, export.Options{})
}
