package main

import (
	"bytes"
	"context"
	"fmt"
	img "image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lassoteam/lasso/internal/oddimages"
	"github.com/lassoteam/lasso/segment"
)

// oddScene is an upright 120×80 photo: grey, a red block in the top left (x 16..56,
// y 8..40) and a blue one at the bottom right (x 84..112, y 52..76), so a turn or a mirror
// moves them.
func oddScene() *img.RGBA {
	m := img.NewRGBA(img.Rect(0, 0, 120, 80))
	for y := range 80 {
		for x := range 120 {
			c := color.RGBA{110, 120, 130, 255}
			switch {
			case x >= 16 && x < 56 && y >= 8 && y < 40:
				c = color.RGBA{220, 30, 30, 255}
			case x >= 84 && x < 112 && y >= 52 && y < 76:
				c = color.RGBA{30, 60, 220, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// TestBrowserOddImages: what Chromium draws of EXIF-rotated JPEGs and PNGs, CMYK and YCCK JPEGs and of an
// animated GIF named .jpg is what the engine segments: for each file the page's canvas
// pixels (createImageBitmap, as the editor draws) match the engine's decode turned upright
// (segment.DecodeImage and segment.Upright), and the size the server puts on the page is the
// size the browser shows. On a photo stored turned a quarter, a click on the red block gives a
// polygon around the block where the user sees it.
func TestBrowserOddImages(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for o := 1; o <= 8; o++ {
		files[fmt.Sprintf("orient%d.jpg", o)] = oddimages.WithOrientation(oddimages.JPEG(oddimages.Stored(oddScene(), o)), o, o%2 == 0)
	}
	for _, o := range []int{3, 6} {
		files[fmt.Sprintf("orient%d.png", o)] = oddimages.PNGWithOrientation(oddimages.Stored(oddScene(), o), o)
	}
	cmyk := img.NewCMYK(img.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			c := color.CMYK{C: 10, M: 10, Y: 60, K: 0}
			if x >= 8 && x < 40 && y >= 16 && y < 40 {
				c = color.CMYK{C: 200, M: 40, Y: 0, K: 30}
			}
			cmyk.SetCMYK(x, y, c)
		}
	}
	files["cmyk.jpg"] = oddimages.FourComponentJPEG(cmyk, false)
	files["ycck.jpg"] = oddimages.FourComponentJPEG(cmyk, true)
	pal := color.Palette{color.RGBA{100, 110, 120, 255}, color.RGBA{230, 200, 20, 255}}
	frame := func(x0 int) *img.Paletted {
		m := img.NewPaletted(img.Rect(0, 0, 80, 60), pal)
		for y := 8; y < 32; y++ {
			for x := x0; x < x0+24; x++ {
				m.SetColorIndex(x, y, 1)
			}
		}
		return m
	}
	files["animated.jpg"] = oddimages.AnimatedGIF(frame(8), frame(48))
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := startApp(t, "-images", dir)
	ctx := newBrowser(t)
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	if err := signIn(ctx, base, "Ana"); err != nil {
		t.Fatal(err)
	}
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries(
		[...document.querySelectorAll('a[href^="/images/"]')].map(a => [a.textContent.trim().split(/\s+/)[0], a.getAttribute('href').split('/').pop()]))`))
	if err != nil {
		t.Fatal(err)
	}

	// Every file: the browser's pixels on a 6×4 grid against the engine's upright decode.
	for name, data := range files {
		id := ""
		for k, v := range ids {
			if strings.Contains(k, name) {
				id = v
			}
		}
		if id == "" {
			t.Fatalf("the image browser lists no %s (cards %v)", name, ids)
		}
		size, err := segment.MeasureImage(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		stored, err := segment.DecodeImage(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		up := segment.Upright(stored, size.Orientation)
		w, h := size.UprightSize()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
			W, H int
			Pix  []int
		}](fmt.Sprintf(`(async () => {
			const res = await fetch('/files/%s/content');
			const bm = await createImageBitmap(await res.blob());
			const c = new OffscreenCanvas(bm.width, bm.height);
			const g = c.getContext('2d');
			g.drawImage(bm, 0, 0);
			const pix = [];
			for (let j = 0; j < 4; j++) for (let i = 0; i < 6; i++) {
				const d = g.getImageData(Math.floor((i + 0.5) * bm.width / 6), Math.floor((j + 0.5) * bm.height / 4), 1, 1).data;
				pix.push(d[0], d[1], d[2]);
			}
			return {w: bm.width, h: bm.height, pix};
		})()`, id), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.W != w || got.H != h {
			t.Errorf("%s: the browser shows %d×%d, the engine's upright size is %d×%d", name, got.W, got.H, w, h)
			continue
		}
		for j := range 4 {
			for i := range 6 {
				x, y := (2*i+1)*w/12, (2*j+1)*h/8
				r, g, b, _ := up.At(x, y).RGBA()
				k := 3 * (j*6 + i)
				if d := max(absDiff(int(r>>8), got.Pix[k]), absDiff(int(g>>8), got.Pix[k+1]), absDiff(int(b>>8), got.Pix[k+2])); d > 12 {
					t.Errorf("%s at (%d,%d): the browser draws %v, the engine decodes %v", name, x, y, got.Pix[k:k+3], []uint32{r >> 8, g >> 8, b >> 8})
				}
			}
		}
		page, err := chromedp.Run(ctx, chromedp.Evaluate[[2]string](fmt.Sprintf(`(async () => {
			const html = await (await fetch('/images/%s')).text();
			const d = new DOMParser().parseFromString(html, 'text/html').querySelector('[data-annotator]').dataset;
			return [d.width, d.height];
		})()`, id), chromedp.EvalAwaitPromise))
		if err != nil || page != [2]string{fmt.Sprint(w), fmt.Sprint(h)} {
			t.Errorf("%s: the page says %v (%v), the browser shows %d×%d", name, page, err, w, h)
		}
	}

	// Orientation 6 (a phone held upright) and 7, and a PNG turned by its eXIf chunk: a click on
	// the red block outlines it.
	for _, name := range []string{"orient6.jpg", "orient7.jpg", "orient6.png"} {
		id := ""
		for k, v := range ids {
			if strings.Contains(k, name) {
				id = v
			}
		}
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/images/"+id),
			chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`)),
		); err != nil {
			t.Fatal(err)
		}
		x, y, err := canvasPoint(ctx, 36.0/120, 24.0/80)
		if err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.MouseClickXY(x, y)); err != nil {
			t.Fatal(err)
		}
		s, err := waitSettled(ctx, 1, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := parseBox(s.BBox)
		if err != nil || s.Status != "done" {
			t.Fatalf("%s: %+v %v", name, s, err)
		}
		want := [4]float64{16.0 / 120, 8.0 / 80, 56.0 / 120, 40.0 / 80}
		for i := range b {
			if d := b[i] - want[i]; d > 0.04 || d < -0.04 {
				t.Errorf("%s: polygon box %.3f, want the red block where the user sees it, %.3f", name, b, want)
				break
			}
		}
	}
}

func absDiff(a, b int) int {
	if a > b {
		return a - b
	}
	return b - a
}
