package segment

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"strings"
	"testing"
)

// flat16 is an opaque 16-bit image of flat colours, generated pixel by pixel so that a huge
// one costs no memory: image/png encodes it as 16-bit RGB, and it compresses to almost
// nothing, like the 0.6 MB 9000×9000 PNG that took the server to 1.16 GB.
type flat16 struct{ w, h int }

func (f flat16) ColorModel() color.Model { return color.RGBA64Model }
func (f flat16) Bounds() image.Rectangle { return image.Rect(0, 0, f.w, f.h) }
func (f flat16) Opaque() bool            { return true }
func (f flat16) At(x, y int) color.Color {
	if x > f.w/4 && x < 3*f.w/4 && y > f.h/4 && y < 3*f.h/4 {
		return color.RGBA64{0xe000, 0xc000, 0x3000, 0xffff}
	}
	return color.RGBA64{0x3000, 0x4000, 0x5000, 0xffff}
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated returns how many bytes f allocates (runtime.MemStats.TotalAlloc, so memory
// freed again during f counts too).
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeBudgetRefusesA16BitPNGBeforeDecoding: 9000×9000 is within a 100 MP pixel limit
// (the stand-in's default), but its 16-bit pixels decode to 648 MB, over the 600 MB budget
// that limit implies. The engine refuses it from the header, allocating next to nothing.
func TestDecodeBudgetRefusesA16BitPNGBeforeDecoding(t *testing.T) {
	data := encodePNG(t, flat16{9000, 9000})
	t.Logf("9000×9000 16-bit PNG: %d bytes", len(data))
	e := New(Options{MaxPixels: 100_000_000})
	var err error
	n := allocated(func() {
		_, err = e.Segment(context.Background(), bytesSource("big", data), Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 1}}})
	})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("9000×9000 16-bit PNG: %v, want ErrTooLarge", err)
	} else {
		for _, want := range []string{"9000×9000", "16-bit RGB PNG", "648 MB", "600 MB"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
	if n > 100<<20 {
		t.Errorf("refusing the image allocated %d MB, want < 100 MB", n>>20)
	}
}

// TestSmall16BitPNGSegments: a 16-bit PNG within the budget is segmented like its 8-bit
// twin, and MaxDecodeBytes is the bound, not the pixel count.
func TestSmall16BitPNGSegments(t *testing.T) {
	const w, h = 600, 400
	img8, gt := scene(w, h, 11, ellipse(310, 190, 110, 80))
	img16 := image.NewRGBA64(img8.Bounds())
	for y := range h {
		for x := range w {
			c := img8.RGBAAt(x, y)
			img16.SetRGBA64(x, y, color.RGBA64{uint16(c.R) * 257, uint16(c.G) * 257, uint16(c.B) * 257, 0xffff})
		}
	}
	data := encodePNG(t, img16)
	if size, err := MeasureImage(bytes.NewReader(data)); err != nil || size.Model != "16-bit RGB PNG" || size.Bytes != 8*w*h {
		t.Fatalf("MeasureImage: %+v, %v; want 16-bit RGB PNG of %d bytes", size, err, 8*w*h)
	}
	p := Prompt{Points: []Point{{X: 310.0 / w, Y: 190.0 / h, Label: 1}}}
	s := best(t)(New(Options{}).Segment(context.Background(), bytesSource("16", data), p))
	if got := iouBool(rasterise(s.Polygons, w, h), gt); got < 0.95 {
		t.Errorf("IoU %.3f on the 16-bit PNG, want ≥ 0.95", got)
	}

	_, err := New(Options{MaxDecodeBytes: 8*w*h - 1}).Segment(context.Background(), bytesSource("16", data), p)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "decode budget") {
		t.Errorf("one byte over MaxDecodeBytes: %v, want ErrTooLarge naming the decode budget", err)
	}
	if _, err := New(Options{MaxDecodeBytes: 8 * w * h}).Segment(context.Background(), bytesSource("16", data), p); err != nil {
		t.Errorf("exactly MaxDecodeBytes: %v", err)
	}
}

