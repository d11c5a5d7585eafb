package gateway

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aisgo/aisgo/internal/hlc"
)

// A clock lease that cannot be read starts the clock past the time it
// was written (a wall clock stepped back since stays behind it), never
// at what a failed parse gives: an out-of-range lease made ParseInt's
// bound every stamp's, past any other for good.
func TestUnreadableClockLease(t *testing.T) {
	written := time.Now().Add(time.Hour) // as if the wall clock stepped back an hour since
	for _, lease := range []string{"99999999999999999999", "not a number"} {
		dir := t.TempDir()
		path := filepath.Join(dir, clockFile)
		if err := os.WriteFile(path, []byte(lease), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, written, written); err != nil {
			t.Fatal(err)
		}
		n := &Node{config: Config{StateDir: dir}, clock: hlc.New(time.Now), logger: slog.New(slog.DiscardHandler)}
		n.keepClock()
		got := n.clock.Now()
		if got <= written.UnixNano() || got > written.Add(time.Minute).UnixNano() {
			t.Fatalf("lease %q written at %v: the clock starts at %v, want just past the write", lease, written, time.Unix(0, got))
		}
	}
}
