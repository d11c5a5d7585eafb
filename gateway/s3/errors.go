package s3

import (
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
)

// Error is an S3 error answer: its code, the HTTP status it goes with, a
// message for people and the resource (bucket or object path) concerned.
type Error struct {
	Code     string
	Message  string
	Status   int
	Resource string
	// Region, when set, is the one the request should have been signed
	// for: clients (botocore) sign again for it.
	Region string
}

func (e *Error) Error() string {
	if e.Resource == "" {
		return "s3: " + e.Code + ": " + e.Message
	}
	return "s3: " + e.Code + ": " + e.Message + " (" + e.Resource + ")"
}

// Is matches by code, so that errors.Is(err, ErrNoSuchKey) holds for
// every copy made with WithMessage or WithResource.
func (e *Error) Is(target error) bool {
	other, ok := target.(*Error)
	return ok && other.Code == e.Code
}

// WithMessage returns a copy of e with a message that says what is wrong;
// the shared values below are never modified.
func (e *Error) WithMessage(format string, args ...any) *Error {
	copied := *e
	copied.Message = fmt.Sprintf(format, args...)
	return &copied
}

// WithRegion returns a copy of e naming the region requests are for.
func (e *Error) WithRegion(region string) *Error {
	copied := *e
	copied.Region = region
	return &copied
}

// WithResource returns a copy of e naming the bucket or object concerned.
func (e *Error) WithResource(resource string) *Error {
	copied := *e
	copied.Resource = resource
	return &copied
}

// The S3 error codes, with their statuses and S3's own messages. Use them
// through WithMessage and WithResource, which copy; never modify them.
var (
	ErrNoSuchBucket                 = &Error{Code: "NoSuchBucket", Status: http.StatusNotFound, Message: "The specified bucket does not exist."}
	ErrNoSuchKey                    = &Error{Code: "NoSuchKey", Status: http.StatusNotFound, Message: "The specified key does not exist."}
	ErrNoSuchUpload                 = &Error{Code: "NoSuchUpload", Status: http.StatusNotFound, Message: "The specified multipart upload does not exist."}
	ErrBucketAlreadyOwnedByYou      = &Error{Code: "BucketAlreadyOwnedByYou", Status: http.StatusConflict, Message: "Your previous request to create the named bucket succeeded and you already own it."}
	ErrBucketAlreadyExists          = &Error{Code: "BucketAlreadyExists", Status: http.StatusConflict, Message: "The requested bucket name is not available."}
	ErrBucketNotEmpty               = &Error{Code: "BucketNotEmpty", Status: http.StatusConflict, Message: "The bucket you tried to delete is not empty."}
	ErrInvalidBucketName            = &Error{Code: "InvalidBucketName", Status: http.StatusBadRequest, Message: "The specified bucket is not valid."}
	ErrInvalidArgument              = &Error{Code: "InvalidArgument", Status: http.StatusBadRequest, Message: "Invalid argument."}
	ErrAuthorizationHeaderMalformed = &Error{Code: "AuthorizationHeaderMalformed", Status: http.StatusBadRequest, Message: "The authorization header is malformed."}
	// ErrAuthorizationQueryParameters is its presigned URL's twin.
	ErrAuthorizationQueryParameters = &Error{Code: "AuthorizationQueryParametersError", Status: http.StatusBadRequest, Message: "Error parsing the X-Amz-Credential parameter."}
	ErrNoSuchVersion                = &Error{Code: "NoSuchVersion", Status: http.StatusNotFound, Message: "The specified version does not exist."}
	ErrInvalidRequest               = &Error{Code: "InvalidRequest", Status: http.StatusBadRequest, Message: "Invalid request."}
	// ErrKeyConflict is not S3's: objects are files, and one object's name
	// cannot be a directory of another's ("a/b" and "a/b/c").
	ErrKeyConflict               = &Error{Code: "KeyConflict", Status: http.StatusConflict, Message: "The key conflicts with another object's: one object's name cannot be a directory of another's."}
	ErrInvalidRange              = &Error{Code: "InvalidRange", Status: http.StatusRequestedRangeNotSatisfiable, Message: "The requested range is not satisfiable."}
	ErrInvalidPart               = &Error{Code: "InvalidPart", Status: http.StatusBadRequest, Message: "One or more of the specified parts could not be found or its entity tag does not match."}
	ErrInvalidPartOrder          = &Error{Code: "InvalidPartOrder", Status: http.StatusBadRequest, Message: "The list of parts was not in ascending order by part number."}
	ErrEntityTooSmall            = &Error{Code: "EntityTooSmall", Status: http.StatusBadRequest, Message: "Your proposed upload is smaller than the minimum allowed object size."}
	ErrEntityTooLarge            = &Error{Code: "EntityTooLarge", Status: http.StatusBadRequest, Message: "Your proposed upload exceeds the maximum allowed object size."}
	ErrIllegalLocationConstraint = &Error{Code: "IllegalLocationConstraintException", Status: http.StatusBadRequest, Message: "The location constraint is not this cluster's region."}
	ErrMalformedXML              = &Error{Code: "MalformedXML", Status: http.StatusBadRequest, Message: "The XML you provided was not well-formed or did not validate against the published schema."}
	ErrMaxMessageLengthExceeded  = &Error{Code: "MaxMessageLengthExceeded", Status: http.StatusBadRequest, Message: "Your request was too big."}
	ErrInvalidDigest             = &Error{Code: "InvalidDigest", Status: http.StatusBadRequest, Message: "The Content-MD5 you specified is not valid."}
	ErrBadDigest                 = &Error{Code: "BadDigest", Status: http.StatusBadRequest, Message: "The Content-MD5 you specified did not match what was received."}
	ErrAccessDenied              = &Error{Code: "AccessDenied", Status: http.StatusForbidden, Message: "Access Denied."}
	ErrSignatureDoesNotMatch     = &Error{Code: "SignatureDoesNotMatch", Status: http.StatusForbidden, Message: "The request signature we calculated does not match the signature you provided."}
	ErrPreconditionFailed        = &Error{Code: "PreconditionFailed", Status: http.StatusPreconditionFailed, Message: "At least one of the pre-conditions you specified did not hold."}
	// NotModified is an answer more than an error: WriteError sends it
	// with no body, as HTTP wants of a 304.
	ErrNotModified          = &Error{Code: "NotModified", Status: http.StatusNotModified, Message: "Not Modified."}
	ErrMethodNotAllowed     = &Error{Code: "MethodNotAllowed", Status: http.StatusMethodNotAllowed, Message: "The specified method is not allowed against this resource."}
	ErrNotImplemented       = &Error{Code: "NotImplemented", Status: http.StatusNotImplemented, Message: "A header or query you provided implies functionality that is not implemented."}
	ErrInternalError        = &Error{Code: "InternalError", Status: http.StatusInternalServerError, Message: "We encountered an internal error. Please try again."}
	ErrServiceUnavailable   = &Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable, Message: "Service is unable to handle request."}
	ErrOperationAborted     = &Error{Code: "OperationAborted", Status: http.StatusConflict, Message: "A conflicting conditional operation is currently in progress against this resource. Try again."}
	ErrSlowDown             = &Error{Code: "SlowDown", Status: http.StatusServiceUnavailable, Message: "Please reduce your request rate."}
	ErrKeyTooLong           = &Error{Code: "KeyTooLongError", Status: http.StatusBadRequest, Message: "Your key is too long."}
	ErrMissingContentLength = &Error{Code: "MissingContentLength", Status: http.StatusLengthRequired, Message: "You must provide the Content-Length HTTP header."}
	ErrIncompleteBody       = &Error{Code: "IncompleteBody", Status: http.StatusBadRequest, Message: "You did not provide the number of bytes specified by the Content-Length HTTP header."}
	ErrMetadataTooLarge     = &Error{Code: "MetadataTooLarge", Status: http.StatusBadRequest, Message: "Your metadata headers exceed the maximum allowed metadata size."}
)

