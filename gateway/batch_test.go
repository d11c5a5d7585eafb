package gateway_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/store"
)

// batchFixture is a cluster with objects in two buckets and a tar shard.
func batchFixture(t *testing.T) (*gatewaytest.Cluster, *api.Client) {
	t.Helper()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	for _, b := range []string{"train", "labels"} {
		if err := client.CreateBucket(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		body := fmt.Sprintf("object %02d %s", i, strings.Repeat("x", i*100))
		if _, err := client.Put(ctx, "train", fmt.Sprintf("obj-%02d", i), strings.NewReader(body), api.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	client.Put(ctx, "labels", "all.csv", strings.NewReader("a,b\n"), api.PutOptions{Size: 4})
	f, _ := formats.Default().ByExtension(".tar")
	var shard bytes.Buffer
	w, _ := f.NewWriter(&shard)
	for _, m := range []string{"s1.jpg", "s1.cls", "s2.jpg"} {
		w.WriteHeader(&formats.Entry{Name: m, Size: int64(len(m))})
		io.WriteString(w, m)
	}
	w.Close()
	client.Put(ctx, "train", "shard-0.tar", bytes.NewReader(shard.Bytes()), api.PutOptions{Size: int64(shard.Len())})
	return c, client
}

// trainObjectNotOn names an object of the fixture's train bucket that
// target id does not own.
func trainObjectNotOn(t *testing.T, m *cluster.Map, id string) string {
	t.Helper()
	for i := range 20 {
		name := fmt.Sprintf("obj-%02d", i)
		if o, _ := m.Owner(cluster.Uname("ais", "train", name)); o.ID != id {
			return name
		}
	}
	t.Fatal("every object on one target")
	return ""
}

// readTar returns the names and contents of a tar, in order.
func readTar(t *testing.T, data []byte) ([]string, map[string]string) {
	t.Helper()
	var names []string
	contents := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, contents
		}
		if err != nil {
			t.Fatalf("the archive: %v", err)
		}
		body, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		contents[h.Name] = string(body)
	}
}

// A streaming get-batch returns objects, files of a shard, a range and an
// object of another bucket as one tar, in the order asked, many more
// entries than are read ahead at once.
func TestGetBatchStreams(t *testing.T) {
	_, client := batchFixture(t)
	ctx := t.Context()
	req := api.BatchRequest{Streaming: true}
	var want []string
	for i := 19; i >= 0; i-- { // not the order they were put in
		req.In = append(req.In, api.BatchEntry{ObjName: fmt.Sprintf("obj-%02d", i)})
		want = append(want, fmt.Sprintf("train/obj-%02d", i))
	}
	req.In = append(req.In,
		api.BatchEntry{ObjName: "shard-0.tar", ArchPath: "s1.cls"},
		api.BatchEntry{ObjName: "obj-05", Start: 3, Length: 6},
		api.BatchEntry{ObjName: "all.csv", Bucket: "labels"},
	)
	want = append(want, "train/shard-0.tar/s1.cls", "train/obj-05", "labels/all.csv")
	var out bytes.Buffer
	if _, err := client.GetBatch(ctx, "train", req, &out); err != nil {
		t.Fatal(err)
	}
	names, contents := readTar(t, out.Bytes())
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("entries %v,\nwant %v", names, want)
	}
	if got := contents["train/obj-07"]; got != "object 07 "+strings.Repeat("x", 700) {
		t.Fatalf("obj-07: %q", got)
	}
	if contents["train/shard-0.tar/s1.cls"] != "s1.cls" || contents["labels/all.csv"] != "a,b\n" {
		t.Fatalf("the shard's file %q, the other bucket's object %q", contents["train/shard-0.tar/s1.cls"], contents["labels/all.csv"])
	}
	// The range entry is named as its object; the last of the same name
	// is the range.
	tr := tar.NewReader(bytes.NewReader(out.Bytes()))
	for range 21 {
		tr.Next()
	}
	tr.Next()
	if r, _ := io.ReadAll(tr); string(r) != "ect 05" {
		t.Fatalf("the range entry: %q, want %q", r, "ect 05")
	}
	// A length past the end is cut at the end, however large.
	out.Reset()
	long := api.BatchRequest{Streaming: true, In: []api.BatchEntry{{ObjName: "obj-05", Start: 500, Length: math.MaxInt64}}}
	if _, err := client.GetBatch(ctx, "train", long, &out); err != nil {
		t.Fatal(err)
	}
	if _, contents := readTar(t, out.Bytes()); contents["train/obj-05"] != strings.Repeat("x", 10) {
		t.Fatalf("a range to the largest length: %q", contents["train/obj-05"])
	}
}

