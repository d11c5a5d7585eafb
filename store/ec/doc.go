// Package ec is erasure coding: the Reed-Solomon codec that cuts an object
// into slices and rebuilds it from enough of them, the placement of those
// slices (or whole replicas) on the targets other than the object's owner,
// and Store, the store decorator that keeps them there. The codec sees
// only byte slices and io readers and writers, placement only the cluster
// map; Store reaches other targets through Peers, which the node
// implements.
//
// Store: in a bucket with ec enabled, a PUT on the owner stores the object
// (the full replica) and, before the PUT is acknowledged, its parts:
// Data+Parity slices on other targets, or, for an object below
// ec.objsize_limit (always with -1), Parity whole replicas. A part of a
// write that fails is removed. A read that finds the replica missing or
// corrupt gathers the parts from every target, keeps those of the newest
// version only, checks each against its checksum, rebuilds the object,
// checks it against the object's checksum, stores it and stores its
// parts again where the current map puts them. A delete removes the parts
// everywhere, unless the object only moved (DeleteOptions.KeepParts).
// Sweep, run after the targets changed, hands each object a holder keeps
// parts of to its owner (which restores what it lacks), then stores anew
// the parts of the objects this target owns.
//
// Layout: with Data data slices and Parity parity slices, every slice is
// S = ceil(size/Data) bytes long. Data slice i holds bytes [i*S, (i+1)*S)
// of the object, the last ones zero-padded (with a small object, whole
// slices may be padding); parity slice Data+j is the j-th Reed-Solomon
// row over the data slices, computed byte position by byte position.
// Hence any Data of the Data+Parity slices restore the object, and coding
// in columns (a chunk of every slice at the same offset) gives the very
// bytes of coding the whole: EncodeStream and Encode, RestoreStream and
// Restore, mix freely.
//
// Invariants:
//   - Restore returns the object or an error, never other bytes, given
//     slices that are what Encode made; it cannot detect a corrupted
//     slice, so callers check each part against store.PartMeta's
//     PartChecksum, and the object against its Checksum;
//   - fewer than Data slices is ErrUnrecoverable;
//   - Holders is a pure function of the map and the name: every node
//     computes the same holders. A target that is neither owner nor
//     holder leaving the map moves no part; a holder leaving shifts the
//     parts ranked after it, so readers find parts by their PartMeta
//     index, not by position.
//
// Usage:
//
//	codec, err := ec.NewCodec(ec.Layout{Data: 4, Parity: 2})
//	slices, err := codec.Encode(object)
//	holders, err := ec.Holders(smap, bucket, name, len(slices))
//	// ... send slices[i] with a store.PartMeta{Index: i, ...} to holders[i]
//	object, err = codec.Restore(slices, size) // nil where a part is lost
//
// For objects larger than memory, EncodeStream reads the object from an
// io.ReaderAt and writes slice i to a writer per holder; RestoreStream
// reads slices from readers and writes the object to an io.WriterAt.
package ec
