// Package selfsigned writes a self-signed TLS certificate and its key, for
// the tests of HTTPS nodes and clients: an ECDSA P-256 key, valid for a
// day, for the hosts given (IP addresses and names), usable by servers and
// clients.
//
//	cert, key, err := selfsigned.Write(t.TempDir(), "127.0.0.1", "localhost")
//	// aisnode -tls-cert cert -tls-key key; clients trust cert itself
package selfsigned
