package segment

import (
	"container/list"
	"encoding/binary"
	"math"
	"sync"
)

// A click prompt is usually the previous click prompt plus one click: the user corrects what
// they were shown. The engine therefore answers a click prompt relative to its own answer to the
// prompt without the last click, holding that answer in place away from the new click. To stay
// deterministic, that earlier answer is recomputed (recursively, the same way) whenever it is not
// in the history cache, so a prompt gets the same polygons whatever was asked before.

// historyCache holds working-resolution labellings of click prompts by image and points,
// bounded by their total size and evicted least recently used first.
type historyCache struct {
	limit int64

	mu    sync.Mutex
	size  int64
	items map[string]*list.Element
	lru   *list.List // of *historyEntry, most recent first
}

type historyEntry struct {
	key string
	lab []uint8
}

func newHistoryCache(limit int64) *historyCache {
	return &historyCache{limit: limit, items: map[string]*list.Element{}, lru: list.New()}
}

// historyKey identifies a click prompt on an image at a working size.
func historyKey(image string, work int, pts []Point) string {
	b := make([]byte, 0, len(image)+8+17*len(pts))
	b = append(b, image...)
	b = binary.LittleEndian.AppendUint64(b, uint64(work))
	for _, p := range pts {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.X))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Y))
		b = append(b, byte(p.Label))
	}
	return string(b)
}

func (c *historyCache) get(key string) ([]uint8, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*historyEntry).lab, true
}

// put stores a labelling; callers must not modify it afterwards.
func (c *historyCache) put(key string, lab []uint8) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.lru.MoveToFront(e)
		return
	}
	sz := int64(len(lab) + len(key))
	if sz > c.limit {
		return
	}
	c.items[key] = c.lru.PushFront(&historyEntry{key: key, lab: lab})
	c.size += sz
	for c.size > c.limit {
		old := c.lru.Back().Value.(*historyEntry)
		c.lru.Remove(c.items[old.key])
		delete(c.items, old.key)
		c.size -= int64(len(old.lab) + len(old.key))
	}
}
