package pipeline_test

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/pipeline/reference"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/faulty"
	"github.com/aisgo/aisgo/store/fs"
	"github.com/aisgo/aisgo/store/storetest"
)

// memSink collects generated shards in memory.
type memSink struct {
	mu     sync.Mutex
	shards map[string][]byte
}

type memShard struct {
	bytes.Buffer
	name string
	sink *memSink
}

func (s *memShard) Close() error {
	s.sink.mu.Lock()
	s.sink.shards[s.name] = s.Bytes()
	s.sink.mu.Unlock()
	return nil
}

// generate makes a dataset in memory.
func generate(t testing.TB, spec datasets.Spec) map[string][]byte {
	t.Helper()
	sink := &memSink{shards: map[string][]byte{}}
	_, err := datasets.Generate(t.Context(), spec, func(name string) (io.WriteCloser, error) {
		return &memShard{name: name, sink: sink}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sink.shards
}

func baseSpec(inputTemplate, output string) pipeline.Spec {
	return pipeline.Spec{
		InputBucket:     pipeline.BucketRef{Name: "src"},
		OutputBucket:    pipeline.BucketRef{Name: "dst"},
		InputFormat:     pipeline.InputFormat{Template: inputTemplate},
		OutputFormat:    output,
		OutputShardSize: "20KiB",
	}
}

// runAndCompare runs a spec on n targets and checks the output against the
// reference oracle, byte for byte.
func runAndCompare(t *testing.T, targets int, inputs map[string][]byte, spec pipeline.Spec, seed int64) map[string][]byte {
	t.Helper()
	c := newMemCluster(t, targets, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec.Algorithm.Seed = pipeline.SizeString(fmt.Sprint(seed))
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !status.Archived || status.Error != "" {
		t.Fatalf("job did not finish: %+v", status)
	}
	got := c.outputs("dst")
	want, err := reference.Run(spec, seed, inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	equalOutputs(t, got, want)
	return got
}

// Byte-identical output against the oracle across 1, 3 and 5 targets and
// every input/output format pair.
func TestMatchesReferenceAcrossTargetsAndFormats(t *testing.T) {
	for _, pair := range [][2]string{
		{".tar", ".tar"}, {".tar", ".tgz"}, {".tgz", ".tar"}, {".zip", ".tar"},
		{".tar", ".zip"}, {".tar.lz4", ".tar.zst"}, {".tar.zst", ".tgz"}, {".zip", ".zip"},
		{".tar", ".msgpack"}, {".msgpack", ".tfrecord"}, {".tfrecord", ".tar"}, {".tgz", ".msgpack"},
	} {
		inputs := generate(t, datasets.Spec{Template: "in-{00..05}" + pair[0], Records: 12, RecordSize: 1500, SizeSpread: 0.5, Extensions: []string{".jpg", ".cls", ".json"}, Seed: 7})
		for _, targets := range []int{1, 3, 5} {
			t.Run(fmt.Sprintf("%s-to-%s/%d-targets", pair[0], pair[1], targets), func(t *testing.T) {
				spec := baseSpec("in-{00..05}"+pair[0], "out-{000..999}"+pair[1])
				spec.Algorithm.Kind = "shuffle"
				runAndCompare(t, targets, inputs, spec, 42)
			})
		}
	}
}

// A dataset sorted by name through msgpack and TFRecord shards comes out
// of the last job as the very tar a direct tar-to-tar job writes: the
// record formats lose no file, byte or order.
func TestRecordFormatsLoseNothing(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 10, RecordSize: 1200, SizeSpread: 0.5, Extensions: []string{".jpg", ".cls", ".json"}, Seed: 17})
	direct := runAndCompare(t, 3, inputs, baseSpec("in-{0..5}.tar", "out-{000..999}.tar"), 1)
	shards, template := inputs, "in-{0..5}.tar"
	for i, ext := range []string{".msgpack", ".tfrecord", ".tar"} {
		out := fmt.Sprintf("hop%d-{000..999}%s", i, ext)
		spec := baseSpec(template, out)
		spec.OutputShardSize = "7KiB" // other shard boundaries at every hop
		if i == 2 {
			spec.OutputShardSize = "20KiB"
		}
		shards = runAndCompare(t, 3, shards, spec, 1)
		template = fmt.Sprintf("hop%d-{000..%03d}%s", i, len(shards)-1, ext)
	}
	if len(shards) != len(direct) {
		t.Fatalf("%d shards through msgpack and tfrecord, %d direct", len(shards), len(direct))
	}
	for name, data := range direct {
		if !bytes.Equal(shards[strings.Replace(name, "out-", "hop2-", 1)], data) {
			t.Fatalf("%s differs after msgpack and tfrecord", name)
		}
	}
}

func TestMatchesReferenceForEveryAlgorithm(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..7}.tar", Records: 15, RecordSize: 800, SizeSpread: 0.9, Extensions: []string{".jpg", ".cls"}, Seed: 3})
	algorithms := []pipeline.Algorithm{
		{Kind: "alphanumeric"},
		{Kind: "alphanumeric", Decreasing: true},
		{Kind: "none"},
		{Kind: "shuffle"},
		{Kind: "content", Extension: ".cls", ContentKeyType: "int"},
		{Kind: "content", Extension: ".cls", ContentKeyType: "float", Decreasing: true},
		{Kind: "content", Extension: ".cls", ContentKeyType: "string"},
		{Kind: "md5"},
	}
	for _, alg := range algorithms {
		for _, seed := range []int64{1, 99} {
			name := fmt.Sprintf("%s-decreasing=%v-%s-seed%d", alg.Kind, alg.Decreasing, alg.ContentKeyType, seed)
			t.Run(name, func(t *testing.T) {
				spec := baseSpec("in-{0..7}.tar", "out-{000..999}.tar")
				spec.Algorithm = alg
				runAndCompare(t, 3, inputs, spec, seed)
			})
		}
	}
	// md5 orders by a key each target computes: the same on any number.
	for _, targets := range []int{1, 5} {
		t.Run(fmt.Sprintf("md5-%d-targets", targets), func(t *testing.T) {
			spec := baseSpec("in-{0..7}.tar", "out-{000..999}.tar")
			spec.Algorithm = pipeline.Algorithm{Kind: "md5"}
			runAndCompare(t, targets, inputs, spec, 1)
		})
	}
}

// readRecords reads output shards back as records: their names and files.
func readRecords(t *testing.T, format formats.Format, outputs map[string][]byte, names []string) (records []string, files map[string][]string, bodies map[string][]byte) {
	t.Helper()
	files, bodies = map[string][]string{}, map[string][]byte{}
	for _, shard := range names {
		data := outputs[shard]
		rd, err := format.NewReader(bytes.NewReader(data), int64(len(data)), shard)
		if err != nil {
			t.Fatal(err)
		}
		last := ""
		for {
			e, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(rd)
			rec, _ := shards.SplitName(e.Name)
			if rec != last {
				if _, seen := files[rec]; seen {
					t.Fatalf("record %s is split or duplicated (again in %s)", rec, shard)
				}
				records = append(records, rec)
				last = rec
			}
			files[rec] = append(files[rec], e.Name)
			bodies[e.Name] = body
		}
	}
	return records, files, bodies
}

// A tar input held partly in memory, partly as offsets, by a small budget
// writes the same bytes as with no budget at all.
func TestTarInputUnderSmallBudget(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..7}.tar", Records: 20, RecordSize: 3000, SizeSpread: 0.5, Extensions: []string{".jpg", ".cls"}, Seed: 13})
	for _, budget := range []pipeline.SizeString{"40KiB", "200KiB", "1GiB"} {
		for _, output := range []string{".tar", ".tgz", ".zip"} {
			spec := baseSpec("in-{0..7}.tar", "out-{000..999}"+output)
			spec.Algorithm.Kind = "shuffle"
			spec.MaxMemUsage = budget
			runAndCompare(t, 3, inputs, spec, 77)
		}
	}
}

// The invariants users rely on: no record lost, duplicated or split;
// files of a record together and in order; bytes unchanged; shard sizes.
func TestInvariants(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..9}.tar", Records: 20, RecordSize: 1000, SizeSpread: 0.5, Extensions: []string{".jpg", ".cls", ".json"}, Seed: 11})
	inputBodies := map[string][]byte{}
	inputFiles := map[string][]string{}
	var inputOrder []string
	tar, _ := formats.Default().ByExtension(".tar")
	for i := range 10 {
		name := fmt.Sprintf("in-%d.tar", i)
		recs, files, bodies := readRecords(t, tar, inputs, []string{name})
		inputOrder = append(inputOrder, recs...)
		for k, v := range files {
			inputFiles[k] = v
		}
		for k, v := range bodies {
			inputBodies[k] = v
		}
	}
	spec := baseSpec("in-{0..9}.tar", "out-{000..999}.tar")
	spec.Algorithm.Kind = "shuffle"
	outputs := runAndCompare(t, 3, inputs, spec, 5)
	var names []string
	for i := range len(outputs) {
		names = append(names, fmt.Sprintf("out-%03d.tar", i))
	}
	records, files, bodies := readRecords(t, tar, outputs, names)
	if len(records) != len(inputOrder) {
		t.Fatalf("%d records out, %d in", len(records), len(inputOrder))
	}
	for rec, want := range inputFiles {
		if strings.Join(files[rec], ",") != strings.Join(want, ",") {
			t.Fatalf("record %s has files %v, want %v in this order", rec, files[rec], want)
		}
		for _, f := range want {
			if !bytes.Equal(bodies[f], inputBodies[f]) {
				t.Fatalf("file %s changed", f)
			}
		}
	}
	if strings.Join(records, ",") == strings.Join(inputOrder, ",") {
		t.Fatal("the shuffle kept the input order")
	}
	for i, name := range names {
		if size := int64(len(outputs[name])); i < len(names)-1 && size < 20<<10 {
			t.Fatalf("shard %s is %d bytes, under output_shard_size", name, size)
		}
	}
}

// A memory budget far below the dataset forces spilling; the output stays
// identical and the budget is never exceeded.
func TestSpillUnderMemoryBudget(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..7}.tgz", Records: 25, RecordSize: 4000, Extensions: []string{".jpg", ".cls"}, Seed: 5})
	var total int
	for _, d := range inputs {
		total += len(d)
	}
	for _, targets := range []int{1, 3} {
		c := newMemCluster(t, targets, nil)
		c.createBucket("src")
		c.putInputs("src", inputs)
		spec := baseSpec("in-{0..7}.tgz", "out-{000..999}.tar")
		spec.Algorithm = pipeline.Algorithm{Kind: "shuffle", Seed: "3"}
		spec.MaxMemUsage = "64KiB"
		id, err := c.coordinator.Start(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		status, _ := c.coordinator.Wait(t.Context(), id)
		if !status.Archived {
			t.Fatalf("job failed: %+v", status)
		}
		var spilled int64
		for tid, w := range c.workers {
			st, _ := w.Stats(id)
			spilled += st.Extract.SpilledBytes
			if st.MemoryPeak > st.MemoryLimit || st.MemoryLimit != 64<<10 {
				t.Fatalf("target %s held %d bytes in memory, budget %d", tid, st.MemoryPeak, st.MemoryLimit)
			}
		}
		if spilled < int64(total)/2 {
			t.Fatalf("spilled %d bytes of about %d: the budget did not force spilling", spilled, total)
		}
		want, _ := reference.Run(spec, 3, inputs, nil)
		equalOutputs(t, c.outputs("dst"), want)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 10, RecordSize: 1000, Seed: 1})
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..3}.tar", "out-{00..99}.tar")
	spec.OutputBucket = pipeline.BucketRef{Name: "src"}
	spec.DryRun = true
	status, err := c.run(spec)
	if err != nil || !status.Archived || status.Shards == 0 {
		t.Fatalf("dry run: %+v %v", status, err)
	}
	if out := c.outputs("src"); len(out) != len(inputs) {
		t.Fatalf("a dry run wrote %d objects", len(out)-len(inputs))
	}
}

func TestMissingShardReactions(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 5, RecordSize: 500, Seed: 2})
	delete(inputs, "in-3.tar")
	for _, reaction := range []string{"ignore", "warn", "abort"} {
		t.Run(reaction, func(t *testing.T) {
			c := newMemCluster(t, 3, nil)
			c.createBucket("src")
			c.putInputs("src", inputs)
			spec := baseSpec("in-{0..5}.tar", "out-{00..99}.tar")
			spec.MissingShards = reaction
			status, err := c.run(spec)
			if err != nil {
				t.Fatal(err)
			}
			switch reaction {
			case "abort":
				if !status.Aborted || !strings.Contains(status.Error, "in-3.tar") || !strings.Contains(status.Error, "extract phase") {
					t.Fatalf("status %+v: want aborted naming the shard and phase", status)
				}
				if out := c.outputs("dst"); len(out) != 0 {
					t.Fatalf("an aborted job left %d shards", len(out))
				}
			default:
				if !status.Archived {
					t.Fatalf("status %+v", status)
				}
				warned := false
				// The extraction's progress reaches its total, the
				// skipped shard counted as missing.
				var total, done, missing int64
				for _, w := range c.workers {
					st, _ := w.Stats(status.ID)
					for _, msg := range st.Warnings {
						warned = warned || strings.Contains(msg, "in-3.tar")
					}
					total, done, missing = total+st.Extract.Total, done+st.Extract.Done, missing+st.Extract.Missing
				}
				if total != 6 || done != 6 || missing != 1 {
					t.Fatalf("extraction %d of %d shards, %d missing; want 6 of 6, 1 missing", done, total, missing)
				}
				if warned != (reaction == "warn") {
					t.Fatalf("reaction %s: warned=%v", reaction, warned)
				}
				want, _ := reference.Run(spec, 0, inputs, nil)
				equalOutputs(t, c.outputs("dst"), want)
			}
		})
	}
}

// TestClusterDefaults: what a spec leaves out comes from the cluster's
// defaults; what it says wins.
func TestClusterDefaults(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 5, RecordSize: 500, Seed: 2})
	delete(inputs, "in-3.tar")
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.mu.Lock()
	c.defaults = pipeline.Defaults{Reactions: pipeline.Reactions{MissingShards: pipeline.ReactAbort}}
	c.mu.Unlock()
	status, err := c.run(baseSpec("in-{0..5}.tar", "out-{00..99}.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if !status.Aborted || !strings.Contains(status.Error, "in-3.tar") {
		t.Fatalf("missing_shards=abort from the cluster: %+v", status)
	}
	spec := baseSpec("in-{0..5}.tar", "out-{00..99}.tar")
	spec.Config = &pipeline.Config{Reactions: pipeline.Reactions{MissingShards: pipeline.ReactIgnore}}
	if status, err = c.run(spec); err != nil || !status.Archived {
		t.Fatalf("the spec's own missing_shards=ignore: %+v %v", status, err)
	}
}

func TestMalformedShardAbortsNamingShardAndOffset(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 5, RecordSize: 3000, Seed: 2})
	bad := inputs["in-2.tar"]
	inputs["in-2.tar"] = bad[:len(bad)/2] // truncated mid-entry
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	status, err := c.run(baseSpec("in-{0..3}.tar", "out-{00..99}.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if !status.Aborted || !strings.Contains(status.Error, "in-2.tar") || !strings.Contains(status.Error, "offset") {
		t.Fatalf("status %+v: want aborted naming the shard and offset", status)
	}
	if out := c.outputs("dst"); len(out) != 0 {
		t.Fatalf("an aborted job left %d shards", len(out))
	}
	// The phase it failed in stopped unfinished: a client waiting for
	// every target's phases to finish (AIStore's SDK) must not take the
	// job for done.
	unfinished := 0
	for _, w := range c.workers {
		st, _ := w.Stats(status.ID)
		if st.Extract.Running || st.Create.Running || st.Create.Finished {
			t.Fatalf("a target's phases after the job failed in extraction: %+v", st)
		}
		if !st.Extract.Finished {
			unfinished++
		}
	}
	if unfinished == 0 {
		t.Fatal("every target's extraction reads finished, that of the malformed shard's target too")
	}
}

func TestExternalKeyMap(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 10, RecordSize: 700, Seed: 4})
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	keyMap := []byte(`{"even-{000..099}.tar": ["sample-.*[02468]\\.jpg"], "odd-{000..099}.tar": ["sample-.*[13579]\\.jpg"]}`)
	c.keyMaps["http://keys.example/map.json"] = keyMap
	spec := baseSpec("in-{0..3}.tar", "")
	spec.EKMFile = "http://keys.example/map.json"
	status, err := c.run(spec)
	if err != nil || !status.Archived {
		t.Fatalf("EKM job: %+v %v", status, err)
	}
	got := c.outputs("dst")
	want, err := reference.Run(spec, 0, inputs, keyMap)
	if err != nil {
		t.Fatal(err)
	}
	equalOutputs(t, got, want)
	if _, ok := got["even-000.tar"]; !ok {
		t.Fatalf("key map shards: %v", len(got))
	}
}

