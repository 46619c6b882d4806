package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements for the queries a pool runs, so that
// hot statements are not compiled again in every transaction (re-preparing
// was about 28% of the CPU time of seeding; see BenchmarkSeed).
//
// A statement is prepared on the pool (database/sql then prepares it once
// per connection, on first use there), and that needs a free connection.
// Inside a transaction the connection is taken (the writer has only one),
// so a query not yet cached runs unprepared and is noted; the transaction's
// misses are prepared after it has ended (tx.learn).
//
// Every query is constant SQL written in this package, or assembled from
// such pieces by filter; the cache is bounded all the same.
type stmtCache struct {
	pool  *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	done  bool // closed
}

// maxCachedStmts bounds the cache. The package has far fewer distinct
// queries; past the bound, queries simply run unprepared.
const maxCachedStmts = 512

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: map[string]*sql.Stmt{}}
}

func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// prepare prepares and caches the queries not cached yet. Failures are
// ignored: the query then keeps running unprepared (for example one on a
// table a later migration dropped).
func (c *stmtCache) prepare(ctx context.Context, queries []string) {
	for _, q := range queries {
		c.mu.Lock()
		_, ok := c.stmts[q]
		full := c.done || len(c.stmts) >= maxCachedStmts
		c.mu.Unlock()
		if ok || full {
			continue
		}
		s, err := c.pool.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if _, ok := c.stmts[q]; ok || c.done {
			s.Close()
		} else {
			c.stmts[q] = s
		}
		c.mu.Unlock()
	}
}

// close closes the cached statements; later misses are not cached.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = nil
	c.done = true
}
