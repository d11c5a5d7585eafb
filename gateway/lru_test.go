package gateway

import (
	"slices"
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
}