// A key map's malformed lines, with ekm_malformed_line: warn, are
// skipped and named in the job's warnings (not lost as the job starts).
func TestKeyMapMalformedLinesWarn(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 10, RecordSize: 700, Seed: 4})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.keyMaps["http://keys.example/map.txt"] = []byte("sample-.*\\.jpg\tall-{000..099}.tar\nno separator here\n")
	spec := baseSpec("in-{0..3}.tar", "")
	spec.EKMFile = "http://keys.example/map.txt"
	spec.EKMMalformedLine = "warn"
	status, err := c.run(spec)
	if err != nil || !status.Archived {
		t.Fatalf("a key map with a malformed line, warned: %+v %v", status, err)
	}
	if !slices.ContainsFunc(status.Warnings, func(w string) bool { return strings.Contains(w, "line 2") }) {
		t.Fatalf("the job's warnings do not name the malformed line: %q", status.Warnings)
	}
}

// A key map that matches none of the records, with ekm_missing_key warn,
// leaves the job no output: it fails saying so, not "finished" with no
// shard.
func TestKeyMapMatchingNothingFails(t *testing.T) {
	c, spec := keyMapJob(t, "in-{0..3}.tar", "^no-such-key$\tall-{000..099}.tar\n")
	spec.EKMMissingKey = "warn"
	status, err := c.run(spec)
	if msg := status.Error + fmt.Sprint(err); status.Archived || !strings.Contains(msg, "matches none of the 40 records") {
		t.Fatalf("a key map matching no record: %+v %v, want the job failed saying so", status, err)
	}
}

// Key map templates name shards verbatim: one whose extension is another
// format's than the job writes is refused at start (tgz bytes named
// .tar); with output_extension naming it, the job runs.
func TestKeyMapNamesOfAnotherFormatAreRefused(t *testing.T) {
	c, spec := keyMapJob(t, "in-{0..3}.tgz", "sample-.*\tall-{000..099}.tar\n")
	if _, err := c.coordinator.Start(t.Context(), spec); !errors.Is(err, pipeline.ErrInvalidSpec) || !strings.Contains(err.Error(), "a template names tar shards, and the job writes tgz") {
		t.Fatalf("key map names of .tar for tgz output: %v, want refused at start", err)
	}
	spec.OutputExtension = ".tar"
	if status, err := c.run(spec); err != nil || !status.Archived {
		t.Fatalf("the same with output_extension .tar: %+v %v", status, err)
	}
}

// keyMapJob is a cluster of 2 targets holding 4 input shards of 10
// records each, named by the template, and a spec of a job over them
// with a fetched key map of the text given.
func keyMapJob(t *testing.T, template, keyMap string) (*memCluster, pipeline.Spec) {
	t.Helper()
	inputs := generate(t, datasets.Spec{Template: template, Records: 10, RecordSize: 700, Seed: 4})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.keyMaps["http://keys.example/map.txt"] = []byte(keyMap)
	spec := baseSpec(template, "")
	spec.EKMFile = "http://keys.example/map.txt"
	return c, spec
}

// A job whose output template or key map names a shard twice fails,
// naming the shard, rather than store one of the two in place of the
// other and lose its records.
func TestOutputShardNamedTwice(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 40, RecordSize: 700, Seed: 4})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	// Ranges of different widths: 1 then 11 runs together as 11 then 1.
	spec := baseSpec("in-{0..3}.tar", "x{1..11..10}{1..11..10}.tar")
	spec.OutputShardSize = "120KiB"
	// Refused as the spec is read, before any target extracts.
	if _, err := c.coordinator.Start(t.Context(), spec); !errors.Is(err, pipeline.ErrInvalidSpec) || !strings.Contains(err.Error(), "names some shards twice") {
		t.Fatalf("a template naming x111.tar twice: %v, want refused at start", err)
	}
	c.keyMaps["http://keys.example/twice.json"] = []byte(`{"out-%d.tar": ["sample-.*[02468]\\.jpg"], "out-{0..9}.tar": ["sample-.*[13579]\\.jpg"]}`)
	spec = baseSpec("in-{0..3}.tar", "")
	spec.EKMFile = "http://keys.example/twice.json"
	status, err := c.run(spec)
	if msg := status.Error + fmt.Sprint(err); !strings.Contains(msg, "two output shards are named out-0.tar") {
		t.Fatalf("two key map templates naming out-0.tar: %+v %v", status, err)
	}
	// A key map template whose names cannot be objects is refused at
	// start, without quoting the fetched map back.
	c.keyMaps["http://keys.example/abs.json"] = []byte(`{"/cats-%04d.tar": ["cat"]}`)
	spec.EKMFile = "http://keys.example/abs.json"
	if _, err := c.coordinator.Start(t.Context(), spec); !errors.Is(err, pipeline.ErrInvalidSpec) || strings.Contains(err.Error(), "cats") {
		t.Fatalf("a key map naming /cats-0000.tar: %v", err)
	}
	// A key map template naming a shard twice is refused at start too,
	// whatever number of shards a run needs (the fetched map's detail in
	// the log only).
	c.keyMaps["http://keys.example/widths.json"] = []byte(`{"x{1..11}{1..11}.tar": ["sample-"]}`)
	spec.EKMFile = "http://keys.example/widths.json"
	if _, err := c.coordinator.Start(t.Context(), spec); !errors.Is(err, pipeline.ErrInvalidSpec) || !strings.Contains(err.Error(), "ekm_file") {
		t.Fatalf("a key map template naming x111.tar twice: %v, want refused at start", err)
	}
	// A shard named as another's index (output_index) would replace it,
	// or be replaced.
	c.keyMaps["http://keys.example/index.json"] = []byte(`{"s-{0..9}.tar": ["sample-.*[02468]\\.jpg"], "s-{0..9}.tar.idx": ["sample-.*[13579]\\.jpg"]}`)
	spec.EKMFile = "http://keys.example/index.json"
	spec.OutputIndex = true
	status, err = c.run(spec)
	if msg := status.Error + fmt.Sprint(err); !strings.Contains(msg, "output shard s-0.tar.idx is named as the index of output shard s-0.tar") {
		t.Fatalf("a key map naming s-0.tar.idx beside s-0.tar with output_index: %+v %v", status, err)
	}
	if got := c.outputs("dst"); len(got) != 0 {
		t.Fatalf("the refused jobs wrote %d shards", len(got))
	}
}

// blockingStore holds the puts of one output shard until the job ends.
type blockingStore struct {
	store.Store
	block   string
	reached chan struct{}
	once    sync.Once
}

func (s *blockingStore) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if b.Name == "dst" && name == s.block {
		s.once.Do(func() { close(s.reached) })
		<-ctx.Done()
		return store.ObjectMeta{}, context.Cause(ctx)
	}
	return s.Store.Put(ctx, b, name, r, opts)
}

// An abort during creation stops every target and removes the shards
// already written; the input is untouched and the same job then succeeds.
// An aborted job whose output could not all be removed says so, in its
// status and in the cause the registry keeps: its shards left look like
// output.
func TestAbortThatLeavesOutputSaysSo(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 20, RecordSize: 1000, Seed: 8})
	reached := make(chan struct{})
	c := newMemCluster(t, 2, func(id string, st store.Store) store.Store {
		return &blockingStore{Store: st, block: "out-005.tar", reached: reached}
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
	spec.CreateConcurrencyMaxLimit = 1
	id, err := c.coordinator.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	for deadline := time.Now().Add(30 * time.Second); len(c.outputs("dst")) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no output shard was stored before the blocked one")
		}
	}
	c.mu.Lock()
	c.removeFails = errors.New("objects moving then may remain")
	c.mu.Unlock()
	if err := c.coordinator.Abort(t.Context(), id, fmt.Errorf("%w: by the test", pipeline.ErrAborted)); err != nil {
		t.Fatal(err)
	}
	status, _ := c.coordinator.Status(id)
	if !status.Aborted || !slices.ContainsFunc(status.Warnings, func(w string) bool { return strings.Contains(w, "could not all be removed") }) {
		t.Fatalf("an abort whose output removal failed: %+v", status)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		state := c.registry[id]
		c.mu.Unlock()
		if strings.Contains(state, "could not all be removed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry's cause: %q", state)
		}
	}
}

func TestAbortRemovesWrittenShards(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 20, RecordSize: 1000, Seed: 8})
	reached := make(chan struct{})
	var blockers []*blockingStore
	c := newMemCluster(t, 3, func(id string, st store.Store) store.Store {
		b := &blockingStore{Store: st, block: "out-005.tar", reached: reached}
		blockers = append(blockers, b)
		return b
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
	spec.CreateConcurrencyMaxLimit = 1
	id, err := c.coordinator.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	deadline := time.Now().Add(30 * time.Second)
	for len(c.outputs("dst")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no output shard was stored before the blocked one")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// While its output is removed, the job reads as aborting, with its
	// cause: neither running in its phase nor ended.
	cleaning := make(chan pipeline.Status, 1)
	c.beforeRemove = func() {
		status, _ := c.coordinator.Status(id)
		cleaning <- status
	}
	if err := c.coordinator.Abort(t.Context(), id, fmt.Errorf("%w: by the test", pipeline.ErrAborted)); err != nil {
		t.Fatal(err)
	}
	if during := <-cleaning; during.Phase != pipeline.PhaseAborting || during.Aborted || !strings.Contains(during.Error, "by the test") {
		t.Fatalf("status while the output is removed: %+v", during)
	}
	c.beforeRemove = nil
	status, _ := c.coordinator.Status(id)
	if !status.Aborted || !strings.Contains(status.Error, "by the test") || status.Phase != pipeline.PhaseCreate {
		t.Fatalf("status after abort: %+v", status)
	}
	if out := c.outputs("dst"); len(out) != 0 {
		t.Fatalf("abort left %d output shards", len(out))
	}
	if in := c.outputs("src"); len(in) != len(inputs) {
		t.Fatalf("abort touched the input: %d of %d shards", len(in), len(inputs))
	}
	// Every target aborted, none still creating; one whose every shard
	// was stored before the abort came may read as finished its part.
	for _, w := range c.workers {
		st, _ := w.Stats(id)
		if !st.Aborted || st.Create.Running || st.Create.Finished && st.Create.Done != st.Create.Total {
			t.Fatalf("a target did not abort, its creation unfinished: %+v", st)
		}
	}
	for _, b := range blockers {
		b.block = ""
	}
	status, err = c.run(spec)
	if err != nil || !status.Archived {
		t.Fatalf("the same job after an abort: %+v %v", status, err)
	}
	want, _ := reference.Run(spec, 0, inputs, nil)
	equalOutputs(t, c.outputs("dst"), want)
}

// secondOpenStore blocks the second open of any input shard (the first
// is its extraction; the second reads its records for a creator) until
// the context ends.
type secondOpenStore struct {
	store.Store
	mu      sync.Mutex
	opened  map[string]int
	reached chan struct{}
	once    *sync.Once
}

func (s *secondOpenStore) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	if b.Name == "src" {
		s.mu.Lock()
		s.opened[name]++
		second := s.opened[name] == 2
		s.mu.Unlock()
		if second {
			s.once.Do(func() { close(s.reached) })
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}
	}
	return s.Store.Open(ctx, b, name, opts)
}

// An input shard slow to open again for a creator (a remote one evicted
// since its extraction is fetched again) holds neither the target's
// stats nor the job's abort.
func TestSlowInputOpenHoldsNoJobCall(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 20, RecordSize: 1000, Seed: 8})
	reached := make(chan struct{})
	var once sync.Once
	c := newMemCluster(t, 2, func(id string, st store.Store) store.Store {
		return &secondOpenStore{Store: st, opened: map[string]int{}, reached: reached, once: &once}
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	id, err := c.coordinator.Start(t.Context(), baseSpec("in-{0..3}.tar", "out-{000..999}.tar"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("no input shard was opened again for its records")
	}
	answered := make(chan struct{})
	go func() {
		for _, w := range c.workers {
			w.Stats(id)
			w.Jobs()
		}
		close(answered)
	}()
	select {
	case <-answered:
	case <-time.After(5 * time.Second):
		t.Fatal("the targets' stats wait for an input shard's open")
	}
	aborted := make(chan error, 1)
	go func() {
		aborted <- c.coordinator.Abort(t.Context(), id, fmt.Errorf("%w: by the test", pipeline.ErrAborted))
	}()
	select {
	case err := <-aborted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the abort waits for an input shard's open")
	}
}

// A job that does not start (a target refuses its init) leaves no output
// bucket behind: it made the bucket, and removes it.
func TestJobThatDoesNotStartLeavesNoOutputBucket(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 5, RecordSize: 100, Seed: 3})
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.kill("t2")
	if _, err := c.coordinator.Start(t.Context(), baseSpec("in-{0..3}.tar", "out-{00..99}.tar")); err == nil {
		t.Fatal("a job started with a target gone")
	}
	if _, err := (memPeers{c}).BucketProps(t.Context(), store.NewBucket("dst")); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("the output bucket of a job that did not start: %v, want none", err)
	}
}

// A target joining while a job runs aborts the job everywhere.
func TestTargetJoiningAbortsJob(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 20, RecordSize: 1000, Seed: 8})
	reached := make(chan struct{})
	c := newMemCluster(t, 3, func(id string, st store.Store) store.Store {
		return &blockingStore{Store: st, block: "out-003.tar", reached: reached}
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	id, err := c.coordinator.Start(t.Context(), baseSpec("in-{0..5}.tar", "out-{000..999}.tar"))
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	c.addTarget("t9")
	status, _ := c.coordinator.Wait(context.WithoutCancel(t.Context()), id)
	if !status.Aborted || !strings.Contains(status.Error, "targets changed") || !strings.Contains(status.Error, "t9") {
		t.Fatalf("status %+v: want aborted because t9 joined", status)
	}
	if out := c.outputs("dst"); len(out) != 0 {
		t.Fatalf("aborted job left %d shards", len(out))
	}
}

func TestStartValidatesAgainstCluster(t *testing.T) {
	c := newMemCluster(t, 1, nil)
	_, err := c.coordinator.Start(t.Context(), baseSpec("in-{0..5}.tar", "out-{000..999}.tar"))
	if !errors.Is(err, pipeline.ErrInvalidSpec) || !strings.Contains(err.Error(), `input_bck "src" does not exist`) {
		t.Fatalf("missing input bucket: %v", err)
	}
	c.createBucket("src")
	spec := baseSpec("in-{0..5}.tar", "")
	spec.EKMFile = "http://nowhere/map.json?X-Amz-Signature=secret"
	// A key map that cannot be fetched is not a bad spec: the cause stays
	// (and not the link's query, which may sign it).
	_, err = c.coordinator.Start(t.Context(), spec)
	if !errors.Is(err, pipeline.ErrKeyMapFetch) || errors.Is(err, pipeline.ErrInvalidSpec) || !errors.Is(err, errKeyMapUnreachable) || !strings.Contains(err.Error(), "ekm_file") {
		t.Fatalf("unreachable key map: %v", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("the error shows the key map link's query: %v", err)
	}
	// A refused job leaves no output bucket behind.
	if _, err := (memPeers{c}).BucketProps(t.Context(), store.NewBucket("dst")); !errors.Is(err, store.ErrBucketNotFound) {
		t.Fatalf("the output bucket of a refused job: %v, want not found", err)
	}
}

// deleteHook runs a function before a delete of one name.
type deleteHook struct {
	store.Store
	name string
	run  func()
	once sync.Once
}

func (s *deleteHook) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if name == s.name {
		s.once.Do(s.run)
	}
	return s.Store.Delete(ctx, b, name, opts)
}

// interruptedJob runs a job on one target until its third output shard,
// whose store holds it (as a crash would leave the job); it returns the
// cluster and the job's inputs.
func interruptedJob(t *testing.T) (*memCluster, map[string][]byte) {
	t.Helper()
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 10, RecordSize: 1000, Seed: 8})
	reached := make(chan struct{})
	c := newMemCluster(t, 1, func(id string, st store.Store) store.Store {
		return &blockingStore{Store: st, block: "out-002.tar", reached: reached}
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..3}.tar", "out-{000..999}.tar")
	spec.CreateConcurrencyMaxLimit = 1
	if _, err := c.coordinator.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	<-reached
	return c, inputs
}