// errorBody is the XML of an error answer; S3 gives it no namespace.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	Region    string   `xml:"Region,omitempty"`
	RequestID string   `xml:"RequestId"`
}

// HeaderBucketRegion tells the region of a bucket (HEAD bucket), or the
// one a request should have been signed for.
const HeaderBucketRegion = "X-Amz-Bucket-Region"

// HeaderRequestID carries the id of every answer, as S3 does, so that a
// client's report can be matched with the node's log.
const HeaderRequestID = "X-Amz-Request-Id"

// WriteError answers with err: an *Error anywhere in its chain gives its
// code and status, anything else is an InternalError carrying err's
// message. The resource defaults to the request's path. A HEAD request and
// a 304 get no body, as HTTP wants.
func WriteError(w http.ResponseWriter, r *http.Request, err error, requestID string) {
	status, body := errorDocument(r, err, requestID)
	w.Header().Set(HeaderRequestID, requestID)
	if body.Region != "" {
		// Where a HEAD, which has no body, tells it.
		w.Header().Set(HeaderBucketRegion, body.Region)
	}
	if status == http.StatusNotModified || (r != nil && r.Method == http.MethodHead) {
		w.WriteHeader(status)
		return
	}
	WriteXML(w, status, body)
}

// errorDocument is the status and the XML body that answer err.
func errorDocument(r *http.Request, err error, requestID string) (int, errorBody) {
	var answer *Error
	if !errors.As(err, &answer) {
		answer = ErrInternalError.WithMessage("%s", err.Error())
	}
	resource := answer.Resource
	if resource == "" && r != nil && r.URL != nil {
		resource = r.URL.Path
	}
	return answer.Status, errorBody{Code: answer.Code, Message: answer.Message, Resource: resource, Region: answer.Region, RequestID: requestID}
}

// NewRequestID returns 16 random upper-case hex digits, the form of S3's
// request ids.
func NewRequestID() string {
	var b [8]byte
	// crypto/rand.Read never fails since Go 1.24 (it crashes the program).
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%X", b[:])
}
