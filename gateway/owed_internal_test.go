package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/store"
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
	n.settleAway.since = map[string]map[string]time.Time{"running": {"t1": time.Now()}, "ended": {"t1": time.Now()}, "gone": {"t1": time.Now()}}
	n.settleAway.lost = map[string]string{"running": "lost", "gone": "lost"}
	n.forgetSettleWaits(map[string]membership.Job{
		"running": {ID: "running", State: membership.JobRunning},
		"ended":   {ID: "ended", State: membership.JobFinished},
	})
	if _, ok := n.settleAway.since["running"]; !ok || len(n.settleAway.since) != 1 {
		t.Fatalf("waits kept: %v, want the running job's alone", n.settleAway.since)
	}
	if _, ok := n.settleAway.lost["running"]; !ok || len(n.settleAway.lost) != 1 {
		t.Fatalf("verdicts kept: %v, want the running job's alone", n.settleAway.lost)
	}
}

// A settle's wait is each target's: one away since long does not count
// for another just gone away (a restart, keepalives missed), whose part
// would be counted lost at once.
func TestSettleWaitsAreEachTargets(t *testing.T) {
	saved := settleAwayWait.Swap(int64(50 * time.Millisecond))
	t.Cleanup(func() { settleAwayWait.Store(saved) })
	n := &Node{logger: slog.New(slog.DiscardHandler)}
	j := membership.Job{ID: "j"}
	if n.waitedForAway(j, []string{"t3"}) {
		t.Fatal("a target just found away was not waited for")
	}
	time.Sleep(60 * time.Millisecond)
	if n.waitedForAway(j, []string{"t2"}) {
		t.Fatal("a target just found away was counted lost on another's wait")
	}
	if !n.waitedForAway(j, nil) || len(n.settleAway.since) != 0 {
		t.Fatalf("none away: the waits kept %v", n.settleAway.since)
	}
	n.waitedForAway(j, []string{"t2"})
	time.Sleep(60 * time.Millisecond)
	if !n.waitedForAway(j, []string{"t2"}) {
		t.Fatal("a target away past the wait was not counted out")
	}
}

// crashingSync is a store that dies adopting bucket metadata.
type crashingSync struct {
	store.Store
	before store.BucketMetadata
}

func (s *crashingSync) Buckets(context.Context) (store.BucketMetadata, error) { return s.before, nil }

func (s *crashingSync) SyncBuckets(context.Context, store.BucketMetadata) error {
	return errors.New("the process died")
}

// A change of mirroring is noted as owed before the store adopts it: a
// crash between would have the store's version say the metadata is not
// new at the restart, and the copies never made.
func TestCopiesAreOwedBeforeTheMetadataIsAdopted(t *testing.T) {
	b := store.NewBucket("m")
	props := store.DefaultProps()
	props.Created = 1
	before := store.NewBucketMetadata()
	before.Version = 1
	before.Set(b, props)
	props.Mirror = store.MirrorProps{Enabled: true, Copies: 2}
	after := store.NewBucketMetadata()
	after.Version = 2
	after.Set(b, props)
	n := &Node{logger: slog.New(slog.DiscardHandler)}
	n.config.StateDir = t.TempDir()
	n.config.Store = &crashingSync{before: before}
	if err := n.syncBucketsOwing(t.Context(), after); err == nil {
		t.Fatal("a sync the store failed succeeded")
	}
	list, err := readOwed(filepath.Join(n.config.StateDir, owedFile))
	if err != nil || len(list) != 1 || list[0].Bucket != b || list[0].Version != 2 {
		t.Fatalf("owed on disk: %+v %v, want %s at version 2", list, err, b)
	}
}
