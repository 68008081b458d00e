package server

import (
	"container/list"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sslens/sslens/backend/atomicfile"
)

// defaultPNGCacheBytes bounds the PNG cache on disk; a cutout's PNG is
// 5 to 50 KB, so it holds thousands of them.
const defaultPNGCacheBytes = 256 << 20

// pngCache keeps rendered PNGs in files under dir (dir/KEY[:2]/KEY.png),
// at most max bytes in all: adding one evicts the least recently used
// until the rest fit. The index is built from the folder at first use,
// oldest file first, so a cache an earlier release left unbounded is
// trimmed too.
type pngCache struct {
	dir string
	max int64
	log *slog.Logger

	mu     sync.Mutex
	loaded bool
	size   int64                    // bytes of the files indexed
	lru    *list.List               // *pngEntry, most recently used first
	byKey  map[string]*list.Element // key -> its element of lru
}

type pngEntry struct {
	key  string
	size int64
}

func newPNGCache(dir string, max int64, log *slog.Logger) *pngCache {
	return &pngCache{dir: dir, max: max, log: log, lru: list.New(), byKey: map[string]*list.Element{}}
}

// path is where the PNG of key (hex, at least 2 characters) is kept.
func (c *pngCache) path(key string) string {
	return filepath.Join(c.dir, key[:2], key+".png")
}

// get returns the PNG of key and marks it used, or false when it is not
// cached.
func (c *pngCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	c.load()
	e, ok := c.byKey[key]
	if ok {
		c.lru.MoveToFront(e)
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(c.path(key))
	if err != nil { // evicted meanwhile, or removed by hand: forget it
		c.mu.Lock()
		if e, ok := c.byKey[key]; ok {
			c.remove(e)
		}
		c.mu.Unlock()
		return nil, false
	}
	return b, true
}

// put stores the PNG b under key and evicts the least recently used PNGs
// beyond the bound. The file is written before the lock is taken, so
// readers never wait for a write.
func (c *pngCache) put(key string, b []byte) error {
	path := c.path(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load()
	if e, ok := c.byKey[key]; ok {
		c.lru.MoveToFront(e)
		return nil
	}
	c.add(key, int64(len(b)))
	c.evict()
	return nil
}

// add indexes key as the most recently used; c.mu is held.
func (c *pngCache) add(key string, size int64) {
	c.byKey[key] = c.lru.PushFront(&pngEntry{key: key, size: size})
	c.size += size
}

// evict removes the least recently used PNGs until the rest fit in c.max;
// c.mu is held.
func (c *pngCache) evict() {
	for c.size > c.max && c.lru.Len() > 0 {
		key := c.remove(c.lru.Back())
		if err := os.Remove(c.path(key)); err != nil && !os.IsNotExist(err) {
			c.log.Warn("server: PNG cache eviction", "err", err)
		}
	}
}

// remove drops e from the index and returns its key; c.mu is held.
func (c *pngCache) remove(e *list.Element) string {
	ent := c.lru.Remove(e).(*pngEntry)
	delete(c.byKey, ent.key)
	c.size -= ent.size
	return ent.key
}

// load indexes the PNGs already in c.dir, once; c.mu is held.
func (c *pngCache) load() {
	if c.loaded {
		return
	}
	c.loaded = true
	type file struct {
		key  string
		size int64
		mod  time.Time
	}
	var files []file
	filepath.WalkDir(c.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".png") {
			return nil // a missing folder is an empty cache; temporaries are skipped
		}
		key := strings.TrimSuffix(d.Name(), ".png")
		if info, err := d.Info(); err == nil && len(key) >= 2 && filepath.Dir(path) == filepath.Join(c.dir, key[:2]) {
			files = append(files, file{key, info.Size(), info.ModTime()})
		}
		return nil
	})
	slices.SortFunc(files, func(a, b file) int { return a.mod.Compare(b.mod) })
	for _, f := range files {
		c.add(f.key, f.size)
	}
	c.evict()
}
