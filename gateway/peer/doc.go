// Package peer authenticates requests between the nodes of a cluster.
//
// Every node holds the cluster secret, generated when the cluster is first
// created. A node signs each intra-cluster request with an HMAC-SHA256
// over the method, the destination host, the request URI, a timestamp, a
// nonce, the sender's node id and a digest of the body. The receiver
// refuses a request that is unsigned, signed with another secret, outside
// the time window, or seen before (the nonce is remembered for twice the
// window). A body too large to hash before sending (a rebalance stream)
// is signed as "stream": its digest goes in a trailer MAC that the
// receiver checks when it reads the body's end, and a mismatch is a read
// error, so a handler that reads its body to the end before acting never
// acts on a tampered one.
//
// Usage:
//
//	auth := peer.NewAuth(secret, peer.Options{})
//	client := &http.Client{Transport: auth.Transport(nodeID, http.DefaultTransport)}
//	sender, err := auth.Verify(r) // in an intra-cluster handler
package peer
