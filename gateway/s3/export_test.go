package s3

import "time"

// AnswerSlowlyAtOnce makes every long write answer as a slow one, and
// returns the restore.
func AnswerSlowlyAtOnce() func() {
	after, interval := slowAnswerAfter, slowAnswerInterval
	slowAnswerAfter, slowAnswerInterval = 0, time.Millisecond
	return func() { slowAnswerAfter, slowAnswerInterval = after, interval }
}

// LimitPutSize bounds what one PUT (or part) writes, and returns the
// restore.
func LimitPutSize(n int64) func() {
	old := maxPutSize
	maxPutSize = n
	return func() { maxPutSize = old }
}

// Location exposes location: a completed upload's Location.
func Location(bucket, key string) string { return location(bucket, key) }

// SetCompleteLease changes how long a Complete's mark holds without
// renewal and how often it is renewed, and returns the restore.
func SetCompleteLease(lease, renewal time.Duration) func() {
	oldLease, oldRenewal := completeLease, completeRenewal
	completeLease, completeRenewal = lease, renewal
	return func() { completeLease, completeRenewal = oldLease, oldRenewal }
}

// SetMaxUploads changes the uploads in progress a bucket keeps, and
// returns the restore.
func SetMaxUploads(n int) func() {
	old := maxUploads
	maxUploads = n
	return func() { maxUploads = old }
}

// SetMaxSlowWrites changes how many long writes a Server made from now on
// runs at once, and returns the restore.
func SetMaxSlowWrites(n int) func() {
	old := maxSlowWrites
	maxSlowWrites = n
	return func() { maxSlowWrites = old }
}

// OnAbortChecked runs f as an abort has checked an upload's record, and
// returns the restore.
func OnAbortChecked(f func(id string)) func() {
	old := abortChecked
	abortChecked = f
	return func() { abortChecked = old }
}

// SetCloseRetries changes the waits before a completed upload's close is
// tried again, and returns the restore.
func SetCloseRetries(waits ...time.Duration) func() {
	old := closeRetries
	closeRetries = waits
	return func() { closeRetries = old }
}
