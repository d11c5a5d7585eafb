package s3

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

func TestErrorCodesAndStatuses(t *testing.T) {
	tests := []struct {
		err    *Error
		code   string
		status int
	}{
		{ErrNoSuchBucket, "NoSuchBucket", 404},
		{ErrNoSuchKey, "NoSuchKey", 404},
		{ErrNoSuchUpload, "NoSuchUpload", 404},
		{ErrBucketAlreadyOwnedByYou, "BucketAlreadyOwnedByYou", 409},
		{ErrBucketAlreadyExists, "BucketAlreadyExists", 409},
		{ErrBucketNotEmpty, "BucketNotEmpty", 409},
		{ErrInvalidBucketName, "InvalidBucketName", 400},
		{ErrInvalidArgument, "InvalidArgument", 400},
		{ErrInvalidRequest, "InvalidRequest", 400},
		{ErrInvalidRange, "InvalidRange", 416},
		{ErrInvalidPart, "InvalidPart", 400},
		{ErrInvalidPartOrder, "InvalidPartOrder", 400},
		{ErrEntityTooSmall, "EntityTooSmall", 400},
		{ErrEntityTooLarge, "EntityTooLarge", 400},
		{ErrMalformedXML, "MalformedXML", 400},
		{ErrMaxMessageLengthExceeded, "MaxMessageLengthExceeded", 400},
		{ErrInvalidDigest, "InvalidDigest", 400},
		{ErrBadDigest, "BadDigest", 400},
		{ErrAccessDenied, "AccessDenied", 403},
		{ErrSignatureDoesNotMatch, "SignatureDoesNotMatch", 403},
		{ErrPreconditionFailed, "PreconditionFailed", 412},
		{ErrNotModified, "NotModified", 304},
		{ErrMethodNotAllowed, "MethodNotAllowed", 405},
		{ErrNotImplemented, "NotImplemented", 501},
		{ErrInternalError, "InternalError", 500},
		{ErrServiceUnavailable, "ServiceUnavailable", 503},
		{ErrSlowDown, "SlowDown", 503},
		{ErrKeyTooLong, "KeyTooLongError", 400},
		{ErrMissingContentLength, "MissingContentLength", 411},
		{ErrIncompleteBody, "IncompleteBody", 400},
		{ErrMetadataTooLarge, "MetadataTooLarge", 400},
	}
	for _, tc := range tests {
		if tc.err.Code != tc.code || tc.err.Status != tc.status || tc.err.Message == "" {
			t.Errorf("%s: code %q status %d message %q, want %q %d and a message", tc.code, tc.err.Code, tc.err.Status, tc.err.Message, tc.code, tc.status)
		}
	}
}

func TestErrorIsMatchesByCode(t *testing.T) {
	specific := ErrNoSuchKey.WithMessage("no %q", "k").WithResource("/b/k")
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"a copy", specific, ErrNoSuchKey, true},
		{"a wrapped copy", fmt.Errorf("get: %w", specific), ErrNoSuchKey, true},
		{"another code", specific, ErrNoSuchBucket, false},
		{"a literal of the code", &Error{Code: "NoSuchKey"}, ErrNoSuchKey, true},
		{"a plain error", errors.New("NoSuchKey"), ErrNoSuchKey, false},
	}
	for _, tc := range tests {
		if got := errors.Is(tc.err, tc.target); got != tc.want {
			t.Errorf("%s: errors.Is = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestErrorCopiesLeaveTheSharedValues(t *testing.T) {
	message, resource := ErrNoSuchKey.Message, ErrNoSuchKey.Resource
	e := ErrNoSuchKey.WithMessage("key %q is gone", "a").WithResource("/b/a")
	if e.Message != `key "a" is gone` || e.Resource != "/b/a" || e.Status != 404 {
		t.Errorf("copy %+v", e)
	}
	if ErrNoSuchKey.Message != message || ErrNoSuchKey.Resource != resource {
		t.Errorf("ErrNoSuchKey was modified: %+v", ErrNoSuchKey)
	}
	if got := e.Error(); got != `s3: NoSuchKey: key "a" is gone (/b/a)` {
		t.Errorf("Error() = %q", got)
	}
	if got := ErrNoSuchBucket.Error(); got != "s3: NoSuchBucket: The specified bucket does not exist." {
		t.Errorf("Error() = %q", got)
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name         string
		method, path string
		err          error
		status       int
		body         *errorBody // nil: no body
	}{
		{
			name: "an S3 error", method: "GET", path: "/b/k",
			err:    ErrNoSuchKey.WithResource("/b/k"),
			status: 404, body: &errorBody{Code: "NoSuchKey", Message: ErrNoSuchKey.Message, Resource: "/b/k"},
		},
		{
			name: "a wrapped S3 error, resource from the path", method: "PUT", path: "/b/x",
			err:    fmt.Errorf("put: %w", ErrBadDigest.WithMessage("md5 differs")),
			status: 400, body: &errorBody{Code: "BadDigest", Message: "md5 differs", Resource: "/b/x"},
		},
		{
			name: "any other error", method: "GET", path: "/b",
			err:    errors.New("disk on fire"),
			status: 500, body: &errorBody{Code: "InternalError", Message: "disk on fire", Resource: "/b"},
		},
		{
			name: "a HEAD gets no body", method: "HEAD", path: "/b/k",
			err: ErrNoSuchKey, status: 404,
		},
		{
			name: "a 304 gets no body", method: "GET", path: "/b/k",
			err: ErrNotModified, status: 304,
		},
		{
			name: "a literal error", method: "DELETE", path: "/b",
			err:    &Error{Code: "BucketNotEmpty", Message: "has keys", Status: 409},
			status: 409, body: &errorBody{Code: "BucketNotEmpty", Message: "has keys", Resource: "/b"},
		},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest(tc.method, tc.path, nil), tc.err, "0123456789ABCDEF")
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.status)
		}
		if got := w.Header().Get("x-amz-request-id"); got != "0123456789ABCDEF" {
			t.Errorf("%s: request id %q", tc.name, got)
		}
		if tc.body == nil {
			if w.Body.Len() != 0 {
				t.Errorf("%s: body %q, want none", tc.name, w.Body)
			}
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/xml" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		if !strings.HasPrefix(w.Body.String(), xml.Header+"<Error>") {
			t.Errorf("%s: body %q does not start with the XML header and <Error>", tc.name, w.Body)
		}
		var got errorBody
		if err := xml.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := *tc.body
		want.XMLName, want.RequestID = xml.Name{Local: "Error"}, "0123456789ABCDEF"
		if got != want {
			t.Errorf("%s: body %+v, want %+v", tc.name, got, want)
		}
	}
}

