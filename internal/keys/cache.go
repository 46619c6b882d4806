package keys

import (
	"crypto/sha256"
	confidant "github.com/confidanthealth/confidant"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// cacheKey names one wrapped keyset: its owner, the KEK key named as its
// wrapper, and the SHA-256 of the wrapped bytes. An entry exists only after
// those bytes were unwrapped successfully by that KEK key with the owner's
// associated data, so a hit proves the same binding a fresh unwrap would,
// and a hit never depends on a KEK key that a miss could not use.
type cacheKey struct {
	owner string
	kekID string
	sum   [sha256.Size]byte
}

func keyOf(wk confidant.WrappedKey) cacheKey {
	return cacheKey{owner: wk.Owner, kekID: wk.KEKID, sum: sha256.Sum256(wk.Wrapped)}
}

// cacheEntry is an unwrapped patient keyset.
type cacheEntry struct {
	handle  *keyset.Handle
	aead    tink.AEAD
	expires time.Time
}

// cache is a bounded LRU of unwrapped patient keysets whose entries expire
// ttl after they were unwrapped, however often they are used.
type cache struct {
	mu  sync.Mutex
	lru *simplelru.LRU[cacheKey, *cacheEntry]
	ttl time.Duration
	now func() time.Time
}

func newCache(size int, ttl time.Duration, now func() time.Time) *cache {
	l, err := simplelru.NewLRU[cacheKey, *cacheEntry](size, nil)
	if err != nil {
		panic("keys: cache size must be positive") // Config.Validate rules this out
	}
	return &cache{lru: l, ttl: ttl, now: now}
}

// get returns a live entry; an expired one is removed.
func (c *cache) get(k cacheKey) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(k)
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		c.lru.Remove(k)
		return nil, false
	}
	return e, true
}

// put adds an entry that expires ttl from now.
func (c *cache) put(k cacheKey, h *keyset.Handle, a tink.AEAD) *cacheEntry {
	e := &cacheEntry{handle: h, aead: a, expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(k, e)
	return e
}

// purgeExpired drops every expired entry and returns how many.
func (c *cache) purgeExpired() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, n := c.now(), 0
	for _, k := range c.lru.Keys() {
		if e, ok := c.lru.Peek(k); ok && !now.Before(e.expires) {
			c.lru.Remove(k)
			n++
		}
	}
	return n
}

func (c *cache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Purge()
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
