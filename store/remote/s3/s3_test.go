package s3

import "testing"

// An answer without a length (a GET sent chunked by an S3-compatible
// server) is of unknown size: a cold GET stores what comes instead of
// failing on an announced 0.
func TestAttrsOfUnknownLength(t *testing.T) {
	if got := attrsOf("o", nil, nil, nil, nil).Size; got != -1 {
		t.Fatalf("no Content-Length: size %d, want -1", got)
	}
	size := int64(0)
	if got := attrsOf("o", &size, nil, nil, nil).Size; got != 0 {
		t.Fatalf("Content-Length 0: size %d", got)
	}
}
