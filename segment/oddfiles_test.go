package segment

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/lassoteam/lasso/internal/oddimages"
)

// orientScene is an upright 120×80 photo: a grey ground with a red block off-centre in the top left
// (x 16..56, y 8..40), so every turn and mirror moves it somewhere else.
func orientScene() *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, 120, 80))
	for y := range 80 {
		for x := range 120 {
			c := color.RGBA{110, 120, 130, 255}
			if x >= 16 && x < 56 && y >= 8 && y < 40 {
				c = color.RGBA{220, 30, 30, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// bbox is the box around every polygon of a segment, normalised.
func bbox(s Segment) [4]float64 {
	b := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for _, p := range s.Polygons {
		for _, v := range p {
			b[0], b[1] = min(b[0], v.X), min(b[1], v.Y)
			b[2], b[3] = max(b[2], v.X), max(b[3], v.Y)
		}
	}
	return b
}

func near(a, b [4]float64, tol float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

// TestEXIFOrientedJPEGsSegmentUpright: a camera stores the sensor's pixels and an EXIF
// orientation; a browser draws the photo turned upright, so the user clicks on the upright
// red block. For every orientation, in both TIFF byte orders, MeasureImage reports the
// orientation and the upright size, and the click gives a polygon around the block where the
// user sees it.
func TestEXIFOrientedJPEGsSegmentUpright(t *testing.T) {
	up := orientScene()
	want := [4]float64{16.0 / 120, 8.0 / 80, 56.0 / 120, 40.0 / 80}
	click := Prompt{Points: []Point{{X: 36.0 / 120, Y: 24.0 / 80, Label: 1}}}
	e := New(Options{})
	for o := 1; o <= 8; o++ {
		for _, big := range []bool{false, true} {
			stored := oddimages.Stored(up, o)
			data := oddimages.WithOrientation(oddimages.JPEG(stored), o, big)
			size, err := MeasureImage(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("orientation %d: MeasureImage: %v", o, err)
			}
			if size.Orientation != Orientation(o) {
				t.Errorf("orientation %d (big-endian %v): measured %d", o, big, size.Orientation)
			}
			if w, h := size.UprightSize(); w != 120 || h != 80 {
				t.Errorf("orientation %d: upright size %d×%d, want 120×80 (stored %d×%d)", o, w, h, size.Width, size.Height)
			}
			segs, err := e.Segment(context.Background(), bytesSource(string(data), data), click)
			if err != nil || len(segs) == 0 {
				t.Fatalf("orientation %d: %v, %d segments", o, err, len(segs))
			}
			if got := bbox(segs[0]); !near(got, want, 0.03) {
				t.Errorf("orientation %d (big-endian %v): polygon box %.3f, want the red block at %.3f", o, big, got, want)
			}
		}
	}
}

// TestEXIFOrientedPNGsSegmentUpright: a PNG's eXIf chunk turns it as a JPEG's Exif does
// (Chromium shows it so), for every orientation.
func TestEXIFOrientedPNGsSegmentUpright(t *testing.T) {
	want := [4]float64{16.0 / 120, 8.0 / 80, 56.0 / 120, 40.0 / 80}
	click := Prompt{Points: []Point{{X: 36.0 / 120, Y: 24.0 / 80, Label: 1}}}
	e := New(Options{})
	for o := 1; o <= 8; o++ {
		data := oddimages.PNGWithOrientation(oddimages.Stored(orientScene(), o), o)
		size, err := MeasureImage(bytes.NewReader(data))
		if err != nil || size.Orientation != Orientation(o) {
			t.Fatalf("orientation %d: measured %d, %v", o, size.Orientation, err)
		}
		segs, err := e.Segment(context.Background(), bytesSource(string(data), data), click)
		if err != nil || len(segs) == 0 {
			t.Fatalf("orientation %d: %v, %d segments", o, err, len(segs))
		}
		if got := bbox(segs[0]); !near(got, want, 0.03) {
			t.Errorf("orientation %d: polygon box %.3f, want the red block at %.3f", o, got, want)
		}
	}
}

// TestUprightMatchesStored: Upright undoes what a camera did for every orientation (the
// image browser's thumbnails use it).
func TestUprightMatchesStored(t *testing.T) {
	up := orientScene()
	for o := 1; o <= 8; o++ {
		got := Upright(oddimages.Stored(up, o), Orientation(o))
		if got.Bounds() != up.Bounds() {
			t.Fatalf("orientation %d: %v, want %v", o, got.Bounds(), up.Bounds())
		}
		for _, p := range []image.Point{{0, 0}, {20, 10}, {119, 0}, {0, 79}, {60, 30}} {
			if a, b := color.RGBAModel.Convert(got.At(p.X, p.Y)), up.At(p.X, p.Y); a != b {
				t.Errorf("orientation %d at %v: %v, want %v", o, p, a, b)
			}
		}
	}
}

// TestEXIFOrientationIgnoresJunk: an Exif segment that is cut short, out of range, or of the
// wrong type leaves the photo as stored, as browsers do, and never fails the image.
func TestEXIFOrientationIgnoresJunk(t *testing.T) {
	good := oddimages.WithOrientation(oddimages.JPEG(orientScene()), 6, false)
	app1 := good[4 : 4+int(good[4])<<8|int(good[5])]
	payload := app1[2:]
	for name, seg := range map[string][]byte{
		"not exif":     []byte("http://ns.adobe.com/xap/1.0/\x00<x/>"),
		"cut":          payload[:14],
		"bad order":    append([]byte("Exif\x00\x00XX*\x00"), payload[10:]...),
		"out of range": bytes.Replace(payload, []byte{0x12, 0x01, 3, 0, 1, 0, 0, 0, 6}, []byte{0x12, 0x01, 3, 0, 1, 0, 0, 0, 9}, 1),
		"wrong type":   bytes.Replace(payload, []byte{0x12, 0x01, 3, 0}, []byte{0x12, 0x01, 4, 0}, 1),
		"ifd past end": append(append([]byte{}, payload[:10]...), 0xff, 0xff, 0, 0),
	} {
		if got := exifOrientation(seg); got != OrientNormal {
			t.Errorf("%s: orientation %d, want %d", name, got, OrientNormal)
		}
	}
	if got := exifOrientation(payload); got != OrientRotate90 {
		t.Fatalf("the good segment reads %d, want 6: the cases above test nothing", got)
	}
}

// cmykScene is a CMYK image of flat 8-pixel-aligned areas: white paper, with a block printed
// in pure cyan plus some black (x 8..40, y 16..48) on a 64×64 page.
func cmykScene() (*image.CMYK, color.RGBA, color.RGBA) {
	m := image.NewCMYK(image.Rect(0, 0, 64, 64))
	ink := color.CMYK{C: 200, M: 40, Y: 0, K: 30}
	paper := color.CMYK{C: 10, M: 10, Y: 60, K: 0}
	for y := range 64 {
		for x := range 64 {
			c := paper
			if x >= 8 && x < 40 && y >= 16 && y < 48 {
				c = ink
			}
			m.SetCMYK(x, y, c)
		}
	}
	rgb := func(c color.CMYK) color.RGBA {
		r, g, b := color.CMYKToRGB(c.C, c.M, c.Y, c.K)
		return color.RGBA{r, g, b, 255}
	}
	return m, rgb(ink), rgb(paper)
}

// TestCMYKAndYCCKJPEGsSegmentInTheirColours: Photoshop's CMYK and YCCK JPEGs (Adobe APP14,
// inverted ink) decode to the colours printed, and a click on the inked block segments it.
func TestCMYKAndYCCKJPEGsSegmentInTheirColours(t *testing.T) {
	m, ink, paper := cmykScene()
	for _, ycck := range []bool{false, true} {
		data := oddimages.FourComponentJPEG(m, ycck)
		size, err := MeasureImage(bytes.NewReader(data))
		if err != nil || size.Model != "CMYK JPEG" {
			t.Fatalf("ycck %v: MeasureImage %+v, %v", ycck, size, err)
		}
		wi, err := loadWorkImage(context.Background(), bytesSource(string(data), data), defaultMaxPixels, 320)
		if err != nil {
			t.Fatalf("ycck %v: %v", ycck, err)
		}
		at := func(x, y int) color.RGBA {
			i := 3 * (y*wi.w + x)
			return color.RGBA{uint8(wi.rgb[i] + 0.5), uint8(wi.rgb[i+1] + 0.5), uint8(wi.rgb[i+2] + 0.5), 255}
		}
		// YCCK goes through YCbCr, which rounds by a level or two.
		for _, c := range []struct {
			x, y int
			want color.RGBA
		}{{20, 30, ink}, {55, 5, paper}} {
			if got := at(c.x, c.y); !closeRGB(got, c.want, 3) {
				t.Errorf("ycck %v: pixel (%d,%d) is %v, want %v", ycck, c.x, c.y, got, c.want)
			}
		}
		segs, err := New(Options{}).Segment(context.Background(), bytesSource(string(data), data),
			Prompt{Points: []Point{{X: 24.0 / 64, Y: 32.0 / 64, Label: 1}}})
		if err != nil || len(segs) == 0 {
			t.Fatalf("ycck %v: %v", ycck, err)
		}
		if got := bbox(segs[0]); !near(got, [4]float64{8.0 / 64, 16.0 / 64, 40.0 / 64, 48.0 / 64}, 0.03) {
			t.Errorf("ycck %v: polygon box %.3f, want the inked block", ycck, got)
		}
	}
}

func closeRGB(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) bool { return int(x)-int(y) <= tol && int(y)-int(x) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

// TestOddFormatsNamed: a file that is no JPEG or PNG, named .jpg, is refused naming what it
// really is; a 12-bit JPEG is refused saying so. Both are ErrUnsupported and not damage.
func TestOddFormatsNamed(t *testing.T) {
	click := Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 1}}}
	e := New(Options{})
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"webp", oddimages.WebPHeader(), "the file is a WebP image, not a JPEG or PNG"},
		{"heic", oddimages.HEICHeader(), "the file is a HEIC (HEIF) image, not a JPEG or PNG"},
		{"12-bit", oddimages.TwelveBitJPEGHeader(640, 480), "12-bit samples"},
		{"text", []byte("hello, world, this is not an image"), "not JPEG or PNG"},
	} {
		_, merr := MeasureImage(bytes.NewReader(c.data))
		_, serr := e.Segment(context.Background(), bytesSource(c.name, c.data), click)
		for what, err := range map[string]error{"MeasureImage": merr, "Segment": serr} {
			if !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrDamaged) || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %s: %v, want ErrUnsupported saying %q", c.name, what, err, c.want)
			}
		}
	}
}

