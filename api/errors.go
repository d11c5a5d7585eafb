package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/errkind"
	"github.com/aisgo/aisgo/store"
)

// Sentinels for callers of the client; they are the store's and cluster's
// own, so errors.Is works whether an error came over HTTP or not.
var (
	ErrNotFound       = store.ErrNotFound
	ErrBucketNotFound = store.ErrBucketNotFound
	ErrBucketExists   = store.ErrBucketExists
	ErrInvalidName    = store.ErrInvalidName
	ErrConflict       = store.ErrConflict
	// ErrPreconditionFailed: a conditional PUT (PutOptions.IfMatch,
	// IfNoneMatch) found the object other than it required (412).
	ErrPreconditionFailed = store.ErrPreconditionFailed
	ErrBadChecksum        = store.ErrBadChecksum
	ErrCorrupt            = store.ErrCorrupt
	ErrNoSpace            = store.ErrNoSpace
)

// Errors without a store or cluster counterpart.
var (
	ErrBadRequest  = errors.New("api: bad request")
	ErrRange       = errors.New("api: range not satisfiable")
	ErrJobNotFound = errors.New("api: job not found")
	ErrJobFinished = errors.New("api: job already finished")
	// ErrJobBusy: a job of that kind already runs on the bucket.
	ErrJobBusy     = errors.New("api: a job of that kind already runs")
	ErrUnavailable = errors.New("api: service unavailable")
	// ErrIncompleteListing: a listing page left out the objects of
	// targets that could not be listed (offline); it wraps ErrUnavailable.
	ErrIncompleteListing = fmt.Errorf("%w: listing incomplete", ErrUnavailable)
	// ErrNoQuorum: the gateways cannot agree on a control change now (no
	// majority answers); data requests still work.
	ErrNoQuorum         = errors.New("api: no quorum")
	ErrNotImplemented   = errors.New("api: not implemented")
	ErrTooManyRedirects = errors.New("api: too many redirects")
	ErrUnauthorized     = errors.New("api: unauthorized")
	// ErrForbidden: the token is valid but lacks the permission.
	ErrForbidden = errors.New("api: forbidden")
	// ErrBadGateway: something the node had to fetch for the request
	// (a dSort key map) could not be had.
	ErrBadGateway = errors.New("api: bad gateway")
	// ErrSlowBody: a request body arrived too slowly (408); ErrBodyCut:
	// it ended before what it announced (400). A node's, for the APIs it
	// serves.
	ErrSlowBody = errors.New("api: the request body arrived too slowly")
	ErrBodyCut  = errors.New("api: the request body ended early")
)

// Kinds name error conditions on the wire. They are stable: clients decode
// them back to the sentinels above.
const (
	KindNotFound        = "not-found"
	KindExists          = "exists"
	KindBucketNotFound  = "bucket-not-found"
	KindBucketExists    = "bucket-exists"
	KindInvalidName     = "invalid-name"
	KindInvalidProps    = "invalid-props"
	KindConflict        = "conflict"
	KindBadChecksum     = "bad-checksum"
	KindSizeMismatch    = "size-mismatch"
	KindCorrupt         = "corrupt"
	KindNoSpace         = "no-space"
	KindIO              = "io"
	KindBadRequest      = "bad-request"
	KindRange           = "range"
	KindNoTargets       = "no-targets"
	KindNodeNotFound    = "node-not-found"
	KindDuplicateNode   = "duplicate-node"
	KindNodeElsewhere   = "node-elsewhere"
	KindStaleMap        = "stale-map"
	KindJobNotFound     = "job-not-found"
	KindJobFinished     = "job-finished"
	KindJobBusy         = "job-busy"
	KindUnavailable     = "unavailable"
	KindNoQuorum        = "no-quorum"
	KindNotImplemented  = "not-implemented"
	KindUnknownChecksum = "unknown-checksum"
	KindUnauthorized    = "unauthorized"
	KindForbidden       = "forbidden"
	KindBadGateway      = "bad-gateway"
	KindInternal        = "internal"
)

