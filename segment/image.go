package segment

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"strings"
)

// workImage is everything the engine derives from an image alone: a downscaled working copy and
// the contrast-sensitive pairwise weights on it. It is computed once per Source.Key and shared
// read-only by every prompt on that image.
type workImage struct {
	srcW, srcH int       // the original image's size
	w, h       int       // working size
	rgb        []float32 // w*h*3, interleaved, 0..255
	beta       float64   // 1 / (2 · mean ‖Δz‖²) over 8-neighbour pairs; 0 on a flat image
	meanD2     float64   // mean ‖Δz‖² over 8-neighbour pairs
	// d2[k][i] is ‖z_i − z_j‖² for pixel i and its neighbour j in direction k (E, S, SE, SW).
	// The engine drops it once cost and nw are derived from it.
	d2 [4][]float32
	// cost[k][i] is the geodesic step cost from pixel i in direction k (see geodesic.go).
	cost [4][]float32
	// nw[k][i] is exp(−β‖Δz‖²)/dist for pixel i and its neighbour in direction k: the
	// GrabCut pairwise weight without γ.
	nw [4][]float32
	// Colours quantised to 5 bits a channel: bin[i] indexes binRGB, the mean colour of the
	// pixels in that bin. Photos use a few thousand bins, so the colour models are evaluated
	// per bin instead of per pixel, ten times less work at no visible cost.
	bin    []int32
	binRGB []float32
	// A finer copy (long side twice the working one) where outlines are refined; fw == 0
	// when the original is not larger than the working copy.
	fw, fh int
	frgb   []uint8
	fbeta  float64
}

// dirs are the four forward neighbour directions (E, S, SE, SW); the other four are their
// reverses.
var dirs = [4][2]int{{1, 0}, {0, 1}, {1, 1}, {-1, 1}}

func (wi *workImage) bytes() int64 {
	n := int64(len(wi.bin))
	return int64(len(wi.rgb))*4 + n*(16+16+4) + int64(len(wi.d2[0]))*16 + int64(len(wi.binRGB))*4 + int64(len(wi.frgb)) + 256
}

// maxFileBytes bounds how much of a source is read: far above any 40 MP JPEG or PNG a camera
// or a screenshot produces, well below what would hurt the process.
const maxFileBytes = 256 << 20

// loadWorkImage is loadWorkImageWithin with the default decode budget for maxPixels.
func loadWorkImage(ctx context.Context, src Source, maxPixels int64, long int) (*workImage, error) {
	return loadWorkImageWithin(ctx, src, maxPixels, 0, long)
}