// pixBytes is what a decoded image's pixel storage takes.
func pixBytes(img image.Image) int64 {
	switch m := img.(type) {
	case *image.YCbCr:
		return int64(cap(m.Y) + cap(m.Cb) + cap(m.Cr))
	case *image.Gray:
		return int64(cap(m.Pix))
	case *image.Gray16:
		return int64(cap(m.Pix))
	case *image.RGBA:
		return int64(cap(m.Pix))
	case *image.NRGBA:
		return int64(cap(m.Pix))
	case *image.RGBA64:
		return int64(cap(m.Pix))
	case *image.NRGBA64:
		return int64(cap(m.Pix))
	case *image.Paletted:
		return int64(cap(m.Pix))
	}
	return -1
}

// withTRNS inserts a tRNS chunk after a PNG's IHDR: image/png then decodes grey and
// truecolour pixels into an NRGBA image.
func withTRNS(t *testing.T, data []byte, payload []byte) []byte {
	t.Helper()
	const ihdrEnd = 8 + 8 + 13 + 4
	var chunk bytes.Buffer
	chunk.Write([]byte{0, 0, 0, byte(len(payload))})
	chunk.WriteString("tRNS")
	chunk.Write(payload)
	crc := crc32.ChecksumIEEE(append([]byte("tRNS"), payload...))
	chunk.Write([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	return append(append(append([]byte{}, data[:ihdrEnd]...), chunk.Bytes()...), data[ihdrEnd:]...)
}

// TestMeasureImageMatchesTheDecoders: what MeasureImage reads from the header is exactly the
// pixel storage image/png and image/jpeg allocate, for each image type they decode into.
func TestMeasureImageMatchesTheDecoders(t *testing.T) {
	const w, h = 301, 203 // odd sizes: JPEG pads to whole MCUs, chroma planes round up
	r := image.Rect(0, 0, w, h)
	rgba, _ := scene(w, h, 3, ellipse(150, 100, 60, 40))
	gray := image.NewGray(r)
	gray16 := image.NewGray16(r)
	nrgba := image.NewNRGBA(r)
	nrgba64 := image.NewNRGBA64(r)
	pal := image.NewPaletted(r, color.Palette{color.Black, color.White, color.RGBA{200, 0, 0, 255}})
	for y := range h {
		for x := range w {
			c := rgba.RGBAAt(x, y)
			gray.SetGray(x, y, color.Gray{c.G})
			gray16.SetGray16(x, y, color.Gray16{uint16(c.G) * 257})
			nrgba.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, uint8(x)})
			nrgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(c.R) << 8, uint16(c.G) << 8, uint16(c.B) << 8, uint16(x) << 8})
			pal.SetColorIndex(x, y, uint8((x+y)%3))
		}
	}
	jpg := func(img image.Image) []byte {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, tt := range []struct {
		name, model string
		data        []byte
		bpp         int64 // 0: compare with the decoded image only (padded JPEG planes)
	}{
		{"gray", "8-bit gray PNG", encodePNG(t, gray), 1},
		{"gray16", "16-bit gray PNG", encodePNG(t, gray16), 2},
		{"gray with tRNS", "8-bit gray with transparency PNG", withTRNS(t, encodePNG(t, gray), []byte{0, 7}), 4},
		{"paletted", "paletted PNG", encodePNG(t, pal), 1},
		{"rgb", "8-bit RGB PNG", encodePNG(t, rgba), 4},
		{"rgb with tRNS", "8-bit RGB with transparency PNG", withTRNS(t, encodePNG(t, rgba), []byte{0, 1, 0, 2, 0, 3}), 4},
		{"rgba", "8-bit RGBA PNG", encodePNG(t, nrgba), 4},
		{"rgb16", "16-bit RGB PNG", encodePNG(t, flat16{w, h}), 8},
		{"rgba16", "16-bit RGBA PNG", encodePNG(t, nrgba64), 8},
		{"jpeg", "YCbCr 4:2:0 JPEG", jpg(rgba), 0},
		{"gray jpeg", "gray JPEG", jpg(gray), 0},
	} {
		size, err := MeasureImage(bytes.NewReader(tt.data))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var img image.Image
		if strings.HasSuffix(tt.model, "PNG") {
			img, err = png.Decode(bytes.NewReader(tt.data))
		} else {
			img, err = jpeg.Decode(bytes.NewReader(tt.data))
		}
		if err != nil {
			t.Fatalf("%s: decode: %v", tt.name, err)
		}
		if size.Width != w || size.Height != h || size.Model != tt.model {
			t.Errorf("%s: %d×%d %q, want %d×%d %q", tt.name, size.Width, size.Height, size.Model, w, h, tt.model)
		}
		if got := pixBytes(img); size.Bytes != got {
			t.Errorf("%s: MeasureImage says %d bytes, the decoded %T takes %d", tt.name, size.Bytes, img, got)
		}
		if tt.bpp > 0 && size.Bytes != tt.bpp*w*h {
			t.Errorf("%s: %d bytes, want %d a pixel", tt.name, size.Bytes, tt.bpp)
		}
	}
	for _, bad := range [][]byte{nil, []byte("GIF89a"), []byte("\x89PNG\r\n\x1a\n"), []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), []byte("\xff\xd8\xff\xda\x00\x02")} {
		if _, err := MeasureImage(bytes.NewReader(bad)); !errors.Is(err, ErrUnsupported) {
			t.Errorf("MeasureImage(%q): %v, want ErrUnsupported", bad, err)
		}
	}
}

