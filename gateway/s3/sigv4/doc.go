// Package sigv4 verifies AWS Signature Version 4 on the server side of an
// S3-compatible API, and decodes the payload the signature describes.
//
// Verify accepts a request signed in its Authorization header, within 15
// minutes of the server's time, or by a presigned URL (X-Amz-Algorithm,
// X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and
// X-Amz-Signature in the query), before it expires. The canonical request
// is S3's: the path as sent, neither normalized nor escaped again; every
// query parameter but X-Amz-Signature, encoded and sorted; the signed
// headers, host taken from Request.Host. Every x-amz-* header present must
// be signed, so that nobody can add one to a captured request.
//
// The body is replaced by a reader of the payload that x-amz-content-sha256
// names: a hex SHA-256, checked at the end; UNSIGNED-PAYLOAD, as is; or
// aws-chunked framing (STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER,
// STREAMING-UNSIGNED-PAYLOAD-TRAILER), stripped, with each chunk signature
// checked along the chain from the request's signature, the trailing
// checksums (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256) checked against the
// payload and its length against x-amz-decoded-content-length. To keep
// memory flat, data is returned as it arrives and a mismatch is an error
// from Read at the end of the chunk or of the body: the invariant is that
// a handler that reads the body to its end without error has exactly the
// payload that was signed and declared. Everything read from the peer is
// bounded: framing lines to 4 KiB, signed chunks to 64 MiB (unsigned
// ones, whose data is not held, to 5 GiB), trailers to 16 lines.
//
// A server without keys uses Anonymous and DecodeBody, which strips the
// framing and checks what needs no key. Refusals are *Error values that
// carry S3's error code and HTTP status. SigV4A (ECDSA) is not supported.
//
// Usage, in a handler:
//
//	verified, err := sigv4.Verify(r, sigv4.StaticKeys{"AKID": "secret"}, time.Now())
//	if err != nil {
//		// render err.(*sigv4.Error) as an S3 error document
//	}
//	data, err := io.ReadAll(r.Body) // the decoded payload; err if tampered
//	// act as verified.AccessKey only now
package sigv4