// loadWorkImageWithin opens, checks, decodes and downscales a source so its long side is at
// most long pixels. Images of more than maxPixels pixels, or whose decoded pixels take more
// than maxBytes bytes (<= 0: DecodeBudget(maxPixels)), are refused before decoding.
func loadWorkImageWithin(ctx context.Context, src Source, maxPixels, maxBytes int64, long int) (*workImage, error) {
	rc, err := src.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("segment: open image: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxFileBytes+1))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("segment: read image: %w", err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrTooLarge, maxFileBytes)
	}
	// The header reader first: it names what the decoders only call unsupported (a 12-bit
	// JPEG, a WebP file named .jpg).
	size, err := MeasureImage(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	cfg, err := decoderOf(data).config(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: empty image", ErrUnsupported)
	}
	if err := size.Check(maxPixels, maxBytes); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	img, err := DecodeImage(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	data = nil
	return newOrientedWorkImage(img, long, size.Orientation), nil
}

// decoder is one format's pair of standard library functions.
type decoder struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// decoderOf sniffs the format from the first bytes rather than rely on image.RegisterFormat
// side effects; nil config and decode for a format none reads.
func decoderOf(head []byte) decoder {
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return decoder{jpeg.DecodeConfig, jpeg.Decode}
	case bytes.HasPrefix(head, []byte(pngSignature)):
		return decoder{png.DecodeConfig, png.Decode}
	case isGIF(head):
		return decoder{gif.DecodeConfig, firstFrame}
	}
	return decoder{
		func(io.Reader) (image.Config, error) { return image.Config{}, notJPEGOrPNG(head) },
		func(io.Reader) (image.Image, error) { return nil, notJPEGOrPNG(head) },
	}
}

// DecodeImage decodes a JPEG, PNG or GIF (its first frame, placed on its logical screen) as
// stored: not turned upright (see Upright and ImageSize.Orientation). Errors wrap ErrDamaged
// when the data ends too early, ErrUnsupported otherwise. It bounds nothing: measure the image
// first (MeasureImage, ImageSize.Check).
func DecodeImage(r io.Reader) (image.Image, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(16)
	d := decoderOf(head)
	img, err := d.decode(br)
	switch {
	case err == nil:
		return img, nil
	case errors.Is(err, ErrUnsupported):
		return nil, err
	case damaged(err):
		return nil, fmt.Errorf("%w: decode: %w", ErrDamaged, err)
	}
	return nil, fmt.Errorf("%w: decode: %w", ErrUnsupported, err)
}

// newWorkImage downscales img by area averaging to the working size and to a finer copy for
// boundary refinement, and derives the pairwise statistics.
func newWorkImage(img image.Image, long int) *workImage {
	return newOrientedWorkImage(img, long, OrientNormal)
}

// newOrientedWorkImage is newWorkImage for an image whose upright form is img turned as o
// says: the copies are turned after downscaling (cheap at their size), before anything is
// derived from them, so the engine works on what the user sees.
func newOrientedWorkImage(img image.Image, long int, o Orientation) *workImage {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	wi := &workImage{srcW: sw, srcH: sh}
	if max(sw, sh) <= long {
		wi.w, wi.h, wi.rgb = downscale(img, long)
	} else {
		// The original is read once, into the fine copy; the working copy is averaged
		// from that, which costs a fraction of a second pass over a large photo.
		var frgb []float32
		wi.fw, wi.fh, frgb = downscale(img, 2*long)
		wi.fbeta = meanBeta(frgb, wi.fw, wi.fh)
		fw, fh := wi.fw, wi.fh
		wi.w = max(1, int(math.Round(float64(sw)*float64(long)/float64(max(sw, sh)))))
		wi.h = max(1, int(math.Round(float64(sh)*float64(long)/float64(max(sw, sh)))))
		wi.rgb = make([]float32, wi.w*wi.h*3)
		areaResample(wi.rgb, wi.w, wi.h, 3, fw, fh, float64(fw)/float64(wi.w), float64(fh)/float64(wi.h),
			func(y int, row []float32) { copy(row, frgb[y*fw*3:(y+1)*fw*3]) })
		// Bytes are plenty for the fine copy: it is cached with every image and only read
		// along outlines.
		wi.frgb = make([]uint8, len(frgb))
		for i, v := range frgb {
			wi.frgb[i] = uint8(v + 0.5)
		}
		// β is a mean over all 8-neighbour pairs, which turning the image keeps.
		wi.frgb, wi.fw, wi.fh = orientPixels(wi.frgb, wi.fw, wi.fh, 3, o)
	}
	wi.rgb, wi.w, wi.h = orientPixels(wi.rgb, wi.w, wi.h, 3, o)
	if o.swaps() {
		wi.srcW, wi.srcH = sh, sw
	}
	wi.pairwise()
	return wi
}

// downscale reduces img so its long side is at most long pixels, as interleaved RGB.
func downscale(img image.Image, long int) (int, int, []float32) {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	w, h := sw, sh
	if m := max(sw, sh); m > long {
		w = max(1, int(math.Round(float64(sw)*float64(long)/float64(m))))
		h = max(1, int(math.Round(float64(sh)*float64(long)/float64(m))))
	}
	rgb := make([]float32, w*h*3)
	sx, sy := float64(sw)/float64(w), float64(sh)/float64(h)

	if yc, ok := img.(*image.YCbCr); ok {
		// Resample the planes at their own resolutions and convert afterwards: the
		// conversion is affine, so averaging first is the same up to clamping, and the
		// full-resolution RGB image never exists.
		hf, vf := chromaFactors(yc.SubsampleRatio)
		n := w * h
		yp := make([]float32, n)
		cb := make([]float32, n)
		cr := make([]float32, n)
		planeFetch := func(p []uint8, stride int) func(int, []float32) {
			return func(y int, row []float32) {
				off := y * stride
				for x := range row {
					row[x] = float32(p[off+x])
				}
			}
		}
		areaResample(yp, w, h, 1, sw, sh, sx, sy, planeFetch(yc.Y, yc.YStride))
		cw, ch := (sw+hf-1)/hf, (sh+vf-1)/vf
		areaResample(cb, w, h, 1, cw, ch, sx/float64(hf), sy/float64(vf), planeFetch(yc.Cb, yc.CStride))
		areaResample(cr, w, h, 1, cw, ch, sx/float64(hf), sy/float64(vf), planeFetch(yc.Cr, yc.CStride))
		for i := range n {
			Y, Cb, Cr := yp[i], cb[i]-128, cr[i]-128
			rgb[3*i] = clamp255(Y + 1.402*Cr)
			rgb[3*i+1] = clamp255(Y - 0.344136*Cb - 0.714136*Cr)
			rgb[3*i+2] = clamp255(Y + 1.772*Cb)
		}
	} else {
		areaResample(rgb, w, h, 3, sw, sh, sx, sy, rgbFetch(img))
	}
	return w, h, rgb
}

// meanBeta is GrabCut's β for an RGB image: 1 / (2 · mean ‖Δz‖²) over 8-neighbour pairs.
func meanBeta(rgb []float32, w, h int) float64 {
	var sum float64
	var cnt int
	for _, d := range dirs {
		for y := range h - d[1] {
			for x := max(0, -d[0]); x < w && x+d[0] < w; x++ {
				sum += float64(colourD2(rgb, y*w+x, (y+d[1])*w+x+d[0]))
				cnt++
			}
		}
	}
	if cnt == 0 || sum == 0 {
		return 0
	}
	return float64(cnt) / (2 * sum)
}

func colourD2u8(rgb []uint8, i, j int) float32 {
	dr := float32(rgb[3*i]) - float32(rgb[3*j])
	dg := float32(rgb[3*i+1]) - float32(rgb[3*j+1])
	db := float32(rgb[3*i+2]) - float32(rgb[3*j+2])
	return dr*dr + dg*dg + db*db
}

func colourD2(rgb []float32, i, j int) float32 {
	dr := rgb[3*i] - rgb[3*j]
	dg := rgb[3*i+1] - rgb[3*j+1]
	db := rgb[3*i+2] - rgb[3*j+2]
	return dr*dr + dg*dg + db*db
}

func clamp255(v float32) float32 {
	return min(max(v, 0), 255)
}

func chromaFactors(r image.YCbCrSubsampleRatio) (h, v int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 2, 1
	case image.YCbCrSubsampleRatio420:
		return 2, 2
	case image.YCbCrSubsampleRatio440:
		return 1, 2
	case image.YCbCrSubsampleRatio411:
		return 4, 1
	case image.YCbCrSubsampleRatio410:
		return 4, 2
	}
	return 1, 1
}

