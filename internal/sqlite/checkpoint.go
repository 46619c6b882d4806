package sqlite

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// WAL checkpointing, mostly off the commit path.
//
// SQLite's own auto-checkpoint runs inside the COMMIT that grows the
// write-ahead log past 1000 pages: that commit copies the whole log into the
// database file and fsyncs it before it returns. With an access-log event
// committed before every answer, that made about one commit in a hundred
// several times slower than the rest (the p99 of a serial append).
//
// Instead, the writer's WAL hook (called after every commit with the size
// of the log) wakes a goroutine that checkpoints on a connection of its
// own, in PASSIVE mode, at most every checkpointInterval: it copies what no
// reader still needs without taking the write lock, so writers go on
// appending meanwhile. A passive checkpoint that runs while commits keep
// arriving rarely copies the log in full, and the log restarts from the
// beginning only after a complete copy; so once the log passes
// walForcePages, the committing connection checkpoints itself as SQLite
// would. By then the goroutine has copied most of it, so that commit copies
// only the latest frames, and it comes four times less often than SQLite's.
const (
	walCheckpointPages = 1000 // SQLite's default auto-checkpoint size
	walForcePages      = 4000 // ~16 MB with 4 KiB pages
	checkpointInterval = 100 * time.Millisecond
)

// checkpointer checkpoints the WAL of one database file.
type checkpointer struct {
	conn *sqlite3.Conn
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
	runs atomic.Int64 // checkpoints run by the goroutine, for tests
	// mu: one checkpoint at a time from this process (another would fail
	// with SQLITE_BUSY at once, and a truncation after an erasure must not).
	mu sync.Mutex
}

func startCheckpointer(path string, opts Options) (*checkpointer, error) {
	conn, err := sqlite3.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := conn.Exec(connPragmas(opts, false)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	c := &checkpointer{
		conn: conn,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go c.run()
	return c, nil
}

// hook is the writer's WAL hook: it runs after each commit, with the number
// of pages in the log.
func (c *checkpointer) hook(db *sqlite3.Conn, schema string, pages int) error {
	switch {
	case pages >= walForcePages:
		// Best effort, like SQLite's auto-checkpoint: the commit has
		// happened whatever this returns. Skipped while another checkpoint
		// runs (waiting here could deadlock with a truncation waiting for
		// this writer).
		if c.mu.TryLock() {
			db.WALCheckpoint(schema, sqlite3.CHECKPOINT_PASSIVE)
			c.mu.Unlock()
		}
	case pages >= walCheckpointPages:
		select {
		case c.kick <- struct{}{}:
		default: // a checkpoint is already due
		}
	}
	return nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		// Errors (a reader holding an old snapshot leaves part of the log
		// uncopied) are not failures: the next kick tries again.
		c.mu.Lock()
		c.conn.WALCheckpoint("main", sqlite3.CHECKPOINT_PASSIVE)
		c.mu.Unlock()
		c.runs.Add(1)
		// Each checkpoint fsyncs the database file; space them out so
		// that they do not crowd the commits' own fsyncs.
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointInterval):
		}
	}
}

// truncate copies the write-ahead log into the database file and truncates
// it, so that pages overwritten by secure_delete (an erased patient's
// wrapped key, deleted plaintext) no longer exist in older versions in the
// log. It waits for a checkpoint in progress, then (busy_timeout) for
// writers; it stays best effort: the log is not truncated while a reader
// still uses an older snapshot, and is reused from the start and
// checkpointed again later, and on Close.
func (c *checkpointer) truncate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE)
}

func (c *checkpointer) close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		err = c.conn.Close()
	})
	if err != nil {
		return errors.Join(errors.New("sqlite: close checkpointer"), err)
	}
	return nil
}
