package cdflocal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// flat16 is an opaque 16-bit image of flat colours, generated pixel by pixel so a huge one
// costs no memory: image/png writes it as 16-bit RGB, and it compresses to almost nothing.
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

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// allocated returns how many bytes f allocates, freed again or not (TotalAlloc).
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// iconOf asks s for the icon of the file at rel, as the CDF client does.
func iconOf(t *testing.T, s *Server, rel string) (int, []byte) {
	t.Helper()
	id, ok := s.FileID(rel)
	if !ok {
		t.Fatalf("no file %s", rel)
	}
	req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/v1/projects/%s/files/icon?id=%d", DefaultProject, id), nil)
	req.Header.Set("Authorization", "Bearer t")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func newIconServer(t *testing.T, dir string, maxPixels int64) *Server {
	t.Helper()
	s, err := New(Config{ImagesDir: dir, Token: "t", MaxImagePixels: maxPixels})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestIconRefusesAnImageOverTheDecodeBudget: a 0.6 MB 9000×9000 16-bit PNG is within the
// default 100 MP pixel limit, but decodes to 648 MB. The icon endpoint refuses it from the
// header with an error naming the size, allocating next to nothing; with the app's 40 MP
// limit it is refused for its pixels.
func TestIconRefusesAnImageOverTheDecodeBudget(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "big.png"), flat16{9000, 9000})
	for _, tt := range []struct {
		maxPixels int64
		want      []string
	}{
		{0, []string{"9000×9000", "16-bit RGB PNG", "648 MB", "decode budget of 600 MB"}},
		{40_000_000, []string{"9000×9000", "81000000 pixels", "limit of 40000000"}},
	} {
		s := newIconServer(t, dir, tt.maxPixels)
		var status int
		var body []byte
		n := allocated(func() { status, body = iconOf(t, s, "big.png") })
		var resp struct{ Error struct{ Message string } }
		_ = json.Unmarshal(body, &resp)
		if status != http.StatusBadRequest {
			t.Errorf("max pixels %d: icon of the 9000×9000 16-bit PNG: %d, want 400", tt.maxPixels, status)
		}
		for _, want := range tt.want {
			if !strings.Contains(resp.Error.Message, want) {
				t.Errorf("max pixels %d: message %q does not say %q", tt.maxPixels, resp.Error.Message, want)
			}
		}
		if n > 100<<20 {
			t.Errorf("max pixels %d: the icon request allocated %d MB, want < 100 MB", tt.maxPixels, n>>20)
		}
	}
}

// TestIconIsMadeOncePerFileVersion: browse views after the first do not decode the image
// again, many views at once decode it once, and an edited file gets a new icon.
func TestIconIsMadeOncePerFileVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "photo.png")
	img := image.NewRGBA(image.Rect(0, 0, 2000, 1500)) // 12 MB decoded
	for i := range img.Pix {
		img.Pix[i] = uint8(i / 4 % 251)
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	writePNG(t, path, img)
	s := newIconServer(t, dir, 0)

	// Eight views at once: one decode, not eight.
	var wg sync.WaitGroup
	icons := make([][]byte, 8)
	first := allocated(func() {
		for i := range icons {
			wg.Go(func() {
				status, body := iconOf(t, s, "photo.png")
				if status != http.StatusOK {
					t.Errorf("icon: %d %s", status, body)
				}
				icons[i] = body
			})
		}
		wg.Wait()
	})
	if first > 3*12_000_000 {
		t.Errorf("eight views at once allocated %d MB, want one 12 MB decode", first>>20)
	}
	for _, b := range icons[1:] {
		if !bytes.Equal(b, icons[0]) {
			t.Fatal("views at once got different icons")
		}
	}
	var again []byte
	if n := allocated(func() { _, again = iconOf(t, s, "photo.png") }); n > 1<<20 {
		t.Errorf("a later view allocated %d KB, want no decode", n>>10)
	}
	if !bytes.Equal(again, icons[0]) {
		t.Error("a later view got a different icon")
	}

	// The file changes: its icon follows.
	for i := range img.Pix {
		if i%4 != 3 {
			img.Pix[i] = 255 - img.Pix[i]
		}
	}
	writePNG(t, path, img)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if status, changed := iconOf(t, s, "photo.png"); status != http.StatusOK || bytes.Equal(changed, icons[0]) {
		t.Errorf("icon after the file changed: %d, same bytes %v; want a new icon", status, bytes.Equal(changed, icons[0]))
	}
}

func TestIconCacheIsBounded(t *testing.T) {
	c := newIconCache(10_000, 1)
	ctx := context.Background()
	made := 0
	get := func(i int) {
		t.Helper()
		if _, err := c.get(ctx, iconKey{path: fmt.Sprint(i)}, func() ([]byte, error) {
			made++
			return make([]byte, 3000), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		get(i)
		get(0) // the most used stays
	}
	c.mu.Lock()
	n, held := len(c.byKey), c.bytes
	_, kept := c.byKey[iconKey{path: "0"}]
	c.mu.Unlock()
	if held > 10_000 || n > 3 {
		t.Errorf("cache holds %d icons in %d bytes, want at most 10000 bytes", n, held)
	}
	if !kept {
		t.Error("the most recently used icon was evicted")
	}
	if made != 10 {
		t.Errorf("made %d icons, want 10 (icon 0 once)", made)
	}
}

func TestDecodeGate(t *testing.T) {
	g := newDecodeGate(10)
	ctx := context.Background()
	if err := g.acquire(ctx, 6); err != nil {
		t.Fatal(err)
	}
	// 6 more do not fit: a waiter that gives up leaves, and does not hold up the others.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := g.acquire(short, 6); err == nil {
		t.Fatal("acquired 12 of 10 bytes")
	}
	got := make(chan struct{})
	go func() {
		if err := g.acquire(ctx, 6); err == nil {
			close(got)
		}
	}()
	select {
	case <-got:
		t.Fatal("acquired 12 of 10 bytes")
	case <-time.After(20 * time.Millisecond):
	}
	g.release(6)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter was not let in after a release")
	}
	if err := g.acquire(ctx, 4); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	free := g.free
	g.mu.Unlock()
	if free != 0 {
		t.Errorf("%d bytes free, want 0", free)
	}
}
