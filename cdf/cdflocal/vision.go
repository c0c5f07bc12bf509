package cdflocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdfseg"
	"github.com/lassoteam/lasso/segment"
)

type segPointIn struct {
	X     *float64 `json:"x"`
	Y     *float64 `json:"y"`
	Label *float64 `json:"label"`
}

type segBoxIn struct {
	XMin *float64 `json:"xMin"`
	YMin *float64 `json:"yMin"`
	XMax *float64 `json:"xMax"`
	YMax *float64 `json:"yMax"`
}

type segItemIn struct {
	FileID         *int64      `json:"fileId"`
	FileExternalID *string     `json:"fileExternalId"`
	FileInstanceID *instanceIn `json:"fileInstanceId"`
}

type segRequestIn struct {
	Items       []segItemIn   `json:"items"`
	Points      *[]segPointIn `json:"points"`
	BoundingBox *segBoxIn     `json:"boundingBox"`
}

// job is one segment job. Its fields are guarded by Server.mu.
type job struct {
	id                            int64
	file                          *fileEntry
	points                        []cdf.SegmentPoint
	box                           *cdf.BoundingBox
	status                        cdf.JobStatus
	createdTime, startTime, stamp int64
	errMsg                        string
	segments                      []cdf.Segment
}

func in01(v float64) bool { return v >= 0 && v <= 1 && !math.IsNaN(v) }

// parseSegmentRequest validates a segment request as CDF does and resolves its file.
func (s *Server) parseSegmentRequest(req *segRequestIn) (*fileEntry, []cdf.SegmentPoint, *cdf.BoundingBox, error) {
	if len(req.Items) != 1 {
		return nil, nil, nil, badRequest("items: exactly 1 item is supported, got %d", len(req.Items))
	}
	it := req.Items[0]
	forms := 0
	var id identIn
	if it.FileID != nil {
		forms++
		id.ID = it.FileID
	}
	if it.FileExternalID != nil {
		forms++
		id.ExternalID = it.FileExternalID
	}
	if it.FileInstanceID != nil {
		forms++
		id.InstanceID = it.FileInstanceID
	}
	if forms != 1 {
		return nil, nil, nil, badRequest("items[0]: give exactly one of fileId, fileExternalId or fileInstanceId")
	}
	if err := validateIdent(id, "items[0]"); err != nil {
		return nil, nil, nil, err
	}
	if req.Points == nil && req.BoundingBox == nil {
		return nil, nil, nil, badRequest("Give points, boundingBox or both")
	}
	var points []cdf.SegmentPoint
	if req.Points != nil {
		ps := *req.Points
		if len(ps) == 0 && req.BoundingBox == nil {
			return nil, nil, nil, badRequest("points: at least 1 point is required without a boundingBox")
		}
		if len(ps) > MaxSegmentPoints {
			return nil, nil, nil, badRequest("points: at most %d points, got %d", MaxSegmentPoints, len(ps))
		}
		seen := map[cdf.SegmentPoint]bool{}
		points = make([]cdf.SegmentPoint, 0, len(ps))
		for n, p := range ps {
			if p.X == nil || p.Y == nil {
				return nil, nil, nil, badRequest("points[%d]: x and y are required", n)
			}
			if !in01(*p.X) || !in01(*p.Y) {
				return nil, nil, nil, badRequest("points[%d]: x and y must be between 0 and 1", n)
			}
			label := 1
			if p.Label != nil {
				switch *p.Label {
				case 0:
					label = 0
				case 1:
				default:
					return nil, nil, nil, badRequest("points[%d]: label must be 0 or 1, got %v", n, *p.Label)
				}
			}
			sp := cdf.SegmentPoint{X: *p.X, Y: *p.Y, Label: label}
			if seen[sp] {
				return nil, nil, nil, badRequest("points: items must be unique, points[%d] repeats an earlier point", n)
			}
			seen[sp] = true
			points = append(points, sp)
		}
	}
	var box *cdf.BoundingBox
	if b := req.BoundingBox; b != nil {
		if b.XMin == nil || b.YMin == nil || b.XMax == nil || b.YMax == nil {
			return nil, nil, nil, badRequest("boundingBox: xMin, yMin, xMax and yMax are required")
		}
		for _, v := range []float64{*b.XMin, *b.YMin, *b.XMax, *b.YMax} {
			if !in01(v) {
				return nil, nil, nil, badRequest("boundingBox: values must be between 0 and 1")
			}
		}
		if !(*b.XMin < *b.XMax && *b.YMin < *b.YMax) {
			return nil, nil, nil, badRequest("boundingBox: xMin must be less than xMax and yMin less than yMax")
		}
		box = &cdf.BoundingBox{XMin: *b.XMin, YMin: *b.YMin, XMax: *b.XMax, YMax: *b.YMax}
	}
	e := s.files.lookup(id)
	if e == nil {
		m := map[string]any{}
		switch {
		case it.FileID != nil:
			m["fileId"] = *it.FileID
		case it.FileExternalID != nil:
			m["fileExternalId"] = *it.FileExternalID
		default:
			m["fileInstanceId"] = map[string]any{"space": *it.FileInstanceID.Space, "externalId": *it.FileInstanceID.ExternalID}
		}
		return nil, nil, nil, &apiError{status: http.StatusBadRequest, msg: "Files not found", missing: []any{m}}
	}
	if !e.meta.Uploaded {
		return nil, nil, nil, badRequest("File %d has not been uploaded", e.meta.ID)
	}
	ext := strings.ToLower(filepath.Ext(e.meta.Name))
	if (e.meta.MimeType != "image/jpeg" && e.meta.MimeType != "image/png") ||
		(ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
		return nil, nil, nil, badRequest("File %d (%s, %s) is not supported: segment takes .jpeg, .jpg or .png files of type image/jpeg or image/png", e.meta.ID, e.meta.Name, e.meta.MimeType)
	}
	return e, points, box, nil
}

