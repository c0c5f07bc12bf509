package segment

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
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

// loadWorkImage opens, checks, decodes and downscales a source so its long side is at most
// long pixels.
func loadWorkImage(ctx context.Context, src Source, maxPixels int64, long int) (*workImage, error) {
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
	// Sniff the format ourselves rather than rely on image.RegisterFormat side effects.
	var (
		decodeConfig func(io.Reader) (image.Config, error)
		decode       func(io.Reader) (image.Image, error)
	)
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		decodeConfig, decode = jpeg.DecodeConfig, jpeg.Decode
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		decodeConfig, decode = png.DecodeConfig, png.Decode
	default:
		return nil, fmt.Errorf("%w: not JPEG or PNG", ErrUnsupported)
	}
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > maxPixels {
		return nil, fmt.Errorf("%w: %d×%d = %d pixels, limit %d", ErrTooLarge, cfg.Width, cfg.Height, px, maxPixels)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: empty image", ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrUnsupported, err)
	}
	data = nil
	return newWorkImage(img, long), nil
}

// newWorkImage downscales img by area averaging to the working size and to a finer copy for
// boundary refinement, and derives the pairwise statistics.
func newWorkImage(img image.Image, long int) *workImage {
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