// A recovery that removes an interrupted job's output while the job's
// next attempt starts on the node (a recovery tried once the node has
// joined) leaves the journal: it is the next attempt's now, which writes
// one of the same name.
func TestRecoverLeavesTheJournalOfANextAttempt(t *testing.T) {
	c, _ := interruptedJob(t)
	c.mu.Lock()
	init := c.inits[0]
	c.mu.Unlock()
	workDir := c.workDirs["t1"]
	journals, _ := filepath.Glob(filepath.Join(workDir, "dsort-*.journal"))
	if len(journals) != 1 {
		t.Fatalf("journals %v, want the job's", journals)
	}
	var restarted *pipeline.Worker
	st := &deleteHook{Store: c.stores["t1"].(*blockingStore).Store, name: "out-000.tar", run: func() {
		if err := restarted.Init(t.Context(), init); err != nil {
			t.Errorf("the next attempt's init: %v", err)
		}
	}}
	restarted, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: st, Fetcher: memFetcher{c}, WorkDir: workDir})
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	if err := restarted.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(journals[0]); err != nil {
		t.Fatalf("the journal of the job a next attempt took up meanwhile: %v", err)
	}
	// The next attempt writes on in it (its bucket and attempt again),
	// then a crash: the journal is read whole, both attempts' shards go.
	next, err := os.OpenFile(journals[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(next, "%q\n{\"attempt\":1}\n%q\n", "ais://dst", "out-000.tar")
	next.Close()
	storetest.Put(t, c.stores["t1"].(*blockingStore).Store, store.NewBucket("dst"), "out-000.tar", []byte("not the job's"))
	again, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: c.stores["t1"].(*blockingStore).Store, Fetcher: memFetcher{c}, WorkDir: workDir})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.Recover(t.Context()); err != nil {
		t.Fatalf("a journal two attempts wrote: %v", err)
	}
	if _, err := os.Stat(journals[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the journal after its recovery: %v", err)
	}
}

// A target restarted after a crash removes the output shards its
// interrupted job had written, from the job's journal.
func TestRecoverRemovesOutputOfInterruptedJob(t *testing.T) {
	c, inputs := interruptedJob(t)
	if n := len(c.outputs("dst")); n != 2 {
		t.Fatalf("%d shards written before the block, want 2", n)
	}
	// A new worker on the same store and work directory, as after a crash.
	st := c.stores["t1"].(*blockingStore).Store
	workDir := c.workDirs["t1"]
	// The journal tells the attempt that wrote the shards after it.
	journals, _ := filepath.Glob(filepath.Join(workDir, "dsort-*.journal"))
	if data, err := os.ReadFile(strings.Join(journals, "")); err != nil || !strings.Contains(string(data), "\n{\"attempt\":0}\n") {
		t.Fatalf("the journal %v: %q %v, want the attempt after the bucket", journals, data, err)
	}
	if meta, err := st.Head(t.Context(), store.NewBucket("dst"), "out-000.tar"); err != nil || meta.Custom[pipeline.CustomAttempt] != "0" || meta.Custom[pipeline.CustomJob] == "" {
		t.Fatalf("a shard written: %+v %v, want the job's attempt 0's", meta.Custom, err)
	}
	restarted, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: st, Fetcher: memFetcher{c}, WorkDir: workDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.List(t.Context(), store.NewBucket("dst"), store.ListOptions{}); len(list) != 0 {
		t.Fatalf("%d output shards of the interrupted job remain", len(list))
	}
	if list, _ := st.List(t.Context(), store.NewBucket("src"), store.ListOptions{}); len(list) != len(inputs) {
		t.Fatalf("recovery touched the input: %d of %d", len(list), len(inputs))
	}
}

// A target whose coordinator falls silent between phases aborts by itself.
func TestWatchdogAbortsWhenCoordinatorIsSilent(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tgz", Records: 5, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	dir := t.TempDir()
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: c.stores["t1"], Fetcher: memFetcher{c}, WorkDir: dir,
		// Long enough that a loaded machine does not delay Extract past it
		// (Init starts the watchdog, Extract stops it).
		IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	spec := baseSpec("in-{0..1}.tgz", "out-{000..999}.tar")
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-silent", Spec: spec, Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Extract(t.Context(), "srt-silent"); err != nil {
		t.Fatal(err)
	}
	waitSilentAbort(t, w, "srt-silent")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("spill files left after the abort: %v", entries)
	}
	// A job initialized and never called again (its start failed, its
	// client went) ends too.
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-never-started", Spec: spec, Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	waitSilentAbort(t, w, "srt-never-started")
}

// A target whose phase failed waits for its coordinator's abort; if that
// call is lost, the watchdog aborts the job (its memory, spill files).
func TestWatchdogAbortsAfterAFailedPhase(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tgz", Records: 5, RecordSize: 1000, Seed: 8})
	inputs["in-1.tgz"] = []byte("not a gzip stream at all")
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: c.stores["t1"], Fetcher: memFetcher{c}, WorkDir: t.TempDir(), IdleTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	spec := baseSpec("in-{0..1}.tgz", "out-{000..999}.tar")
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-failed", Spec: spec, Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Extract(t.Context(), "srt-failed"); err == nil {
		t.Fatal("extraction of a corrupt shard passed")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st, _ := w.Stats("srt-failed"); st.Aborted && !st.Finished.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a job whose phase failed, with no abort from its coordinator, was kept")
		}
	}
}

// A target done with a phase early waits, without a call, for the slowest
// target and the sort: the coordinator's keepalive keeps its job, and
// only silence aborts it.
func TestKeepaliveKeepsAJobBetweenPhases(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tgz", Records: 5, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	// The timeout is many keepalives long: a loaded machine (the race
	// detector, other tests) may delay one by tens of milliseconds.
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: c.stores["t1"], Fetcher: memFetcher{c}, WorkDir: t.TempDir(), IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	spec := baseSpec("in-{0..1}.tgz", "out-{000..999}.tar")
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-kept", Spec: spec, Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Extract(t.Context(), "srt-kept"); err != nil {
		t.Fatal(err)
	}
	// Three idle timeouts between phases, with a keepalive now and then.
	for range 150 {
		if err := w.Heard("srt-kept"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _ := w.Stats("srt-kept"); st.Aborted {
		t.Fatalf("the job was aborted while its coordinator kept it: %v", st.Errors)
	}
	waitSilentAbort(t, w, "srt-kept")
}

// A target that joins while a job starts (its targets fixed, the job not
// yet running) is seen: the job does not run on the old placement.
func TestTargetJoiningWhileAJobStarts(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 8, RecordSize: 500, Seed: 5})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.beforeInit = func() { c.addTarget("t3") }
	status, err := c.run(baseSpec("in-{0..3}.tar", "out-{000..999}.tar"))
	if err == nil && !status.Aborted {
		t.Fatalf("a job that started as a target joined ran on the old targets: %+v", status)
	}
	if msg := status.Error + fmt.Sprint(err); !strings.Contains(msg, "targets changed") {
		t.Fatalf("the job's error %q (%v) does not say the targets changed", status.Error, err)
	}
}

// A job aborted while it starts (registered, listed, its targets told,
// not running yet) is aborted once it runs: the abort is taken, not
// answered "not found" while the job goes on.
func TestAbortWhileAJobStarts(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 8, RecordSize: 500, Seed: 5})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	var abortErr error
	c.beforeInit = func() {
		c.mu.Lock()
		var id string
		for registered := range c.registry {
			id = registered
		}
		c.mu.Unlock()
		abortErr = c.coordinator.Abort(t.Context(), id, errors.New("aborted by the test as it started"))
	}
	status, err := c.run(baseSpec("in-{0..3}.tar", "out-{000..999}.tar"))
	if abortErr != nil {
		t.Fatalf("an abort of a job starting: %v, want it taken", abortErr)
	}
	if err != nil || !status.Aborted || !strings.Contains(status.Error, "aborted by the test as it started") {
		t.Fatalf("a job aborted as it started: %+v (%v), want aborted with the cause", status, err)
	}
}

// A job whose sort (or slowest target) takes longer than the targets'
// idle timeout finishes: its coordinator's keepalives keep the targets
// that wait between the phases.
func TestSlowPhaseOutlastsTheIdleTimeout(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 8, RecordSize: 500, Seed: 5})
	c := newMemCluster(t, 0, nil)
	// Keepalives 10 times as often as the idle timeout: a loaded
	// machine that starves the coordinator a few ticks does not end it.
	c.idle = time.Second
	c.addTarget("t1")
	c.addTarget("t2")
	c.coordinator.Close()
	c.coordinator = pipeline.NewCoordinator(pipeline.CoordinatorConfig{Cluster: memPeers{c}, Targets: memPeers{c}, KeepaliveInterval: 100 * time.Millisecond})
	t.Cleanup(c.coordinator.Close)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.beforeCreate = func() { time.Sleep(3 * c.idle) } // a sort that takes long
	status, err := c.run(baseSpec("in-{0..3}.tar", "out-{000..999}.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if status.Aborted || len(c.outputs("dst")) == 0 {
		t.Fatalf("a job with a phase longer than the idle timeout: %+v", status)
	}
}

// waitSilentAbort waits for a job to abort for want of its coordinator,
// and for the abort to end (its files removed: Finished is set last).
func waitSilentAbort(t *testing.T, w *pipeline.Worker, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := w.Stats(id)
		if st.Aborted && !st.Finished.IsZero() {
			if len(st.Errors) == 0 || !strings.Contains(st.Errors[0], "no word from the coordinator") {
				t.Fatalf("abort cause: %v", st.Errors)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s was not aborted after its coordinator fell silent", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stallingStore holds one open of an input shard until the caller gives
// up, so that a job stays in the middle of its extraction.
type stallingStore struct {
	store.Store
	opens   atomic.Int32
	stallAt int32 // the open that stalls, counting from 1
	reached chan struct{}
}

func (s *stallingStore) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	if b.Name == "src" && s.opens.Add(1) == s.stallAt {
		close(s.reached)
		<-ctx.Done()
		return nil, context.Cause(ctx)
	}
	return s.Store.Open(ctx, b, name, opts)
}

// Closing a worker aborts the job extracting on it, removes its spill
// files, and refuses new jobs.
func TestCloseAbortsRunningJobs(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tgz", Records: 10, RecordSize: 4000, Seed: 8})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	st := &stallingStore{Store: c.stores["t1"], stallAt: 2, reached: make(chan struct{})}
	dir := t.TempDir()
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: st, Fetcher: memFetcher{c}, WorkDir: dir, Mountpaths: 1})
	if err != nil {
		t.Fatal(err)
	}
	spec := baseSpec("in-{0..3}.tgz", "out-{000..999}.tar")
	spec.MaxMemUsage = "8KiB" // the first shard spills
	spec.ExtractConcurrencyMaxLimit = 1
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-close", Spec: spec, Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	extracted := make(chan error, 1)
	go func() {
		_, err := w.Extract(t.Context(), "srt-close")
		extracted <- err
	}()
	<-st.reached
	spillDir := filepath.Join(dir, "dsort-srt-close")
	if _, err := os.Stat(spillDir); err != nil {
		t.Fatalf("no spill directory in the middle of extraction: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for the call (the spill files below are gone); its
	// goroutine hands the result over just after.
	select {
	case err := <-extracted:
		if !errors.Is(err, pipeline.ErrAborted) {
			t.Fatalf("extract after close: %v, want ErrAborted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Extract did not return after Close")
	}
	stats, err := w.Stats("srt-close")
	if err != nil {
		t.Fatal(err)
	}
	if !stats.Aborted || !slices.ContainsFunc(stats.Errors, func(e string) bool { return strings.Contains(e, "shutting down") }) {
		t.Fatalf("stats after close: aborted %v, errors %v", stats.Aborted, stats.Errors)
	}
	if stats.Extract.SpilledBytes == 0 {
		t.Fatal("nothing spilled before the close: the test checks no spill removal")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left in the work directory after close: %v", entries)
	}
	err = w.Init(t.Context(), pipeline.JobInit{ID: "srt-after", Spec: spec, Map: c.smap})
	if !errors.Is(err, pipeline.ErrWorkerClosed) {
		t.Fatalf("init after close: %v, want ErrWorkerClosed", err)
	}
	if _, err := w.Stats("srt-after"); !errors.Is(err, pipeline.ErrJobNotFound) {
		t.Fatalf("a job refused after close is known: %v", err)
	}
}

// Several jobs run at once on the same targets, each writing what the
// reference writes.
func TestConcurrentJobs(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 12, RecordSize: 1500, Seed: 21})
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	specs := []pipeline.Spec{baseSpec("in-{0..5}.tar", "a-{000..999}.tar"), baseSpec("in-{0..5}.tar", "b-{000..999}.tgz"), baseSpec("in-{0..5}.tar", "c-{000..999}.zip")}
	specs[0].OutputBucket = pipeline.BucketRef{Name: "out-a"}
	specs[1].OutputBucket = pipeline.BucketRef{Name: "out-b"}
	specs[2].OutputBucket = pipeline.BucketRef{Name: "out-c"}
	specs[1].Algorithm = pipeline.Algorithm{Kind: "shuffle", Seed: "4"}
	specs[2].Algorithm = pipeline.Algorithm{Kind: "content", Extension: ".cls", ContentKeyType: "int", Decreasing: true}
	var ids []string
	for _, spec := range specs {
		id, err := c.coordinator.Start(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i, id := range ids {
		status, err := c.coordinator.Wait(t.Context(), id)
		if err != nil || !status.Archived {
			t.Fatalf("job %d: %+v %v", i, status, err)
		}
		seed := int64(0)
		if i == 1 {
			seed = 4
		}
		want, err := reference.Run(specs[i], seed, inputs, nil)
		if err != nil {
			t.Fatal(err)
		}
		equalOutputs(t, c.outputs(specs[i].OutputBucket.Name), want)
	}
}

// A mountpath that fails during creation (EIO on writing output shards)
// aborts the job everywhere with the node and phase, removing its output.
func TestFailingMountpathAbortsJob(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 20, RecordSize: 1000, Seed: 8})
	var failing *faulty.Store
	c := newMemCluster(t, 3, func(id string, st store.Store) store.Store {
		f := faulty.Wrap(st)
		if id == "t2" {
			failing = f
		}
		return f
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	failing.Inject(faulty.Fault{Op: faulty.OpPut, Prefix: "out-", After: 1000, Err: syscall.EIO})
	spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !status.Aborted || !strings.Contains(status.Error, "t2") || !strings.Contains(status.Error, "create phase") || !strings.Contains(status.Error, "input/output error") {
		t.Fatalf("status %+v: want aborted naming t2, the create phase and the I/O error", status)
	}
	if out := c.outputs("dst"); len(out) != 0 {
		t.Fatalf("the failed job left %d shards", len(out))
	}
	failing.Clear()
	if status, err := c.run(spec); err != nil || !status.Archived {
		t.Fatalf("the same job once the mountpath works: %+v %v", status, err)
	}
}

// An output template too short for the records fails the job at the sort
// phase, naming the template; nothing is written.
func TestTooFewOutputNames(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 10, RecordSize: 10000, Seed: 3})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..5}.tar", "out-{0..2}.tar") // about 600 KiB into 3 shards of 20 KiB
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !status.Aborted || !strings.Contains(status.Error, `names 3 shards`) {
		t.Fatalf("too few output names: %+v", status)
	}
	if out := c.outputs("dst"); len(out) != 0 {
		t.Fatalf("a job short of names wrote %d shards", len(out))
	}
}

// The input's stored size is no bound on its records' (a tar's padding
// to its blocking factor, end blocks, directories): a job whose records
// fit the names runs, however big its input objects are.
func TestOutputNamesCountRecordsNotInputBytes(t *testing.T) {
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	// Each input: one record of 1 KiB, padded out to 64 KiB of tar.
	for i := range 20 {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("r%02d.bin", i), Mode: 0o644, Size: 1024, Typeflag: tar.TypeReg})
		tw.Write(bytes.Repeat([]byte{byte(i)}, 1024))
		tw.Close()
		buf.Write(make([]byte, 64<<10-buf.Len()))
		c.putInputs("src", map[string][]byte{fmt.Sprintf("in-%02d.tar", i): buf.Bytes()})
	}
	spec := baseSpec("in-{00..19}.tar", "out-{0..1}.tar") // 1.3 MiB stored, 30 KiB of records
	spec.OutputShardSize = "20KiB"
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	if status.Aborted || status.Error != "" {
		t.Fatalf("a job whose records fit its names: %+v", status)
	}
	if out := c.outputs("dst"); len(out) != 2 {
		t.Fatalf("wrote %d shards, want 2", len(out))
	}
}