// A buffered get-batch answers the results first; with coer what is
// missing comes as an empty file under __404__ with its error, and the
// opaque values come back; onob drops the bucket from the names.
func TestGetBatchBufferedContinuesOnMissing(t *testing.T) {
	c, client := batchFixture(t)
	ctx := t.Context()
	req := api.BatchRequest{ContinueOnErr: true, OnlyObjName: true, In: []api.BatchEntry{
		{ObjName: "obj-01", Opaque: []byte("first")},
		{ObjName: "nosuch"},
		{ObjName: "shard-0.tar", ArchPath: "s9.jpg"},
		{ObjName: "shard-0.tar", ArchPath: "s2.jpg"},
	}}
	var out bytes.Buffer
	resp, err := client.GetBatch(ctx, "train", req, &out)
	if err != nil {
		t.Fatal(err)
	}
	names, contents := readTar(t, out.Bytes())
	want := []string{"obj-01", "__404__/nosuch", "__404__/shard-0.tar/s9.jpg", "shard-0.tar/s2.jpg"}
	if strings.Join(names, " ") != strings.Join(want, " ") || contents["shard-0.tar/s2.jpg"] != "s2.jpg" {
		t.Fatalf("entries %v, want %v", names, want)
	}
	if len(resp.Out) != 4 || resp.UUID == "" {
		t.Fatalf("results %+v", resp)
	}
	if r := resp.Out[0]; string(r.Opaque) != "first" || r.Size != int64(len("object 01 ")+100) || r.ErrMsg != "" || r.Bucket != "train" || r.Provider != "ais" {
		t.Fatalf("the first result %+v", r)
	}
	if resp.Out[1].ErrMsg == "" || resp.Out[1].Size != 0 || resp.Out[2].ErrMsg == "" || resp.Out[3].Size != 6 {
		t.Fatalf("the results of the missing and the found: %+v", resp.Out[1:])
	}
	// The designated target counts the batch, its entries and bytes.
	if got := [...]float64{c.Metric("ais_getbatch_total", "result", "ok"), c.Metric("ais_getbatch_entries_total", "result", "found"),
		c.Metric("ais_getbatch_entries_total", "result", "missing"), c.Metric("ais_getbatch_bytes_total"), c.Metric("ais_getbatch_duration_seconds")}; got != [...]float64{1, 2, 2, float64(resp.Out[0].Size + 6), 1} {
		t.Fatalf("metrics (batches, found, missing, bytes, timed): %v", got)
	}
}

