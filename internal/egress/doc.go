// Package egress checks where a connection a user named goes when a proxy
// carries it: the node's own checks see the proxy's address only, so the
// destination's addresses are checked before the proxy is given it.
package egress
