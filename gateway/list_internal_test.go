package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/fs"
)

// jsonLength is what the JSON encoder makes of a name: the archive
// listing's budget is charged what the answer takes, escapes and all.
func TestJSONLength(t *testing.T) {
	for _, s := range []string{"", "plain.jpg", "<a&b>", "\x00\x01\n", "quote\"back\\", "ünïcode/名前", "bad\xff\xfe", "\u2028\u2029", strings.Repeat("<", 1000)} {
		encoded, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := jsonLength(s), len(encoded)-2; got != want {
			t.Errorf("jsonLength(%q) = %d, the encoder writes %d", s, got, want)
		}
	}
}

// countingLists counts the objects the store's listings return.
type countingLists struct {
	store.Store
	listed atomic.Int64
}

func (s *countingLists) List(ctx context.Context, b store.Bucket, opts store.ListOptions) ([]store.ObjectMeta, error) {
	page, err := s.Store.List(ctx, b, opts)
	s.listed.Add(int64(len(page)))
	return page, err
}

// A level of directories is listed reading a few objects of each, not
// every object below it.
func TestListLevelReadsLittleOfEachDirectory(t *testing.T) {
	st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("level")
	if err := st.CreateBucket(t.Context(), b, store.Props{}); err != nil {
		t.Fatal(err)
	}
	for d := range 5 {
		for i := range 200 {
			name := fmt.Sprintf("d%d/o%03d", d, i)
			if _, err := st.Put(t.Context(), b, name, strings.NewReader("x"), store.PutOptions{Size: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	st.Put(t.Context(), b, "top", strings.NewReader("x"), store.PutOptions{Size: 1})
	counting := &countingLists{Store: st}
	n := &Node{config: Config{Store: counting}}
	objects, dirs, err := n.listLevel(t.Context(), b, store.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) != 1 || len(dirs) != 5 {
		t.Fatalf("the level lists %d objects and %d directories, want 1 and 5", len(objects), len(dirs))
	}
	if listed := counting.listed.Load(); listed > 100 {
		t.Fatalf("%d objects read to list a level of 5 directories and 1 object", listed)
	}
}