// rgbFetch returns a row reader giving interleaved RGB in 0..255 with fast paths for the types
// the PNG and JPEG decoders produce. Alpha is ignored: annotators see the colours.
func rgbFetch(img image.Image) func(int, []float32) {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.RGBA:
		return func(y int, row []float32) {
			p := m.Pix[y*m.Stride:]
			for x := 0; x < len(row)/3; x++ {
				row[3*x], row[3*x+1], row[3*x+2] = float32(p[4*x]), float32(p[4*x+1]), float32(p[4*x+2])
			}
		}
	case *image.NRGBA:
		return func(y int, row []float32) {
			p := m.Pix[y*m.Stride:]
			for x := 0; x < len(row)/3; x++ {
				row[3*x], row[3*x+1], row[3*x+2] = float32(p[4*x]), float32(p[4*x+1]), float32(p[4*x+2])
			}
		}
	case *image.Gray:
		return func(y int, row []float32) {
			p := m.Pix[y*m.Stride:]
			for x := 0; x < len(row)/3; x++ {
				v := float32(p[x])
				row[3*x], row[3*x+1], row[3*x+2] = v, v, v
			}
		}
	// 16-bit PNGs are reduced to 0..255 a row at a time: the generic At path would box
	// every pixel's colour.
	case *image.RGBA64:
		return func(y int, row []float32) {
			p := m.Pix[y*m.Stride:]
			for x := 0; x < len(row)/3; x++ {
				for k := range 3 {
					row[3*x+k] = float32(uint16(p[8*x+2*k])<<8|uint16(p[8*x+2*k+1])) / 257
				}
			}
		}
	case *image.NRGBA64:
		return func(y int, row []float32) {
			p := m.Pix[y*m.Stride:]
			for x := 0; x < len(row)/3; x++ {
				for k := range 3 {
					row[3*x+k] = float32(uint16(p[8*x+2*k])<<8|uint16(p[8*x+2*k+1])) / 257
				}
			}
		}
	case *image.Gray16:
		return func(y int, row []float32) {
			p := m.Pix[y*m.Stride:]
			for x := 0; x < len(row)/3; x++ {
				v := float32(uint16(p[2*x])<<8|uint16(p[2*x+1])) / 257
				row[3*x], row[3*x+1], row[3*x+2] = v, v, v
			}
		}
	case *image.Paletted:
		pal := make([][3]float32, 256)
		for i, c := range m.Palette[:min(len(m.Palette), 256)] {
			r, g, bl, _ := c.RGBA()
			pal[i] = [3]float32{float32(r) / 257, float32(g) / 257, float32(bl) / 257}
		}
		return func(y int, row []float32) {
			p := m.Pix[y*m.Stride:]
			for x := 0; x < len(row)/3; x++ {
				c := pal[p[x]]
				row[3*x], row[3*x+1], row[3*x+2] = c[0], c[1], c[2]
			}
		}
	case *image.CMYK:
		return func(y int, row []float32) {
			p := m.Pix[y*m.Stride:]
			for x := 0; x < len(row)/3; x++ {
				r, g, bl := color.CMYKToRGB(p[4*x], p[4*x+1], p[4*x+2], p[4*x+3])
				row[3*x], row[3*x+1], row[3*x+2] = float32(r), float32(g), float32(bl)
			}
		}
	}
	return func(y int, row []float32) {
		for x := 0; x < len(row)/3; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			row[3*x], row[3*x+1], row[3*x+2] = float32(r)/257, float32(g)/257, float32(bl)/257
		}
	}
}

