package sqlite

// DisableStmtCache makes db run every query unprepared, for benchmarks that
// measure the statement cache.
func DisableStmtCache(db *DB) {
	db.writerStmts.close()
	db.readerStmts.close()
}

// SetAppendChunks makes AppendEvents insert with statements of these
// numbers of rows (largest first, ending with 1), for benchmarks; it
// returns a function that restores the default.
func SetAppendChunks(sizes []int) (restore func()) {
	old := appendChunks
	appendChunks = sizes
	buildInsertEvents()
	return func() { appendChunks = old }
}

// BackgroundCheckpoints is the number of WAL checkpoints db's checkpointer
// has run.
func BackgroundCheckpoints(db *DB) int64 { return db.ckpt.runs.Load() }
