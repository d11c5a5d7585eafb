// Package bodyend checks the end of an HTTP/1 body that has neither a
// length nor chunks: such a body ends with its connection's close, and a
// sender that dies mid-body reads as one that ended there. A fetch that
// stores what it read (a cold GET's cached copy, a download) asks at that
// end whether the bytes are all there.
//
// Usage:
//
//	body := resp.Body
//	if bodyend.CloseDelimited(resp) {
//		body = bodyend.Checked(resp.Body, func(n int64) error { return sizeIs(n) })
//	}
package bodyend
