// Package s3 serves the S3 API over the cluster's native API: every
// gateway answers S3 requests in place (path-style, at /s3 and optionally
// at the root of a port of its own) and streams object bytes to and from
// the owner target, so that clients which do not follow redirects (most S3
// SDKs on PUT) work unchanged. One namespace: an object put through S3 is
// the same object under /v1/objects.
//
// Requests are authenticated with SigV4 (header or presigned query, see
// s3/sigv4) when access keys are configured; without keys, as AIStore
// without AuthN, signatures are not checked. The ETag of an object is the
// MD5 of its bytes (kept in the object's custom metadata), or
// md5-of-md5s-N after a multipart upload, whose parts wait as objects
// under .s3-multipart/UPLOAD-ID/ in the bucket until it completes.
//
//	srv := s3.New(s3.Config{Backend: backend, Keys: sigv4.StaticKeys{"AK": "SECRET"}})
//	mux.Handle("/s3/", srv.Handler("/s3"))
package s3