// A target that dies between extraction and creation (while the
// coordinator sorts) aborts the job everywhere, naming the target and the
// phase; nothing is written.
func TestTargetDyingDuringSortAbortsJob(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.beforeCreate = func() { c.kill("t2") }
	spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
	spec.TargetGrace = "0s"
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !status.Aborted || !strings.Contains(status.Error, "target t2 lost during the create phase") || !strings.Contains(status.Error, "target_grace is 0s") {
		t.Fatalf("status %+v: want aborted naming t2", status)
	}
	for _, id := range []string{"t1", "t3"} {
		st, _ := c.worker(id).Stats(status.ID)
		if !st.Aborted {
			t.Fatalf("target %s did not abort: %+v", id, st)
		}
	}
	for _, id := range []string{"t1", "t3"} {
		if list, _ := c.stores[id].List(t.Context(), store.NewBucket("dst"), store.ListOptions{}); len(list) != 0 {
			t.Fatalf("target %s kept %d output shards", id, len(list))
		}
	}
}

// A target that dies in extraction or creation and comes back within the
// grace period costs the job a restart, not the job: the output is the
// oracle's, byte for byte.
func TestLostTargetComingBackWithinGrace(t *testing.T) {
	inputs, spec, want := restartCase(t, 11)
	for _, phase := range []string{"extract", "create"} {
		t.Run(phase, func(t *testing.T) {
			c := newMemCluster(t, 3, nil)
			c.createBucket("src")
			c.putInputs("src", inputs)
			var revived sync.WaitGroup
			t.Cleanup(revived.Wait)
			crash := func() {
				c.kill("t2")
				revived.Go(func() {
					time.Sleep(300 * time.Millisecond)
					c.revive("t2")
				})
			}
			if phase == "extract" {
				c.beforeExtract = crash
			} else {
				c.beforeCreate = crash
			}
			status, err := c.run(spec)
			if err != nil {
				t.Fatal(err)
			}
			if !status.Archived || status.Error != "" || status.Restarts != 1 {
				t.Fatalf("status %+v: want finished after one restart", status)
			}
			if !slices.ContainsFunc(status.Warnings, func(w string) bool {
				return strings.Contains(w, "target t2 lost during the "+phase+" phase")
			}) {
				t.Fatalf("warnings %q: want the loss of t2 in %s", status.Warnings, phase)
			}
			equalOutputs(t, c.outputs("dst"), want)
		})
	}
}

// The grace period starts once the targets left stopped the attempt: a
// cleanup that takes longer than it (spills and shards removed) does not
// use up the wait for the lost target, back at once.
func TestSlowCleanupLeavesTheGraceToTheLostTarget(t *testing.T) {
	inputs, spec, want := restartCase(t, 11)
	spec.TargetGrace = "1s"
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.abortDelay = 1500 * time.Millisecond
	var revived sync.WaitGroup
	t.Cleanup(revived.Wait)
	c.beforeCreate = func() {
		c.kill("t2")
		revived.Go(func() {
			time.Sleep(200 * time.Millisecond)
			c.revive("t2")
		})
	}
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !status.Archived || status.Error != "" || status.Restarts != 1 {
		t.Fatalf("status %+v: want finished after one restart", status)
	}
	equalOutputs(t, c.outputs("dst"), want)
}

// A lost target that does not come back within the grace period aborts
// the job, naming the target, the phase and the input shards only it
// held; nothing of the output stays.
func TestLostTargetNotBackAbortsNamingShards(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..8}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.beforeCreate = func() { c.kill("t3") }
	spec := baseSpec("in-{0..8}.tar", "out-{000..999}.tar")
	spec.TargetGrace = "1s"
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for name := range inputs {
		if owner, _ := c.smap.Owner(cluster.Uname("ais", "src", name)); owner.ID == "t3" {
			held = append(held, name)
		}
	}
	if len(held) == 0 {
		t.Fatal("t3 holds no input shard: the dataset does not test the message")
	}
	if !status.Aborted || !strings.Contains(status.Error, "target t3 lost during the create phase") ||
		!strings.Contains(status.Error, "not back within target_grace 1s") || !strings.Contains(status.Error, fmt.Sprintf("%d input shards", len(held))) {
		t.Fatalf("status %+v", status)
	}
	for _, name := range held {
		if !strings.Contains(status.Error, name) {
			t.Fatalf("error %q does not name input shard %s", status.Error, name)
		}
	}
	for _, id := range []string{"t1", "t2"} {
		if list, _ := c.stores[id].List(t.Context(), store.NewBucket("dst"), store.ListOptions{}); len(list) != 0 {
			t.Fatalf("target %s kept %d output shards", id, len(list))
		}
	}
}

// restoringStore stands in for erasure coding: an object missing here is
// rebuilt from what the other targets' disks hold.
type restoringStore struct {
	store.Store
	disks func() []store.Store
}

func (s restoringStore) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	obj, err := s.Store.Open(ctx, b, name, opts)
	if !errors.Is(err, store.ErrNotFound) {
		return obj, err
	}
	for _, disk := range s.disks() {
		other, oerr := disk.Open(ctx, b, name, opts)
		if oerr != nil {
			continue
		}
		data, rerr := io.ReadAll(other)
		other.Close()
		if rerr != nil {
			return nil, rerr
		}
		if _, perr := s.Store.Put(ctx, b, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data))}); perr != nil {
			return nil, perr
		}
		return s.Store.Open(ctx, b, name, opts)
	}
	return nil, err
}

// A target lost for good costs nothing but a restart when its inputs can
// be read without it (an erasure-coded bucket): once the map counts it
// out, the job runs again on the targets left and writes the oracle's
// shards.
func TestLostTargetReplannedWhenInputIsRedundant(t *testing.T) {
	inputs, spec, want := restartCase(t, 13)
	var c *memCluster
	var disks sync.Map // id → the store beneath, as the "parts"
	c = newMemCluster(t, 3, func(id string, st store.Store) store.Store {
		disks.Store(id, st)
		return restoringStore{Store: st, disks: func() []store.Store {
			var out []store.Store
			disks.Range(func(other, st any) bool {
				if other != id {
					out = append(out, st.(store.Store))
				}
				return true
			})
			return out
		}}
	})
	props := store.DefaultProps()
	props.EC = store.ECProps{Enabled: true, DataSlices: 1, ParitySlices: 1}
	c.createBucketWith("src", props)
	c.createBucket("dst")
	c.putInputs("src", inputs)
	c.beforeCreate = func() {
		c.kill("t2")
		go c.markOffline("t2")
	}
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !status.Archived || status.Restarts != 1 || !slices.Equal(status.Targets, []string{"t1", "t3"}) {
		t.Fatalf("status %+v: want finished on t1,t3 after one restart", status)
	}
	if !slices.ContainsFunc(status.Warnings, func(w string) bool { return strings.Contains(w, "erasure-coded 1+1") }) {
		t.Fatalf("warnings %q: want the reason the job went on without t2", status.Warnings)
	}
	equalOutputs(t, outputsOn(t, c, "t1", "t3"), want)
}

