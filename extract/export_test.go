package extract

// SetMetadataFloor changes metadataFloor until the returned func restores
// it.
func SetMetadataFloor(n int64) (restore func()) {
	old := metadataFloor
	metadataFloor = n
	return func() { metadataFloor = old }
}

// AddSpilling adds n to the bytes being spilled by others until the
// returned func takes them back.
func AddSpilling(n int64) (restore func()) {
	spilling.Add(n)
	return func() { spilling.Add(-n) }
}