func TestNewRequestID(t *testing.T) {
	form := regexp.MustCompile(`^[0-9A-F]{16}$`)
	seen := map[string]bool{}
	for range 100 {
		id := NewRequestID()
		if !form.MatchString(id) {
			t.Fatalf("request id %q is not 16 upper-case hex digits", id)
		}
		if seen[id] {
			t.Fatalf("request id %q came twice", id)
		}
		seen[id] = true
	}
}

func TestWriteErrorKeepsHeadersSetBefore(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("Content-Range", "bytes */10")
	WriteError(w, httptest.NewRequest(http.MethodGet, "/b/k", nil), ErrInvalidRange, "id")
	if w.Code != 416 || w.Header().Get("Content-Range") != "bytes */10" {
		t.Errorf("status %d Content-Range %q", w.Code, w.Header().Get("Content-Range"))
	}
}

// A native API's refusal keeps its meaning through S3: a 403 is
// AccessDenied and a bad range or prop a 4xx, not a 500 that clients
// retry.
func TestBackendErrorsKeepTheirMeaning(t *testing.T) {
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{fmt.Errorf("get: %w", api.ErrForbidden), "AccessDenied", 403},
		{fmt.Errorf("get: %w", api.ErrUnauthorized), "AccessDenied", 403},
		{fmt.Errorf("get: %w", api.ErrRange), "InvalidRange", 416},
		{fmt.Errorf("put: %w: too much custom metadata", store.ErrInvalidProps), "InvalidArgument", 400},
	}
	for _, tc := range tests {
		var e *Error
		if !errors.As(backendError(tc.err, "b", "k"), &e) || e.Code != tc.code || e.Status != tc.status {
			t.Errorf("%v: %v, want %s %d", tc.err, e, tc.code, tc.status)
		}
	}
}

// An error answered carries no path of the node's data directories: a
// disk error met in process (a full disk under an S3 PUT) names its file.
func TestErrorMessagesAreRedacted(t *testing.T) {
	s := New(Config{Redact: func(m string) string { return strings.ReplaceAll(m, "/ais/mp1", "<data>") }})
	err := s.redacted(backendError(fmt.Errorf("write /ais/mp1/.ais/work/x1: %w", api.ErrNoSpace), "b", "k"))
	var e *Error
	if !errors.As(err, &e) || strings.Contains(e.Message, "/ais/mp1") || !strings.Contains(e.Message, "<data>/.ais/work/x1") || e.Code != "ServiceUnavailable" {
		t.Fatalf("answer %+v", e)
	}
	if err := New(Config{}).redacted(ErrNoSuchKey); err != ErrNoSuchKey {
		t.Fatalf("without Redact the error changed: %v", err)
	}
}

// The operations whose error series start at zero are those the requests
// of S3 clients are counted under, each of them.
func TestOperationsAreThoseCounted(t *testing.T) {
	requests := map[string]string{
		"GET /s3/":                            "GET service",
		"HEAD /s3/b":                          "HEAD bucket",
		"GET /s3/b?list-type=2":               "GET bucket",
		"PUT /s3/b":                           "PUT bucket",
		"DELETE /s3/b":                        "DELETE bucket",
		"POST /s3/b?delete":                   "POST bucket",
		"HEAD /s3/b/k":                        "HEAD object",
		"GET /s3/b/dir/k":                     "GET object",
		"PUT /s3/b/k":                         "PUT object",
		"DELETE /s3/b/k":                      "DELETE object",
		"POST /s3/b/k?uploads":                "POST object multipart",
		"PUT /s3/b/k?partNumber=1&uploadId=u": "PUT object multipart",
		"GET /s3/b/k?uploadId=u":              "GET object multipart",
		"DELETE /s3/b/k?uploadId=u":           "DELETE object multipart",
		"GET /s3/b?uploads":                   "GET bucket multipart",
	}
	counted := map[string]bool{}
	for request, want := range requests {
		method, target, _ := strings.Cut(request, " ")
		r := httptest.NewRequest(method, target, nil)
		got := operation(r, strings.TrimPrefix(r.URL.Path, "/s3"))
		if got != want {
			t.Errorf("%s is counted as %q, want %q", request, got, want)
		}
		counted[got] = true
	}
	for _, op := range Operations {
		if !counted[op] {
			t.Errorf("operation %q is no request's", op)
		}
		delete(counted, op)
	}
	if len(counted) > 0 {
		t.Errorf("operations counted but not in Operations: %v", counted)
	}
}
