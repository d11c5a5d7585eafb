// Package netlab builds a network of "hosts" out of Linux network
// namespaces, for tests and benchmarks of a cluster whose nodes are on
// separate hosts: each host a namespace with its own address on a bridge
// that lives in a switch namespace, where clients connect from. Links can
// be cut and hosts partitioned from each other. Nothing touches the
// machine's own network; Close removes every namespace (and with them the
// links and the bridge). It needs root.
package netlab
