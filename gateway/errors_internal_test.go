package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

// A remote's refusal answers 403, also when it comes wrapped as the
// remote's failure (the dial's refusal of an origin this cluster does
// not fetch from); a remote that fails answers 503.
func TestRemoteRefusalsAreForbidden(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("%w: dial: %w", store.ErrRemote, api.ErrForbidden): http.StatusForbidden,
		fmt.Errorf("%w: AccessDenied", store.ErrRemoteForbidden):      http.StatusForbidden,
		fmt.Errorf("%w: connection refused", store.ErrRemote):         http.StatusServiceUnavailable,
	} {
		if got := statusOf(err); got != want {
			t.Errorf("%v: %d, want %d", err, got, want)
		}
	}
}

// An erasure-coded object short of the parts it reached is 503, to
// retry: not 404 (it is not absent), not 500 (it is not corrupt).
func TestUnreachedPartsAreUnavailable(t *testing.T) {
	err := fmt.Errorf("restore ais://b/o: %w", fmt.Errorf("ec: parts could not be read: %w: 1 good slice of the 2 needed", store.ErrUnreached))
	if got := statusOf(err); got != http.StatusServiceUnavailable {
		t.Fatalf("%v: %d, want 503", err, got)
	}
	if !notHere(err) {
		t.Fatal("a restore short of parts does not send a read to the neighbors")
	}
}

// What a node cannot do as it runs (a dry run's write to a remote) is
// 501, not a bad request.
func TestUnsupportedIsNotImplemented(t *testing.T) {
	err := fmt.Errorf("write through aws://b/o: %w: a dry run", store.ErrUnsupported)
	if got := statusOf(err); got != http.StatusNotImplemented {
		t.Fatalf("%v: %d, want 501", err, got)
	}
	// Not a system call's "not supported" (a filesystem without xattrs):
	// that is the server's failure, 500.
	if got := statusOf(fmt.Errorf("set xattr: %w", syscall.ENOTSUP)); got != http.StatusInternalServerError {
		t.Fatalf("ENOTSUP: %d, want 500", got)
	}
}

// A records fetch refused before any byte is answered as what it is: a
// job aborted, or a record asked for twice, is a conflict (the creator
// took a dropped connection for its holder unreachable).
func TestRecordsRefusedBeforeAnyByteAreSaid(t *testing.T) {
	for _, err := range []error{fmt.Errorf("%w: srt-1", pipeline.ErrAborted), fmt.Errorf("%w: record 1/2 was asked for already", pipeline.ErrPhase)} {
		rec := httptest.NewRecorder()
		out := newStallWriter(rec, 0, 0)
		if out.wrote.Load() {
			t.Fatal("a writer that wrote nothing says it wrote")
		}
		if got := statusOf(dsortError(err)); got != http.StatusConflict {
			t.Fatalf("%v: %d, want 409", err, got)
		}
	}
	rec := httptest.NewRecorder()
	out := newStallWriter(rec, 0, 0)
	out.Write([]byte("x"))
	if !out.wrote.Load() {
		t.Fatal("a writer that wrote says it did not")
	}
}

// An object's copies as HEAD and the listing count them: of its current
// version only (a stale copy is no redundancy).
func TestCurrentCopiesLeaveStaleOnes(t *testing.T) {
	copies := []store.ObjectCopy{{Mountpath: "/mp1", Current: false}, {Mountpath: "/mp2", Current: true}, {Mountpath: "/mp3", Current: true}}
	current := currentCopies(copies)
	if len(current) != 2 || current[0].Mountpath != "/mp2" || len(copies) != 3 {
		t.Fatalf("current copies %+v of %+v", current, copies)
	}
}

// A node not ready yet answers the cluster's metadata and settings on
// /v1/daemon as /v1/cluster does, 503, not its defaults or nothing.
func TestDaemonMetadataWaitsForReady(t *testing.T) {
	n := &Node{config: Config{ID: "g1"}, logger: slog.New(slog.DiscardHandler)}
	for _, what := range []string{whatMap, whatBuckets, whatConfig, whatClusterConfig} {
		w := httptest.NewRecorder()
		n.handleDaemonGet(w, httptest.NewRequest(http.MethodGet, "/v1/daemon?what="+what, nil))
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "starting") {
			t.Errorf("what=%s of a node starting: %d %s, want 503", what, w.Code, w.Body)
		}
	}
}
