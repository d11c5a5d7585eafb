// Package ht is the remote.Backend of ht:// buckets: an HTTP origin (the
// extra.http.origin of the bucket's props) whose paths are the objects.
// It only reads: the reverse proxy of the gateways fills these buckets.
package ht
