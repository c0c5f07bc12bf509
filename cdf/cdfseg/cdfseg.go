// Package cdfseg translates between CDF's segment wire shapes (package cdf) and Lasso's
// engine (package segment): a segment request becomes an engine prompt, and the engine's
// candidates become segments as CDF's vision API answers them. Both the stand-in and the
// in-process backend use it, so the two answer in the same shape.
package cdfseg

import (
	"math"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/segment"
)

// Prompt is the engine prompt of a segment request's points and box.
func Prompt(points []cdf.SegmentPoint, box *cdf.BoundingBox) segment.Prompt {
	var p segment.Prompt
	for _, pt := range points {
		p.Points = append(p.Points, segment.Point{X: pt.X, Y: pt.Y, Label: pt.Label})
	}
	if box != nil {
		p.Box = &segment.Box{XMin: box.XMin, YMin: box.YMin, XMax: box.XMax, YMax: box.YMax}
	}
	return p
}

// Segments converts engine segments to CDF's shape: scores and vertices clamped to 0..1,
// polygons of 3..cdf.MaxPolygonVertices vertices (longer ones thinned evenly, shorter ones
// dropped), segments without a polygon left out. It never returns nil.
func Segments(in []segment.Segment) []cdf.Segment {
	out := []cdf.Segment{}
	for _, sg := range in {
		var polys []cdf.Polygon
		for _, pg := range sg.Polygons {
			if len(pg) < 3 {
				continue
			}
			n := min(len(pg), cdf.MaxPolygonVertices)
			vs := make([]cdf.Vertex, 0, n)
			for i := range n {
				v := pg[i*len(pg)/n]
				vs = append(vs, cdf.Vertex{X: clamp01(v.X), Y: clamp01(v.Y)})
			}
			polys = append(polys, cdf.Polygon{Vertices: vs})
		}
		if len(polys) == 0 {
			continue
		}
		out = append(out, cdf.Segment{Score: clamp01(sg.Score), Polygons: polys})
	}
	return out
}

func clamp01(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return min(v, 1)
}
