package sigv4

import (
	"fmt"
	"net/http"
)

// Error is a refusal in S3's vocabulary: the caller renders Code and
// Message in an S3 error document with status Status.
type Error struct {
	Code    string // S3 error code, such as "SignatureDoesNotMatch"
	Message string // what is wrong, for the client
	Status  int    // HTTP status
}

func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

// statuses are those S3 answers with each code.
var statuses = map[string]int{
	"AccessDenied":                      http.StatusForbidden,
	"SignatureDoesNotMatch":             http.StatusForbidden,
	"InvalidAccessKeyId":                http.StatusForbidden,
	"RequestTimeTooSkewed":              http.StatusForbidden,
	"AuthorizationHeaderMalformed":      http.StatusBadRequest,
	"AuthorizationQueryParametersError": http.StatusBadRequest,
	"XAmzContentSHA256Mismatch":         http.StatusBadRequest,
	"IncompleteBody":                    http.StatusBadRequest,
	"InvalidRequest":                    http.StatusBadRequest,
	"InvalidArgument":                   http.StatusBadRequest,
	"BadDigest":                         http.StatusBadRequest,
	"MalformedTrailerError":             http.StatusBadRequest,
	"NotImplemented":                    http.StatusNotImplemented,
}

func newError(code, format string, args ...any) *Error {
	status, ok := statuses[code]
	if !ok {
		panic("sigv4: no status for code " + code) // a programming error
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// quote shows a value from the peer in a message, cut short so that a
// hostile value cannot make the answer large.
func quote(value string) string {
	const limit = 64
	if len(value) > limit {
		return fmt.Sprintf("%q...", value[:limit])
	}
	return fmt.Sprintf("%q", value)
}
