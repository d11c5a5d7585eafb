package gateway

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
)

// LRU takes only buckets with LRU on, only objects read before their
// bucket's dont_evict_time, the least recently read first.
func TestLRUCandidates(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	hot := store.Bucket{Provider: store.ProviderAWS, Name: "hot"}
	keep := store.NewBucket("keep")
	young := store.Bucket{Provider: store.ProviderAWS, Name: "young"}
	// An ais:// bucket with LRU on (its props copied from a remote one)
	// holds the only copy of its objects.
	local := store.NewBucket("local")
	props := func(enabled bool, dontEvict time.Duration) store.Props {
		p := store.DefaultProps()
		p.LRU = store.LRUProps{Enabled: enabled, DontEvictTime: store.Duration(dontEvict)}
		return p
	}
	buckets := map[store.Bucket]store.Props{hot: props(true, 0), keep: props(false, 0), young: props(true, time.Hour), local: props(true, 0)}
	objects := map[store.Bucket][]store.ObjectMeta{
		hot:   {{Name: "b", Atime: now.Add(-time.Minute)}, {Name: "a", Atime: now.Add(-time.Hour)}, {Name: "c", Atime: now.Add(-time.Second)}},
		keep:  {{Name: "k", Atime: now.Add(-48 * time.Hour)}},
		local: {{Name: "l", Atime: now.Add(-72 * time.Hour)}},
		young: {{Name: "y1", Atime: now.Add(-10 * time.Minute)}, {Name: "y2", Atime: now.Add(-2 * time.Hour)}},
	}
	list := func(b store.Bucket, fn func(store.ObjectMeta) error) error {
		for _, o := range objects[b] {
			if err := fn(o); err != nil {
				return err
			}
		}
		return nil
	}
	names := func(limit int) []string {
		got, err := lruCandidates(buckets, list, now, limit)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range got {
			names = append(names, c.bucket.Name+"/"+c.name)
		}
		return names
	}
	if got, want := names(100), []string{"young/y2", "hot/a", "hot/b", "hot/c"}; !slices.Equal(got, want) {
		t.Fatalf("candidates %v, want %v", got, want)
	}
	// Past the limit, the least recently read are kept, whatever order
	// the listing gives.
	if got, want := names(2), []string{"young/y2", "hot/a"}; !slices.Equal(got, want) {
		t.Fatalf("2 candidates %v, want %v", got, want)
	}
	// A bucket that cannot be listed is left out, named; the others'
	// objects are candidates all the same.
	failing := func(b store.Bucket, fn func(store.ObjectMeta) error) error {
		if b == young {
			return errors.New("read error in a directory")
		}
		return list(b, fn)
	}
	got, err := lruCandidates(buckets, failing, now, 100)
	if err == nil || !strings.Contains(err.Error(), "young") || len(got) != 3 {
		t.Fatalf("with one bucket unlistable: %d candidates, %v; want hot's 3 and an error naming young", len(got), err)
	}
}

// LRU frees room where it is needed: only objects with a copy on a
// mountpath over lowwm go, the least recently read first, and no more
// than that mountpath needs.
func TestLRUPlan(t *testing.T) {
	b := store.Bucket{Provider: store.ProviderAWS, Name: "cache"}
	on := map[string][]string{"old-on-2": {"/mp2"}, "a-on-1": {"/mp1"}, "b-on-1": {"/mp1"}, "c-on-1": {"/mp1"}, "mirrored": {"/mp1", "/mp2"}}
	locate := func(c lruCandidate) []string { return on[c.name] }
	candidates := []lruCandidate{
		{bucket: b, name: "old-on-2", size: 500}, {bucket: b, name: "a-on-1", size: 60},
		{bucket: b, name: "b-on-1", size: 60}, {bucket: b, name: "c-on-1", size: 60},
	}
	names := func(cs []lruCandidate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.name)
		}
		return out
	}
	plan, rest := lruPlan(candidates, locate, map[string]int64{"/mp1": 100})
	if got, want := names(plan), []string{"a-on-1", "b-on-1"}; !slices.Equal(got, want) {
		t.Fatalf("/mp1 over by 100: evict %v, want %v", got, want)
	}
	if got, want := names(rest), []string{"old-on-2", "c-on-1"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	// A mountpath over lowwm with nothing LRU may evict on it: nothing
	// goes from the others.
	if plan, _ := lruPlan(candidates[:1], locate, map[string]int64{"/mp1": 100}); len(plan) != 0 {
		t.Fatalf("evicts %v from /mp2 for /mp1", names(plan))
	}
	// A mirrored object frees room on each of its mountpaths.
	plan, _ = lruPlan([]lruCandidate{{bucket: b, name: "mirrored", size: 200}, {bucket: b, name: "old-on-2", size: 500}}, locate, map[string]int64{"/mp1": 100, "/mp2": 100})
	if got, want := names(plan), []string{"mirrored"}; !slices.Equal(got, want) {
		t.Fatalf("both over by 100: evict %v, want %v", got, want)
	}
	// Its two copies on one filesystem (two of its mountpaths) free
	// twice its size there: one 60-byte object for 100 bytes, not two.
	filesystemOf := map[string]string{"/mp1": "/dev/sda", "/mp2": "/dev/sda"}
	onOne := func(lruCandidate) []string {
		return copiesOn([]store.ObjectCopy{{Mountpath: "/mp1"}, {Mountpath: "/mp2"}}, filesystemOf)
	}
	plan, _ = lruPlan([]lruCandidate{{bucket: b, name: "x", size: 60}, {bucket: b, name: "y", size: 60}}, onOne, map[string]int64{"/dev/sda": 100})
	if got, want := names(plan), []string{"x"}; !slices.Equal(got, want) {
		t.Fatalf("two copies on one filesystem over by 100: evict %v, want %v", got, want)
	}
}

