// Package hlc is a hybrid logical clock: readings are wall-clock Unix
// nanoseconds that never go back, never repeat, and move past any time the
// clock has observed from another node. Writes stamped with it keep their
// order even when the wall clock steps back, and, with a lease kept in a
// file (Keep), across a restart.
//
// Usage:
//
//	clock := hlc.New(time.Now)
//	stamp := clock.Now()
//	err := clock.Observe(remoteStamp) // (nil, or the lease could not be saved)
//	clock.Keep(savedLease, 10*time.Second, saveLease)
package hlc
