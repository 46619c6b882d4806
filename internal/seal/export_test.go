package seal

// SetAddressBatch sets how many patients a transaction of the address
// backfill indexes, until the returned function restores it.
func SetAddressBatch(n int) (restore func()) {
	old := addressBatch
	addressBatch = n
	return func() { addressBatch = old }
}
