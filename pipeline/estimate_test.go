package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/pipeline"
)

var _ pipeline.Estimators = memPeers{}

func (p memPeers) Estimate(ctx context.Context, t cluster.Node, init pipeline.JobInit) (pipeline.TargetEstimate, error) {
	w := p.c.worker(t.ID)
	if w == nil {
		return pipeline.TargetEstimate{}, fmt.Errorf("target %s is gone", t.ID)
	}
	e, err := w.Estimate(ctx, init)
	if err != nil {
		return e, err
	}
	// Through the wire encoding, as over HTTP.
	data, err := pipeline.AppendTargetEstimate(nil, e)
	if err != nil {
		return e, err
	}
	return pipeline.ReadTargetEstimate(data, pipeline.MaxPlanRecords)
}

// SampleNetwork has nothing to time in one process: every byte is there.
func (p memPeers) SampleNetwork(ctx context.Context, t cluster.Node, size int64) (int64, error) {
	return size, nil
}

// The dataset whose answer is known exactly: 6 shards of 12 records, each
// record two files of 1000 bytes, so 3072 bytes as tar encodes it (a
// 512-byte header and the data padded to 1024, twice). Shards of 30 KiB
// take 10 records: 72 records make 7 full shards and one of 2.
var exact = struct {
	shards, records, fileBytes, recordSize, outputShards int64
}{shards: 6, records: 72, fileBytes: 72 * 2 * 1000, recordSize: 3072, outputShards: 8}

func exactDataset(t *testing.T, ext string) map[string][]byte {
	return generate(t, datasets.Spec{Template: "in-{0..5}" + ext, Records: 12, RecordSize: 1000, Extensions: []string{".jpg", ".png"}, Seed: 5})
}

// The estimate's counts, bytes and names, checked against arithmetic on a
// dataset whose answer is known, and against a real run of the same spec
// on the same cluster: 1 and 3 targets, tar and tgz in and out.
func TestEstimateMatchesArithmeticAndRun(t *testing.T) {
	for _, pair := range [][2]string{{".tar", ".tar"}, {".tgz", ".tar"}, {".tar", ".tgz"}} {
		inputs := exactDataset(t, pair[0])
		for _, targets := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s-to-%s/%d-targets", pair[0], pair[1], targets), func(t *testing.T) {
				c := newMemCluster(t, targets, nil)
				c.createBucket("src")
				c.putInputs("src", inputs)
				spec := baseSpec("in-{0..5}"+pair[0], "out-{000..999}"+pair[1])
				spec.OutputShardSize = "30KiB"
				spec.Algorithm = pipeline.Algorithm{Kind: "shuffle", Seed: "11"}
				est, err := c.coordinator.Estimate(t.Context(), spec)
				if err != nil {
					t.Fatal(err)
				}
				var inputBytes int64
				for _, data := range inputs {
					inputBytes += int64(len(data))
				}
				outputBytes := exact.records*exact.recordSize + exact.outputShards*1024 // each tar ends with two zero blocks
				for _, check := range []struct {
					what      string
					got, want int64
				}{
					{"input shards", est.InputShards, exact.shards},
					{"missing shards", est.MissingShards, 0},
					{"records", est.Records, exact.records},
					{"output records", est.OutputRecords, exact.records},
					{"input bytes", est.InputBytes, inputBytes},
					{"file bytes", est.FileBytes, exact.fileBytes},
					{"output shards", est.OutputShards, exact.outputShards},
					{"output bytes", est.OutputBytes, outputBytes},
				} {
					if check.got != check.want {
						t.Errorf("%s: estimate %d, want %d", check.what, check.got, check.want)
					}
				}
				if pair[0] == ".tar" {
					if want := exact.shards * (12*exact.recordSize + 1024); est.InputBytes != want {
						t.Errorf("input bytes: estimate %d, arithmetic %d", est.InputBytes, want)
					}
				}
				if est.FirstShard != "out-000"+pair[1] || est.LastShard != "out-007"+pair[1] {
					t.Errorf("shards %s to %s, want out-000%s to out-007%s", est.FirstShard, est.LastShard, pair[1], pair[1])
				}
				if est.OutputExact != (pair[1] == ".tar") || len(est.Targets) != targets {
					t.Errorf("output exact %v, %d targets", est.OutputExact, len(est.Targets))
				}
				checkForecast(t, est)

				// The real run plans the same shards, under the same names,
				// on the same targets; a tar output has the very bytes.
				status, err := c.run(spec)
				if err != nil || !status.Archived {
					t.Fatalf("run: %v %+v", err, status)
				}
				if int64(status.Shards) != est.OutputShards || int64(status.Records) != est.OutputRecords {
					t.Errorf("run planned %d shards of %d records, estimate %d of %d", status.Shards, status.Records, est.OutputShards, est.OutputRecords)
				}
				got := c.outputs("dst")
				names := slices.Sorted(maps.Keys(got))
				if int64(len(names)) != est.OutputShards || names[0] != est.FirstShard || names[len(names)-1] != est.LastShard {
					t.Errorf("run wrote %v, estimate %d shards %s to %s", names, est.OutputShards, est.FirstShard, est.LastShard)
				}
				var written int64
				for _, data := range got {
					written += int64(len(data))
				}
				if pair[1] == ".tar" && written != est.OutputBytes {
					t.Errorf("run wrote %d bytes, estimate %d", written, est.OutputBytes)
				}
				for _, target := range est.Targets {
					st, err := c.worker(target.Node).Stats(status.ID)
					if err != nil {
						t.Fatal(err)
					}
					if st.Extract.Records != target.Records || st.Extract.Bytes != target.FileBytes || st.Create.Done != target.OutputShards {
						t.Errorf("target %s: ran %d records, %d bytes, %d shards; estimate %d, %d, %d", target.Node,
							st.Extract.Records, st.Extract.Bytes, st.Create.Done, target.Records, target.FileBytes, target.OutputShards)
					}
					if pair[1] == ".tar" && st.Create.Bytes != target.OutputBytes {
						t.Errorf("target %s wrote %d bytes, estimate %d", target.Node, st.Create.Bytes, target.OutputBytes)
					}
				}
			})
		}
	}
}