func (s *Server) startSegment(w http.ResponseWriter, r *http.Request) error {
	var req segRequestIn
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	file, points, box, err := s.parseSegmentRequest(&req)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UnixMilli()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errf(http.StatusServiceUnavailable, "The stand-in is shutting down")
	}
	if s.active >= s.cfg.MaxConcurrentJobs {
		s.mu.Unlock()
		return errf(http.StatusTooManyRequests, "Too many concurrent jobs: at most %d segment jobs may be queued or running in project %s", s.cfg.MaxConcurrentJobs, s.cfg.Project)
	}
	s.nextJob++
	j := &job{id: s.nextJob, file: file, points: points, box: box, status: cdf.JobQueued, createdTime: now, startTime: now, stamp: now}
	s.jobs[j.id] = j
	s.active++
	s.evictLocked()
	resp := s.postViewLocked(j)
	s.wg.Add(1)
	s.mu.Unlock()
	go s.run(j)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// evictLocked forgets the oldest finished jobs beyond maxRetainedJobs. Unfinished jobs are
// kept whatever their age; there are at most MaxConcurrentJobs of them.
func (s *Server) evictLocked() {
	for id := s.evictFrom; id <= s.nextJob && len(s.jobs) > maxRetainedJobs; id++ {
		j, ok := s.jobs[id]
		if ok && j.status.Terminal() {
			delete(s.jobs, id)
			ok = false
		}
		if !ok && id == s.evictFrom {
			s.evictFrom++
		}
	}
}

func (s *Server) postViewLocked(j *job) cdf.SegmentJob {
	points := j.points
	if points == nil {
		points = []cdf.SegmentPoint{}
	}
	return cdf.SegmentJob{
		Status: j.status, CreatedTime: j.createdTime, StartTime: j.startTime, StatusTime: j.stamp,
		JobID:  j.id,
		Items:  []cdf.SegmentItem{{FileID: j.file.meta.ID, FileExternalID: j.file.meta.ExternalID, FileInstanceID: j.file.meta.InstanceID}},
		Points: points, BoundingBox: j.box,
	}
}

func (s *Server) getViewLocked(j *job) cdf.SegmentJob {
	points := j.points
	if points == nil {
		points = []cdf.SegmentPoint{}
	}
	v := cdf.SegmentJob{
		Status: j.status, CreatedTime: j.createdTime, StartTime: j.startTime, StatusTime: j.stamp,
		JobID:  j.id,
		Prompt: &cdf.SegmentPrompt{Points: points, BoundingBox: j.box},
	}
	item := cdf.SegmentItem{FileID: j.file.meta.ID, FileExternalID: j.file.meta.ExternalID}
	switch j.status {
	case cdf.JobCompleted:
		item.Segments = j.segments
		v.Items = []cdf.SegmentItem{item}
	case cdf.JobFailed:
		msg := j.errMsg
		v.ErrorMessage = &msg
		v.Items = []cdf.SegmentItem{}
		v.FailedItems = []cdf.FailedBatch{{ErrorMessage: msg, Items: []cdf.SegmentItem{item}}}
	default:
		v.Items = []cdf.SegmentItem{item}
	}
	return v
}

