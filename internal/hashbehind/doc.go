// Package hashbehind hashes what is written on a goroutine of its own, so
// that a slow hash (MD5 costs 1.4 ms of CPU a MiB here) runs beside the
// write and the sync that follow it rather than before them. The store
// computes S3 ETags through it.
package hashbehind