// Mountpaths on one filesystem are one place to free, of the
// filesystem's excess once; mountpaths on their own filesystems each
// have theirs.
func TestLRUExcessByFilesystem(t *testing.T) {
	list := []store.MountpathCapacity{
		{Path: "/d/mp1", Used: 80, Total: 100, Filesystem: "fs1"},
		{Path: "/d/mp2", Used: 80, Total: 100, Filesystem: "fs1"},
		{Path: "/e/mp3", Used: 60, Total: 100, Filesystem: "fs2"},
		{Path: "/f/mp4", Used: 90, Total: 100}, // not known: its own
	}
	over, of := lruExcess(list, 75)
	if want := map[string]int64{"fs1": 6, "/f/mp4": 16}; !maps.Equal(over, want) {
		t.Fatalf("excess %v, want %v", over, want)
	}
	if of["/d/mp1"] != "fs1" || of["/d/mp2"] != "fs1" || of["/e/mp3"] != "fs2" || of["/f/mp4"] != "/f/mp4" {
		t.Fatalf("filesystems %v", of)
	}
}

// Percents and shares of them do not wrap on filesystems past 92 PB.
func TestPercentsOfHugeFilesystems(t *testing.T) {
	const petabyte = int64(1) << 50
	if got := percent(7000*petabyte, 8000*petabyte); got != 87 {
		t.Fatalf("7000 PB of 8000 PB is %d%%, want 87", got)
	}
	if got := percent(3, 4); got != 75 {
		t.Fatalf("3 of 4 is %d%%, want 75", got)
	}
	if got := percent(5, 0); got != 0 {
		t.Fatalf("5 of an unknown size is %d%%, want 0", got)
	}
	if got := percentOf(8000*petabyte, 75); got != 6000*petabyte {
		t.Fatalf("75%% of 8000 PB is %d, want %d", got, 6000*petabyte)
	}
	over, _ := lruExcess([]store.MountpathCapacity{{Path: "/big", Used: 7000 * petabyte, Total: 8000 * petabyte}}, 75)
	if want := 1000*petabyte + 1; over["/big"] != want {
		t.Fatalf("excess of a 8000 PB filesystem 87%% full: %d, want %d", over["/big"], want)
	}
}

// A run evicts by its buckets' props of the moment: LRU turned off, or
// the bucket gone, meanwhile evicts nothing more of it, and a longer
// dont_evict_time keeps what it now covers.
func TestLRUCutoffNow(t *testing.T) {
	b := store.Bucket{Provider: "aws", Name: "cache"}
	listed := time.Now().Add(-time.Hour)
	c := lruCandidate{bucket: b, name: "o", cutoff: listed}
	md := store.NewBucketMetadata()
	props := store.DefaultProps()
	props.LRU.Enabled, props.LRU.DontEvictTime = true, store.Duration(time.Hour)
	md.Set(b, props)
	if cutoff, ok := lruCutoffNow(&md, c); !ok || !cutoff.Equal(listed) {
		t.Fatalf("props unchanged: %v %v, want the listing's cutoff", cutoff, ok)
	}
	props.LRU.DontEvictTime = store.Duration(48 * time.Hour)
	md.Set(b, props)
	if cutoff, ok := lruCutoffNow(&md, c); !ok || !cutoff.Before(time.Now().Add(-47*time.Hour)) {
		t.Fatalf("dont_evict_time raised to 48h: cutoff %v %v, want 48h ago", cutoff, ok)
	}
	props.LRU.Enabled = false
	md.Set(b, props)
	if _, ok := lruCutoffNow(&md, c); ok {
		t.Fatal("LRU turned off: the candidate is still evicted")
	}
	if _, ok := lruCutoffNow(&store.BucketMetadata{}, c); ok {
		t.Fatal("the bucket gone: the candidate is still evicted")
	}
}
