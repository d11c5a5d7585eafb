// Package storetest is the conformance suite every store.Store passes:
// buckets, atomic puts, checksums, versions, name rules, ordered and
// complete listing, and errors by sentinel. A store that keeps no data
// (store/dryrun) sets Options.DiscardsData and NoChecksums and is held to
// everything else.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Options{New: func(t *testing.T) store.Store { ... }})
//	}
package storetest