// span is one source index and its weight in an output sample.
type span struct {
	i int32
	w float32
}

// areaWeights gives, for every output index o, the source indices overlapping
// [o·s, (o+1)·s) and their normalised overlaps.
func areaWeights(out, src int, s float64) [][]span {
	ws := make([][]span, out)
	for o := range out {
		lo, hi := float64(o)*s, float64(o+1)*s
		hi = min(hi, float64(src))
		lo = min(lo, hi-1e-9)
		var sum float32
		for i := max(int(math.Floor(lo)), 0); float64(i) < hi && i < src; i++ {
			w := float32(min(hi, float64(i+1)) - max(lo, float64(i)))
			if w > 0 {
				ws[o] = append(ws[o], span{int32(i), w})
				sum += w
			}
		}
		if len(ws[o]) == 0 {
			ws[o] = append(ws[o], span{int32(min(max(int(lo), 0), src-1)), 1})
			sum = 1
		}
		for k := range ws[o] {
			ws[o][k].w /= sum
		}
	}
	return ws
}

// areaResample averages a c-channel source of sw×sh pixels, read a row at a time by fetch, into
// dst of w×h pixels, one output pixel covering s source pixels per axis. Rows are read once and
// in order, so sources never need to be held in another form.
func areaResample(dst []float32, w, h, c, sw, sh int, sx, sy float64, fetch func(y int, row []float32)) {
	hx := areaWeights(w, sw, sx)
	vy := areaWeights(h, sh, sy)
	// For each source row, the output rows it feeds and with what weight.
	type feed struct {
		o int32
		w float32
	}
	feeds := make([][]feed, sh)
	for o, sp := range vy {
		for _, s := range sp {
			feeds[s.i] = append(feeds[s.i], feed{int32(o), s.w})
		}
	}
	clear(dst)
	row := make([]float32, sw*c)
	hrow := make([]float32, w*c)
	for y := range sh {
		if len(feeds[y]) == 0 {
			continue
		}
		fetch(y, row)
		for o, sp := range hx {
			for k := range c {
				var acc float32
				for _, s := range sp {
					acc += s.w * row[int(s.i)*c+k]
				}
				hrow[o*c+k] = acc
			}
		}
		for _, f := range feeds[y] {
			d := dst[int(f.o)*w*c : int(f.o+1)*w*c]
			for i, v := range hrow {
				d[i] += f.w * v
			}
		}
	}
}

// pairwise computes ‖Δz‖² for the four forward neighbour directions and β from their mean, as
// GrabCut defines it.
func (wi *workImage) pairwise() {
	w, h := wi.w, wi.h
	var sum float64
	var cnt int
	for k, d := range dirs {
		a := make([]float32, w*h)
		for y := range h - d[1] {
			for x := max(0, -d[0]); x < w && x+d[0] < w; x++ {
				i := y*w + x
				j := (y+d[1])*w + x + d[0]
				dr := wi.rgb[3*i] - wi.rgb[3*j]
				dg := wi.rgb[3*i+1] - wi.rgb[3*j+1]
				db := wi.rgb[3*i+2] - wi.rgb[3*j+2]
				v := dr*dr + dg*dg + db*db
				a[i] = v
				sum += float64(v)
				cnt++
			}
		}
		wi.d2[k] = a
	}
	if cnt > 0 {
		wi.meanD2 = sum / float64(cnt)
	}
	if wi.meanD2 > 1e-9 {
		wi.beta = 1 / (2 * wi.meanD2)
	}
	for k := range 4 {
		inv := 1.0
		if k >= 2 {
			inv = 1 / math.Sqrt2
		}
		a := make([]float32, w*h)
		for i, d := range wi.d2[k] {
			a[i] = float32(inv * math.Exp(-wi.beta*float64(d)))
		}
		wi.nw[k] = a
	}
	wi.quantise()
}

