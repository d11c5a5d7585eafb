// Package dryrun is a store.Store decorator that keeps no object data, to
// separate the network's cost from the disk's in benchmarks (aisnode
// -dry-run, like AIStore's AIS_NODISKIO).
//
// A Put reads the whole body and discards it, keeping only the object's
// metadata in memory; Head, List and Delete see that metadata; Open serves
// the object's size in bytes from memory, byte(i % 251) at offset i.
// Buckets and capacity are the wrapped store's. Checksums are neither
// computed nor verified, and nothing survives a restart: a dry-run node is
// for measurements only.
//
//	st := dryrun.Wrap(fsStore)
//	meta, err := st.Put(ctx, b, "a.bin", r, store.PutOptions{Size: n}) // reads n bytes, stores none
//	obj, err := st.Open(ctx, b, "a.bin", store.OpenOptions{})        // n bytes from memory
package dryrun