// A target counted out of the map while it still runs the job is told
// to stop when the job goes on without it: it does not keep the previous
// attempt's memory and shards until its watchdog gives up.
func TestTargetLeftOutOfRestartIsAborted(t *testing.T) {
	inputs, spec, want := restartCase(t, 13)
	c := newMemCluster(t, 3, nil)
	props := store.DefaultProps()
	props.EC = store.ECProps{Enabled: true, DataSlices: 1, ParitySlices: 1}
	c.createBucketWith("src", props)
	c.createBucket("dst")
	c.putInputs("src", inputs)
	// Every target holds every input: t2's are still readable without it.
	for _, id := range []string{"t1", "t2", "t3"} {
		for name, data := range inputs {
			if _, err := c.stores[id].Put(t.Context(), store.NewBucket("src"), name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.beforeCreate = func() { c.markOffline("t2") } // between phases: out of the map, still running
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !status.Archived || status.Restarts != 1 || !slices.Equal(status.Targets, []string{"t1", "t3"}) {
		t.Fatalf("status %+v: want finished on t1,t3 after one restart", status)
	}
	left, err := c.worker("t2").Stats(status.ID)
	if err != nil || !left.Aborted || !slices.ContainsFunc(left.Errors, func(e string) bool { return strings.Contains(e, "starts again without this target") }) {
		t.Fatalf("t2, left out of the restart: %+v, %v: want its attempt aborted, saying why", left, err)
	}
	equalOutputs(t, outputsOn(t, c, "t1", "t3"), want)
}

// writerOnly hides a writer's ReadFrom.
type writerOnly struct{ io.Writer }

// A record stream announces its exact length, and a writer that reads
// from files (a connection, here a buffer) gets the same bytes as one
// that takes copies: big files go by the file path, small ones with the
// frames around them.
func TestServeRecordsLengthAndFilePath(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 6, RecordSize: 40 << 10, Extensions: []string{".jpg", ".cls"}, Seed: 4})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	w := c.worker("t1")
	// The same records by the file path and by copies: two jobs, as a
	// record goes to one creator once.
	var sent, copied, bounded bytes.Buffer
	var length int64
	for _, run := range []struct {
		id  string
		out io.Writer
	}{{"srt-frames", &sent}, {"srt-frames-2", writerOnly{&copied}}, {"srt-frames-3", &bounded}} {
		if run.out == &bounded {
			// One file kept a stream, two a job: the rest copied.
			defer pipeline.SetStreamFiles(1, 2)()
		}
		if err := w.Init(t.Context(), pipeline.JobInit{ID: run.id, Spec: baseSpec("in-{0..3}.tar", "out-{000..999}.tar"), Seed: 1, Map: c.smap}); err != nil {
			t.Fatal(err)
		}
		metas, err := w.Extract(t.Context(), run.id)
		if err != nil || len(metas) != 24 {
			t.Fatalf("extracted %d records: %v", len(metas), err)
		}
		if length, err = w.RecordsLength(run.id, metas); err != nil {
			t.Fatal(err)
		}
		if err := w.ServeRecords(t.Context(), run.id, -1, metas, run.out); err != nil {
			t.Fatal(err)
		}
		if open := w.StreamFilesOpen(run.id); open != 0 {
			t.Fatalf("%d input shards counted open after the stream ended", open)
		}
		// What a stream would refuse is refused with the length, before
		// an answer's status: records served, a job aborted.
		if _, err := w.RecordsLength(run.id, metas[:1]); !errors.Is(err, pipeline.ErrPhase) {
			t.Fatalf("the length of records served already: %v", err)
		}
		if err := w.Abort(t.Context(), run.id, "done"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.RecordsLength(run.id, nil); !errors.Is(err, pipeline.ErrAborted) {
			t.Fatalf("the length of records of an aborted job: %v", err)
		}
	}
	if int64(sent.Len()) != length || int64(copied.Len()) != length || !bytes.Equal(sent.Bytes(), copied.Bytes()) {
		t.Fatalf("announced %d bytes; sent %d by the file path and %d by copies (equal: %v)", length, sent.Len(), copied.Len(), bytes.Equal(sent.Bytes(), copied.Bytes()))
	}
	if !bytes.Equal(bounded.Bytes(), sent.Bytes()) {
		t.Fatalf("with the files a stream and a job keep open bounded: %d bytes, differing from the file path's %d", bounded.Len(), sent.Len())
	}
}

// A target that drops out of the map and comes back while a job runs (it
// kept the job) restarts the job, which then writes the oracle's shards;
// with target_grace 0s the change ends the job, saying so.
func TestTargetFlappingRestartsJob(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
	spec.Algorithm.Seed = "21"
	want, err := reference.Run(spec, 21, inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, grace := range []string{"10s", "0s"} {
		c := newMemCluster(t, 3, nil)
		c.createBucket("src")
		c.putInputs("src", inputs)
		c.beforeCreate = func() {
			c.markOffline("t2")
			c.markActive("t2")
		}
		spec.TargetGrace = grace
		status, err := c.run(spec)
		if err != nil {
			t.Fatal(err)
		}
		if grace == "0s" {
			if !status.Aborted || !strings.Contains(status.Error, "targets changed during the create phase") {
				t.Fatalf("grace 0s: status %+v", status)
			}
			continue
		}
		if !status.Archived || status.Restarts != 1 {
			t.Fatalf("grace %s: status %+v, want finished after one restart", grace, status)
		}
		equalOutputs(t, c.outputs("dst"), want)
	}
}

// A target that finished a job keeps a durable mark of it: restarted
// before the registry records the job's end (its coordinator died), it
// still answers "finished" and Recover leaves its shards; should the job
// be recorded aborted after all, Unfinish has Recover remove them.
func TestFinishedJobOutlivesARestart(t *testing.T) {
	ctx := t.Context()
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 10, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	id, err := c.coordinator.Start(ctx, baseSpec("in-{0..3}.tar", "out-{000..999}.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := c.coordinator.Wait(ctx, id); !status.Archived {
		t.Fatalf("the job ended %+v", status)
	}
	written := len(c.outputs("dst"))
	if written == 0 {
		t.Fatal("the job wrote nothing")
	}
	// A recovery that read the job's journal just before it became the
	// mark (a recovery while the node serves) leaves a job it knows
	// finished alone.
	marks, _ := filepath.Glob(filepath.Join(c.workDirs["t1"], "dsort-*.finished"))
	if len(marks) != 1 {
		t.Fatalf("finished marks %v, want one", marks)
	}
	mark, _ := os.ReadFile(marks[0])
	journal := strings.TrimSuffix(marks[0], ".finished") + ".journal"
	if err := os.WriteFile(journal, mark, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.workers["t1"].Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(c.outputs("dst")); n != written {
		t.Fatalf("%d of the finished job's %d shards left after a recovery in service", n, written)
	}
	os.Remove(journal)
	restart := func() *pipeline.Worker {
		w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: c.stores["t1"], Fetcher: memFetcher{c}, WorkDir: c.workDirs["t1"]})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := restart()
	if n := len(c.outputs("dst")); n != written {
		t.Fatalf("%d of the finished job's %d shards left after a restart", n, written)
	}
	stats, err := w.Stats(id)
	if err != nil || !stats.Archived || stats.Aborted || stats.Phase != pipeline.PhaseFinished || stats.Output.Name != "dst" {
		t.Fatalf("the stats of a job finished before the restart: %+v %v", stats, err)
	}
	if err := w.Finish(ctx, id); err != nil {
		t.Fatalf("finish again after the restart: %v", err)
	}
	if err := w.Abort(ctx, id, "late"); !errors.Is(err, pipeline.ErrJobFinished) {
		t.Fatalf("abort after the restart: %v, want ErrJobFinished", err)
	}
	if got := w.FinishedJobs(); !slices.Equal(got, []string{id}) {
		t.Fatalf("finished jobs %v, want %s", got, id)
	}
	// It does not run again, a later attempt neither.
	if err := w.Init(ctx, pipeline.JobInit{ID: id, Attempt: 1, Spec: baseSpec("in-{0..3}.tar", "out-{000..999}.tar"), Map: c.smap}); !errors.Is(err, pipeline.ErrJobExists) {
		t.Fatalf("an attempt of a job finished before the restart: %v, want refused", err)
	}
	// A journal of another attempt there: the mark is not taken back
	// over it.
	if err := os.WriteFile(journal, []byte("\"ais://dst\"\n{\"attempt\":1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Unfinish(id); err == nil {
		t.Fatal("a mark taken back over another attempt's journal")
	}
	os.Remove(journal)
	// Recorded aborted after all: the shards go, and the mark.
	if err := w.Unfinish(id); err != nil {
		t.Fatal(err)
	}
	if err := w.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(c.outputs("dst")); n != 0 {
		t.Fatalf("%d shards of a job taken back left", n)
	}
	if _, err := w.Stats(id); !errors.Is(err, pipeline.ErrJobNotFound) {
		t.Fatalf("stats of a job taken back: %v, want not found", err)
	}
	if got := restart().FinishedJobs(); len(got) != 0 {
		t.Fatalf("finished jobs after a restart: %v, want none", got)
	}
}

// Finished marks are bounded: the oldest go first; a job's removal or
// the registry's record of its end (ForgetFinished) takes its mark.
func TestFinishedMarksAreBounded(t *testing.T) {
	defer pipeline.SetMaxFinishedMarks(2)()
	dir := t.TempDir()
	now := time.Now()
	for i, id := range []string{"srt-c", "srt-a", "srt-b"} {
		path := filepath.Join(dir, "dsort-"+id+".finished")
		if err := os.WriteFile(path, []byte("\"ais://dst\"\n{\"attempt\":0}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	// Not marks: a name that is no job id, a directory.
	os.WriteFile(filepath.Join(dir, "dsort-no id!.finished"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "dsort-srt-d.finished"), 0o755)
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: twoStoresWithOut(t)[0], Fetcher: memFetcher{}, WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.FinishedJobs(); !slices.Equal(got, []string{"srt-a", "srt-b"}) {
		t.Fatalf("finished jobs %v, want the newest two", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "dsort-srt-c.finished")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the oldest mark: %v, want removed", err)
	}
	if !w.ForgetFinished("srt-a") || w.ForgetFinished("srt-a") {
		t.Fatal("ForgetFinished does not tell whether there was a mark")
	}
	if err := w.Remove("srt-b"); err != nil {
		t.Fatalf("remove a job known by its mark only: %v", err)
	}
	if got := w.FinishedJobs(); len(got) != 0 {
		t.Fatalf("finished jobs %v, want none", got)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "dsort-srt-[ab].finished")); len(entries) != 0 {
		t.Fatalf("marks left: %v", entries)
	}
}

// A journal names its output bucket with the provider: recovery removes
// the interrupted job's shards from that bucket, not from the ais://
// bucket of the same name.
func TestRecoverRemovesFromTheJournalsBucket(t *testing.T) {
	ctx := t.Context()
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	remoteOut, localOut := store.Bucket{Name: "out", Provider: store.ProviderAWS}, store.NewBucket("out")
	for _, b := range []store.Bucket{remoteOut, localOut} {
		if err := st.CreateBucket(ctx, b, store.DefaultProps()); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, b, "out-000.tar", strings.NewReader("shard"), store.PutOptions{Size: 5, Custom: map[string]string{pipeline.CustomJob: "srt-x"}}); err != nil {
			t.Fatal(err)
		}
	}
	recoverJournal(t, st, t.TempDir(), []string{"aws://out", "out-000.tar"})
	if _, err := st.Head(ctx, remoteOut, "out-000.tar"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the journal's shard in %s: %v, want removed", remoteOut, err)
	}
	if _, err := st.Head(ctx, localOut, "out-000.tar"); err != nil {
		t.Fatalf("the shard of the same name in %s: %v, want kept", localOut, err)
	}
}

// Recovery removes only what the interrupted job stored: a journal names
// each shard before it is stored, so a crash in between leaves the name
// of an object stored before the job (or by another writer since), which
// stays, with its index.
func TestRecoverKeepsWhatTheJobDidNotWrite(t *testing.T) {
	ctx := t.Context()
	var stores [2]store.Store
	out := store.NewBucket("out")
	for i := range stores {
		st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateBucket(ctx, out, store.DefaultProps()); err != nil {
			t.Fatal(err)
		}
		stores[i] = st
	}
	put := func(st store.Store, name, job string) {
		t.Helper()
		opts := store.PutOptions{Size: 5}
		if job != "" {
			opts.Custom = map[string]string{pipeline.CustomJob: job}
		}
		if _, err := st.Put(ctx, out, name, strings.NewReader("shard"), opts); err != nil {
			t.Fatal(err)
		}
	}
	put(stores[0], "before.tar", "")     // stored before the job
	put(stores[0], "other.tar", "srt-y") // stored by another job since
	put(stores[0], "mine.tar", "srt-x")  // stored by the job
	put(stores[1], "before.tar.idx", "")
	put(stores[1], "mine.tar.idx", "srt-x") // (dSort writes its indexes with its id)
	recoverJournal(t, deletesOwner{stores[0], stores[1]}, t.TempDir(), []string{"ais://out", "before.tar", "before.tar.idx", "other.tar", "mine.tar", "mine.tar.idx", "never.tar"})
	for _, tc := range []struct {
		st   store.Store
		name string
		kept bool
	}{
		{stores[0], "before.tar", true}, {stores[1], "before.tar.idx", true}, {stores[0], "other.tar", true},
		{stores[0], "mine.tar", false}, {stores[1], "mine.tar.idx", false},
	} {
		if _, err := tc.st.Head(ctx, out, tc.name); (err == nil) != tc.kept {
			t.Errorf("%s after recovery: %v, want kept %v", tc.name, err, tc.kept)
		}
	}
}

// The journals of an earlier run in another work directory (it moves
// with the first mountpath enabled) are recovered too.
func TestRecoverReadsEarlierWorkDirectories(t *testing.T) {
	ctx := t.Context()
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	out := store.NewBucket("out")
	if err := st.CreateBucket(ctx, out, store.DefaultProps()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, out, "out-000.tar", strings.NewReader("shard"), store.PutOptions{Size: 5, Custom: map[string]string{pipeline.CustomJob: "srt-x"}}); err != nil {
		t.Fatal(err)
	}
	earlier := t.TempDir()
	// The crashed job's spill files there go too.
	spill := filepath.Join(earlier, "dsort-srt-x")
	if err := os.MkdirAll(spill, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spill, "run-0"), make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	// And an estimate's disk sample; a file of another name stays.
	sample, other := filepath.Join(earlier, "est-0123456789ab.tmp"), filepath.Join(earlier, "notes.tmp")
	for _, name := range []string{sample, other} {
		if err := os.WriteFile(name, make([]byte, 1024), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recoverJournal(t, st, earlier, []string{"ais://out", "out-000.tar"}, earlier, filepath.Join(earlier, "gone"))
	if _, err := os.Stat(spill); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the spill files of the crashed job in an earlier work directory are left: %v", err)
	}
	if _, err := os.Stat(sample); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the disk sample of a crashed estimate is left: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("a file not the worker's went: %v", err)
	}
	if _, err := st.Head(ctx, out, "out-000.tar"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the shard of a journal in an earlier work directory: %v, want removed", err)
	}
	if _, err := os.Stat(filepath.Join(earlier, "dsort-srt-x.journal")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the journal is left: %v", err)
	}
}

// A job writing into its input's bucket is refused an output shard named
// as an input shard (it would replace what it reads), and leaves the
// input as it was; output names apart from the input's are fine.
func TestOutputDoesNotReplaceInput(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 10, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..3}.tar", "in-{0..9}.tar")
	spec.OutputBucket = pipeline.BucketRef{Name: "src"}
	// Refused as it starts (the first output name is an input's), not
	// after every target extracted.
	_, err := c.run(spec)
	if err == nil || !strings.Contains(err.Error(), "would replace the input shard") {
		t.Fatalf("a job naming its output as its input: %v, want refused at start naming the input it would replace", err)
	}
	after := c.outputs("src")
	if len(after) != len(inputs) {
		t.Fatalf("the input bucket holds %d objects after the refused job, want the %d inputs", len(after), len(inputs))
	}
	for name, data := range inputs {
		if !bytes.Equal(after[name], data) {
			t.Fatalf("input %s changed", name)
		}
	}
	spec.OutputFormat = "out-{0..9}.tar"
	if status, err := c.run(spec); err != nil || status.Error != "" {
		t.Fatalf("output named apart, in the input's bucket: %+v %v", status, err)
	}
}

// stuckWriter blocks every write until it is cut, as a connection to a
// creator whose host vanished does.
type stuckWriter struct {
	cut  chan struct{}
	once sync.Once
}

func (s *stuckWriter) Write(p []byte) (int, error) {
	<-s.cut
	return 0, errors.New("cut")
}

func (s *stuckWriter) Cut() { s.once.Do(func() { close(s.cut) }) }

// stuckStream starts job id on a one-target cluster, extracts, and serves
// its records to a writer stuck in its first write (until Cut).
func stuckStream(t *testing.T, id string) (*pipeline.Worker, *stuckWriter, chan error) {
	t.Helper()
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tar", Records: 4, RecordSize: 1000, Seed: 4})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	w := c.worker("t1")
	if err := w.Init(t.Context(), pipeline.JobInit{ID: id, Spec: baseSpec("in-{0..1}.tar", "out-{000..999}.tar"), Seed: 1, Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	metas, err := w.Extract(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := &stuckWriter{cut: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- w.ServeRecords(t.Context(), id, -1, metas, out) }()
	time.Sleep(50 * time.Millisecond) // the stream is in its first write
	return w, out, served
}

// An abort ends a record stream stuck in a write: the job's memory and
// files are not held until the kernel gives up on the peer.
func TestAbortCutsAStuckRecordStream(t *testing.T) {
	const id = "srt-stuck"
	w, _, served := stuckStream(t, id)
	aborted := make(chan error, 1)
	go func() { aborted <- w.Abort(t.Context(), id, "by the test") }()
	for _, ch := range []chan error{aborted, served} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("the abort waited for the stuck stream")
		}
	}
}

// finishHeld moves job id (held by a stuck record stream) to its create
// phase and starts its Finish, returning once the Finish runs (it admits
// no new call), held by the stream; the Finish's answer comes on the
// channel.
func finishHeld(t *testing.T, w *pipeline.Worker, id string) <-chan error {
	t.Helper()
	if err := w.Create(t.Context(), id, nil); err != nil {
		t.Fatal(err)
	}
	finished := make(chan error, 1)
	go func() { finished <- w.Finish(t.Context(), id) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if err := w.ServeRecords(t.Context(), id, -1, nil, io.Discard); errors.Is(err, pipeline.ErrJobFinished) {
			return finished
		}
		if time.Now().After(deadline) {
			t.Fatal("Finish did not start")
		}
	}
}

// An abort that comes while the job finishes on a target is refused, as
// once it finished: it would remove the shards of a job the coordinator
// records as finished.
func TestAbortDuringFinishIsRefused(t *testing.T) {
	const id = "srt-finishing"
	// A record stream still being served holds the Finish.
	w, out, served := stuckStream(t, id)
	// A Finish before the create phase is refused: the job has no output.
	if err := w.Finish(t.Context(), id); !errors.Is(err, pipeline.ErrPhase) {
		t.Fatalf("a Finish in the sort phase: %v, want refused", err)
	}
	finished := finishHeld(t, w, id)
	if err := w.Abort(t.Context(), id, "by the test"); !errors.Is(err, pipeline.ErrJobFinished) {
		t.Fatalf("an abort during Finish: %v, want it refused as finished", err)
	}
	// A Finish asked again meanwhile is done only when the first is.
	again := make(chan error, 1)
	go func() { again <- w.Finish(t.Context(), id) }()
	select {
	case err := <-again:
		t.Fatalf("a second Finish answered (%v) before the first was done", err)
	case <-time.After(100 * time.Millisecond):
	}
	out.Cut()
	<-served
	if err := <-finished; err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if err := <-again; err != nil {
		t.Fatalf("the second Finish: %v", err)
	}
	if st, _ := w.Stats(id); st.Aborted || !st.Archived {
		t.Fatalf("the job after Finish: aborted %v, archived %v", st.Aborted, st.Archived)
	}
	// Asked again (a gateway settling the job), it is done already.
	if err := w.Finish(t.Context(), id); err != nil {
		t.Fatalf("a second Finish: %v", err)
	}
}

// ownerStore writes an object through its owner target, as the node's
// store does for a shard's index (pipeline.OwnerWriter).
type ownerStore struct {
	store.Store
	cluster **memCluster
}

func (o ownerStore) ownerStore(b store.Bucket, name string) (store.Store, error) {
	c := *o.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	owner, err := c.smap.Owner(cluster.Uname(b.Provider, b.Name, name))
	if err != nil {
		return nil, err
	}
	return c.stores[owner.ID], nil
}

func (o ownerStore) PutToOwner(ctx context.Context, b store.Bucket, name string, data []byte, custom map[string]string) (store.Stamp, error) {
	st, err := o.ownerStore(b, name)
	if err != nil {
		return store.Stamp{}, err
	}
	meta, err := st.Put(ctx, b, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Custom: custom})
	return meta.Stamp, err
}

func (o ownerStore) DeleteFromOwner(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error {
	st, err := o.ownerStore(b, name)
	if err != nil {
		return err
	}
	return st.Delete(ctx, b, name, store.DeleteOptions{Stamp: stamp})
}

func (o ownerStore) DeleteJobFromOwner(ctx context.Context, b store.Bucket, name, job string, beforeAttempt int) error {
	st, err := o.ownerStore(b, name)
	if err != nil {
		return err
	}
	return deleteJobCopy(ctx, st, b, name, job, beforeAttempt)
}

// deleteJobCopy removes an object if job wrote it, in an attempt before
// beforeAttempt when that is above 0.
func deleteJobCopy(ctx context.Context, st store.Store, b store.Bucket, name, job string, beforeAttempt int) error {
	meta, err := st.Head(ctx, b, name)
	if err != nil || meta.Custom[pipeline.CustomJob] != job || beforeAttempt > 0 && pipeline.AttemptOf(meta) >= beforeAttempt {
		return err
	}
	return st.Delete(ctx, b, name, store.DeleteOptions{IfStamp: meta.Stamp})
}

// Targets that abort a job on their own (their coordinator gone, a
// watchdog, a shutdown) remove the indexes of their shards too, from
// the targets that own them.
func TestTargetAbortRemovesIndexes(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	var c *memCluster
	c = newMemCluster(t, 3, func(id string, st store.Store) store.Store { return ownerStore{Store: st, cluster: &c} })
	c.createBucket("src")
	c.putInputs("src", inputs)
	left := -1
	c.beforeFinish = func() {
		for _, id := range []string{"t1", "t2", "t3"} {
			w := c.worker(id)
			for _, job := range w.Jobs() {
				if err := w.Abort(t.Context(), job.ID, "by the test"); err != nil {
					t.Errorf("abort on %s: %v", id, err)
				}
			}
		}
		left = 0
		for _, st := range c.stores {
			list, _ := st.List(t.Context(), store.NewBucket("dst"), store.ListOptions{})
			left += len(list)
		}
	}
	spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
	spec.OutputIndex = true
	c.run(spec)
	if left != 0 {
		t.Fatalf("%d shards and indexes left after every target aborted", left)
	}
}

// lostAnswerOwner is an ownerStore whose first index write lands at its
// owner and then loses its answer: the target aborts the job (its
// coordinator gone) before it hears back.
type lostAnswerOwner struct {
	ownerStore
	lost func(ctx context.Context, name string)
}

func (o lostAnswerOwner) PutToOwner(ctx context.Context, b store.Bucket, name string, data []byte, custom map[string]string) (store.Stamp, error) {
	stamp, err := o.ownerStore.PutToOwner(ctx, b, name, data, custom)
	if err == nil && formats.IsIndexName(name) && o.lost != nil {
		o.lost(ctx, name)
		if ctx.Err() != nil {
			return store.Stamp{}, context.Cause(ctx)
		}
	}
	return stamp, err
}

// A target's own abort removes an output its owner stored whose answer
// the abort cut short (the write not acknowledged here): no coordinator
// may be left to remove it.
func TestTargetAbortRemovesAWriteItDidNotHearBackFrom(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	var c *memCluster
	var once sync.Once
	var lostName string
	var leftAfter atomic.Int64
	leftAfter.Store(-1)
	checked := make(chan struct{})
	c = newMemCluster(t, 3, func(id string, st store.Store) store.Store {
		return lostAnswerOwner{ownerStore: ownerStore{Store: st, cluster: &c}, lost: func(ctx context.Context, name string) {
			once.Do(func() {
				lostName = name
				go func() {
					defer close(checked)
					w := c.worker(id)
					for _, job := range w.Jobs() {
						w.Abort(context.Background(), job.ID, "its coordinator is gone")
					}
					// An index goes through the orphans the node retries.
					if !w.HasOrphans() {
						t.Error("no orphan queued for the index whose write was cut short")
					}
					w.RemoveOrphans(context.Background())
					left := int64(0)
					for _, st := range c.stores {
						if _, err := st.Head(context.Background(), store.NewBucket("dst"), name); err == nil {
							left++
						}
					}
					leftAfter.Store(left)
				}()
				<-ctx.Done() // the abort cuts the write's wait for its answer
			})
		}}
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	// The coordinator's own cleanup (it is alive here) waits for the check.
	c.beforeRemove = func() {
		select {
		case <-checked:
		case <-time.After(10 * time.Second):
		}
	}
	spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
	spec.OutputIndex = true
	c.run(spec)
	<-checked
	if got := leftAfter.Load(); got != 0 {
		t.Fatalf("the index %s, stored and its answer cut short by the target's abort, is left on %d targets", lostName, got)
	}
}

// deletesOwner is a store that writes and removes through an owner
// elsewhere: the other store.
type deletesOwner struct {
	store.Store
	owner store.Store
}

func (d deletesOwner) PutToOwner(ctx context.Context, b store.Bucket, name string, data []byte, custom map[string]string) (store.Stamp, error) {
	meta, err := d.owner.Put(ctx, b, name, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Custom: custom})
	return meta.Stamp, err
}

func (d deletesOwner) DeleteFromOwner(ctx context.Context, b store.Bucket, name string, stamp store.Stamp) error {
	return d.owner.Delete(ctx, b, name, store.DeleteOptions{Stamp: stamp})
}

func (d deletesOwner) DeleteJobFromOwner(ctx context.Context, b store.Bucket, name, job string, beforeAttempt int) error {
	return deleteJobCopy(ctx, d.owner, b, name, job, beforeAttempt)
}

// twoStoresWithOut is two targets' stores, each with the bucket "out".
func twoStoresWithOut(t *testing.T) [2]store.Store {
	t.Helper()
	var stores [2]store.Store
	for i := range stores {
		st, err := fs.Open(t.Context(), fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateBucket(t.Context(), store.NewBucket("out"), store.DefaultProps()); err != nil {
			t.Fatal(err)
		}
		stores[i] = st
	}
	return stores
}

// The index an interrupted job wrote on its owner, another target, goes
// once the restarted node knows its cluster.
func TestRecoverRemovesIndexesOnTheirOwners(t *testing.T) {
	ctx := t.Context()
	stores := twoStoresWithOut(t)
	ours := map[string]string{pipeline.CustomJob: "srt-x"}
	if _, err := stores[1].Put(ctx, store.NewBucket("out"), "out-000.tar.idx", strings.NewReader("{}"), store.PutOptions{Size: 2, Custom: ours}); err != nil {
		t.Fatal(err)
	}
	// The index of another shard of the journal, written since by a job
	// run again (another id): it stays.
	if _, err := stores[1].Put(ctx, store.NewBucket("out"), "out-001.tar.idx", strings.NewReader("{}"), store.PutOptions{Size: 2, Custom: map[string]string{pipeline.CustomJob: "srt-y"}}); err != nil {
		t.Fatal(err)
	}
	for _, shard := range []string{"out-000.tar", "out-001.tar"} {
		if _, err := stores[0].Put(ctx, store.NewBucket("out"), shard, strings.NewReader("shard"), store.PutOptions{Size: 5, Custom: ours}); err != nil {
			t.Fatal(err)
		}
	}
	recoverJournal(t, deletesOwner{stores[0], stores[1]}, t.TempDir(), []string{"ais://out", "out-000.tar", "out-000.tar.idx", "out-001.tar", "out-001.tar.idx"})
	if _, err := stores[1].Head(ctx, store.NewBucket("out"), "out-000.tar.idx"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the index on its owner after the restart: %v, want removed", err)
	}
	if _, err := stores[1].Head(ctx, store.NewBucket("out"), "out-001.tar.idx"); err != nil {
		t.Fatalf("another job's index of the same name after the restart: %v, want kept", err)
	}
}

// An index of an interrupted job whose owner does not answer is kept for
// the next RemoveOrphans, not dropped after one try.
func TestOrphanIndexIsTriedAgain(t *testing.T) {
	ctx := t.Context()
	stores := twoStoresWithOut(t)
	ours := map[string]string{pipeline.CustomJob: "srt-x"}
	if _, err := stores[1].Put(ctx, store.NewBucket("out"), "out-000.tar.idx", strings.NewReader("{}"), store.PutOptions{Size: 2, Custom: ours}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[0].Put(ctx, store.NewBucket("out"), "out-000.tar", strings.NewReader("shard"), store.PutOptions{Size: 5, Custom: ours}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dsort-srt-x.journal"), []byte("\"ais://out\"\n\"out-000.tar\"\n\"out-000.tar.idx\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	owner := &awayOwner{deletesOwner: deletesOwner{stores[0], stores[1]}}
	owner.away.Store(true)
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: owner, Fetcher: memFetcher{}, WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	w.RemoveOrphans(ctx)
	if !w.HasOrphans() {
		t.Fatal("an index whose owner did not answer was dropped")
	}
	owner.away.Store(false)
	w.RemoveOrphans(ctx)
	if w.HasOrphans() {
		t.Fatal("an index removed is still kept")
	}
	if _, err := stores[1].Head(ctx, store.NewBucket("out"), "out-000.tar.idx"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the index on its owner after the second try: %v, want removed", err)
	}
}

// awayOwner is deletesOwner whose owner does not answer while away.
type awayOwner struct {
	deletesOwner
	away atomic.Bool
}

func (a *awayOwner) DeleteJobFromOwner(ctx context.Context, b store.Bucket, name, job string, beforeAttempt int) error {
	if a.away.Load() {
		return errors.New("connection refused")
	}
	return a.deletesOwner.DeleteJobFromOwner(ctx, b, name, job, beforeAttempt)
}

// The recovery of an attempt cut short removes its own output, here and
// on the owners of its indexes, and leaves what a later attempt of the
// job wrote under the same names.
func TestRecoverLeavesALaterAttemptsOutput(t *testing.T) {
	ctx := t.Context()
	stores := twoStoresWithOut(t)
	attempt := func(n string) map[string]string {
		return map[string]string{pipeline.CustomJob: "srt-x", pipeline.CustomAttempt: n}
	}
	b := store.NewBucket("out")
	for i, custom := range []map[string]string{attempt("0"), attempt("1")} {
		shard := fmt.Sprintf("out-00%d.tar", i)
		if _, err := stores[0].Put(ctx, b, shard, strings.NewReader("shard"), store.PutOptions{Size: 5, Custom: custom}); err != nil {
			t.Fatal(err)
		}
		if _, err := stores[1].Put(ctx, b, shard+".idx", strings.NewReader("{}"), store.PutOptions{Size: 2, Custom: custom}); err != nil {
			t.Fatal(err)
		}
	}
	recoverJournal(t, deletesOwner{stores[0], stores[1]}, t.TempDir(), []string{"ais://out", `{"attempt":0}`, "out-000.tar", "out-000.tar.idx", "out-001.tar", "out-001.tar.idx"})
	for i, st := range stores {
		suffix := []string{"", ".idx"}[i]
		if _, err := st.Head(ctx, b, "out-000.tar"+suffix); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("attempt 0's out-000.tar%s after the recovery: %v, want removed", suffix, err)
		}
		if _, err := st.Head(ctx, b, "out-001.tar"+suffix); err != nil {
			t.Errorf("attempt 1's out-001.tar%s after the recovery of attempt 0: %v, want kept", suffix, err)
		}
	}
}

// recoverJournal writes a job's journal (its bucket, then its shards)
// into journalDir and runs the recovery of a worker restarted over st
// (with earlier work directories recoverDirs).
func recoverJournal(t *testing.T, st store.Store, journalDir string, lines []string, recoverDirs ...string) {
	t.Helper()
	var journal strings.Builder
	for _, line := range lines {
		if strings.HasPrefix(line, "{") {
			journal.WriteString(line + "\n") // an attempt's line
			continue
		}
		fmt.Fprintf(&journal, "%q\n", line)
	}
	if err := os.WriteFile(filepath.Join(journalDir, "dsort-srt-x.journal"), []byte(journal.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	workDir := journalDir
	if len(recoverDirs) > 0 {
		workDir = t.TempDir()
	}
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: st, Fetcher: memFetcher{}, WorkDir: workDir, RecoverDirs: recoverDirs})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.RemoveOrphans(t.Context())
}

// Ended jobs are forgotten past a bound, oldest first, on the coordinator
// and on the targets: each keeps its plan, and every status lists them.
func TestEndedJobsAreBounded(t *testing.T) {
	defer pipeline.SetMaxEndedJobs(2)()
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tar", Records: 3, RecordSize: 100, Seed: 2})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	var ids []string
	for range 5 {
		status, err := c.run(baseSpec("in-{0..1}.tar", "out-{000..999}.tar"))
		if err != nil || !status.Archived {
			t.Fatalf("job: %+v %v", status, err)
		}
		ids = append(ids, status.ID)
	}
	var kept []string
	for _, s := range c.coordinator.Jobs() {
		kept = append(kept, s.ID)
	}
	// The newest job is added after the prune: the bound plus it.
	if want := ids[2:]; !slices.Equal(kept, want) {
		t.Fatalf("the coordinator keeps %v, want %v", kept, want)
	}
	for _, id := range []string{"t1", "t2"} {
		if n := len(c.worker(id).Jobs()); n > 3 {
			t.Fatalf("target %s keeps %d jobs", id, n)
		}
	}
}

// Each phase runs once an attempt: a second extract (a request repeated,
// or forged) is refused, not run again over the first's spill files and
// memory; so is a create before the sort.
func TestPhaseRunsOnce(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tgz", Records: 5, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: c.stores["t1"], Fetcher: memFetcher{c}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-once", Spec: baseSpec("in-{0..1}.tgz", "out-{000..999}.tar"), Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	if err := w.Create(t.Context(), "srt-once", nil); !errors.Is(err, pipeline.ErrPhase) {
		t.Fatalf("create before extract: %v, want ErrPhase", err)
	}
	metas, err := w.Extract(t.Context(), "srt-once")
	if err != nil {
		t.Fatal(err)
	}
	// A record goes to one creator, once: a second request for it (its
	// buffer given back by the first) is refused.
	if err := w.ServeRecords(t.Context(), "srt-once", -1, metas[:2], io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := w.ServeRecords(t.Context(), "srt-once", -1, metas[1:3], io.Discard); !errors.Is(err, pipeline.ErrPhase) {
		t.Fatalf("records asked for again: %v, want ErrPhase", err)
	}
	if err := w.ServeRecords(t.Context(), "srt-once", -1, []shards.RecordMeta{metas[3], metas[3]}, io.Discard); !errors.Is(err, pipeline.ErrPhase) {
		t.Fatalf("a record twice in one request: %v, want ErrPhase", err)
	}
	if err := w.ServeRecords(t.Context(), "srt-once", -1, metas[2:4], io.Discard); err != nil {
		t.Fatalf("records a refused request named, asked for alone: %v", err)
	}
	// Nor do they go to a creator of another attempt of the job (one
	// given up, running on a target cut off): this attempt's creators
	// would find them used up.
	if len(metas) < 5 {
		t.Fatalf("%d records: want 5 at least", len(metas))
	}
	if err := w.ServeRecords(t.Context(), "srt-once", 1, metas[4:5], io.Discard); !errors.Is(err, pipeline.ErrPhase) {
		t.Fatalf("records asked for by another attempt: %v, want ErrPhase", err)
	}
	if err := w.ServeRecords(t.Context(), "srt-once", 0, metas[4:5], io.Discard); err != nil {
		t.Fatalf("the record another attempt asked for, asked for by this one: %v", err)
	}
	if _, err := w.Extract(t.Context(), "srt-once"); !errors.Is(err, pipeline.ErrPhase) {
		t.Fatalf("a second extract: %v, want ErrPhase", err)
	}
	if st, _ := w.Stats("srt-once"); st.Aborted || st.Extract.Done != 2 {
		t.Fatalf("after a refused extract: %+v", st)
	}
}

// The create phase reads records at the offsets extraction found: an
// input written over in between fails the job, naming it, instead of
// building shards of the wrong bytes.
func TestInputChangedBeforeCreateFailsTheJob(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 8, RecordSize: 700, Seed: 5})
	other := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 5, RecordSize: 1300, Seed: 6})
	for _, output := range []string{"out-{000..999}.tar", "out-{000..999}.zip"} {
		c := newMemCluster(t, 2, nil)
		c.createBucket("src")
		c.putInputs("src", inputs)
		c.beforeCreate = func() { c.putInputs("src", map[string][]byte{"in-2.tar": other["in-2.tar"]}) }
		status, err := c.run(baseSpec("in-{0..3}.tar", output))
		if err != nil {
			t.Fatal(err)
		}
		if !status.Aborted || !strings.Contains(status.Error, "in-2.tar changed after it was extracted") {
			t.Fatalf("%s: an input written over before create: %+v", output, status)
		}
		if got := c.outputs("dst"); len(got) != 0 {
			t.Fatalf("%s: the job left %d shards", output, len(got))
		}
	}
}

// openBlockingStore holds every Open until release is closed, whatever
// the caller's context: an extraction its abort must wait for.
type openBlockingStore struct {
	store.Store
	opened  chan struct{}
	once    sync.Once
	release chan struct{}
}

func (s *openBlockingStore) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	s.once.Do(func() { close(s.opened) })
	<-s.release
	return s.Store.Open(ctx, b, name, opts)
}

// A next attempt waits for the abort of the one before to clean up: the
// abort under way (another caller's) would remove the new attempt's spill
// directory and journal, which have the same names.
func TestNextAttemptWaitsForTheAbortBefore(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tgz", Records: 5, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	st := &openBlockingStore{Store: c.stores["t1"], opened: make(chan struct{}), release: make(chan struct{})}
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: st, Fetcher: memFetcher{c}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	spec := baseSpec("in-{0..1}.tgz", "out-{000..999}.tar")
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-again", Spec: spec, Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	go w.Extract(t.Context(), "srt-again")
	<-st.opened
	go w.Abort(t.Context(), "srt-again", "the first abort") // waits for the extraction
	for deadline := time.Now().Add(10 * time.Second); ; {
		if s, _ := w.Stats("srt-again"); s.Aborted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abort did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	inited := make(chan error, 1)
	go func() {
		inited <- w.Init(t.Context(), pipeline.JobInit{ID: "srt-again", Attempt: 1, Spec: spec, Map: c.smap})
	}()
	select {
	case err := <-inited:
		t.Fatalf("the next attempt started while the abort before still cleaned up (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(st.release)
	select {
	case err := <-inited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next attempt did not start once the abort ended")
	}
}

// An input shard's links (a tar hard link) are skipped, as WebDataset
// skips them, and the job warns naming the shard and the link: a record
// lost a member.
func TestLinksInInputAreWarned(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..2}.tar", Records: 5, RecordSize: 500, Seed: 2})
	var linked bytes.Buffer
	tr := tar.NewReader(bytes.NewReader(inputs["in-1.tar"]))
	tw := tar.NewWriter(&linked)
	first := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		first = cmp.Or(first, h.Name)
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: "extra.jpg", Linkname: first})
	tw.Close()
	inputs["in-1.tar"] = linked.Bytes()
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..2}.tar", "out-{00..99}.tar")
	status, err := c.run(spec)
	if err != nil || !status.Archived {
		t.Fatalf("a job over a shard with a link: %+v %v", status, err)
	}
	warned := false
	for _, w := range c.workers {
		st, _ := w.Stats(status.ID)
		for _, msg := range st.Warnings {
			warned = warned || strings.Contains(msg, "in-1.tar") && strings.Contains(msg, "extra.jpg")
		}
	}
	if !warned {
		t.Fatal("no warning names the link the job skipped")
	}
	want, _ := reference.Run(spec, 0, inputs, nil)
	equalOutputs(t, c.outputs("dst"), want)
}

// An abort that comes once every target finished (a user's, or a target
// joining) is refused as too late: the job is finished and its output
// stays.
func TestAbortAfterEveryTargetFinishedKeepsTheOutput(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	started := make(chan string, 1)
	aborted := make(chan error, 1)
	c.afterFinish = func(ctx context.Context) {
		id := <-started
		go func() {
			aborted <- c.coordinator.Abort(t.Context(), id, fmt.Errorf("%w: by the test", pipeline.ErrAborted))
		}()
		<-ctx.Done() // the abort reached the job
	}
	spec := baseSpec("in-{0..3}.tar", "out-{000..999}.tar")
	id, err := c.coordinator.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	started <- id
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	status, err := c.coordinator.Wait(ctx, id)
	if err != nil || status.Aborted || !status.Archived {
		t.Fatalf("a job aborted after its targets finished: %+v %v, want it finished", status, err)
	}
	if err := <-aborted; !errors.Is(err, pipeline.ErrJobFinished) {
		t.Fatalf("the late abort: %v, want it refused as finished", err)
	}
	c.mu.Lock()
	recorded := c.registry[id]
	c.mu.Unlock()
	if recorded != "ended: " {
		t.Fatalf("the registry holds %q for the finished job, want it ended", recorded)
	}
	want, _ := reference.Run(spec, 0, inputs, nil)
	equalOutputs(t, c.outputs("dst"), want)
}

// slowDeletes holds the deletes of the output bucket until released.
type slowDeletes struct {
	store.Store
	started chan struct{}
	once    sync.Once
	release chan struct{}
}

func (s *slowDeletes) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if b.Name == "dst" {
		s.once.Do(func() { close(s.started) })
		<-s.release
	}
	return s.Store.Delete(ctx, b, name, opts)
}

// A second abort of a target's job (the coordinator's, after the target
// aborted on its own) is answered once the first one's cleanup ended,
// and the job cannot be removed before: "aborted" means its shards are
// gone.
func TestSecondAbortWaitsForTheFirstsCleanup(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	slow := &slowDeletes{started: make(chan struct{}), release: make(chan struct{})}
	c := newMemCluster(t, 1, func(_ string, st store.Store) store.Store { slow.Store = st; return slow })
	c.createBucket("src")
	c.putInputs("src", inputs)
	second := make(chan error, 1)
	var released atomic.Bool
	defer pipeline.SetRemoveJobFiles(func(root, path string) error {
		released.Store(true)
		return os.RemoveAll(path)
	})()
	c.beforeFinish = func() {
		w := c.worker("t1")
		id := w.Jobs()[0].ID
		go w.Abort(t.Context(), id, "the first")
		<-slow.started
		// Its memory and spill files are let go before its shards are
		// removed (round trips to a remote, an owner): not held by them.
		if !released.Load() {
			t.Error("the abort holds the job's spill files while it removes its shards")
		}
		go func() { second <- w.Abort(t.Context(), id, "the second") }()
		var err error
		answered := false
		select {
		case err = <-second:
			answered = true
			t.Errorf("the second abort answered %v while the first removed the shards", err)
		case <-time.After(200 * time.Millisecond):
		}
		if err := w.Remove(id); !errors.Is(err, pipeline.ErrJobRunning) {
			t.Errorf("a remove while the abort removes the shards: %v, want refused", err)
		}
		// One that stops waiting is answered, and the cleanup goes on.
		third := make(chan error, 1)
		go func() {
			short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			third <- w.Abort(short, id, "the third")
		}()
		select {
		case err := <-third:
			if err == nil || !strings.Contains(err.Error(), "still cleaning up") {
				t.Errorf("an abort that stopped waiting: %v, want one naming the cleanup under way", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("an abort whose caller stopped waiting was not answered")
		}
		close(slow.release)
		if !answered {
			err = <-second
		}
		if err != nil {
			t.Errorf("the second abort: %v", err)
		}
		if out := c.outputs("dst"); len(out) != 0 {
			t.Errorf("%d shards left once the second abort answered", len(out))
		}
	}
	c.run(baseSpec("in-{0..3}.tar", "out-{000..999}.tar"))
}

// A job whose abort still removes its shards is not forgotten to make
// room for ended jobs: the next attempt must wait for that cleanup, and
// the node's close too.
func TestAbortingJobIsNotPruned(t *testing.T) {
	defer pipeline.SetMaxEndedJobs(0)()
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	slow := &slowDeletes{started: make(chan struct{}), release: make(chan struct{})}
	c := newMemCluster(t, 1, func(_ string, st store.Store) store.Store { slow.Store = st; return slow })
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.beforeFinish = func() {
		w := c.worker("t1")
		id := w.Jobs()[0].ID
		go w.Abort(t.Context(), id, "the first")
		<-slow.started
		// Another job's start prunes the ended jobs.
		if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-other", Spec: baseSpec("in-{0..3}.tar", "other-{000..999}.tar"), Map: c.smap}); err != nil {
			t.Error(err)
		}
		if _, err := w.Stats(id); err != nil {
			t.Errorf("the job whose abort removes its shards was forgotten: %v", err)
		}
		close(slow.release)
		w.Abort(t.Context(), "srt-other", "test over")
	}
	c.run(baseSpec("in-{0..3}.tar", "out-{000..999}.tar"))
}

// countingOpens counts the objects of a bucket open at once.
type countingOpens struct {
	store.Store
	bucket string
	open   atomic.Int64
}

func (s *countingOpens) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	obj, err := s.Store.Open(ctx, b, name, opts)
	if err == nil && b.Name == s.bucket {
		s.open.Add(1)
		obj = &countedObject{Object: obj, open: &s.open}
	}
	return obj, err
}

type countedObject struct {
	store.Object
	open   *atomic.Int64
	closed atomic.Bool
}

func (o *countedObject) Close() error {
	if !o.closed.Swap(true) {
		o.open.Add(-1)
	}
	return o.Object.Close()
}

// A tar job reads its entries from the input shards at creation; it keeps
// a bounded number of them open, not one per shard to its end (a job over
// a million shards would run out of file descriptors), and its output is
// the same.
func TestInputShardsOpenAreBounded(t *testing.T) {
	defer pipeline.SetMaxOpenInputs(3)()
	inputs := generate(t, datasets.Spec{Template: "in-{00..39}.tar", Records: 4, RecordSize: 300, Seed: 5})
	counter := &countingOpens{bucket: "src"}
	c := newMemCluster(t, 1, func(_ string, st store.Store) store.Store { counter.Store = st; return counter })
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.beforeFinish = func() {
		if open := counter.open.Load(); open > 3 {
			t.Errorf("%d input shards open once every output shard was created, want at most 3", open)
		}
	}
	spec := baseSpec("in-{00..39}.tar", "out-{000..999}.tar")
	spec.Algorithm = pipeline.Algorithm{Kind: "shuffle", Seed: "7"}
	status, err := c.run(spec)
	if err != nil || !status.Archived {
		t.Fatalf("job: %+v %v", status, err)
	}
	if open := counter.open.Load(); open != 0 {
		t.Errorf("%d input shards open after the job", open)
	}
	want, _ := reference.Run(spec, 7, inputs, nil)
	equalOutputs(t, c.outputs("dst"), want)
}

// A job's end is recorded though the registry refuses it for a while (the
// gateways elect a leader): a job left running there is shown running,
// and cannot be removed, for good.
func TestJobEndIsRecordedAfterAnElection(t *testing.T) {
	defer pipeline.SetEndJobRetry(5 * time.Millisecond)()
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tar", Records: 3, RecordSize: 100, Seed: 2})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.endJobFailures = 8
	// run checks that the registry holds the job's end.
	if status, err := c.run(baseSpec("in-{0..1}.tar", "out-{000..999}.tar")); err != nil || !status.Archived {
		t.Fatalf("job: %+v %v", status, err)
	}
}

// A job whose registration failed, though it may have been recorded (its
// answer lost), is recorded as ended: it would read running for good.
func TestJobWhoseRegistrationFailedIsEnded(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tar", Records: 3, RecordSize: 100, Seed: 2})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.mu.Lock()
	c.registerLost = true
	c.mu.Unlock()
	if _, err := c.coordinator.Start(t.Context(), baseSpec("in-{0..1}.tar", "out-{000..999}.tar")); err == nil {
		t.Fatal("a start whose registration failed succeeded")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		var states []string
		for _, state := range c.registry {
			states = append(states, state)
		}
		c.mu.Unlock()
		if len(states) == 1 && strings.HasPrefix(states[0], "ended: not started") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry after a failed registration: %v", states)
		}
	}
}

// A job that ended answers an abort and a removal at once though its end
// is not recorded yet (the gateways elect a leader): they do not hang on
// the registry.
func TestEndedJobAnswersWhileItsEndIsRecorded(t *testing.T) {
	defer pipeline.SetEndJobRetry(5 * time.Millisecond)()
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tar", Records: 3, RecordSize: 100, Seed: 2})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.mu.Lock()
	c.endJobFailures = 1 << 30
	c.mu.Unlock()
	id, err := c.coordinator.Start(t.Context(), baseSpec("in-{0..1}.tar", "out-{000..999}.tar"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, _ := c.coordinator.Status(id); s.Archived {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not finish")
		}
	}
	answered := make(chan error, 1)
	go func() { answered <- c.coordinator.Abort(t.Context(), id, errors.New("too late")) }()
	select {
	case err := <-answered:
		if !errors.Is(err, pipeline.ErrJobFinished) {
			t.Fatalf("an abort of a finished job: %v, want ErrJobFinished", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an abort of a finished job waits for the registry")
	}
	c.mu.Lock()
	c.endJobFailures = 0
	c.mu.Unlock()
	if _, err := c.coordinator.Wait(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	recorded := c.registry[id]
	c.mu.Unlock()
	if recorded != "ended: " {
		t.Fatalf("the registry holds %q once the leader is back", recorded)
	}
}

// An ended job keeps its stats, not the per-record state of its run:
// a node keeps up to maxEndedJobs of them.
func TestEndedJobHoldsNoRecordState(t *testing.T) {
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 10, RecordSize: 500, Extensions: []string{".jpg"}, Seed: 3}))
	spec := baseSpec("in-{0..3}.tar", "out-{00..99}.tar")
	spec.Algorithm.Seed = "5"
	status, err := c.run(spec)
	if err != nil || !status.Archived {
		t.Fatalf("job: %+v %v", status, err)
	}
	for _, id := range []string{"t1", "t2"} {
		served, versions, err := pipeline.HeldRecordMaps(c.worker(id), status.ID)
		if err != nil || served != 0 || versions != 0 {
			t.Errorf("target %s after the job: %d records served and %d input versions still held (%v)", id, served, versions, err)
		}
	}
}

// A job whose input selects nothing (a typo in the template) fails,
// naming the template, rather than finish with no output.
func TestJobFindingNoInputFails(t *testing.T) {
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", generate(t, datasets.Spec{Template: "in-{0..1}.tar", Records: 5, RecordSize: 100, Seed: 1}))
	status, err := c.run(baseSpec("ni-{0..1}.tar", "out-{0..9}.tar"))
	if msg := status.Error + fmt.Sprint(err); !status.Aborted || !strings.Contains(msg, `"ni-{0..1}.tar" found no record`) {
		t.Fatalf("a job over a template matching nothing: %+v %v", status, err)
	}
}

// journalCheckingStore fails an output shard's PUT whose name the
// job's journal has not made durable yet.
type journalCheckingStore struct {
	store.Store
	mu     *sync.Mutex
	synced map[string]bool
	puts   *int
}

func (s journalCheckingStore) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if b.Name == "dst" {
		s.mu.Lock()
		ok := s.synced[name]
		*s.puts++
		s.mu.Unlock()
		if !ok {
			return store.ObjectMeta{}, fmt.Errorf("output shard %s stored before its journal entry was synced", name)
		}
	}
	return s.Store.Put(ctx, b, name, r, opts)
}

// Each output shard is in the journal, durably, before it is stored: a
// power loss must not leave a shard that recovery does not know of.
func TestJournalIsSyncedBeforeEachShard(t *testing.T) {
	var mu sync.Mutex
	synced := map[string]bool{}
	puts := 0
	defer pipeline.SetJournalSync(func(f *os.File) error {
		data, err := os.ReadFile(f.Name())
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		var name string
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &name); err != nil {
			return err
		}
		mu.Lock()
		synced[name] = true
		mu.Unlock()
		return f.Sync()
	})()
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 10, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 1, func(id string, st store.Store) store.Store {
		return journalCheckingStore{Store: st, mu: &mu, synced: synced, puts: &puts}
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..3}.tar", "out-{000..999}.tar")
	if _, err := c.run(spec); err != nil {
		t.Fatal(err)
	}
	if puts == 0 || len(c.outputs("dst")) != puts {
		t.Fatalf("%d shards stored of %d puts", len(c.outputs("dst")), puts)
	}
}

// headFails fails every Head in one bucket while fail is set.
type headFails struct {
	store.Store
	bucket string
	fail   *atomic.Bool
}

func (h headFails) Head(ctx context.Context, b store.Bucket, name string) (store.ObjectMeta, error) {
	if h.fail.Load() && b.Name == h.bucket {
		return store.ObjectMeta{}, fmt.Errorf("%w: the remote is away", store.ErrRemote)
	}
	return h.Store.Head(ctx, b, name)
}

// A journal whose shards cannot be checked now (a remote away) stays for
// the next try, and the other journals are recovered meanwhile: one does
// not keep the node from starting.
func TestRecoverGoesOnPastAJournalItCannotFinish(t *testing.T) {
	ctx := t.Context()
	st, err := fs.Open(ctx, fs.Config{Mountpaths: []string{t.TempDir()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"away", "here"} {
		if err := st.CreateBucket(ctx, store.NewBucket(name), store.DefaultProps()); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range []struct{ bucket, job string }{{"away", "srt-a"}, {"here", "srt-b"}} {
		if _, err := st.Put(ctx, store.NewBucket(j.bucket), "out-0.tar", strings.NewReader("shard"), store.PutOptions{Size: 5, Custom: map[string]string{pipeline.CustomJob: j.job}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, j := range []struct{ bucket, job string }{{"away", "srt-a"}, {"here", "srt-b"}} {
		journal := fmt.Sprintf("%q\n%q\n", "ais://"+j.bucket, "out-0.tar")
		if err := os.WriteFile(filepath.Join(dir, "dsort-"+j.job+".journal"), []byte(journal), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// One that cannot be read, before them in the directory: the others
	// go on (each retry stopped at it).
	unreadable := filepath.Join(dir, "dsort-srt-0.journal")
	if err := os.Symlink(unreadable, unreadable); err != nil { // a loop: ELOOP
		t.Fatal(err)
	}
	fail := new(atomic.Bool)
	fail.Store(true)
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: headFails{st, "away", fail}, Fetcher: memFetcher{}, WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Recover(ctx); err == nil || !strings.Contains(err.Error(), "srt-a") || !strings.Contains(err.Error(), "dsort-srt-0.journal") {
		t.Fatalf("a recovery whose remote is away: %v, want an error naming the job and the journal not read", err)
	}
	os.Remove(unreadable)
	if _, err := st.Head(ctx, store.NewBucket("here"), "out-0.tar"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the other job's shard: %v, want removed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dsort-srt-a.journal")); err != nil {
		t.Fatalf("the journal not finished: %v, want kept", err)
	}
	fail.Store(false)
	if err := w.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(ctx, store.NewBucket("away"), "out-0.tar"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the shard once the remote is back: %v, want removed", err)
	}
}

// A recovery tried again while the node serves leaves the journal and the
// output of a job running here now: only interrupted jobs' go.
func TestRecoverLeavesARunningJobAlone(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tgz", Records: 5, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.createBucket("dst")
	c.putInputs("src", inputs)
	dir := t.TempDir()
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: c.stores["t1"], Fetcher: memFetcher{c}, WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	spec := baseSpec("in-{0..1}.tgz", "out-{000..999}.tar")
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-running", Spec: spec, Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	defer w.Abort(t.Context(), "srt-running", "the test ends")
	if _, err := c.stores["t1"].Put(t.Context(), store.NewBucket("dst"), "out-000.tar", strings.NewReader("shard"), store.PutOptions{Size: 5, Custom: map[string]string{pipeline.CustomJob: "srt-running"}}); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, "dsort-srt-running.journal")
	if err := os.WriteFile(journal, []byte(fmt.Sprintf("%q\n%q\n", "ais://dst", "out-000.tar")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.stores["t1"].Head(t.Context(), store.NewBucket("dst"), "out-000.tar"); err != nil {
		t.Fatalf("the running job's shard after a recovery: %v, want kept", err)
	}
	if _, err := os.Stat(journal); err != nil {
		t.Fatalf("the running job's journal: %v, want kept", err)
	}
}

// A job's spill files go to every spill directory (one per mountpath),
// and all of them go with the job.
func TestSpillsOnEveryMountpathGoWithTheJob(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tgz", Records: 10, RecordSize: 4000, Seed: 8})
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	// unknown is no work directory of the node's (a mountpath attached
	// since its start): a crash's spills there would stay, so none go.
	first, second, unknown := t.TempDir(), t.TempDir(), t.TempDir()
	w, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: c.stores["t1"], Fetcher: memFetcher{c}, WorkDir: first, RecoverDirs: []string{second},
		SpillDirs: func() []string { return []string{first, second, unknown} }, IdleTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	spec := baseSpec("in-{0..3}.tgz", "out-{000..999}.tar")
	spec.MaxMemUsage = "8KiB"
	spec.ExtractConcurrencyMaxLimit = 4
	if err := w.Init(t.Context(), pipeline.JobInit{ID: "srt-spread", Spec: spec, Map: c.smap}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Extract(t.Context(), "srt-spread"); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{first, second} {
		if files, _ := filepath.Glob(filepath.Join(dir, "dsort-srt-spread", "spill-*.bin")); len(files) == 0 {
			t.Errorf("no spill files in %s", dir)
		}
	}
	if entries, _ := os.ReadDir(unknown); len(entries) != 0 {
		t.Errorf("spills in a directory no work directory's: %v", entries)
	}
	waitSilentAbort(t, w, "srt-spread")
	for _, dir := range []string{first, second} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left in %s after the abort: %v", dir, entries)
		}
	}
}

// Every shard created, a finish call cut on its way (a timeout, a reset)
// or one cut by a target's blip is sent again: the job succeeds with its
// output whole, rather than abort and remove it.
func TestFinishCutOnItsWayIsSentAgain(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
	want, err := reference.Run(spec, 0, inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, disturbance := range []string{"cut calls", "a blip", "a target joining", "a first round longer than the grace"} {
		c := newMemCluster(t, 3, nil)
		c.createBucket("src")
		c.putInputs("src", inputs)
		spec := spec
		switch disturbance {
		case "cut calls":
			c.finishFailures = 2
		case "a first round longer than the grace":
			// A finish releasing a big job's spill files: the grace
			// counts from the round's end, not its start.
			spec.TargetGrace = "0s"
			defer pipeline.SetFinishWait(200 * time.Millisecond)()
			c.finishFailures = 1
			c.beforeFinish = func() { time.Sleep(600 * time.Millisecond) }
		case "a blip":
			// Away and back between the phases' end and the finish:
			// the map changes twice.
			c.beforeFinish = func() {
				c.markOffline("t2")
				c.markActive("t2")
			}
		case "a target joining":
			c.finishFailures = 1 // (the finish is sent again after it)
			c.beforeFinish = func() { c.addTarget("t4") }
		}
		status, err := c.run(spec)
		if err != nil || !status.Archived || status.Aborted {
			t.Fatalf("a job whose finish met %s: %v %+v", disturbance, err, status)
		}
		if disturbance == "a target joining" {
			continue // (its shards are where the old map placed them, for the rebalance to move)
		}
		equalOutputs(t, c.outputs("dst"), want)
	}
}

// Records with a duplicate file (the later one wins) are keyed as the
// reference keys them, by their first file's name: the same output on
// any number of targets, sorted by name or by its md5.
func TestDuplicatesMatchTheReference(t *testing.T) {
	inputs := map[string][]byte{}
	for s := range 2 {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for r := range 6 {
			for _, name := range []string{"%d-%d.jpg", "%d-%d.cls", "%d-%d.jpg"} {
				data := []byte(fmt.Sprintf("%s of shard %d", fmt.Sprintf(name, s, r), s))
				tw.WriteHeader(&tar.Header{Name: fmt.Sprintf(name, s, r), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
				tw.Write(data)
			}
		}
		tw.Close()
		inputs[fmt.Sprintf("in-%d.tar", s)] = buf.Bytes()
	}
	for _, algorithm := range []string{"alphanumeric", "md5"} {
		for _, targets := range []int{1, 3} {
			spec := baseSpec("in-{0..1}.tar", "out-{00..99}.tar")
			spec.OutputShardSize = "1KiB"
			spec.Algorithm.Kind = algorithm
			spec.Reactions.DuplicatedRecords = "ignore"
			runAndCompare(t, targets, inputs, spec, 0)
		}
	}
	// A content key file dropped for a later one is not read as a key:
	// the first is no integer, the kept one is.
	keyed := map[string][]byte{}
	for s := range 2 {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for r := range 6 {
			for _, m := range []struct{ name, body string }{{"%d-%d.jpg", "image"}, {"%d-%d.cls", "no number"}, {"%d-%d.cls", fmt.Sprint((r * 7) % 5)}} {
				name := fmt.Sprintf(m.name, s, r)
				tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(m.body)), Typeflag: tar.TypeReg})
				tw.Write([]byte(m.body))
			}
		}
		tw.Close()
		keyed[fmt.Sprintf("in-%d.tar", s)] = buf.Bytes()
	}
	for _, targets := range []int{1, 3} {
		spec := baseSpec("in-{0..1}.tar", "out-{00..99}.tar")
		spec.OutputShardSize = "1KiB"
		spec.Algorithm = pipeline.Algorithm{Kind: "content", Extension: ".cls", ContentKeyType: "int"}
		spec.Reactions.DuplicatedRecords = "ignore"
		runAndCompare(t, targets, keyed, spec, 0)
	}
}

// A member the output format cannot hold (a name that is not UTF-8, for
// zip) fails the job as it is extracted, naming it, not after the sort
// when its shard is created.
func TestMemberTheOutputCannotHoldFailsTheExtraction(t *testing.T) {
	var shard bytes.Buffer
	tw := tar.NewWriter(&shard)
	for _, name := range []string{"a.jpg", "caf\xe9.jpg"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 4, Typeflag: tar.TypeReg, Format: tar.FormatPAX})
		tw.Write([]byte("data"))
	}
	tw.Close()
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", map[string][]byte{"in-0.tar": shard.Bytes()})
	spec := baseSpec("in-{0..0}.tar", "out-{0..9}.zip")
	// The estimate says so before the job is run.
	if _, err := c.coordinator.Estimate(t.Context(), spec); err == nil || !strings.Contains(err.Error(), "the output format cannot hold a member") {
		t.Fatalf("the estimate of a tar member named in Latin-1 into zip: %v, want it refused naming it", err)
	}
	status, err := c.run(spec)
	msg := status.Error + fmt.Sprint(err)
	if status.Archived || !strings.Contains(msg, "shard in-0.tar: the output format cannot hold a member") || !strings.Contains(msg, "not UTF-8") {
		t.Fatalf("a tar member named in Latin-1 into zip: %+v %v, want the job failed in its extraction naming it", status, err)
	}
}

// Two records of one key from two input shards, sorted next to each
// other, stay two records in a record format's output: merged, one took
// the other's fields.
func TestRecordsOfOneKeyStayApartInRecordOutput(t *testing.T) {
	inputs := map[string][]byte{}
	for i, exts := range [][]string{{".cls", ".jpg"}, {".json", ".jpg"}} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, ext := range exts {
			data := []byte(fmt.Sprintf("input %d", i))
			tw.WriteHeader(&tar.Header{Name: "s1" + ext, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
			tw.Write(data)
		}
		tw.Close()
		inputs[fmt.Sprintf("in-%d.tar", i)] = buf.Bytes()
	}
	out := runAndCompare(t, 2, inputs, baseSpec("in-{0..1}.tar", "out-{0..9}.msgpack"), 1)
	var records []string
	for _, data := range out {
		for len(data) > 0 {
			n, rest, err := msgp.ReadMapHeaderBytes(data)
			if err != nil {
				t.Fatal(err)
			}
			fields := []string{}
			for range n {
				var name []byte
				if name, rest, err = msgp.ReadMapKeyZC(rest); err != nil {
					t.Fatal(err)
				}
				if rest, err = msgp.Skip(rest); err != nil {
					t.Fatal(err)
				}
				fields = append(fields, string(name))
			}
			records = append(records, strings.Join(fields, ","))
			data = rest
		}
	}
	slices.Sort(records)
	if got, want := fmt.Sprint(records), "[__key__,cls,jpg __key__,json,jpg]"; got != want {
		t.Fatalf("msgpack records %s, want %s", got, want)
	}
}

// An abort whose caller goes (a client's timeout) answers then; the
// abort goes on without it, and the job ends aborted.
func TestAbortAnswersWhenItsCallerGoes(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 5, RecordSize: 100, Seed: 3})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	inCreate, release := make(chan struct{}), make(chan struct{})
	c.beforeCreate = func() { close(inCreate); <-release }
	c.beforeRemove = func() { <-release }
	id, err := c.coordinator.Start(t.Context(), baseSpec("in-{0..3}.tar", "out-{00..99}.tar"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-inCreate:
	case <-time.After(30 * time.Second):
		t.Fatal("the job did not reach its create phase")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := c.coordinator.Abort(ctx, id, fmt.Errorf("%w: by the test", pipeline.ErrAborted)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an abort whose caller went during the cleanup: %v, want its deadline", err)
	}
	close(release)
	wait, stop := context.WithTimeout(t.Context(), time.Minute)
	defer stop()
	if status, err := c.coordinator.Wait(wait, id); err != nil || !status.Aborted {
		t.Fatalf("the job after the abort went on alone: %v %+v", err, status)
	}
}

// A target whose abort could not remove its output shards (its disk
// refused the deletes) keeps the job's journal: the next start's Recover
// removes them, rather than no one ever.
func TestShardsAnAbortCouldNotRemoveAreLeftToRecover(t *testing.T) {
	defer pipeline.SetFinishWait(100 * time.Millisecond)()
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	var refusing *faulty.Store
	c := newMemCluster(t, 2, func(id string, st store.Store) store.Store {
		f := faulty.Wrap(st)
		if id == "t1" {
			refusing = f
		}
		return f
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
	spec.TargetGrace = "0s"
	// Every shard created, the finish never reaches the targets: the job
	// aborts, and t1's deletes fail.
	c.finishFailures = 1 << 20
	refusing.Inject(faulty.Fault{Op: faulty.OpDelete, Prefix: "out-", Err: syscall.EIO})
	id, err := c.coordinator.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// (The registry holds the removal's failure in its cause, the status
	// as a warning: c.run would refuse the difference.)
	if status, err := c.coordinator.Wait(wait, id); err != nil || !status.Aborted {
		t.Fatalf("the job: %+v %v, want aborted", status, err)
	}
	b := store.NewBucket("dst")
	left, err := refusing.List(t.Context(), b, store.ListOptions{})
	if err != nil || len(left) == 0 {
		t.Fatalf("shards left on the target that refused the deletes: %d %v; the test tests nothing", len(left), err)
	}
	journals, _ := filepath.Glob(filepath.Join(c.workDirs["t1"], "dsort-*.journal"))
	if len(journals) != 1 {
		t.Fatalf("journals kept after the abort: %v, want the job's", journals)
	}
	refusing.Clear()
	restarted, err := pipeline.NewWorker(pipeline.WorkerConfig{NodeID: "t1", Store: refusing, Fetcher: memFetcher{c}, WorkDir: c.workDirs["t1"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left, _ := refusing.List(t.Context(), b, store.ListOptions{}); len(left) != 0 {
		t.Fatalf("%d shards left after the next start's recovery", len(left))
	}
}

// outputsOn reads the output shards the targets ids hold.
func outputsOn(t *testing.T, c *memCluster, ids ...string) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	for _, id := range ids {
		list, err := c.stores[id].List(t.Context(), store.NewBucket("dst"), store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list {
			got[o.Name] = storetest.Get(t, c.stores[id], store.NewBucket("dst"), o.Name)
		}
	}
	return got
}

// restartCase is the input, spec (target_grace 20s) and oracle's output
// of the tests of jobs that lose a target.
func restartCase(t *testing.T, seed int64) (map[string][]byte, pipeline.Spec, map[string][]byte) {
	t.Helper()
	inputs := generate(t, datasets.Spec{Template: "in-{0..8}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	spec := baseSpec("in-{0..8}.tar", "out-{000..999}.tar")
	spec.Algorithm.Seed = pipeline.SizeString(strconv.FormatInt(seed, 10))
	spec.TargetGrace = "20s"
	want, err := reference.Run(spec, seed, inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return inputs, spec, want
}

// A gateway that stops as the targets are told the finish (every shard
// created) leaves the job to the leader's settle, running in the
// registry, its output whole: it aborted it and removed the output, where
// a crash at that moment is settled finished.
func TestCoordinatorStoppingAsItsTargetsFinishLeavesTheOutput(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	// The finish's first round is cut on its way; the gateway stops.
	c.finishFailures = 1
	closed := make(chan struct{})
	c.beforeFinish = func() {
		go func() {
			c.coordinator.Close()
			close(closed)
		}()
	}
	spec := baseSpec("in-{0..3}.tar", "out-{000..999}.tar")
	id, err := c.coordinator.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("the coordinator did not close")
	}
	c.mu.Lock()
	recorded := c.registry[id]
	c.mu.Unlock()
	if recorded != "running" {
		t.Fatalf("the registry holds %q for the job its stopping gateway left, want it running (for the leader's settle)", recorded)
	}
	want, _ := reference.Run(spec, 0, inputs, nil)
	equalOutputs(t, c.outputs("dst"), want)
}

// A finished job keeps its stats, not the names of the shards it wrote
// (millions, for a job of small output shards, kept while it is listed).
func TestFinishedJobKeepsNoShardNames(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..3}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	status, err := c.run(baseSpec("in-{0..3}.tar", "out-{000..999}.tar"))
	if err != nil || !status.Archived {
		t.Fatalf("the job: %+v %v", status, err)
	}
	if len(c.outputs("dst")) == 0 {
		t.Fatal("the job wrote nothing: the test tests nothing")
	}
	for id := range c.workers {
		if n := pipeline.KeptShardNames(c.worker(id), status.ID); n != 0 {
			t.Fatalf("target %s keeps %d shard names of the finished job, want none", id, n)
		}
	}
}

// fullStore refuses every write of an output shard: a full disk.
type fullStore struct{ store.Store }

func (s fullStore) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if b.Name == "dst" {
		return store.ObjectMeta{}, errors.New("the test's disk is full")
	}
	return s.Store.Put(ctx, b, name, r, opts)
}

// A run that fails on its own (a full disk) while its targets are slow to
// answer the coordinator's look at them (busy) ends with its own error:
// the targets are asked again, not counted lost, and the job does not
// start again for nothing.
func TestRunFailingWhileTargetsAreSlowEndsWithItsError(t *testing.T) {
	t.Cleanup(pipeline.SetLostProbes(50*time.Millisecond, 3))
	inputs := generate(t, datasets.Spec{Template: "in-{0..5}.tar", Records: 12, RecordSize: 1000, Seed: 8})
	c := newMemCluster(t, 3, func(id string, st store.Store) store.Store {
		if id == "t2" {
			return fullStore{st}
		}
		return st
	})
	c.createBucket("src")
	c.putInputs("src", inputs)
	c.slowStats = 1
	status, err := c.run(baseSpec("in-{0..5}.tar", "out-{000..999}.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if !status.Aborted || !strings.Contains(status.Error, "the test's disk is full") || status.Restarts != 0 || strings.Contains(status.Error, "lost") {
		t.Fatalf("status %+v: want aborted with the disk's error, no restart, no target lost", status)
	}
}

// Close waits for a Finish under way: the node's stores outlive it, and
// its finished mark is made (a restart would take the job's shards for an
// unfinished job's and remove them).
func TestCloseWaitsForAFinishUnderWay(t *testing.T) {
	const id = "srt-closing"
	w, out, served := stuckStream(t, id)
	finished := finishHeld(t, w, id)
	// The mark is made before the spill files go (which may take longer
	// than the node has to stop).
	var markedFirst atomic.Bool
	defer pipeline.SetRemoveJobFiles(func(root, path string) error {
		markedFirst.Store(pipeline.FinishedHere(w, id))
		return os.RemoveAll(path)
	})()
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close answered (%v) while a Finish was under way", err)
	case <-time.After(100 * time.Millisecond):
	}
	out.Cut()
	<-served
	if err := <-finished; err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st, _ := w.Stats(id); st.Aborted || !st.Archived {
		t.Fatalf("the job after Close: aborted %v, archived %v", st.Aborted, st.Archived)
	}
	if !markedFirst.Load() {
		t.Fatal("the job's spill files were removed before its finished mark was made")
	}
}

// A start refused for another job writing the same output leaves the
// output bucket it made (that job's output now); refused otherwise, the
// bucket it made goes.
func TestRefusedStartLeavesTheOutputBucketToTheOtherJob(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..1}.tar", Records: 3, RecordSize: 100, Seed: 2})
	for _, c := range []struct {
		err  error
		kept bool
	}{{fmt.Errorf("%w: job srt-1 writes the same shards", pipeline.ErrJobBusy), true}, {errors.New("no quorum"), false}} {
		mc := newMemCluster(t, 1, nil)
		mc.createBucket("src")
		mc.putInputs("src", inputs)
		mc.mu.Lock()
		mc.registerErr = c.err
		mc.mu.Unlock()
		if _, err := mc.coordinator.Start(t.Context(), baseSpec("in-{0..1}.tar", "out-{000..999}.tar")); !errors.Is(err, c.err) {
			t.Fatalf("a start refused with %v: %v", c.err, err)
		}
		for id, st := range mc.stores {
			md, err := st.Buckets(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := md.Props(store.NewBucket("dst")); ok != c.kept {
				t.Fatalf("a start refused with %v: the output bucket it made kept %v on %s, want %v", c.err, ok, id, c.kept)
			}
		}
	}
}

// An output shard that cannot be indexed (a member name that is not
// UTF-8, which tar allows) is written without its index, and the job
// warns naming it: with output_index, the job failed after its sort.
func TestUnindexableOutputShardIsWarned(t *testing.T) {
	inputs := generate(t, datasets.Spec{Template: "in-{0..2}.tar", Records: 5, RecordSize: 500, Seed: 2})
	var renamed bytes.Buffer
	tr := tar.NewReader(bytes.NewReader(inputs["in-1.tar"]))
	tw := tar.NewWriter(&renamed)
	for first := true; ; first = false {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if first {
			h.Name = "caf\xe9-" + h.Name // Latin-1
			h.Format = tar.FormatGNU     // (PAX names are UTF-8)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	inputs["in-1.tar"] = renamed.Bytes()
	var c *memCluster
	c = newMemCluster(t, 2, func(id string, st store.Store) store.Store { return ownerStore{Store: st, cluster: &c} })
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..2}.tar", "out-{00..99}.tar")
	spec.OutputIndex = true
	status, err := c.run(spec)
	if err != nil || !status.Archived {
		t.Fatalf("a job whose output has a name that is not UTF-8: %+v %v", status, err)
	}
	warned := false
	for _, w := range c.workers {
		st, _ := w.Stats(status.ID)
		for _, msg := range st.Warnings {
			warned = warned || strings.Contains(msg, "without its index") && strings.Contains(msg, "not UTF-8")
		}
	}
	if !warned {
		t.Fatal("no warning names the shard written without its index")
	}
	shards, indexes := 0, 0
	for name := range c.outputs("dst") {
		if formats.IsIndexName(name) {
			indexes++
		} else {
			shards++
		}
	}
	if shards == 0 || indexes != shards-1 {
		t.Fatalf("%d shards and %d indexes, want every shard but one indexed", shards, indexes)
	}
}