// quantise fills bin and binRGB.
func (wi *workImage) quantise() {
	n := wi.w * wi.h
	const nb = 1 << 15
	idx := make([]int32, nb)
	for i := range idx {
		idx[i] = -1
	}
	wi.bin = make([]int32, n)
	var sums []float64
	var cnt []float64
	for i := range n {
		r, g, b := wi.rgb[3*i], wi.rgb[3*i+1], wi.rgb[3*i+2]
		q := int(r)>>3<<10 | int(g)>>3<<5 | int(b)>>3
		j := idx[q]
		if j < 0 {
			j = int32(len(cnt))
			idx[q] = j
			sums = append(sums, 0, 0, 0)
			cnt = append(cnt, 0)
		}
		wi.bin[i] = j
		sums[3*j] += float64(r)
		sums[3*j+1] += float64(g)
		sums[3*j+2] += float64(b)
		cnt[j]++
	}
	wi.binRGB = make([]float32, len(sums))
	for j, c := range cnt {
		for k := range 3 {
			wi.binRGB[3*j+k] = float32(sums[3*j+k] / c)
		}
	}
}

// ImageSize is what decoding an image costs, read from its header alone.
type ImageSize struct {
	Width, Height int
	// Model names the image's pixel layout, e.g. "16-bit RGB PNG" or "YCbCr 4:2:0 JPEG".
	Model string
	// Bytes is what the standard library's decoder allocates for the decoded image: its
	// pixels, and also a progressive JPEG's coefficients, a CMYK JPEG's intermediate planes
	// and an interlaced PNG's passes.
	Bytes int64
	// Orientation is the JPEG's or PNG's EXIF orientation (OrientNormal for GIF and files without
	// one). Width and Height are as stored; UprightSize is what a browser shows.
	Orientation Orientation
}

// UprightSize is the image's size as shown upright (see Orientation): width and height
// swapped for the orientations that turn it a quarter.
func (s ImageSize) UprightSize() (w, h int) {
	if s.Orientation.swaps() {
		return s.Height, s.Width
	}
	return s.Width, s.Height
}

// DecodeBudget is the default decode budget for a pixel limit: 6 bytes a pixel. Every
// baseline JPEG and every 8-bit PNG within the pixel limit fits in it, and so do progressive
// JPEGs (about 7.5 bytes a pixel at 4:2:0) up to 80 % of the limit, which covers the cameras
// whose photos are progressive; 16-bit PNGs and CMYK JPEGs (8 bytes a pixel) fit up to 75 %.
// What the decoders would allocate beyond it is refused before decoding.
func DecodeBudget(maxPixels int64) int64 { return 6 * maxPixels }

// Check refuses, with an error wrapping ErrTooLarge that names the size, an image of more
// than maxPixels pixels or whose decoding takes more than maxBytes bytes (<= 0:
// DecodeBudget(maxPixels)).
func (s ImageSize) Check(maxPixels, maxBytes int64) error {
	if maxBytes <= 0 {
		maxBytes = DecodeBudget(maxPixels)
	}
	if px := int64(s.Width) * int64(s.Height); px > maxPixels {
		return fmt.Errorf("%w: %d×%d = %d pixels, over the limit of %d", ErrTooLarge, s.Width, s.Height, px, maxPixels)
	}
	if s.Bytes > maxBytes {
		return fmt.Errorf("%w: %d×%d %s decodes to %s, over the decode budget of %s", ErrTooLarge, s.Width, s.Height, s.Model, megabytes(s.Bytes), megabytes(maxBytes))
	}
	return nil
}

// megabytes formats n bytes in decimal megabytes, as file sizes are usually shown.
func megabytes(n int64) string {
	if n < 10_000_000 {
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}

// MeasureImage reads the header of a JPEG, PNG or GIF image from r (it stops before the pixel
// data) and tells how large the image is, how it is turned upright, and what decoding it with
// image/jpeg, image/png or image/gif (its first frame) allocates. Errors wrap ErrUnsupported;
// a file of another known format is named in the error ("a WebP image").
func MeasureImage(r io.Reader) (ImageSize, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(16)
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return measureJPEG(br)
	case bytes.HasPrefix(head, []byte(pngSignature)):
		return measurePNG(br)
	case isGIF(head):
		return measureGIF(br)
	}
	return ImageSize{}, notJPEGOrPNG(head)
}

