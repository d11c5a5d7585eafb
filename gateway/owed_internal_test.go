package gateway

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/cluster/membership"
)

// The file of owed copies is the node's own, but read back bounded and
// checked: a bucket name from it must not become a path unchecked.
func TestReadOwedRefusesWhatItCannotTrust(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if list, err := readOwed(filepath.Join(dir, "none")); err != nil || list != nil {
		t.Fatalf("no file: %v %v, want an empty list", list, err)
	}
	good := write("good", []byte(`[{"bucket":{"name":"m","provider":"ais"},"version":7}]`))
	if list, err := readOwed(good); err != nil || len(list) != 1 || list[0].Bucket.Name != "m" || list[0].Version != 7 {
		t.Fatalf("a good file: %+v %v", list, err)
	}
	cases := map[string][]byte{
		"a bucket name that climbs": []byte(`[{"bucket":{"name":"..","provider":"ais"},"version":7}]`),
		"not JSON":                  []byte(`[{`),
		"too big":                   append([]byte(`[`), bytes.Repeat([]byte(" "), maxOwedFile)...),
	}
	for what, data := range cases {
		path := write(strings.ReplaceAll(what, " ", "-"), data)
		if list, err := readOwed(path); err == nil {
			t.Errorf("%s: read as %+v", what, list)
		}
	}
}

// A settle's wait for targets away is forgotten once its job no longer
// runs: kept, a later orphaning of another job of that id (or the same
// job, much later) would be aborted at once as having waited long.
func TestSettleWaitsOfJobsNoLongerRunningAreForgotten(t *testing.T) {
	n := &Node{}
	n.settleAway.since = map[string]time.Time{"running": time.Now(), "ended": time.Now(), "gone": time.Now()}
	n.forgetSettleWaits(map[string]membership.Job{
		"running": {ID: "running", State: membership.JobRunning},
		"ended":   {ID: "ended", State: membership.JobFinished},
	})
	if _, ok := n.settleAway.since["running"]; !ok || len(n.settleAway.since) != 1 {
		t.Fatalf("waits kept: %v, want the running job's alone", n.settleAway.since)
	}
}