func (s *Server) getSegmentJob(w http.ResponseWriter, idStr string) error {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id < 1 {
		return badRequest("Invalid jobId %q: expected a positive integer", idStr)
	}
	s.mu.Lock()
	j, ok := s.jobs[id]
	var v cdf.SegmentJob
	if ok {
		v = s.getViewLocked(j)
	}
	s.mu.Unlock()
	if !ok {
		return badRequest("Job %d not found", id)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) setStatus(j *job, st cdf.JobStatus, errMsg string, segs []cdf.Segment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j.status = st
	j.errMsg = errMsg
	j.segments = segs
	// statusTime must change at every transition, even when the clock does not move.
	now := s.cfg.Now().UnixMilli()
	if now <= j.stamp {
		now = j.stamp + 1
	}
	j.stamp = now
	if st.Terminal() {
		s.active--
	}
}

// run moves a job through Queued → Running → Completed | Failed.
func (s *Server) run(j *job) {
	defer s.wg.Done()
	ctx := s.ctx
	if d := s.cfg.QueueDelay; d > 0 {
		if err := s.cfg.Sleep(ctx, d); err != nil {
			s.setStatus(j, cdf.JobFailed, "The job was cancelled: the stand-in shut down", nil)
			return
		}
	}
	s.setStatus(j, cdf.JobRunning, "", nil)
	started := s.cfg.Now()
	segs, err := s.segment(ctx, j)
	if d := s.cfg.RunDelay - s.cfg.Now().Sub(started); d > 0 && err == nil {
		if serr := s.cfg.Sleep(ctx, d); serr != nil {
			err = serr
		}
	}
	if err != nil {
		msg := err.Error()
		if ctx.Err() != nil {
			msg = "The job was cancelled: the stand-in shut down"
		}
		s.setStatus(j, cdf.JobFailed, msg, nil)
		return
	}
	s.setStatus(j, cdf.JobCompleted, "", segs)
}

func (s *Server) segment(ctx context.Context, j *job) (segs []cdf.Segment, err error) {
	defer func() {
		// An engine bug must fail one job, not the whole stand-in.
		if p := recover(); p != nil {
			segs, err = nil, fmt.Errorf("segmentation failed: internal error: %v", p)
		}
	}()
	e := j.file
	src := segment.Source{
		Key: fmt.Sprintf("%s|%d|%d", e.abs, e.size, e.modTime.UnixNano()),
		Open: func(context.Context) (io.ReadCloser, error) {
			return os.Open(e.abs)
		},
	}
	out, err := s.cfg.Engine.Segment(ctx, src, cdfseg.Prompt(j.points, j.box))
	if err != nil {
		switch {
		case errors.Is(err, segment.ErrDamaged):
			// Before ErrUnsupported, which it wraps: damage is not a format problem.
			return nil, fmt.Errorf("File %d is damaged: its image data ends too early (a truncated upload?)", e.meta.ID)
		case errors.Is(err, segment.ErrUnsupported):
			return nil, fmt.Errorf("Could not read file %d as an image: %s", e.meta.ID, strings.TrimPrefix(err.Error(), segment.ErrUnsupported.Error()+": "))
		case errors.Is(err, segment.ErrTooLarge):
			return nil, fmt.Errorf("File %d is too large to segment: %v", e.meta.ID, err)
		}
		return nil, fmt.Errorf("Segmentation failed: %v", err)
	}
	return cdfseg.Segments(out), nil
}

// Modes of Config.Vision: the vision segment API as it works today, or as CDF may answer
// once it is retired (the Vision API is deprecated; the JS SDK gives 2027-02-17 as its
// retirement date). How CDF will really answer is not documented, so each plausible answer
// has its mode.
const (
	// VisionOn serves both segment endpoints (also the meaning of "").
	VisionOn = "on"
	// VisionRetired404 answers 404 "Not Found", as an API gateway answers for a path that no
	// longer exists.
	VisionRetired404 = "retired-404"
	// VisionRetired410 answers 410: the segment endpoint was retired.
	VisionRetired410 = "retired-410"
	// VisionRetired403 answers 403: the Vision API is deprecated and no longer available for
	// the project.
	VisionRetired403 = "retired-403"
)

// visionModes lists the modes in the order error messages name them.
var visionModes = []string{VisionOn, VisionRetired404, VisionRetired410, VisionRetired403}

// ParseVision checks a Config.Vision mode, e.g. from a flag, and returns it with ""
// taken as VisionOn.
func ParseVision(s string) (string, error) {
	if s == "" {
		return VisionOn, nil
	}
	for _, m := range visionModes {
		if s == m {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown vision mode %q: use one of %s", s, strings.Join(visionModes, ", "))
}

// SetVision changes the Config.Vision mode of a running server; requests that arrive after it
// returns see the new mode. Jobs already started go on and can be read again once the mode
// is VisionOn. It is safe for concurrent use.
func (s *Server) SetVision(mode string) error {
	m, err := ParseVision(mode)
	if err != nil {
		return fmt.Errorf("cdflocal: SetVision: %w", err)
	}
	s.vision.Store(m)
	return nil
}

// retired answers the error of the current vision mode for a segment request to project,
// or nil when the API is on.
func (s *Server) retired(project string) error {
	switch s.vision.Load().(string) {
	case VisionRetired404:
		return errf(http.StatusNotFound, "Not Found")
	case VisionRetired410:
		return errf(http.StatusGone, "The vision segment endpoint was retired on 2027-02-17 and is no longer available")
	case VisionRetired403:
		return errf(http.StatusForbidden, "The Vision API is deprecated and is no longer available for project %q", project)
	}
	return nil
}