func isGIF(head []byte) bool {
	return bytes.HasPrefix(head, []byte("GIF87a")) || bytes.HasPrefix(head, []byte("GIF89a"))
}

// notJPEGOrPNG is the error for a file that is none of the formats read, naming its real
// format when its first bytes tell it: a WebP or HEIC photo is often named .jpg.
func notJPEGOrPNG(head []byte) error {
	if name := formatName(head); name != "" {
		return fmt.Errorf("%w: the file is %s, not a JPEG or PNG", ErrUnsupported, name)
	}
	return fmt.Errorf("%w: not JPEG or PNG", ErrUnsupported)
}

// formatName names the image format of a file from its first 16 bytes, or "".
func formatName(head []byte) string {
	h := string(head)
	switch {
	case len(h) >= 12 && h[:4] == "RIFF" && h[8:12] == "WEBP":
		return "a WebP image"
	case len(h) >= 12 && h[4:8] == "ftyp":
		switch h[8:12] {
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs", "mif1", "msf1":
			return "a HEIC (HEIF) image"
		case "avif", "avis":
			return "an AVIF image"
		case "crx ":
			return "a Canon raw (CR3) image"
		}
		return "an ISO media file (video or HEIF)"
	case strings.HasPrefix(h, "II*\x00") || strings.HasPrefix(h, "MM\x00*"):
		return "a TIFF (or camera raw) image"
	case strings.HasPrefix(h, "BM"):
		return "a BMP image"
	case strings.HasPrefix(h, "\xff\x0a") || strings.HasPrefix(h, "\x00\x00\x00\x0cJXL "):
		return "a JPEG XL image"
	case strings.HasPrefix(h, "%PDF"):
		return "a PDF document"
	case strings.HasPrefix(h, "<svg") || strings.HasPrefix(h, "<?xml"):
		return "an SVG or XML document"
	}
	return ""
}

// measureGIF reads a GIF's logical screen size: image/gif decodes the first frame alone (it
// is what a browser draws of an animated GIF on a canvas), one byte a pixel, and the loader
// places it on a screen of that size.
func measureGIF(br *bufio.Reader) (ImageSize, error) {
	var hdr [10]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return ImageSize{}, fmt.Errorf("%w: gif: short header", ErrUnsupported)
	}
	w, h := int(binary.LittleEndian.Uint16(hdr[6:8])), int(binary.LittleEndian.Uint16(hdr[8:10]))
	if w == 0 || h == 0 {
		return ImageSize{}, fmt.Errorf("%w: gif: bad dimensions", ErrUnsupported)
	}
	// The frame as decoded and the screen it is placed on.
	return ImageSize{Width: w, Height: h, Model: "GIF", Bytes: 2 * int64(w) * int64(h), Orientation: OrientNormal}, nil
}

// firstFrame decodes a GIF's first frame onto its logical screen (a frame may cover part of it),
// transparent where the frame is.
func firstFrame(r io.Reader) (image.Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	cfg, err := gif.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	frame, err := gif.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	screen := image.Rect(0, 0, cfg.Width, cfg.Height)
	if frame.Bounds() == screen {
		return frame, nil
	}
	pal, ok := frame.(*image.Paletted)
	if !ok {
		return frame, nil
	}
	out := image.NewPaletted(screen, append(color.Palette{color.Transparent}, pal.Palette...))
	for y := pal.Rect.Min.Y; y < pal.Rect.Max.Y; y++ {
		for x := pal.Rect.Min.X; x < pal.Rect.Max.X; x++ {
			if image.Pt(x, y).In(screen) {
				out.SetColorIndex(x, y, pal.ColorIndexAt(x, y)+1)
			}
		}
	}
	return out, nil
}

const pngSignature = "\x89PNG\r\n\x1a\n"

// measurePNG reads IHDR and the chunks up to the first IDAT: a tRNS chunk makes image/png
// decode grey and truecolour images with alpha, which takes more bytes a pixel.
// maxPNGExif bounds the eXIf chunk measurePNG reads; a larger one is skipped.
const maxPNGExif = 1 << 16