// Kinds maps each kind to its sentinel; the gateway encodes with it and
// the client decodes with it. The store's kinds come first (store.Kinds).
var Kinds = append(slices.Clone(store.Kinds), errkind.Table{
	{Name: KindBadRequest, Err: ErrBadRequest},
	{Name: KindRange, Err: ErrRange},
	{Name: KindNoTargets, Err: cluster.ErrNoTargets},
	{Name: KindNodeNotFound, Err: cluster.ErrNodeNotFound},
	{Name: KindNodeElsewhere, Err: cluster.ErrNodeElsewhere}, // before the kind it is one of
	{Name: KindDuplicateNode, Err: cluster.ErrDuplicateNode},
	{Name: KindStaleMap, Err: cluster.ErrStaleMap},
	{Name: KindJobNotFound, Err: ErrJobNotFound},
	{Name: KindJobFinished, Err: ErrJobFinished},
	{Name: KindJobBusy, Err: ErrJobBusy},
	{Name: KindNoQuorum, Err: ErrNoQuorum},
	{Name: KindUnavailable, Err: ErrUnavailable},
	{Name: KindNotImplemented, Err: ErrNotImplemented},
	{Name: KindUnauthorized, Err: ErrUnauthorized},
	{Name: KindForbidden, Err: ErrForbidden},
	{Name: KindBadGateway, Err: ErrBadGateway},
}...)

// KindOf classifies an error; unknown errors are KindInternal.
func KindOf(err error) string {
	if kind := Kinds.Of(err); kind != "" {
		return kind
	}
	return KindInternal
}

// TypeCodes are AIStore's error type codes (the "tcode" of its error
// bodies) of the kinds its clients branch on.
var TypeCodes = map[string]string{
	KindNotFound:       "ErrNotFound",
	KindBucketNotFound: "ErrBckNotFound",
	KindBucketExists:   "ErrBucketAlreadyExists",
	KindRange:          "ErrRangeNotSatisfiable",
	KindNoSpace:        "ErrCapExceeded",
	KindJobNotFound:    "ErrXactNotFound",
	KindInvalidName:    "ErrInvalidName",
	KindUnauthorized:   "ErrUnauthorized",
}

// Error is an error returned by a node.
type Error struct {
	// TCode is AIStore's type code of the error (see TypeCodes).
	TCode   string `json:"tcode,omitempty"`
	Status  int    `json:"status"`
	Kind    string `json:"kind,omitempty"`
	Message string `json:"message"`
	Method  string `json:"method,omitempty"`
	Path    string `json:"url_path,omitempty"`
	Node    string `json:"node,omitempty"`
	// proxy: the answer was no node's (DecodeError), a proxy's in front.
	proxy bool
}

func (e *Error) Error() string {
	if e.Node != "" {
		return fmt.Sprintf("%s (node %s, status %d)", e.Message, e.Node, e.Status)
	}
	return fmt.Sprintf("%s (status %d)", e.Message, e.Status)
}

// Unwrap returns the sentinel of the error's kind, or one derived from the
// status when the kind is unknown.
func (e *Error) Unwrap() error {
	if sentinel := Kinds.Err(e.Kind); sentinel != nil {
		return sentinel
	}
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusRequestedRangeNotSatisfiable:
		return ErrRange
	case http.StatusInsufficientStorage:
		return ErrNoSpace
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	case http.StatusBadRequest:
		return ErrBadRequest
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusBadGateway:
		return ErrBadGateway
	case http.StatusConflict:
		return ErrConflict
	case http.StatusPreconditionFailed:
		return ErrPreconditionFailed
	case http.StatusGone:
		return ErrJobFinished
	case http.StatusRequestTimeout:
		return ErrSlowBody
	}
	return nil
}
