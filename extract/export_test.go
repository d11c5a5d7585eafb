package extract

// SetMetadataFloor changes metadataFloor until the returned func restores
// it.
func SetMetadataFloor(n int64) (restore func()) {
	old := metadataFloor
	metadataFloor = n
	return func() { metadataFloor = old }
}