func measurePNG(br *bufio.Reader) (ImageSize, error) {
	bad := func(what string) (ImageSize, error) {
		return ImageSize{}, fmt.Errorf("%w: png: %s", ErrUnsupported, what)
	}
	if _, err := br.Discard(len(pngSignature)); err != nil {
		return bad("short header")
	}
	var hdr [8]byte
	var ihdr [13]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil || string(hdr[4:]) != "IHDR" || binary.BigEndian.Uint32(hdr[:4]) != 13 {
		return bad("missing IHDR")
	}
	if _, err := io.ReadFull(br, ihdr[:]); err != nil {
		return bad("short IHDR")
	}
	w, h := binary.BigEndian.Uint32(ihdr[0:4]), binary.BigEndian.Uint32(ihdr[4:8])
	depth, ctype, interlaced := ihdr[8], ihdr[9], ihdr[12] == 1
	if w == 0 || h == 0 || w > math.MaxInt32 || h > math.MaxInt32 {
		return bad("bad dimensions")
	}
	if _, err := br.Discard(4); err != nil { // IHDR's CRC
		return bad("short IHDR")
	}
	transparent := false
	orient := OrientNormal
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return bad("no image data")
		}
		n, typ := int64(binary.BigEndian.Uint32(hdr[:4])), string(hdr[4:])
		if typ == "IDAT" {
			break
		}
		if typ == "tRNS" {
			transparent = true
		}
		if typ == "eXIf" && n <= maxPNGExif {
			// EXIF in a PNG (PNG 1.5): browsers turn the image as its orientation says.
			data := make([]byte, n)
			if _, err := io.ReadFull(br, data); err != nil {
				return bad("short chunk eXIf")
			}
			orient = tiffOrientation(bytes.TrimPrefix(data, []byte("Exif\x00\x00"))) // some writers keep JPEG's prefix
			n = 0
		}
		if _, err := br.Discard(int(n) + 4); err != nil {
			return bad("short chunk " + typ)
		}
	}
	// Bytes a pixel of the image type image/png decodes into (see its readImagePass): 16-bit
	// images take twice what 8-bit ones do, and transparency makes grey images RGBA.
	names := map[byte]string{0: "gray", 2: "RGB", 3: "paletted", 4: "gray+alpha", 6: "RGBA"}
	model, ok := names[ctype]
	if !ok {
		return bad(fmt.Sprintf("colour type %d", ctype))
	}
	var bpp int64
	switch {
	case ctype == 3:
		bpp = 1
	case ctype == 0 && !transparent:
		bpp = 1
		if depth == 16 {
			bpp = 2
		}
	default:
		bpp = 4
		if depth == 16 {
			bpp = 8
		}
	}
	if ctype != 3 {
		model = fmt.Sprintf("%d-bit %s", depth, model)
	}
	if transparent && (ctype == 0 || ctype == 2) {
		model += " with transparency"
	}
	size := ImageSize{Width: int(w), Height: int(h), Model: model + " PNG", Bytes: bpp * int64(w) * int64(h), Orientation: orient}
	if interlaced {
		// Each of the seven passes is decoded into an image of its own, then copied into the
		// full one: twice the bytes in all.
		size.Model = "interlaced " + size.Model
		size.Bytes *= 2
	}
	return size, nil
}

// measureJPEG walks the markers up to the frame header (SOF) and derives what image/jpeg
// allocates: the component planes padded to whole MCUs, a progressive image's coefficient
// blocks (64 int32 per 8×8 block and component), and for CMYK or RGB images the 4-byte
// image they are converted into.
func measureJPEG(br *bufio.Reader) (ImageSize, error) {
	bad := func(what string) (ImageSize, error) {
		return ImageSize{}, fmt.Errorf("%w: jpeg: %s", ErrUnsupported, what)
	}
	if _, err := br.Discard(2); err != nil { // SOI
		return bad("short header")
	}
	adobeRGB := false
	orient := Orientation(0)
	for {
		c, err := br.ReadByte()
		if err != nil {
			return bad("no frame header")
		}
		if c != 0xff {
			continue // extraneous data, which image/jpeg skips too
		}
		m, err := br.ReadByte()
		for err == nil && m == 0xff { // fill bytes
			m, err = br.ReadByte()
		}
		if err != nil {
			return bad("no frame header")
		}
		if m == 0 || (m >= 0xd0 && m <= 0xd7) || m == 0x01 {
			continue // no length follows
		}
		if m == 0xd9 || m == 0xda {
			return bad("no frame header before the image data")
		}
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return bad("short segment")
		}
		n := int(binary.BigEndian.Uint16(l[:])) - 2
		if n < 0 {
			return bad("short segment length")
		}
		switch m {
		case 0xe1: // APP1: Exif (the first one holds the orientation) or XMP
			seg := make([]byte, n)
			if _, err := io.ReadFull(br, seg); err != nil {
				return bad("short APP1")
			}
			if orient == 0 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
				orient = exifOrientation(seg)
			}
			continue
		case 0xee: // APP14: Adobe's colour transform; 0 means the components are RGB (or CMYK)
			seg := make([]byte, n)
			if _, err := io.ReadFull(br, seg); err != nil {
				return bad("short APP14")
			}
			if n >= 12 && string(seg[:5]) == "Adobe" && seg[11] == 0 {
				adobeRGB = true
			}
			continue
		case 0xc0, 0xc1, 0xc2:
			seg := make([]byte, n)
			if _, err := io.ReadFull(br, seg); err != nil {
				return bad("short frame header")
			}
			size, err := jpegFrameSize(seg, m == 0xc2, adobeRGB)
			size.Orientation = max(orient, OrientNormal)
			return size, err
		case 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf:
			return bad("unsupported coding (lossless, hierarchical or arithmetic)")
		}
		if _, err := br.Discard(n); err != nil {
			return bad("short segment")
		}
	}
}