// TestJPEGFrameSize checks what the decoders cannot show without sample files: progressive
// coefficients, CMYK and RGB JPEGs, from frame headers built by hand.
func TestJPEGFrameSize(t *testing.T) {
	sof := func(w, h int, comps ...[3]byte) []byte {
		b := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(len(comps))}
		for _, c := range comps {
			b = append(b, c[0], c[1], c[2])
		}
		return b
	}
	const w, h = 1000, 600 // whole 16×16 MCUs: 63×38 of them, padded to 1008×608
	y22, c11 := [3]byte{1, 0x22, 0}, [3]byte{2, 0x11, 1}
	for _, tt := range []struct {
		name        string
		seg         []byte
		progressive bool
		adobeRGB    bool
		model       string
		bytes       int64
	}{
		{"4:2:0", sof(w, h, y22, c11, [3]byte{3, 0x11, 1}), false, false, "YCbCr 4:2:0 JPEG", 1008*608 + 2*504*304},
		{"progressive 4:2:0", sof(w, h, y22, c11, [3]byte{3, 0x11, 1}), true, false, "progressive YCbCr 4:2:0 JPEG",
			1008*608 + 2*504*304 + (63*38*4+2*63*38)*256},
		{"CMYK", sof(w, h, [3]byte{1, 0x11, 0}, [3]byte{2, 0x11, 0}, [3]byte{3, 0x11, 0}, [3]byte{4, 0x11, 0}), false, true, "CMYK JPEG",
			3*1000*600 + 1000*600 + 4*w*h},
		{"RGB", sof(w, h, [3]byte{'R', 0x11, 0}, [3]byte{'G', 0x11, 0}, [3]byte{'B', 0x11, 0}), false, false, "RGB JPEG", 3*1000*600 + 4*w*h},
		{"gray", sof(w, h, [3]byte{1, 0x22, 0}), false, false, "gray JPEG", 1000 * 600},
	} {
		size, err := jpegFrameSize(tt.seg, tt.progressive, tt.adobeRGB)
		if err != nil || size.Model != tt.model || size.Bytes != tt.bytes {
			t.Errorf("%s: %+v, %v; want %q of %d bytes", tt.name, size, err, tt.model, tt.bytes)
		}
	}
}