// TestAnimatedGIFSegmentsItsFirstFrame: a browser draws an animated GIF's first frame on the
// canvas, so the engine segments that frame: a click on the block of frame 1 outlines it,
// not the block of frame 2 elsewhere.
func TestAnimatedGIFSegmentsItsFirstFrame(t *testing.T) {
	pal := color.Palette{color.RGBA{100, 110, 120, 255}, color.RGBA{230, 200, 20, 255}}
	frame := func(x0, y0 int) *image.Paletted {
		m := image.NewPaletted(image.Rect(0, 0, 80, 60), pal)
		for y := y0; y < y0+24; y++ {
			for x := x0; x < x0+24; x++ {
				m.SetColorIndex(x, y, 1)
			}
		}
		return m
	}
	data := oddimages.AnimatedGIF(frame(8, 8), frame(48, 30))
	size, err := MeasureImage(bytes.NewReader(data))
	if err != nil || size.Width != 80 || size.Height != 60 {
		t.Fatalf("MeasureImage %+v, %v", size, err)
	}
	segs, err := New(Options{}).Segment(context.Background(), bytesSource("anim", data),
		Prompt{Points: []Point{{X: 20.0 / 80, Y: 20.0 / 60, Label: 1}}})
	if err != nil || len(segs) == 0 {
		t.Fatalf("%v", err)
	}
	if got := bbox(segs[0]); !near(got, [4]float64{8.0 / 80, 8.0 / 60, 32.0 / 80, 32.0 / 60}, 0.03) {
		t.Errorf("polygon box %.3f, want frame 1's block", got)
	}
}
