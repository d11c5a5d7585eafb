package creation

// SetParkGap sets parkGap and returns its restore.
func SetParkGap(n int64) (restore func()) {
	old := parkGap
	parkGap = n
	return func() { parkGap = old }
}
