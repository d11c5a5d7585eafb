package api

import "time"

// SetJobStartTimeout sets how long a job's start or stop waits for its
// gateway, and returns the restore.
func SetJobStartTimeout(d time.Duration) func() {
	old := jobStartTimeout
	jobStartTimeout = d
	return func() { jobStartTimeout = old }
}
