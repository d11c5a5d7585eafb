package formats

// SetMaxExactSpans bounds the zip spans checked one by one, and returns
// the restore.
func SetMaxExactSpans(n int) func() {
	old := maxExactSpans
	maxExactSpans = n
	return func() { maxExactSpans = old }
}