// Without coer a missing entry fails the request with a 404 that names
// it; requests that cannot be served are 400s that say why.
func TestGetBatchRefuses(t *testing.T) {
	c, client := batchFixture(t)
	ctx := t.Context()
	for _, streaming := range []bool{false, true} {
		req := api.BatchRequest{Streaming: streaming, In: []api.BatchEntry{{ObjName: "obj-01"}, {ObjName: "nosuch"}}}
		_, err := client.GetBatch(ctx, "train", req, io.Discard)
		if streaming {
			// The first entry was sent: the answer is cut, not whole.
			if err == nil {
				t.Fatal("a streaming batch with a missing entry ended cleanly")
			}
		} else if !errors.Is(err, api.ErrNotFound) || !strings.Contains(err.Error(), "nosuch") {
			t.Fatalf("a missing entry without coer: %v, want not found naming it", err)
		}
		req.In = req.In[1:]
		if _, err := client.GetBatch(ctx, "train", req, io.Discard); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("streaming=%v, a missing first entry: %v, want not found", streaming, err)
		}
	}
	// A failure early in a long batch ends it at once: the entries read
	// ahead are closed, the rest never opened.
	long := api.BatchRequest{In: []api.BatchEntry{{ObjName: "obj-00"}, {ObjName: "nosuch"}}}
	for i := range 60 {
		long.In = append(long.In, api.BatchEntry{ObjName: fmt.Sprintf("obj-%02d", i%20)})
	}
	deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := client.GetBatch(deadline, "train", long, io.Discard); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a long batch with its second entry missing: %v, want not found", err)
	}
	for _, tc := range []struct {
		name, bucket, body, want string
	}{
		{"no entries", "train", `{"in":[]}`, "lists no entry"},
		{"not JSON", "train", `{"in":`, "not a request"},
		{"unknown field", "train", `{"in":[{"objname":"a"}],"shuffle":true}`, "unknown field"},
		{"unknown field of an entry", "train", `{"in":[{"objname":"a","shuffle":true}]}`, "unknown field"},
		{"entries not an array", "train", `{"in":{"objname":"a"}}`, "not an array"},
		{"too many entries", "train", `{"in":[` + strings.Repeat(`{},`, api.MaxBatchEntries) + `{}]}`, fmt.Sprintf("at most %d", api.MaxBatchEntries)},
		{"bad mime", "train", `{"mime":".rar","in":[{"objname":"a"}]}`, "not an archive format"},
		{"msgpack", "train", `{"mime":".msgpack","in":[{"objname":"a"}]}`, "not an archive format"},
		{"escaping name", "train", `{"in":[{"objname":"../../etc/passwd"}]}`, ".."},
		{"escaping archpath", "train", `{"in":[{"objname":"a","archpath":"../x"}]}`, "archpath"},
		// Object names the store takes but no archive member may have.
		{"drive letter member", "train", `{"onob":true,"in":[{"objname":"c:ckpt.pt"}]}`, "member's name"},
		{"climbing out as Windows reads it", "train", `{"in":[{"objname":"a\\..\\..\\b"}]}`, "member's name"},
		{"uname", "train", `{"in":[{"objname":"a","uname":"ais/@#/b/a"}]}`, "uname"},
		{"no bucket", "", `{"in":[{"objname":"a"}]}`, "names no bucket"},
		{"bad bucket", "train", `{"in":[{"objname":"a","bucket":"../b"}]}`, "bucket name"},
		{"negative start", "train", `{"in":[{"objname":"a","start":-1}]}`, "negative"},
		{"range of a file", "train", `{"in":[{"objname":"a","archpath":"x","length":4}]}`, "range of a file"},
		{"many files of a tgz", "train", `{"in":[` + strings.Repeat(`{"objname":"s.tgz","archpath":"x"},`, 1024) + `{"objname":"s.tgz","archpath":"y"}]}`, "compressed shard"},
		// Of all the shards of the request together.
		{"many files of tgz shards", "train", `{"in":[` + strings.Repeat(`{"objname":"s1.tgz","archpath":"x"},{"objname":"s2.zip","archpath":"x"},`, 512) + `{"objname":"s3.tgz","archpath":"y"}]}`, "compressed shard"},
		// Read as its content tells: maybe compressed.
		{"many files of a shard without an extension", "train", `{"in":[` + strings.Repeat(`{"objname":"shard","archpath":"x"},`, 1024) + `{"objname":"shard","archpath":"y"}]}`, "compressed shard"},
	} {
		u := c.Primary().URL() + "/v1/ml/moss"
		if tc.bucket != "" {
			u += "/" + tc.bucket
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", tc.name, resp.StatusCode, body, tc.want)
		}
	}
}

// A target holds a few buffered answers at once; past them a buffered
// request is told to come back (503), and a streaming one still served.
func TestGetBatchBoundsBufferedAnswers(t *testing.T) {
	c, client := batchFixture(t)
	for _, m := range c.Targets() {
		defer gateway.HoldBatchBuffers(m.Node)()
	}
	req := api.BatchRequest{In: []api.BatchEntry{{ObjName: "obj-01"}}}
	if _, err := client.GetBatch(t.Context(), "train", req, io.Discard); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "strm") {
		t.Fatalf("a buffered batch with every buffer taken: %v, want unavailable", err)
	}
	req.Streaming = true
	var out bytes.Buffer
	if _, err := client.GetBatch(t.Context(), "train", req, &out); err != nil || !strings.Contains(out.String(), "object 01") {
		t.Fatalf("a streaming batch meanwhile: %v", err)
	}
	// The refused ones (the client asked a few times) were not served: no
	// time of their own, no entries.
	if got := [...]float64{c.Metric("ais_getbatch_duration_seconds"), c.Metric("ais_getbatch_entries_total", "result", "found")}; got != [...]float64{1, 1} {
		t.Fatalf("duration samples, entries found: %v, want 1, 1 (the streamed batch's)", got)
	}
}

