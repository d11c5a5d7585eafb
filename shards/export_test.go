package shards

// SetShardFilesLimit lowers the files a Grouper takes in one shard until
// the returned func restores MaxShardFiles.
func SetShardFilesLimit(n int) (restore func()) {
	shardFilesLimit = n
	return func() { shardFilesLimit = MaxShardFiles }
}
