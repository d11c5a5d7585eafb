// Package egress is how fetches of URLs users give reach out: every
// connection checked, and, through a proxy, the destination's addresses
// checked before the proxy is given the request (the node's own checks
// see the proxy's address only).
package egress
