package segment

import (
	"container/list"
	"context"
	"sync"
)

// imageCache holds workImages by Source.Key, bounded by their total size and evicted least
// recently used first. Concurrent requests for a key that is still loading wait for the one
// load instead of decoding again: the decode is the most expensive step of a first prompt.
type imageCache struct {
	limit int64

	mu    sync.Mutex
	size  int64
	items map[string]*cacheEntry
	lru   *list.List // of *cacheEntry, most recent first; loaded entries only
}

type cacheEntry struct {
	key   string
	ready chan struct{} // closed when img or err is set
	img   *workImage
	err   error
	elem  *list.Element
	size  int64
}

func newImageCache(limit int64) *imageCache {
	return &imageCache{limit: limit, items: map[string]*cacheEntry{}, lru: list.New()}
}

// get returns the workImage for key, calling load at most once per key at a time. Failed loads
// are not cached: the next request tries again.
func (c *imageCache) get(ctx context.Context, key string, load func() (*workImage, error)) (*workImage, error) {
	c.mu.Lock()
	e, ok := c.items[key]
	if ok {
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		c.mu.Unlock()
		select {
		case <-e.ready:
			return e.img, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e = &cacheEntry{key: key, ready: make(chan struct{})}
	c.items[key] = e
	c.mu.Unlock()

	img, err := load()

	c.mu.Lock()
	e.img, e.err = img, err
	if err != nil {
		delete(c.items, key)
	} else {
		e.size = img.bytes()
		e.elem = c.lru.PushFront(e)
		c.size += e.size
		// Evict the least recently used, but never the image this request needs now.
		for c.size > c.limit && c.lru.Len() > 1 {
			old := c.lru.Back().Value.(*cacheEntry)
			c.lru.Remove(old.elem)
			delete(c.items, old.key)
			c.size -= old.size
		}
		if c.size > c.limit {
			// A single image larger than the whole cache is served but not kept.
			c.lru.Remove(e.elem)
			delete(c.items, key)
			c.size -= e.size
		}
	}
	close(e.ready)
	c.mu.Unlock()
	return img, err
}
