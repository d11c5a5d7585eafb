// Package writebehind starts the writeback of a file's data as it is
// written, so that the disk works while the rest streams in and the sync
// that makes the file durable has little left to do. The store writes
// objects through it (but those asked to go past the page cache: see
// directwrite).
package writebehind
