// Package atomicfile replaces a file's contents so that a crash leaves the
// old contents or the new, never a mix or an empty file: the data goes to
// a temporary file in the same directory, which is fsynced, renamed over
// the target, and the directory is fsynced so the rename itself survives.
//
// Usage:
//
//	err := atomicfile.Write("/var/ais/meta/smap.json", data, 0o644)
package atomicfile
