// Package storetest is the conformance suite every store.Store passes:
// buckets, atomic puts, checksums, versions, name rules, ordered and
// complete listing, and errors by sentinel.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Options{New: func(t *testing.T) store.Store { ... }})
//	}
package storetest
