package gateway

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/aisgo/aisgo/api"
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
