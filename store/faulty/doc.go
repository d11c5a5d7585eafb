// Package faulty wraps a store.Store and injects failures on purpose: a
// disk that fills up or returns EIO after some bytes of a Put, reads that
// fail part-way. Tests use it to prove that a failed write leaves nothing
// visible and that errors keep their store sentinels.
//
//	st := faulty.Wrap(inner)
//	st.Inject(faulty.Fault{Op: faulty.OpPut, After: 1 << 20, Err: syscall.ENOSPC})
package faulty
