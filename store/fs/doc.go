// Package fs is the filesystem implementation of store.Store: objects are
// plain files at <mountpath>/<provider>/<bucket>/<object name>, readable
// without AIS-Go, with their metadata (size, checksum, version, atime,
// custom keys) in one extended attribute encoded with msgp.
//
// The mountpath of an object is chosen by HRW hashing of its name, so adding
// a mountpath moves only its share. A Put writes a work file under
// <mountpath>/.ais/work, syncs its data, renames it into place and makes
// the rename durable by a syncfs shared with concurrent PUTs, so a crash
// leaves the old object or nothing; Open removes leftover work files.
// Bucket metadata is kept, versioned, in <mountpath>/.ais/bmd.json on every
// mountpath.
//
// A mirrored bucket keeps copies on the object's next mountpaths in HRW
// order (mirror.go); reads take the least busy copy and rewrite bad ones.
// Mountpaths can be disabled, enabled, attached and detached while the
// store runs, and a health check (FSHC) disables one that fails
// (mountpath.go). Parts of objects other targets own (erasure-coded slices
// and replicas, see store/ec) live under <mountpath>/.ais/parts (parts.go).
// Scrub reads every copy and part and checks its checksum (scrub.go).
//
//	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{"/data/mp1", "/data/mp2"}})
package fs
