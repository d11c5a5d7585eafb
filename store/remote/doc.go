// Package remote makes a bucket of a remote object store (an S3 server)
// a bucket of the cluster: the Store decorator fetches an object on its
// first read (cold GET) and keeps it in the local store, serves it from
// there afterwards (warm GET, the remote untouched), writes through to the
// remote, and deletes from both. Backends implement the remote side;
// store/remote/s3 is the S3 one.
package remote