// The archive can be a tgz or a zip, read back by the formats package.
func TestGetBatchFormats(t *testing.T) {
	_, client := batchFixture(t)
	for _, ext := range []string{".tgz", ".zip", ".tar.lz4"} {
		var out bytes.Buffer
		req := api.BatchRequest{Mime: ext, In: []api.BatchEntry{{ObjName: "obj-02"}, {ObjName: "shard-0.tar", ArchPath: "s1.jpg"}}}
		if _, err := client.GetBatch(t.Context(), "train", req, &out); err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		names, _ := readArchive(t, ext, out.Bytes())
		if strings.Join(names, " ") != "train/obj-02 train/shard-0.tar/s1.jpg" {
			t.Fatalf("%s: entries %v", ext, names)
		}
	}
}

// readArchive returns the names and contents of an archive of any of the
// formats package's formats, in order.
func readArchive(t *testing.T, ext string, data []byte) ([]string, map[string]string) {
	t.Helper()
	f, ok := formats.Default().ByExtension(ext)
	if !ok {
		t.Fatalf("no format %s", ext)
	}
	rd, err := f.NewReader(bytes.NewReader(data), int64(len(data)), "archive"+ext)
	if err != nil {
		t.Fatalf("%s: %v", ext, err)
	}
	var names []string
	contents := map[string]string{}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return names, contents
		}
		if err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		body, _ := io.ReadAll(io.LimitReader(rd, e.Size))
		names = append(names, e.Name)
		contents[e.Name] = string(body)
	}
}

