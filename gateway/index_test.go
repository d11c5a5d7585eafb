package gateway_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/storetest"
)

// checkIndexes reads each shard's index and every member through it, by
// one range GET, and compares with the shard read whole.
func checkIndexes(t *testing.T, client *api.Client, bucket string, shards []string) (members int) {
	t.Helper()
	ctx := t.Context()
	for _, name := range shards {
		data, err := client.GetBytes(ctx, bucket, formats.IndexName(name), api.GetOptions{})
		if err != nil {
			t.Fatalf("index of %s: %v", name, err)
		}
		idx, err := formats.DecodeIndex(data)
		if err != nil {
			t.Fatal(err)
		}
		shard, err := client.GetBytes(ctx, bucket, name, api.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := formats.BuildIndex(formats.Tar{}, bytes.NewReader(shard), int64(len(shard)), name)
		if err != nil {
			t.Fatal(err)
		}
		if idx.Shard != name || idx.ShardSize != int64(len(shard)) || len(idx.Members) != len(want.Members) || len(idx.Members) == 0 {
			t.Fatalf("index of %s: %+v", name, idx)
		}
		// The shard's checksum, for readers to tell a shard rewritten
		// to the same size since.
		meta, err := client.Head(ctx, bucket, name)
		if err != nil || idx.ShardChecksum == nil || idx.ShardChecksum.Value != meta.Checksum.Value || idx.ShardChecksum.Type != meta.Checksum.Type {
			t.Fatalf("index of %s: shard checksum %+v, the shard's %+v (%v)", name, idx.ShardChecksum, meta.Checksum, err)
		}
		for i, m := range idx.Members {
			if m != want.Members[i] {
				t.Fatalf("%s member %d: %+v, want %+v", name, i, m, want.Members[i])
			}
			if i%7 != 0 {
				continue
			}
			got, err := client.GetBytes(ctx, bucket, name, api.GetOptions{Offset: m.DataOffset, Length: m.Size})
			if m.Size > 0 && (err != nil || !bytes.Equal(got, shard[m.DataOffset:m.DataOffset+m.Size])) {
				t.Fatalf("%s member %s by range: %v", name, m.Name, err)
			}
		}
		members += len(idx.Members)
	}
	return members
}

func TestIndexShardsJob(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "ds", nil)
	putDataset(t, client, "ds", datasets.Spec{Template: "sh-{0..5}.tar", Records: 10, RecordSize: 700, Extensions: []string{".jpg", ".cls"}, Seed: 3})
	putDataset(t, client, "ds", datasets.Spec{Template: "z-{0..1}.tgz", Records: 3, RecordSize: 100, Extensions: []string{".bin"}, Seed: 4})
	id, err := client.IndexShards(ctx, "ds", api.ListRange{Template: "sh-{0..3}.tar"})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || j.Objects != 4 {
		t.Fatalf("index job: %+v %v, want 4 shards", j, err)
	}
	if got := checkIndexes(t, client, "ds", []string{"sh-0.tar", "sh-1.tar", "sh-2.tar", "sh-3.tar"}); got != 4*20 {
		t.Fatalf("%d members indexed, want 80", got)
	}
	if _, _, err := client.Get(ctx, "ds", "sh-4.tar.idx", api.GetOptions{}); err == nil {
		t.Fatal("sh-4.tar was not selected, yet it has an index")
	}
	// Every tar shard of the bucket; the tgz ones are skipped.
	id, _ = client.IndexShards(ctx, "ds", api.ListRange{})
	if j, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || j.Objects != 6 {
		t.Fatalf("index of the whole bucket: %+v %v, want 6 shards", j, err)
	}
	if _, _, err := client.Get(ctx, "ds", "z-0.tgz.idx", api.GetOptions{}); err == nil {
		t.Fatal("a tgz shard was indexed")
	}
	// A corrupt shard fails the job, naming the shard.
	client.Put(ctx, "ds", "bad.tar", strings.NewReader(strings.Repeat("x", 3000)), api.PutOptions{Size: 3000})
	id, _ = client.IndexShards(ctx, "ds", api.ListRange{ObjNames: []string{"bad.tar"}})
	if j, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || len(j.Errors) == 0 || !strings.Contains(j.Errors[0], "bad.tar") {
		t.Fatalf("index of a corrupt shard: %+v %v", j, err)
	}
	// The others are indexed all the same: a bad shard listed first
	// does not leave every shard after it on its target without one.
	client.CreateBucket(ctx, "mixed", nil)
	putDataset(t, client, "mixed", datasets.Spec{Template: "sh-{0..5}.tar", Records: 2, RecordSize: 100, Extensions: []string{".bin"}, Seed: 6})
	for _, name := range []string{"a-bad-0.tar", "a-bad-1.tar", "a-bad-2.tar"} {
		client.Put(ctx, "mixed", name, strings.NewReader(strings.Repeat("x", 3000)), api.PutOptions{Size: 3000})
	}
	id, _ = client.IndexShards(ctx, "mixed", api.ListRange{})
	if j, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || len(j.Errors) == 0 || !strings.Contains(fmt.Sprint(j.Errors), "a-bad-") {
		t.Fatalf("index of a bucket with corrupt shards: %+v %v", j, err)
	}
	checkIndexes(t, client, "mixed", []string{"sh-0.tar", "sh-1.tar", "sh-2.tar", "sh-3.tar", "sh-4.tar", "sh-5.tar"})
	// A shard at the name limits has no valid index name: the job goes
	// on with the others and fails naming it.
	client.CreateBucket(ctx, "long", nil)
	putDataset(t, client, "long", datasets.Spec{Template: "z-{0..9}.tar", Records: 2, RecordSize: 100, Extensions: []string{".bin"}, Seed: 5})
	long := "a" + strings.Repeat("x", 250) + ".tar" // listed first on its target
	if shard, err := client.GetBytes(ctx, "long", "z-0.tar", api.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if _, err := client.Put(ctx, "long", long, bytes.NewReader(shard), api.PutOptions{Size: int64(len(shard))}); err != nil {
		t.Fatal(err)
	}
	id, _ = client.IndexShards(ctx, "long", api.ListRange{})
	if j, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || len(j.Errors) == 0 || !strings.Contains(j.Errors[0], "xxxx") {
		t.Fatalf("index of a shard with no valid index name: %+v %v, want an error naming it", j, err)
	}
	var others []string
	for i := range 10 {
		others = append(others, fmt.Sprintf("z-%d.tar", i))
	}
	checkIndexes(t, client, "long", others)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Primary().URL()+"/v1/buckets/ds", strings.NewReader(`{"action":"index-shard","value":{"template":"sh-{3..1}.tar"}}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bad template: %v %v", resp, err)
	}
}

// A shard written while the index job read it gets no index of the
// version before (it would replace the new version's, written since by
// another job): the job fails naming it, to be run again.
func TestIndexOfAShardWrittenMeanwhileIsNotWritten(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "ds", nil)
	putDataset(t, client, "ds", datasets.Spec{Template: "sh-{0..1}.tar", Records: 4, RecordSize: 100, Extensions: []string{".bin"}, Seed: 3})
	other, err := client.GetBytes(ctx, "ds", "sh-1.tar", api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	defer gateway.OnIndexBuilt(func(shard string) {
		if shard == "sh-0.tar" {
			once.Do(func() {
				if _, err := client.Put(ctx, "ds", "sh-0.tar", bytes.NewReader(other), api.PutOptions{Size: int64(len(other))}); err != nil {
					t.Error(err)
				}
			})
		}
	})()
	id, err := client.IndexShards(ctx, "ds", api.ListRange{ObjNames: []string{"sh-0.tar", "sh-1.tar"}})
	if err != nil {
		t.Fatal(err)
	}
	j, err := client.WaitJob(ctx, id, 20*time.Millisecond)
	if err != nil || !strings.Contains(fmt.Sprint(j.Errors), "written while they were indexed") || !strings.Contains(fmt.Sprint(j.Errors), "sh-0.tar") {
		t.Fatalf("an index job over a shard written meanwhile: %+v %v, want it failed naming the shard", j, err)
	}
	if _, err := client.Head(ctx, "ds", "sh-0.tar.idx"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the index of the version before was written: %v", err)
	}
	checkIndexes(t, client, "ds", []string{"sh-1.tar"})
}

// dSort with output_index writes an index beside every output shard.
func TestDsortOutputIndex(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{0..4}.tar", Records: 20, RecordSize: 500, Extensions: []string{".jpg", ".cls"}, Seed: 5})
	id, err := client.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{0..4}.tar"},
		"output_format":"out-{00..99}.tar","output_shard_size":"20KiB","algorithm":{"kind":"shuffle","seed":"5"},"output_index":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if sum := waitDsort(t, client, id); !sum.Archived || sum.Aborted {
		t.Fatalf("job ended %+v", sum)
	}
	var shards []string
	for e, err := range client.ListAll(ctx, "dst", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		if !formats.IsIndexName(e.Name) {
			shards = append(shards, e.Name)
		}
	}
	if len(shards) < 2 {
		t.Fatalf("output shards %v", shards)
	}
	if got := checkIndexes(t, client, "dst", shards); got != 5*20*2 {
		t.Fatalf("%d members indexed, want 200", got)
	}
	if _, err := client.DsortStart(ctx, []byte(`{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..4}.tar"},
		"output_format":"out-{00..99}.tgz","output_index":true}`)); err == nil || !strings.Contains(err.Error(), "output_index") {
		t.Fatalf("output_index with tgz output: %v", err)
	}
}

// The removal of a job's copy on its owner is a delete with its place in
// the name's history (a stamp), not only the copy's: while a mountpath is
// away, the store leaves a tombstone for it, and a copy of the job's
// output there does not come back. The copy was written through: in a
// remote bucket the remote's object goes too (as through a peer), not
// left to come back at the next GET.
func TestJobRemovalOnTheOwnerIsStamped(t *testing.T) {
	var recorder *storetest.DeleteRecorder
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true, Configure: func(cfg *gateway.Config) {
		recorder = &storetest.DeleteRecorder{Store: cfg.Store}
		cfg.Store = recorder
	}})
	ctx := t.Context()
	if err := c.Client().CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	b := store.NewBucket("b")
	ow := gateway.OwnerWriter(c.Targets()[0].Node)
	written, err := ow.PutToOwner(ctx, b, "s.tar.idx", []byte("job's"), map[string]string{pipeline.CustomJob: "srt-x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ow.DeleteJobFromOwner(ctx, b, "s.tar.idx", "srt-x", 0); err != nil {
		t.Fatal(err)
	}
	deletes := recorder.Deletes()
	if len(deletes) != 1 {
		t.Fatalf("%d deletes, want 1", len(deletes))
	}
	if got := deletes[0]; got.IfStamp != written || got.Stamp.Compare(written) <= 0 || !got.WrittenThrough {
		t.Fatalf("the removal of the job's copy %v: IfStamp %v, Stamp %v, written through %v; want its stamp, a later one, and the remote's too", written, got.IfStamp, got.Stamp, got.WrittenThrough)
	}
}

// A target writes an index through the target that owns its name, and
// removes it there, unless a newer one was written meanwhile.
func TestIndexThroughItsOwner(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "b", nil)
	b := store.NewBucket("b")
	targets := c.Targets()
	smap := c.WaitForMap(3)
	// A name the second target owns, written from the first.
	name := ""
	for i := 0; name == ""; i++ {
		if owner, _ := smap.Owner(cluster.Uname("ais", "b", fmt.Sprintf("s%d.tar.idx", i))); owner.ID == targets[1].Node.ID() {
			name = fmt.Sprintf("s%d.tar.idx", i)
		}
	}
	ow := gateway.OwnerWriter(targets[0].Node)
	stamp, err := ow.PutToOwner(ctx, b, name, []byte("first"), nil)
	if err != nil || stamp.IsZero() {
		t.Fatalf("put through the owner: %v %v", stamp, err)
	}
	if got, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != "first" {
		t.Fatalf("the index through its owner: %q %v", got, err)
	}
	// Written again since: the removal of the first leaves it.
	if _, err := ow.PutToOwner(ctx, b, name, []byte("second"), nil); err != nil {
		t.Fatal(err)
	}
	ow.DeleteFromOwner(ctx, b, name, stamp)
	if got, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != "second" {
		t.Fatalf("a newer index after the removal of an older: %q %v", got, err)
	}
	meta, err := client.Head(ctx, "b", name)
	if err != nil {
		t.Fatal(err)
	}
	if err := ow.DeleteFromOwner(ctx, b, name, meta.Stamp); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the index after its removal: %v", err)
	}
	// The removal of a job's own copy, as a restarted target's recovery
	// asks it: another job's stays, the job's goes.
	if _, err := ow.PutToOwner(ctx, b, name, []byte("job's"), map[string]string{pipeline.CustomJob: "srt-x"}); err != nil {
		t.Fatal(err)
	}
	if err := ow.DeleteJobFromOwner(ctx, b, name, "srt-y", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil {
		t.Fatalf("an index of another job after a job's removal: %v", err)
	}
	if err := ow.DeleteJobFromOwner(ctx, b, name, "srt-x", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the job's index after its removal: %v", err)
	}
	// The recovery of an attempt cut short leaves a later attempt's copy,
	// through the owner (the first target) or on it (the second).
	for _, writer := range []gateway.OwnerWriterStore{ow, gateway.OwnerWriter(targets[1].Node)} {
		if _, err := writer.PutToOwner(ctx, b, name, []byte("attempt 2's"), map[string]string{pipeline.CustomJob: "srt-x", pipeline.CustomAttempt: "2"}); err != nil {
			t.Fatal(err)
		}
		if err := writer.DeleteJobFromOwner(ctx, b, name, "srt-x", 2); err != nil {
			t.Fatal(err)
		}
		if got, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); err != nil || string(got) != "attempt 2's" {
			t.Fatalf("a later attempt's index after the removal of attempts 0 and 1: %q %v", got, err)
		}
		if err := writer.DeleteJobFromOwner(ctx, b, name, "srt-x", 3); err != nil {
			t.Fatal(err)
		}
		if _, err := client.GetBytes(ctx, "b", name, api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("attempt 2's index after the removal of attempts up to 2: %v", err)
		}
	}
}
