// Package store is the vocabulary and contract of the local object store:
// buckets and their properties, object metadata, checksums, name rules, the
// Store interface and the errors every implementation returns.
//
// Implementations live in subpackages (store/fs keeps objects as plain files
// on mountpaths) and all pass the conformance suite in store/storetest.
// Invariants every implementation keeps:
//   - a Put is atomic: readers see the old object or the whole new one;
//   - an object's checksum is computed on Put and a mismatch is an error,
//     never wrong bytes;
//   - List returns names in byte order, each once, and pages by StartAfter.
//
// Usage:
//
//	meta, err := st.Put(ctx, b, "a/b.jpg", r, store.PutOptions{Size: n})
//	obj, err := st.Open(ctx, b, "a/b.jpg", store.OpenOptions{})
//	defer obj.Close()
package store
