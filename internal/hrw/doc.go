// Package hrw implements highest-random-weight (rendezvous) hashing with
// xxhash64: among candidates, an item belongs to the one with the highest
// score of (candidate, item). Adding a candidate moves only the items it
// now wins, about 1/N of them.
package hrw
