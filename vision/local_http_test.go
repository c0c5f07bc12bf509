package vision_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/segment"
	"github.com/lassoteam/lasso/vision"
)

// disc is a size×size dark image with a bright disc of radius size/4 in its middle.
func disc(size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	c, r := float64(size)/2, float64(size)/4
	for y := range size {
		for x := range size {
			dx, dy := float64(x)+.5-c, float64(y)+.5-c
			col := color.RGBA{20, 24, 30, 255}
			if dx*dx+dy*dy <= r*r {
				col = color.RGBA{245, 240, 230, 255}
			}
			img.Set(x, y, col)
		}
	}
	return img
}

// discJPEG and discPNG encode disc(size).
func discJPEG(t *testing.T, size int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, disc(size), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func discPNG(t *testing.T, size int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, disc(size)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hugePNG is a valid PNG signature and IHDR claiming w×h RGB pixels, a token IDAT (as a
// decompression bomb would start) and IEND: tiny on disk, enormous decoded.
func hugePNG(t *testing.T, w, h uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		body := append([]byte(typ), data...)
		b.Write(body)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(body))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit truecolour, deflate, no filter, no interlace
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	zw := zlib.NewWriter(&idat)
	if _, err := zw.Write(make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

// standIn serves the files of dir as project "p" with token "t" (identity nil: the default,
// which may read files) and returns it with a client of it.
func standIn(t *testing.T, dir string, identity *cdflocal.Identity) (*cdflocal.Server, *cdf.Client) {
	t.Helper()
	s, err := cdflocal.New(cdflocal.Config{
		ImagesDir: dir, Project: "p", Token: "t", Engine: segment.New(segment.Options{}), Identity: identity,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	hc := oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}))
	return s, cdf.New(srv.URL, "p", hc)
}

func fileID(t *testing.T, s *cdflocal.Server, name string) int64 {
	t.Helper()
	id, ok := s.FileID(name)
	if !ok {
		t.Fatalf("the stand-in has no file %s", name)
	}
	return id
}

// TestLocalOverHTTP runs Lasso's engine on the stand-in's files, read over HTTP with a real
// CDF client, through a jobs.Manager as the app does.
func TestLocalOverHTTP(t *testing.T) {
	dir := t.TempDir()
	good, goodPNG := discJPEG(t, 96), discPNG(t, 96)
	for name, data := range map[string][]byte{
		"disc.jpg":  good,
		"half.jpg":  good[:len(good)/2],
		"half.png":  goodPNG[:len(goodPNG)/2],
		"huge.png":  hugePNG(t, 50_000, 50_000),
		"notes.txt": []byte("not an image"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cdfp, client := standIn(t, dir, nil)

	// A second project where the token may not read files.
	noFiles := cdflocal.DefaultIdentity()
	noFiles.Capabilities = slices.DeleteFunc(noFiles.Capabilities, func(c cdflocal.Capability) bool { return c.ACL == "filesAcl" })
	lockedp, locked := standIn(t, dir, &noFiles)

	local := vision.NewLocal(segment.New(segment.Options{}), vision.LocalOptions{Scope: "test", Workers: 1, PerUser: 8})
	t.Cleanup(local.Close)
	rec := newRecorder()
	m := jobs.New(rec, jobs.Options{})
	t.Cleanup(m.Close) // before local.Close: cleanups run last first

	submit := func(objectID, user string, files vision.FilesAPI, id int64) {
		t.Helper()
		err := m.Submit(local.For(user, files), jobs.Task{
			Room: "room:1", ObjectID: objectID, Version: 1, User: user, FileID: id, Request: request(id),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Ana's bad files are queued ahead of Ben's good prompt on the one worker (PerUser leaves
	// room for all five of hers).
	submit("half", "ana", client.Files, fileID(t, cdfp, "half.jpg"))
	submit("halfpng", "ana", client.Files, fileID(t, cdfp, "half.png"))
	submit("huge", "ana", client.Files, fileID(t, cdfp, "huge.png"))
	submit("notes", "ana", client.Files, fileID(t, cdfp, "notes.txt"))
	submit("locked", "ana", locked.Files, fileID(t, lockedp, "disc.jpg"))
	submit("disc", "ben", client.Files, fileID(t, cdfp, "disc.jpg"))

	t.Run("good JPEG", func(t *testing.T) {
		ev := rec.final(t, "disc")
		if ev.Status != jobs.StatusDone || ev.Error != "" {
			t.Fatalf("event %+v, want done", ev)
		}
		if ev.Backend != jobs.BackendLocal || ev.Notice != "" {
			t.Errorf("backend %q, notice %q; want %q and no notice", ev.Backend, ev.Notice, jobs.BackendLocal)
		}
		if len(ev.Segments) == 0 || len(ev.Segments[0].Polygons) == 0 {
			t.Fatalf("no segments: %+v", ev)
		}
		// The disc spans 0.25..0.75 both ways; its outline must too, within a few pixels.
		p := ev.Segments[0].Polygons[0]
		b := cdf.BoundingBox{XMin: 1, YMin: 1}
		for _, v := range p.Vertices {
			b.XMin, b.XMax = min(b.XMin, v.X), max(b.XMax, v.X)
			b.YMin, b.YMax = min(b.YMin, v.Y), max(b.YMax, v.Y)
		}
		const tol = .05
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"xMin", b.XMin, .25}, {"xMax", b.XMax, .75}, {"yMin", b.YMin, .25}, {"yMax", b.YMax, .75}} {
			if c.got < c.want-tol || c.got > c.want+tol {
				t.Errorf("first polygon's %s = %.3f, want %.2f ± %.2f (polygon box %+v)", c.name, c.got, c.want, tol, b)
			}
		}
		for _, v := range p.Vertices {
			if r := math.Hypot(v.X-.5, v.Y-.5); r < .25-tol || r > .25+tol {
				t.Errorf("vertex %+v lies %.3f from the centre, want on the disc's rim (0.25 ± %.2f)", v, r, tol)
				break
			}
		}
		if ev.BoundingBox == nil {
			t.Error("done event without a bounding box")
		}
	})

	for _, tt := range []struct {
		object, name string
		want         []string
	}{
		{"half", "half.jpg", []string{"“half.jpg”", "damaged", "truncated"}},
		{"halfpng", "half.png", []string{"“half.png”", "damaged", "truncated"}},
		{"huge", "huge.png", []string{"“huge.png”", "too large", "50000×50000"}},
		{"notes", "notes.txt", []string{"“notes.txt”", "not a JPEG or PNG"}},
		{"locked", "disc.jpg", []string{"CDF does not let you read file", "403"}},
	} {
		t.Run(tt.name+" "+tt.object, func(t *testing.T) {
			ev := rec.final(t, tt.object)
			if ev.Status != jobs.StatusFailed {
				t.Fatalf("event %+v, want failed", ev)
			}
			for _, w := range tt.want {
				if !strings.Contains(ev.Error, w) {
					t.Errorf("error %q lacks %q", ev.Error, w)
				}
			}
			if ev.Segments != nil || ev.BoundingBox != nil {
				t.Errorf("failed event carries segments %+v, box %+v", ev.Segments, ev.BoundingBox)
			}
			if ev.Backend != jobs.BackendLocal {
				t.Errorf("backend %q, want %q", ev.Backend, jobs.BackendLocal)
			}
			if ev.Retryable {
				t.Errorf("%s: retryable, but the same file fails the same way again", tt.name)
			}
		})
	}
	id := fileID(t, lockedp, "disc.jpg")
	if msg := rec.final(t, "locked").Error; !strings.Contains(msg, "file "+strconv.FormatInt(id, 10)) {
		t.Errorf("the refusal %q does not name file %d", msg, id)
	}
}
