package segment

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"sync/atomic"
	"testing"
)

func TestBoxCutOnFinerCopyWithoutSecondDecode(t *testing.T) {
	const w, h = 1200, 900
	img, gt := scene(w, h, 4, ellipse(600, 450, 260, 180))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	var opens atomic.Int32
	src := Source{Key: "big", Open: func(context.Context) (io.ReadCloser, error) {
		opens.Add(1)
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	}}
	e := New(Options{})
	box := &Box{XMin: 320.0 / w, YMin: 250.0 / h, XMax: 880.0 / w, YMax: 650.0 / h}
	s := best(t)(e.Segment(context.Background(), src, Prompt{Box: box}))
	if v := iouBool(rasterise(s.Polygons, w, h), gt); v < 0.9 {
		t.Errorf("box IoU %.3f, want >= 0.9", v)
	}
	best(t)(e.Segment(context.Background(), src, Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 1}}}))
	if n := opens.Load(); n != 1 {
		t.Errorf("a box and a click opened the image %d times, want 1", n)
	}
	clickWI, _ := e.cache.get(context.Background(), "big", nil)
	boxWI, _ := e.cache.get(context.Background(), "big\x00box", nil)
	if clickWI == nil || boxWI == nil {
		t.Fatal("click or box copy not cached")
	}
	if got := max(boxWI.w, boxWI.h); got != e.tune.boxWorkSize || max(clickWI.w, clickWI.h) != e.opts.WorkSize {
		t.Errorf("box copy long side %d, click copy %d; want %d and %d", got, max(clickWI.w, clickWI.h), e.tune.boxWorkSize, e.opts.WorkSize)
	}
	if boxWI.srcW != w || boxWI.srcH != h || boxWI.fw == 0 {
		t.Errorf("box copy says the original is %dx%d (fine copy %d px wide), want %dx%d with a fine copy", boxWI.srcW, boxWI.srcH, boxWI.fw, w, h)
	}
}
