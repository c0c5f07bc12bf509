package cdflocal_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"strings"
	"testing"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/internal/oddimages"
	"github.com/lassoteam/lasso/segment"
)

// portrait is an upright 80×120 photo: grey, with a red block in its top third
// (x 10..50, y 10..40).
func portrait() *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, 80, 120))
	for y := range 120 {
		for x := range 80 {
			c := color.RGBA{110, 120, 130, 255}
			if x >= 10 && x < 50 && y >= 10 && y < 40 {
				c = color.RGBA{220, 30, 30, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

func oddFiles(t *testing.T) map[string][]byte {
	whole := oddimages.JPEG(portrait())
	return map[string][]byte{
		// A phone held upright stores a landscape sensor image turned a quarter.
		"rotated.jpg":   oddimages.WithOrientation(oddimages.JPEG(oddimages.Stored(portrait(), 6)), 6, false),
		"truncated.jpg": whole[:len(whole)*6/10],
		"webp.jpg":      oddimages.WebPHeader(),
		"heic.jpg":      oddimages.HEICHeader(),
	}
}

// TestOddFilesIconsAndMetadata: the stand-in lists a rotated photo's upright size and makes
// its thumbnail upright; a truncated JPEG has no thumbnail because it is damaged (not
// "unsupported"), and WebP or HEIC content named .jpg is named for what it is.
func TestOddFilesIconsAndMetadata(t *testing.T) {
	e := setup(t, setupOpts{files: oddFiles(t)})
	ctx := context.Background()
	f, err := e.c.Files.Retrieve(ctx, e.id("rotated.jpg"))
	must(t, err)
	if f.Metadata["width"] != "80" || f.Metadata["height"] != "120" {
		t.Errorf("rotated.jpg lists %s×%s, want the upright 80×120 (stored 120×80)", f.Metadata["width"], f.Metadata["height"])
	}
	body, _, err := e.c.Files.Icon(ctx, cdf.ID(e.id("rotated.jpg")))
	must(t, err)
	data, err := io.ReadAll(body)
	body.Close()
	must(t, err)
	icon, err := jpeg.Decode(bytes.NewReader(data))
	must(t, err)
	if b := icon.Bounds(); b.Dx() != 80 || b.Dy() != 120 {
		t.Fatalf("icon of rotated.jpg is %v, want 80×120 upright", b)
	}
	for _, p := range []struct {
		x, y int
		red  bool
	}{{30, 25, true}, {30, 90, false}, {70, 25, false}} {
		r, g, _, _ := icon.At(p.x, p.y).RGBA()
		if isRed := r>>8 > 180 && g>>8 < 80; isRed != p.red {
			t.Errorf("icon pixel (%d,%d) red %v, want %v: the icon is not upright", p.x, p.y, isRed, p.red)
		}
	}

	for _, c := range []struct{ file, want, not string }{
		{"truncated.jpg", "damaged", "unsupported"},
		{"webp.jpg", "WebP", ""},
		{"heic.jpg", "HEIC", ""},
	} {
		_, _, err := e.c.Files.Icon(ctx, cdf.ID(e.id(c.file)))
		ae := apiError(t, err, 400)
		if !strings.Contains(ae.Message, c.want) || c.not != "" && strings.Contains(ae.Message, c.not) {
			t.Errorf("icon of %s: %q, want it to say %q (and not %q)", c.file, ae.Message, c.want, c.not)
		}
	}
}

// TestSegmentOddFiles: a segment job on a truncated JPEG fails saying the file is damaged,
// not that its format is unsupported; one on WebP content named .jpg names WebP; one on a
// rotated photo outlines the block where the user sees it.
func TestSegmentOddFiles(t *testing.T) {
	e := setup(t, setupOpts{files: oddFiles(t), cfg: func(c *cdflocal.Config) { c.Engine = segment.New(segment.Options{}) }})
	ctx := context.Background()
	for _, c := range []struct{ file, want, not string }{
		{"truncated.jpg", "damaged", "unsupported"},
		{"webp.jpg", "the file is a WebP image", ""},
	} {
		job, err := e.c.Vision.StartSegment(ctx, cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: e.id(c.file)}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}})
		must(t, err)
		failed := waitStatus(t, e.c, job.JobID, cdf.JobFailed)
		msg := ""
		if failed.ErrorMessage != nil {
			msg = *failed.ErrorMessage
		}
		if !strings.Contains(msg, c.want) || c.not != "" && strings.Contains(msg, c.not) {
			t.Errorf("%s: job failed with %q, want it to say %q (and not %q)", c.file, msg, c.want, c.not)
		}
	}
	job, err := e.c.Vision.StartSegment(ctx, cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: e.id("rotated.jpg")}}, Points: []cdf.SegmentPoint{{X: 30.0 / 80, Y: 25.0 / 120, Label: 1}}})
	must(t, err)
	done := waitStatus(t, e.c, job.JobID, cdf.JobCompleted)
	if len(done.Items) != 1 || len(done.Items[0].Segments) == 0 {
		t.Fatalf("rotated.jpg: %+v", done.Items)
	}
	lo, hi := [2]float64{1, 1}, [2]float64{0, 0}
	for _, p := range done.Items[0].Segments[0].Polygons {
		for _, v := range p.Vertices {
			lo = [2]float64{min(lo[0], v.X), min(lo[1], v.Y)}
			hi = [2]float64{max(hi[0], v.X), max(hi[1], v.Y)}
		}
	}
	want := [4]float64{10.0 / 80, 10.0 / 120, 50.0 / 80, 40.0 / 120}
	got := [4]float64{lo[0], lo[1], hi[0], hi[1]}
	for i := range got {
		if d := got[i] - want[i]; d > 0.04 || d < -0.04 {
			t.Fatalf("rotated.jpg: polygon box %.3f, want the block where the user sees it, %.3f", got, want)
		}
	}
}
