package cdflocal

import (
	"bufio"
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/image/draw"

	"github.com/lassoteam/lasso/segment"
)

// iconCacheBytes bounds the icons kept in memory: a few thousand 256-pixel JPEGs.
const iconCacheBytes = 32 << 20

// iconKey is one version of a file: when the file changes, its icon is made again.
type iconKey struct {
	path  string
	size  int64
	mtime int64 // UnixNano
}

// iconEntry is the icon of one file version, or why there is none; done is closed once
// it is known.
type iconEntry struct {
	key  iconKey
	done chan struct{}
	data []byte
	err  error
	el   *list.Element // its place in the cache's LRU list once done
}

func (e *iconEntry) cost() int64 {
	n := int64(len(e.data)) + 256
	if e.err != nil {
		n += int64(len(e.err.Error()))
	}
	return n
}

// errNotKept marks a failure that says nothing about the file (the server is closing): it is
// not cached.
var errNotKept = errors.New("cdflocal: icon not made")

// iconCache makes each file version's icon once, however many browse views ask for it at
// the same time, and keeps the most recently used ones up to maxBytes. Decoding is gated by
// the bytes it takes (see segment.MeasureImage), so icons made at once never need more
// than one image's decode budget together.
type iconCache struct {
	maxBytes int64
	gate     *decodeGate

	mu    sync.Mutex
	bytes int64
	byKey map[iconKey]*iconEntry
	lru   list.List // of *iconEntry, most recently used first
}

func newIconCache(maxBytes, decodeBudget int64) *iconCache {
	return &iconCache{maxBytes: maxBytes, gate: newDecodeGate(decodeBudget), byKey: map[iconKey]*iconEntry{}}
}

// get returns the icon of key, making it with mk (in a goroutine of its own, so a request
// that gives up does not stop it for the others) when nobody has yet.
func (c *iconCache) get(ctx context.Context, key iconKey, mk func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	e := c.byKey[key]
	if e == nil {
		e = &iconEntry{key: key, done: make(chan struct{})}
		c.byKey[key] = e
		go c.fill(e, mk)
	} else if e.el != nil {
		c.lru.MoveToFront(e.el)
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.data, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *iconCache) fill(e *iconEntry, mk func() ([]byte, error)) {
	data, err := mk()
	c.mu.Lock()
	defer c.mu.Unlock()
	e.data, e.err = data, err
	close(e.done)
	if errors.Is(err, errNotKept) {
		delete(c.byKey, e.key)
		return
	}
	e.el = c.lru.PushFront(e)
	c.bytes += e.cost()
	for c.bytes > c.maxBytes && c.lru.Len() > 1 {
		old := c.lru.Remove(c.lru.Back()).(*iconEntry)
		delete(c.byKey, old.key)
		c.bytes -= old.cost()
	}
}

// decodeGate is a weighted semaphore over bytes being decoded, first come first served.
type decodeGate struct {
	mu      sync.Mutex
	free    int64
	waiting list.List // of *gateWaiter
}

type gateWaiter struct {
	n     int64
	ready chan struct{}
}

func newDecodeGate(capacity int64) *decodeGate { return &decodeGate{free: capacity} }

// acquire waits until n bytes are free (n must not exceed the capacity) or ctx ends.
func (g *decodeGate) acquire(ctx context.Context, n int64) error {
	g.mu.Lock()
	if g.waiting.Len() == 0 && n <= g.free {
		g.free -= n
		g.mu.Unlock()
		return nil
	}
	w := &gateWaiter{n: n, ready: make(chan struct{})}
	el := g.waiting.PushBack(w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: hand it on
			g.free += n
		default:
			g.waiting.Remove(el)
		}
		g.grantLocked()
		return ctx.Err()
	}
}

func (g *decodeGate) release(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.free += n
	g.grantLocked()
}

func (g *decodeGate) grantLocked() {
	for el := g.waiting.Front(); el != nil; el = g.waiting.Front() {
		w := el.Value.(*gateWaiter)
		if w.n > g.free {
			return
		}
		g.free -= w.n
		g.waiting.Remove(el)
		close(w.ready)
	}
}

