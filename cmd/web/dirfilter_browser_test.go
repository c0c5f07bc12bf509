package main

import (
	"context"
	"fmt"
	img "image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserDirectoryFilter: with 60 images in /aaa and one in /zzz, the image browser's
// first page shows only /aaa, yet its directory filter offers /zzz; choosing it and pressing
// Filter shows that folder's image.
func TestBrowserDirectoryFilter(t *testing.T) {
	dir := t.TempDir()
	put := func(name string) {
		m := img.NewRGBA(img.Rect(0, 0, 16, 12))
		for i := range m.Pix {
			m.Pix[i] = uint8(i * 7)
		}
		m.Set(0, 0, color.RGBA{255, 0, 0, 255})
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := jpeg.Encode(f, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 60 {
		put(fmt.Sprintf("aaa/img%02d.jpg", i))
	}
	put("zzz/last.jpg")
	base := startApp(t, "-images", dir)
	ctx := newBrowser(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := signIn(ctx, base, "Ana"); err != nil {
		t.Fatal(err)
	}
	shown := func() string {
		t.Helper()
		names, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('a[href^="/images/"]')].map(a => a.textContent).join(' ')`))
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if names := shown(); strings.Contains(names, "last.jpg") {
		t.Fatalf("the first page already shows /zzz; the test needs more images")
	}
	options, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('select[data-filter-dir] option')].map(o => o.value)`))
	if err != nil || strings.Join(options, ",") != ",/aaa,/zzz" {
		t.Fatalf("directory options %q (%v); want all, /aaa and /zzz", options, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`select[data-filter-dir]`), "/zzz"),
		chromedp.Click(chromedp.CSS(`form:has(select[data-filter-dir]) button[type=submit]`)),
	); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		at, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === 'complete' ? location.search : ''`))
		if err == nil && strings.Contains(at, "dir=%2Fzzz") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the filtered page did not open: at %q, %v", at, err)
		}
	}
	if names := shown(); !strings.Contains(names, "last.jpg") || strings.Contains(names, "img00") {
		t.Errorf("after choosing /zzz the page shows %q; want last.jpg only", names)
	}
	screenshot(t, ctx, "browser-dir-filter.png")
}