// A range of an empty object is an empty entry whichever target reads it:
// its owner, or another that asks the owner.
func TestGetBatchRangeOfAnEmptyObject(t *testing.T) {
	c, client := batchFixture(t)
	ctx := t.Context()
	if _, err := client.Put(ctx, "train", "empty", strings.NewReader(""), api.PutOptions{Size: 0}); err != nil {
		t.Fatal(err)
	}
	m := c.Primary().Node.Map()
	owner, _ := m.Owner(cluster.Uname("ais", "train", "empty"))
	elsewhere := api.BatchRequest{Streaming: true, In: []api.BatchEntry{{ObjName: "empty", Length: 10}}}
	for i := range 20 {
		if o, _ := m.Owner(cluster.Uname("ais", "train", fmt.Sprintf("obj-%02d", i))); o.ID != owner.ID && len(elsewhere.In) < 5 {
			elsewhere.In = append(elsewhere.In, api.BatchEntry{ObjName: fmt.Sprintf("obj-%02d", i)})
		}
	}
	for name, req := range map[string]api.BatchRequest{
		"read by its owner":   {Streaming: true, In: []api.BatchEntry{{ObjName: "empty", Length: 10}}},
		"read from its owner": elsewhere,
	} {
		var out bytes.Buffer
		if _, err := client.GetBatch(ctx, "train", req, &out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if names, contents := readTar(t, out.Bytes()); names[0] != "train/empty" || contents["train/empty"] != "" {
			t.Fatalf("%s: entries %v", name, names)
		}
	}
}

// An entry with if_checksum is read only while its object has that
// checksum: a range taken from a shard's index fails once the shard is
// rewritten, read by its owner or from another target.
func TestGetBatchIfChecksum(t *testing.T) {
	c, client := batchFixture(t)
	ctx := t.Context()
	m := c.Primary().Node.Map()
	first, _ := m.Owner(cluster.Uname("ais", "train", "obj-00"))
	other := trainObjectNotOn(t, m, first.ID)
	sums := map[string]api.BatchEntry{}
	for _, name := range []string{"obj-00", other} {
		meta, err := client.Head(ctx, "train", name)
		if err != nil || meta.Checksum.IsEmpty() {
			t.Fatalf("head %s: %+v %v", name, meta, err)
		}
		sum := meta.Checksum
		sums[name] = api.BatchEntry{ObjName: name, Start: 2, Length: 4, IfChecksum: &sum}
	}
	var out bytes.Buffer
	req := api.BatchRequest{In: []api.BatchEntry{sums["obj-00"], sums[other]}}
	if _, err := client.GetBatch(ctx, "train", req, &out); err != nil {
		t.Fatalf("checksums that hold: %v", err)
	}
	if _, contents := readTar(t, out.Bytes()); contents["train/obj-00"] != "ject" || contents["train/"+other] != "ject" {
		t.Fatalf("contents %q", contents)
	}
	for name, elsewhere := range map[string]string{"obj-00": other, other: "obj-00"} {
		body := "rewritten " + name
		if _, err := client.Put(ctx, "train", name, strings.NewReader(body), api.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		// The entry of the rewritten object read by its owner (first),
		// and from another target (second: the batch goes to the target
		// that owns the most entries).
		for _, in := range [][]api.BatchEntry{{sums[name]}, {{ObjName: elsewhere}, {ObjName: elsewhere}, sums[name]}} {
			out.Reset()
			_, err := client.GetBatch(ctx, "train", api.BatchRequest{In: in}, &out)
			if !errors.Is(err, api.ErrPreconditionFailed) || !strings.Contains(err.Error(), "written since") {
				t.Fatalf("%s rewritten, entries %d: %v", name, len(in), err)
			}
		}
	}
	// A file of a shard read from its owner (whose answer has no
	// checksum): checked too; the value's case does not matter.
	shardOwner, _ := m.Owner(cluster.Uname("ais", "train", "shard-0.tar"))
	elsewhere := trainObjectNotOn(t, m, shardOwner.ID)
	meta, err := client.Head(ctx, "train", "shard-0.tar")
	if err != nil {
		t.Fatal(err)
	}
	upper := store.Checksum{Type: meta.Checksum.Type, Value: strings.ToUpper(meta.Checksum.Value)}
	wrong := store.Checksum{Type: meta.Checksum.Type, Value: "0123456789abcdef"}
	for _, c := range []struct {
		sum  store.Checksum
		want error
	}{{meta.Checksum, nil}, {upper, nil}, {wrong, api.ErrPreconditionFailed}} {
		out.Reset()
		req := api.BatchRequest{In: []api.BatchEntry{{ObjName: elsewhere}, {ObjName: elsewhere}, {ObjName: "shard-0.tar", ArchPath: "s1.cls", IfChecksum: &c.sum}}}
		_, err := client.GetBatch(ctx, "train", req, &out)
		if !errors.Is(err, c.want) || err == nil && !strings.Contains(out.String(), "s1.cls") {
			t.Fatalf("a file of a shard read elsewhere, if_checksum %v: %v, want %v", c.sum, err, c.want)
		}
	}
	bad := api.BatchRequest{In: []api.BatchEntry{{ObjName: "obj-01", IfChecksum: &store.Checksum{Type: "xxhash"}}}}
	if _, err := client.GetBatch(ctx, "train", bad, &out); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "if_checksum") {
		t.Fatalf("if_checksum without a value: %v", err)
	}
}

// A shard of a bucket without checksums is indexed with its ETag (its
// write's stamp): a range taken from the index fails once the shard is
// rewritten, same size and all, read by its owner or from another target.
func TestGetBatchIfETagOfAShardWithoutChecksum(t *testing.T) {
	c, client := batchFixture(t)
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "plain", map[string]any{"checksum": map[string]any{"type": "none"}}); err != nil {
		t.Fatal(err)
	}
	shard := func(content string) []byte {
		f, _ := formats.Default().ByExtension(".tar")
		var out bytes.Buffer
		w, _ := f.NewWriter(&out)
		w.WriteHeader(&formats.Entry{Name: "r.txt", Size: int64(len(content))})
		io.WriteString(w, content)
		w.Close()
		return out.Bytes()
	}
	m := c.Primary().Node.Map()
	owner, _ := m.Owner(cluster.Uname("ais", "plain", "s.tar"))
	elsewhere := trainObjectNotOn(t, m, owner.ID)
	first := shard("first")
	if _, err := client.Put(ctx, "plain", "s.tar", bytes.NewReader(first), api.PutOptions{Size: int64(len(first))}); err != nil {
		t.Fatal(err)
	}
	id, err := client.IndexShards(ctx, "plain", api.ListRange{})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || j.Objects != 1 {
		t.Fatalf("index job: %+v %v", j, err)
	}
	data, err := client.GetBytes(ctx, "plain", formats.IndexName("s.tar"), api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var idx formats.Index
	if err := json.Unmarshal(data, &idx); err != nil || idx.ShardChecksum == nil || idx.ShardChecksum.Type != store.ChecksumETag || len(idx.Members) != 1 {
		t.Fatalf("the index of a shard without checksum: %s %v, want its ETag", data, err)
	}
	entry := api.BatchEntry{ObjName: "s.tar", Start: idx.Members[0].DataOffset, Length: idx.Members[0].Size,
		IfChecksum: &store.Checksum{Type: idx.ShardChecksum.Type, Value: idx.ShardChecksum.Value}}
	// Read by its owner, and from another target (the batch goes to the
	// target that owns the most entries).
	batches := [][]api.BatchEntry{{entry}, {{ObjName: elsewhere}, {ObjName: elsewhere}, entry}}
	for _, in := range batches {
		for i := range in {
			in[i].Bucket = map[bool]string{true: "plain", false: "train"}[in[i].ObjName == "s.tar"]
		}
	}
	for _, in := range batches {
		var out bytes.Buffer
		if _, err := client.GetBatch(ctx, "train", api.BatchRequest{In: in}, &out); err != nil || !strings.Contains(out.String(), "first") {
			t.Fatalf("the shard as indexed, %d entries: %v", len(in), err)
		}
	}
	// A copy of the bucket, its index with it, reads as the source does.
	copied, err := client.CopyBucket(ctx, "plain", "plain-copy", api.CopyBucketMessage{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WaitJob(ctx, copied, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	inCopy := entry
	inCopy.Bucket = "plain-copy"
	if _, err := client.GetBatch(ctx, "train", api.BatchRequest{In: []api.BatchEntry{inCopy}}, &out); err != nil || !strings.Contains(out.String(), "first") {
		t.Fatalf("the copied shard by its copied index: %v", err)
	}
	// Into a bucket of MD5s, the copy's ETag is its MD5 (S3 clients check).
	if err := client.CreateBucket(ctx, "plain-md5", map[string]any{"checksum": map[string]any{"type": "md5"}}); err != nil {
		t.Fatal(err)
	}
	copied, err = client.CopyBucket(ctx, "plain", "plain-md5", api.CopyBucketMessage{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WaitJob(ctx, copied, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Head(c.Primary().URL() + "/v1/objects/plain-md5/s.tar")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sum := md5.Sum(first); resp.Header.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` {
		t.Fatalf("the copy's ETag in a bucket of MD5s: %s, want its MD5", resp.Header.Get("ETag"))
	}
	second := shard("other") // the same size: only its ETag tells
	if _, err := client.Put(ctx, "plain", "s.tar", bytes.NewReader(second), api.PutOptions{Size: int64(len(second))}); err != nil {
		t.Fatal(err)
	}
	for _, in := range batches {
		var out bytes.Buffer
		_, err := client.GetBatch(ctx, "train", api.BatchRequest{In: in}, &out)
		if !errors.Is(err, api.ErrPreconditionFailed) || !strings.Contains(err.Error(), "written since") || strings.Contains(out.String(), "other") {
			t.Fatalf("the shard rewritten, %d entries: %v, want precondition failed", len(in), err)
		}
	}
	bad := api.BatchRequest{In: []api.BatchEntry{{ObjName: "obj-01", IfChecksum: &store.Checksum{Type: "etag", Value: `a"b`}}}}
	if _, err := client.GetBatch(ctx, "train", bad, io.Discard); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "no ETag") {
		t.Fatalf("an if_checksum ETag with a quote: %v", err)
	}
}

// blockedWriter takes nothing until release closes: a client that stops
// reading its answer.
type blockedWriter struct{ release chan struct{} }

func (b blockedWriter) Write(p []byte) (int, error) {
	<-b.release
	return 0, errors.New("released")
}

// A client that stops reading a buffered get-batch answer is cut as a
// slow body is: it held one of the target's few buffered answers (and
// its memory) for as long as the kernel kept trying, and the others got
// 503s meanwhile.
func TestBatchReaderThatStopsIsCut(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.BodyTimeout, cfg.BodyMinRate = 300*time.Millisecond, 64<<20
	}})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "big", nil); err != nil {
		t.Fatal(err)
	}
	req := api.BatchRequest{}
	for i := range 4 {
		name := fmt.Sprintf("o%d", i)
		data := bytes.Repeat([]byte{byte('a' + i)}, 4<<20)
		if _, err := client.Put(ctx, "big", name, bytes.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		req.In = append(req.In, api.BatchEntry{ObjName: name})
	}
	release := make(chan struct{})
	defer close(release)
	const maxBuffered = 4 // every buffered answer a target holds at once
	for range maxBuffered {
		go client.GetBatch(ctx, "big", req, blockedWriter{release})
	}
	target := c.Targets()[0].Node
	held := false
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Millisecond) {
		switch count := gateway.BufferedBatches(target); {
		case count == maxBuffered:
			held = true
		case held && count == 0:
			var out bytes.Buffer
			if _, err := client.GetBatch(ctx, "big", api.BatchRequest{In: []api.BatchEntry{{ObjName: "o0"}}}, &out); err != nil {
				t.Fatalf("a get-batch once the stopped readers were cut: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target holds %d buffered answers (held all %d: %v) of readers that stopped; want them cut", gateway.BufferedBatches(target), maxBuffered, held)
		}
	}
}
