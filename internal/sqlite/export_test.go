package sqlite

// DisableStmtCache makes db run every query unprepared, for benchmarks that
// measure the statement cache.
func DisableStmtCache(db *DB) {
	db.writerStmts.close()
	db.readerStmts.close()
}
