// Package pool hands out reusable byte buffers in size classes, because
// touching fresh memory costs 10-25x more than reusing it (DESIGN.md §7).
// Get returns a buffer of at least the asked size; Put returns it.
package pool