func (s *Server) icon(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var it identIn
	forms := 0
	if v := q.Get("id"); v != "" || q.Has("id") {
		forms++
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return badRequest("id must be an integer, got %q", v)
		}
		it.ID = &id
	}
	if q.Has("externalId") {
		forms++
		v := q.Get("externalId")
		it.ExternalID = &v
	}
	if q.Has("space") || q.Has("instanceExternalId") {
		forms++
		if !q.Has("space") || !q.Has("instanceExternalId") {
			return badRequest("An instance id needs both space and instanceExternalId")
		}
		sp, ex := q.Get("space"), q.Get("instanceExternalId")
		it.InstanceID = &instanceIn{Space: &sp, ExternalID: &ex}
	}
	if forms != 1 {
		return badRequest("Give exactly one of id, externalId, or space and instanceExternalId")
	}
	if err := validateIdent(it, "icon"); err != nil {
		return err
	}
	e := s.files.lookup(it)
	if e == nil {
		return &apiError{status: http.StatusBadRequest, msg: "Files ids not found", missing: []any{it.echo()}}
	}
	if !strings.HasPrefix(e.meta.MimeType, "image/") {
		return badRequest("File %d (%s) is not an image: icons exist only for image files", e.meta.ID, e.meta.MimeType)
	}
	// The file as it is now: an edited file gets a new icon, an unchanged one is not read.
	st, err := os.Stat(e.abs)
	if err != nil {
		return badRequest("Cannot make an icon of file %d: it cannot be read", e.meta.ID)
	}
	key := iconKey{path: e.abs, size: st.Size(), mtime: st.ModTime().UnixNano()}
	data, err := s.icons.get(r.Context(), key, func() ([]byte, error) {
		return makeIcon(s.ctx, e.abs, s.cfg.MaxImagePixels, s.icons.gate)
	})
	if err != nil {
		if r.Context().Err() != nil || errors.Is(err, errNotKept) {
			return errf(http.StatusServiceUnavailable, "The icon of file %d was not made: %v", e.meta.ID, err)
		}
		return badRequest("Cannot make an icon of file %d: %v", e.meta.ID, err)
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
	return nil
}

// makeIcon returns a JPEG thumbnail of an image file (JPEG, PNG, or a GIF's first frame)
// whose long side is IconLongSide, upright and over white where it was transparent. The header decides first: an image of more than
// maxPixels pixels, or whose decoding takes more than segment.DecodeBudget(maxPixels)
// bytes, is refused without decoding; then it waits at gate for those bytes to be free.
func makeIcon(ctx context.Context, file string, maxPixels int64, gate *decodeGate) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := segment.MeasureImage(bufio.NewReader(f))
	if err != nil {
		return nil, errors.New(iconWhy(err))
	}
	if err := size.Check(maxPixels, 0); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "segment: "))
	}
	if err := gate.acquire(ctx, size.Bytes); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotKept, err)
	}
	defer gate.release(size.Bytes)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	src, err := segment.DecodeImage(f)
	if err != nil {
		return nil, errors.New(iconWhy(err))
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w >= h && w > IconLongSide {
		w, h = IconLongSide, max(1, h*IconLongSide/w)
	} else if h > w && h > IconLongSide {
		w, h = max(1, w*IconLongSide/h), IconLongSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.BiLinear.Scale(dst, dst.Bounds(), src, b, draw.Over, nil)
	// Turned upright after scaling, where it is cheap, so the image browser shows a camera's
	// portrait photo as the editor does.
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, segment.Upright(dst, size.Orientation), &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// iconWhy says why an image has no icon, for CDF's error message: damage (a truncated upload)
// as damage, another format by its name.
func iconWhy(err error) string {
	if errors.Is(err, segment.ErrDamaged) {
		return "the image is damaged: its data ends too early (a truncated upload?)"
	}
	return "unsupported or corrupt image: " + strings.TrimPrefix(err.Error(), segment.ErrUnsupported.Error()+": ")
}
