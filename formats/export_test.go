package formats

// SetMaxExactSpans bounds the zip spans checked one by one, and returns
// the restore.
func SetMaxExactSpans(n int) func() {
	old := maxExactSpans
	maxExactSpans = n
	return func() { maxExactSpans = old }
}

// SetExpansionSlack sets what any compressed shard may decompress to
// beyond the ratio, and returns the restore.
func SetExpansionSlack(n int64) func() {
	old := expansionSlack
	expansionSlack = n
	return func() { expansionSlack = old }
}

// SetMaxZipDirectory bounds a zip shard's central directory, and returns
// the restore.
func SetMaxZipDirectory(n uint64) func() {
	old := maxZipDirectory
	maxZipDirectory = n
	return func() { maxZipDirectory = old }
}

// ZipMembersHeld is how many members' records a zip Reader holds.
func ZipMembersHeld(r Reader) int { return len(r.(*zipReader).files) }

// ZipDataOpen reports whether a zip Reader holds its current member's
// decompressor.
func ZipDataOpen(r Reader) bool { return r.(*zipReader).data != nil }

// SetMaxSkippedEntries bounds the entries of a tar that are not files,
// and returns the restore.
func SetMaxSkippedEntries(n int) func() {
	old := maxSkippedEntries
	maxSkippedEntries = n
	return func() { maxSkippedEntries = old }
}
