package cdf

import (
	"context"
	"net/http"
	"strconv"
)

// BetaVersion is the cdf-version header value the segment endpoints require.
const BetaVersion = "beta"

// VisionService is the segment part of CDF's Vision API, which is beta-only: every call
// sends cdf-version: beta.
type VisionService struct{ c *Client }

func betaHeader() http.Header { return http.Header{"Cdf-Version": {BetaVersion}} }

// StartSegment starts a segment job (POST /context/vision/segment). The answer is the job as
// queued, with the prompt echoed in Points/BoundingBox. Because the call is not idempotent it
// is retried on 429 only.
func (s *VisionService) StartSegment(ctx context.Context, req SegmentRequest) (*SegmentJob, error) {
	var out SegmentJob
	err := s.c.do(ctx, call{
		op: "start segment job", method: http.MethodPost, url: s.c.projectURL("/context/vision/segment"),
		body: req, header: betaHeader(), mode: retryThrottledOnly,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SegmentJob returns the state of a segment job (GET /context/vision/segment/{jobId}); once
// Completed it carries the segments, and the prompt under Prompt.
func (s *VisionService) SegmentJob(ctx context.Context, jobID int64) (*SegmentJob, error) {
	var out SegmentJob
	err := s.c.do(ctx, call{
		op: "get segment job", method: http.MethodGet,
		url:    s.c.projectURL("/context/vision/segment/" + strconv.FormatInt(jobID, 10)),
		header: betaHeader(), mode: retryIdempotent,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}
