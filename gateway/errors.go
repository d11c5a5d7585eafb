package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// statuses maps error conditions to HTTP statuses; the first match wins.
var statuses = []struct {
	err    error
	status int
}{
	// Refusals before ErrRemote, which wraps the dial's refusal of an
	// origin this cluster does not fetch from: asking again won't help.
	{store.ErrRemoteForbidden, http.StatusForbidden},
	{api.ErrForbidden, http.StatusForbidden},
	{store.ErrRemote, http.StatusServiceUnavailable},
	// An erasure-coded object short of the parts it could read now: not
	// absent, not corrupt; asked again, it may be rebuilt.
	{store.ErrUnreached, http.StatusServiceUnavailable},
	{store.ErrBucketSealed, http.StatusServiceUnavailable},
	{store.ErrBucketBehind, http.StatusServiceUnavailable},
	{store.ErrPlacementChanged, http.StatusServiceUnavailable},
	{store.ErrBucketNotEmpty, http.StatusConflict},
	{store.ErrNotFound, http.StatusNotFound},
	{store.ErrBucketNotFound, http.StatusNotFound},
	{store.ErrBucketExists, http.StatusConflict},
	{store.ErrExists, http.StatusConflict},
	{store.ErrConflict, http.StatusConflict},
	{store.ErrPreconditionFailed, http.StatusPreconditionFailed},
	{store.ErrInvalidName, http.StatusBadRequest},
	{store.ErrInvalidProps, http.StatusBadRequest},
	{store.ErrInvalidToken, http.StatusBadRequest},
	{store.ErrBadChecksum, http.StatusBadRequest},
	{store.ErrSizeMismatch, http.StatusBadRequest},
	{store.ErrUnknownChecksum, http.StatusBadRequest},
	{store.ErrNoSpace, http.StatusInsufficientStorage},
	{store.ErrCorrupt, http.StatusInternalServerError},
	{store.ErrIO, http.StatusInternalServerError},
	{api.ErrBadRequest, http.StatusBadRequest},
	{api.ErrRange, http.StatusRequestedRangeNotSatisfiable},
	{api.ErrJobNotFound, http.StatusNotFound},
	{api.ErrJobFinished, http.StatusGone},
	{api.ErrJobBusy, http.StatusConflict},
	{pipeline.ErrJobBusy, http.StatusConflict},
	{pipeline.ErrJobNotFound, http.StatusNotFound},
	{pipeline.ErrJobRunning, http.StatusConflict},
	{store.ErrMountpath, http.StatusBadRequest},
	{store.ErrInvalidPart, http.StatusBadRequest},
	{api.ErrNoQuorum, http.StatusServiceUnavailable},
	{api.ErrUnavailable, http.StatusServiceUnavailable},
	{api.ErrNotImplemented, http.StatusNotImplemented},
	{store.ErrUnsupported, http.StatusNotImplemented},
	{api.ErrUnauthorized, http.StatusUnauthorized},
	{membership.ErrTooManyRevoked, http.StatusConflict},
	{membership.ErrTooManyBuckets, http.StatusConflict},
	{membership.ErrNoMap, http.StatusServiceUnavailable}, // no primary has led yet: ask again
	{membership.ErrMapChanged, http.StatusConflict},      // refused for good: a forward does not try again
	{api.ErrBadGateway, http.StatusBadGateway},
	{cluster.ErrNoTargets, http.StatusServiceUnavailable},
	{cluster.ErrNodeNotFound, http.StatusNotFound},
	{cluster.ErrDuplicateNode, http.StatusConflict},
	{cluster.ErrStaleMap, http.StatusConflict},
	{cluster.ErrNotPrimary, http.StatusForbidden},
	{cluster.ErrForeignMap, http.StatusConflict},
	{cluster.ErrVersionJump, http.StatusConflict},
	{cluster.ErrWipe, http.StatusConflict},
	{cluster.ErrInvalidNode, http.StatusBadRequest},
	{store.ErrBucketsJump, http.StatusConflict},
	{store.ErrBucketsWipe, http.StatusConflict},
	{errSlowBody, http.StatusRequestTimeout},
	{errBodyCut, http.StatusBadRequest},
	{context.Canceled, http.StatusServiceUnavailable},
	{context.DeadlineExceeded, http.StatusGatewayTimeout},
}

// statusOf returns the HTTP status of an error.
func statusOf(err error) int {
	var remote *api.Error
	if errors.As(err, &remote) && remote.Status != 0 {
		return remote.Status
	}
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			return s.status
		}
	}
	return http.StatusInternalServerError
}

// badRequest marks an error as the client's fault; a %w in format keeps
// the cause's chain.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{api.ErrBadRequest}, args...)...)
}

// withKind gives err the condition of a sentinel (its status and kind)
// and keeps its message.
func withKind(sentinel, err error) error { return kindedError{sentinel, err} }

type kindedError struct{ sentinel, err error }

func (e kindedError) Error() string   { return e.err.Error() }
func (e kindedError) Unwrap() []error { return []error{e.sentinel, e.err} }

// writeError sends err as AIStore's JSON error body; for HEAD, where a body
// is not allowed, the JSON goes into the Hdr-Error header.
func (n *Node) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if rec, ok := w.(errorRecorder); ok {
		rec.recordError(err)
	}
	if errors.Is(err, store.ErrBucketBehind) {
		// The store failed to apply a bucket's change: it tries again
		// with the primary's metadata, and the client after a while.
		err = fmt.Errorf("%w: %w", api.ErrUnavailable, err)
		w.Header().Set("Retry-After", "1")
		n.refreshBehind()
	}
	if errors.Is(err, errNoMember) {
		w.Header().Set(headerShardHeld, "true")
	}
	status := statusOf(err)
	// A dSort condition keeps its own kind, so that a coordinator gets
	// the sentinel back from a target (gateway/peer decodes it).
	kind := pipeline.Kinds.Of(err)
	if kind == "" {
		kind = api.KindOf(err)
	}
	body := api.Error{
		Status:  status,
		Kind:    kind,
		Message: n.redact(err.Error()),
		Method:  r.Method,
		Path:    r.URL.Path,
		Node:    n.config.ID,
	}
	var remote *api.Error
	if errors.As(err, &remote) {
		// Pass a peer's error through unchanged, naming the node it came from.
		body.Kind, body.Message, body.Node = remote.Kind, n.redact(remote.Message), remote.Node
	}
	body.TCode = api.TypeCodes[body.Kind]
	if status >= 500 {
		n.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	data, _ := json.Marshal(body)
	if r.Method == http.MethodHead {
		w.Header().Set(api.HeaderError, string(data))
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(data)
	w.Write([]byte("\n"))
}

// redact hides the node's data directories in a message for a client:
// where files live is for the log.
func (n *Node) redact(message string) string {
	for _, dir := range n.config.DataDirs {
		if dir != "" && dir != "/" {
			message = strings.ReplaceAll(message, dir, "<data>")
		}
	}
	return message
}

// writeJSON sends v with status 200.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