// checkForecast checks the forecast's structure, never its wall-clock
// values.
func checkForecast(t *testing.T, est pipeline.Estimate) {
	t.Helper()
	f := est.Forecast
	if f.Total != f.Extract+f.Sort+f.Create || f.Total <= 0 {
		t.Errorf("forecast %+v: the total is not the sum of the phases", f)
	}
	for _, target := range est.Targets {
		if target.WriteBytes <= 0 || target.WriteTime <= 0 {
			t.Errorf("target %s measured no write: %+v", target.Node, target)
		}
		if target.InputShards > 0 && (target.ReadBytes <= 0 || target.ReadTime <= 0) {
			t.Errorf("target %s holds input and measured no read: %+v", target.Node, target)
		}
		if target.Extract > f.Extract || target.Create > f.Create {
			t.Errorf("target %s: a phase longer than the job's: %+v", target.Node, target)
		}
	}
}

// Names USTAR cannot hold take PAX headers: a raw copy keeps the input's,
// a written entry gets the writer's; either way the estimate's output
// bytes are the bytes written.
func TestEstimateCountsLongNames(t *testing.T) {
	long := strings.Repeat("n", 110) // a name too long for USTAR's name field
	inputs := map[string][]byte{}
	for _, ext := range []string{".tar", ".tgz"} {
		for i := range 3 {
			var buf bytes.Buffer
			format, _ := formats.Default().ByExtension(ext)
			w, err := format.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			for r := range 5 {
				for _, file := range []string{".jpg", ".cls"} {
					name := fmt.Sprintf("d/%s-%d-%d%s", long, i, r, file)
					data := bytes.Repeat([]byte{byte(r)}, 300+100*r)
					if err := w.WriteHeader(&formats.Entry{Name: name, Size: int64(len(data))}); err != nil {
						t.Fatal(err)
					}
					w.Write(data)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			inputs[fmt.Sprintf("long-%d%s", i, ext)] = buf.Bytes()
		}
	}
	for _, ext := range []string{".tar", ".tgz"} {
		t.Run(ext, func(t *testing.T) {
			c := newMemCluster(t, 3, nil)
			c.createBucket("src")
			c.putInputs("src", inputs)
			spec := baseSpec("long-{0..2}"+ext, "out-{00..99}.tar")
			spec.OutputShardSize = "4KiB"
			est, err := c.coordinator.Estimate(t.Context(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.run(spec); err != nil {
				t.Fatal(err)
			}
			var written int64
			got := c.outputs("dst")
			for _, data := range got {
				written += int64(len(data))
			}
			if written != est.OutputBytes || int64(len(got)) != est.OutputShards {
				t.Fatalf("run wrote %d shards of %d bytes, estimate %d of %d", len(got), written, est.OutputShards, est.OutputBytes)
			}
		})
	}
}

// Past a small budget, a compressed input spills: extracting one shard at
// a time, the run spills exactly what the estimate says does not fit.
func TestEstimateMemoryPastBudget(t *testing.T) {
	inputs := exactDataset(t, ".tgz")
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	spec := baseSpec("in-{0..5}.tgz", "out-{000..999}.tar")
	spec.MaxMemUsage = "40KiB"
	spec.ExtractConcurrencyMaxLimit = 1
	est, err := c.coordinator.Estimate(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !est.Spills {
		t.Errorf("a tgz input past its budget does not spill: %+v", est)
	}
	status, err := c.run(spec)
	if err != nil {
		t.Fatal(err)
	}
	past := int64(0)
	for _, target := range est.Targets {
		past += target.PastBudget
		// Every file takes a 1 KiB buffer.
		if want := 2 * 1024 * target.Records; target.Memory != want || target.MemoryLimit != 40<<10 {
			t.Errorf("target %s: memory %d of %d, want %d of %d", target.Node, target.Memory, target.MemoryLimit, want, 40<<10)
		}
		st, _ := c.worker(target.Node).Stats(status.ID)
		if st.Extract.SpilledBytes != target.PastBudget {
			t.Errorf("target %s: the run spilled %d bytes, the estimate says %d do not fit", target.Node, st.Extract.SpilledBytes, target.PastBudget)
		}
		if target.Records > 0 && st.MemoryPeak > target.MemoryLimit {
			t.Errorf("target %s: peak %d over the limit %d", target.Node, st.MemoryPeak, target.MemoryLimit)
		}
	}
	if past == 0 {
		t.Fatal("no target is past its budget: the test tests nothing")
	}
}

// An input that selects nothing is a spec error naming the template (or
// the names), not an empty plan; so are missing shards a job would abort
// on.
func TestEstimateNoInput(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	c.createBucket("src")
	c.putInputs("src", exactDataset(t, ".tar"))
	for _, tc := range []struct {
		name  string
		edit  func(*pipeline.Spec)
		names string
	}{
		{"template", func(s *pipeline.Spec) { s.InputFormat.Template = "nothing-{00..99}.tar" }, `"nothing-{00..99}.tar"`},
		{"objnames", func(s *pipeline.Spec) {
			s.InputFormat = pipeline.InputFormat{ObjectNames: []string{"gone-1.tar", "gone-2.tar"}}
		}, "objnames"},
		{"missing with abort", func(s *pipeline.Spec) {
			s.InputFormat.Template = "in-{0..7}.tar"
			s.MissingShards = pipeline.ReactAbort
		}, "in-6.tar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec("in-{0..5}.tar", "out-{000..999}.tar")
			tc.edit(&spec)
			_, err := c.coordinator.Estimate(t.Context(), spec)
			if !errors.Is(err, pipeline.ErrNoInput) || !errors.Is(err, pipeline.ErrInvalidSpec) || !strings.Contains(fmt.Sprint(err), tc.names) {
				t.Fatalf("estimate: %v; want ErrNoInput naming %s", err, tc.names)
			}
		})
	}
	// Missing shards a job ignores are counted.
	spec := baseSpec("in-{0..7}.tar", "out-{000..999}.tar")
	est, err := c.coordinator.Estimate(t.Context(), spec)
	if err != nil || est.InputShards != exact.shards || est.MissingShards != 2 {
		t.Fatalf("estimate with 2 of 8 shards missing: %v %+v", err, est)
	}
	if jobs := c.coordinator.Jobs(); len(jobs) != 0 {
		t.Fatalf("an estimate registered jobs: %+v", jobs)
	}
}

// An estimate's names are its own: a node whose jobs hold all the memory
// it gives names still estimates (the verdict is the plan's), and jobs do
// not fail for an estimate's names.
func TestEstimateNamesAreNotTheNodes(t *testing.T) {
	inputs := exactDataset(t, ".tar")
	c := newMemCluster(t, 1, nil)
	c.createBucket("src")
	c.putInputs("src", inputs)
	w := c.workers["t1"]
	defer w.ChargeNodeNames(w.NodeNamesLimit())()
	est, err := c.coordinator.Estimate(t.Context(), baseSpec("in-{0..5}.tar", "out-{000..999}.tar"))
	if err != nil || est.Records == 0 {
		t.Fatalf("an estimate on a node whose jobs hold its names' memory: %+v, %v", est, err)
	}
}

// An estimate refuses what the job would abort on: shards found that
// hold no record (empty tars).
func TestEstimateOfShardsWithNoRecordFails(t *testing.T) {
	c := newMemCluster(t, 2, nil)
	c.createBucket("src")
	empty := make([]byte, 1024) // a tar's end: no member
	c.putInputs("src", map[string][]byte{"in-0.tar": empty, "in-1.tar": empty})
	spec := baseSpec("in-{0..1}.tar", "out-{0..9}.tar")
	if _, err := c.coordinator.Estimate(t.Context(), spec); !errors.Is(err, pipeline.ErrNoInput) || !strings.Contains(err.Error(), "hold no record") {
		t.Fatalf("an estimate over empty shards: %v, want the job's refusal", err)
	}
	status, err := c.run(spec)
	if msg := status.Error + fmt.Sprint(err); !status.Aborted || !strings.Contains(msg, "found no record") {
		t.Fatalf("the job over empty shards: %+v %v", status, err)
	}
}