// jpegFrameSize computes an ImageSize from a SOF segment's payload.
func jpegFrameSize(seg []byte, progressive, adobeRGB bool) (ImageSize, error) {
	bad := func(what string) (ImageSize, error) {
		return ImageSize{}, fmt.Errorf("%w: jpeg: %s", ErrUnsupported, what)
	}
	if len(seg) < 6 {
		return bad("short frame header")
	}
	h, w, nComp := int(binary.BigEndian.Uint16(seg[1:3])), int(binary.BigEndian.Uint16(seg[3:5])), int(seg[5])
	if seg[0] != 8 {
		// image/jpeg reads 8-bit samples only, and so do browsers.
		return bad(fmt.Sprintf("%d-bit samples (a medical or scientific JPEG); only 8-bit JPEGs can be read", seg[0]))
	}
	if w == 0 || h == 0 {
		return bad("bad dimensions")
	}
	if nComp != 1 && nComp != 3 && nComp != 4 || len(seg) < 6+3*nComp {
		return bad("number of components")
	}
	type comp struct{ id, h, v int }
	comps := make([]comp, nComp)
	for i := range comps {
		c := seg[6+3*i:]
		comps[i] = comp{int(c[0]), max(1, int(c[1]>>4)), max(1, int(c[1]&0x0f))}
	}
	if nComp == 1 {
		comps[0].h, comps[0].v = 1, 1 // one component is never interleaved: image/jpeg does the same
	}
	h0, v0 := comps[0].h, comps[0].v
	mxx, myy := int64((w+8*h0-1)/(8*h0)), int64((h+8*v0-1)/(8*v0))
	W, H := 8*int64(h0)*mxx, 8*int64(v0)*myy // the padded image image/jpeg allocates
	px := int64(w) * int64(h)
	var size ImageSize
	size.Width, size.Height = w, h
	switch nComp {
	case 1:
		size.Model, size.Bytes = "gray JPEG", W*H
	default:
		hr, vr := max(1, h0/comps[1].h), max(1, v0/comps[1].v)
		cw, ch := (W+int64(hr)-1)/int64(hr), (H+int64(vr)-1)/int64(vr)
		size.Bytes = W*H + 2*cw*ch
		size.Model = "YCbCr JPEG"
		if ratio, ok := map[[2]int]string{{1, 1}: "4:4:4", {2, 1}: "4:2:2", {2, 2}: "4:2:0", {1, 2}: "4:4:0", {4, 1}: "4:1:1", {4, 2}: "4:1:0"}[[2]int{hr, vr}]; ok {
			size.Model = "YCbCr " + ratio + " JPEG"
		}
		if nComp == 4 {
			// The K plane, then the CMYK image the four planes are interleaved into.
			size.Model = "CMYK JPEG"
			size.Bytes += 64*int64(comps[3].h)*mxx*int64(comps[3].v)*myy + 4*px
		} else if adobeRGB || comps[0].id == 'R' && comps[1].id == 'G' && comps[2].id == 'B' {
			size.Model = "RGB JPEG"
			size.Bytes += 4 * px
		}
	}
	if progressive {
		// Every component's coefficients are kept between scans: 64 int32 per block.
		for _, c := range comps {
			size.Bytes += mxx * int64(c.h) * myy * int64(c.v) * 64 * 4
		}
		size.Model = "progressive " + size.Model
	}
	return size, nil
}

// damaged reports whether a decoder's error says the data ends too early: a file cut inside
// its pixel data (where a truncated upload usually ends) gives these format errors rather
// than io.ErrUnexpectedEOF.
func damaged(err error) bool {
	var je jpeg.FormatError
	var pe png.FormatError
	return errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &je) && je == "short Huffman data" ||
		errors.As(err, &pe) && (pe == "not enough pixel data" || pe == "unexpected EOF")
}
