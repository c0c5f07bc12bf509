package segment

import (
	"context"
	"image"
)

// boxImage returns the working image box prompts are cut on. A box has only its outline to
// say where the object is, so its cut gains from a finer grid where thin parts and small
// objects keep more pixels; click prompts do better on the coarser copy their tuning was
// made on, and their answers build on each other there. The box copy is averaged down from
// the click copy's fine copy (no second decode) and cached beside it.
func (e *Engine) boxImage(ctx context.Context, key string, wi *workImage) (*workImage, error) {
	long := e.tune.boxWorkSize
	if long <= max(wi.w, wi.h) || wi.fw == 0 {
		return wi, nil
	}
	return e.cache.get(ctx, key+"\x00box", func() (*workImage, error) {
		img := &image.RGBA{Pix: make([]uint8, 4*wi.fw*wi.fh), Stride: 4 * wi.fw, Rect: image.Rect(0, 0, wi.fw, wi.fh)}
		for i := range wi.fw * wi.fh {
			copy(img.Pix[4*i:4*i+3], wi.frgb[3*i:3*i+3])
			img.Pix[4*i+3] = 255
		}
		bw := newWorkImage(img, long)
		if bw.fw == 0 {
			// The fine copy is not finer than the box copy: keep refining on it.
			bw.fw, bw.fh, bw.frgb, bw.fbeta = wi.fw, wi.fh, wi.frgb, wi.fbeta
		}
		bw.srcW, bw.srcH = wi.srcW, wi.srcH
		bw.cost = computeStepCosts(bw, e.tune.geoAlpha)
		bw.d2 = [4][]float32{}
		return bw, nil
	})
}
