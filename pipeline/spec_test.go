package pipeline_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
)

// target_grace defaults to 30 s; "0s" turns the wait off.
func TestTargetGrace(t *testing.T) {
	for text, want := range map[string]time.Duration{``: pipeline.DefaultTargetGrace, `,"target_grace":"0s"`: 0, `,"target_grace":"2m"`: 2 * time.Minute} {
		spec, err := pipeline.ParseSpec([]byte(`{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"out-{00..99}.tar"` + text + `}`))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := spec.Validate(formats.Default())
		if err != nil || plan.TargetGrace != want {
			t.Fatalf("spec%s: grace %v, %v; want %v", text, plan.TargetGrace, err, want)
		}
	}
}

// "dry_run": "estimate" asks for an estimate, in JSON and YAML; true
// stays a dry run.
func TestDryRunEstimate(t *testing.T) {
	for _, text := range []string{
		`{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"o-{0..9}.tar","dry_run":"estimate"}`,
		"input_bck: {name: src}\ninput_format: {template: 'in-{0..9}.tar'}\noutput_format: 'o-{0..9}.tar'\ndry_run: estimate\n",
	} {
		spec, err := pipeline.ParseSpec([]byte(text))
		if err != nil || !spec.Estimate || spec.DryRun {
			t.Fatalf("%s: estimate %v, dry run %v, %v", text, spec.Estimate, spec.DryRun, err)
		}
	}
	spec, err := pipeline.ParseSpec([]byte(`{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"o-{0..9}.tar","dry_run":true}`))
	if err != nil || spec.Estimate || !spec.DryRun {
		t.Fatalf("dry_run true: estimate %v, dry run %v, %v", spec.Estimate, spec.DryRun, err)
	}
}

func TestParseSpecAcceptsCurrentLegacyAndYAML(t *testing.T) {
	current := `{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"shard-{0..9}"},
		"input_extension":".tar","output_format":"new-shard-{0000..1000}.tar.gz","output_shard_size":"10KB",
		"algorithm":{"kind":"shuffle","seed":"42"},"Config":{"missing_shards":"warn"}}`
	legacy := `{"bucket":"src","output_bucket":"dst","input_format":"shard-{0..9}","extension":".tar",
		"output_format":"new-shard-{0000..1000}.tar.gz","shard_size":10240,"algorithm":{"kind":"shuffle","seed":42},
		"missing_shards":"warn","dsorter_type":"dsort_general"}`
	yamlSpec := "input_bck: {name: src}\noutput_bck: {name: dst}\ninput_format: {template: 'shard-{0..9}'}\ninput_extension: .tar\n" +
		"output_format: 'new-shard-{0000..1000}.tar.gz'\noutput_shard_size: 10KB\nalgorithm: {kind: shuffle, seed: '42'}\nconfig: {missing_shards: warn}\n"
	for name, text := range map[string]string{"current": current, "legacy": legacy, "yaml": yamlSpec} {
		spec, err := pipeline.ParseSpec([]byte(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		plan, err := spec.Validate(formats.Default())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if plan.Input.Name != "src" || plan.Output.Name != "dst" || plan.ShardSize != 10240 || plan.Algorithm.Seed != 42 ||
			plan.InputFormat.Name() != "tar" || plan.OutputFormat.Name() != "tgz" || plan.Reactions.MissingShards != "warn" {
			t.Fatalf("%s: plan %+v", name, plan)
		}
		names := plan.InputShards(formats.Default())
		if names.Len() != 10 || names.At(3) != "shard-3.tar" {
			t.Fatalf("%s: input names %v", name, names)
		}
	}
}

// Names without an extension get the one the spec spells: shards named
// x.tar.gz are read as x.tar.gz, not x.tgz, and outputs take the input's
// spelling unless output_extension says.
func TestExtensionsKeepTheirSpelling(t *testing.T) {
	for _, c := range []struct {
		name, spec, input, output string
	}{
		{"input_extension", `"input_format":{"template":"s-{0..2}"},"input_extension":"tar.gz","output_format":"o-{0..9}"`, "s-1.tar.gz", "o-0.tar.gz"},
		{"template", `"input_format":{"template":"s-{0..2}.tar.gz"},"output_format":"o-{0..9}"`, "s-1.tar.gz", "o-0.tar.gz"},
		{"tgz", `"input_format":{"template":"s-{0..2}"},"input_extension":".tgz","output_format":"o-{0..9}"`, "s-1.tgz", "o-0.tgz"},
		{"output_extension", `"input_format":{"template":"s-{0..2}.tgz"},"output_format":"o-{0..9}","output_extension":".tar.gz"`, "s-1.tgz", "o-0.tar.gz"},
		{"objnames", `"input_format":{"objnames":["a.TAR.GZ","b.tar.gz"]},"output_format":"o-{0..9}"`, "b.tar.gz", "o-0.TAR.GZ"},
		{"other format", `"input_format":{"template":"s-{0..2}.tar"},"output_format":"o-{0..9}","output_extension":"zip"`, "s-1.tar", "o-0.zip"},
	} {
		spec, err := pipeline.ParseSpec([]byte(`{"input_bck":{"name":"src"},` + c.spec + `}`))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		plan, err := spec.Validate(formats.Default())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := plan.InputShards(formats.Default()).At(1); got != c.input {
			t.Errorf("%s: input shard %q, want %q", c.name, got, c.input)
		}
		first, _ := plan.OutputTemplate.At(0)
		if got := first + plan.OutputSuffix; got != c.output {
			t.Errorf("%s: output shard %q, want %q", c.name, got, c.output)
		}
	}
}

// Every bad spec is refused before anything runs, with a message naming
// the field and the problem.
func TestBadSpecs(t *testing.T) {
	good := `"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"out-{00..99}.tar"`
	tests := []struct {
		name, spec, says string
	}{
		{"empty", ``, "empty"},
		{"not json", `{"input_bck":`, "not valid JSON"},
		{"unknown field", `{` + good + `,"output_shard_sise":"1MiB"}`, `unknown field "output_shard_sise"`},
		{"no input bucket", `{"input_format":{"template":"in-{0..9}.tar"},"output_format":"o-{0..9}.tar"}`, "input_bck is required"},
		{"bad bucket", `{"input_bck":{"name":"a b"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"o-{0..9}.tar"}`, "input_bck:"},
		{"misspelled provider", `{"input_bck":{"name":"src","provder":"aws"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"o-{0..9}.tar"}`, `unknown field "provder"`},
		{"misspelled output provider", `{` + good + `,"output_bck":{"name":"dst","provier":"aws"}}`, `output_bck: a bucket is {"name": ..., "provider": ...} or a name: json: unknown field "provier"`},
		{"seed neither string nor number", `{` + good + `,"algorithm":{"kind":"shuffle","seed":true}}`, "algorithm: want a string (such as \"10MiB\") or a number, not true"},
		{"size neither string nor number", `{` + good + `,"output_shard_size":[1]}`, "output_shard_size: want a string"},
		{"input format neither", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar","x":1},"output_format":"o-{0..9}.tar"}`, `input_format is {"template": ...}`},
		{"namespace", `{"input_bck":{"name":"src","namespace":{"uuid":"remote","name":"ns"}},"input_format":{"template":"in-{0..9}.tar"},"output_format":"o-{0..9}.tar"}`, "only the global namespace"},
		{"misspelled template", `{"input_bck":{"name":"src"},"input_format":{"templat":"in-{0..9}.tar"},"output_format":"o-{0..9}.tar"}`, `unknown field "templat"`},
		{"bad size", `{` + good + `,"output_shard_size":"10XB"}`, `output_shard_size: "10XB" is not a size`},
		{"content needs extension", `{` + good + `,"algorithm":{"kind":"content","content_key_type":"int"}}`, `algorithm.extension is required for kind "content"`},
		{"content needs key type", `{` + good + `,"algorithm":{"kind":"content","extension":".cls"}}`, "algorithm.content_key_type is required"},
		{"bad key type", `{` + good + `,"algorithm":{"kind":"content","extension":".cls","content_key_type":"date"}}`, `content_key_type "date"`},
		{"extension without dot", `{` + good + `,"algorithm":{"kind":"content","extension":"cls","content_key_type":"int"}}`, "must start with '.'"},
		{"unknown algorithm", `{` + good + `,"algorithm":{"kind":"random"}}`, `algorithm.kind "random"`},
		{"bad seed", `{` + good + `,"algorithm":{"kind":"shuffle","seed":"abc"}}`, "algorithm.seed"},
		{"no input format", `{"input_bck":{"name":"src"},"output_format":"o-{0..9}.tar"}`, "input_format is required"},
		{"input without range", `{"input_bck":{"name":"src"},"input_format":{"template":"shards/"},"output_format":"o-{0..9}.tar"}`, "has no range"},
		{"reversed range", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{5..1}.tar"},"output_format":"o-{0..9}.tar"}`, "input_format.template"},
		{"output without range", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"out.tar"}`, "output_format \"out.tar\" has no range"},
		{"two old names of one field, apart", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"http://k/m.json","order_file_sep":",","ekm_sep":"\t"}`, "both give ekm_file_sep"},
		{"misspelled reaction", `{` + good + `,"Config":{"missing_shard":"abort"}}`, "Config.missing_shard is not a dsort setting: did you mean missing_shards?"},
		{"bad output format beside a key map", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"http://k/m.json","output_format":"x{"}`, "output_format (beside ekm_file"},
		{"output naming a shard twice", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"out-{1..11}{1..11}.tar"}`, "names some shards twice"},
		// Names grow with their digits: the 100th of these is 256 bytes, past a segment's 255.
		{"last output name too long", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"` + strings.Repeat("a", 248) + `-{0..999}.tar"}`, "output_format"},
		{"no output format", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"}}`, "output_format is required"},
		{"unbounded output needs size", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"out-%06d.tar"}`, "output_shard_size is required"},
		{"ekm needs size", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"http://x/k.json"}`, "output_shard_size is required"},
		{"unknown input extension", `{` + good + `,"input_extension":".rar"}`, `input_extension: ".rar"`},
		{"conflicting extension", `{` + good + `,"input_extension":".zip"}`, "conflicts"},
		{"bad memory", `{` + good + `,"max_mem_usage":"150%"}`, "max_mem_usage"},
		{"bad reaction", `{` + good + `,"missing_shards":"explode"}`, `missing_shards: "explode"`},
		{"bad config reaction", `{` + good + `,"Config":{"duplicated_records":"maybe"}}`, `duplicated_records: "maybe"`},
		{"config key of the wrong type", `{` + good + `,"Config":{"call_timeout":10}}`, `Config.call_timeout: want a string`},
		{"config not an object", `{` + good + `,"Config":"abort"}`, `Config: want an object`},
		{"negative concurrency", `{` + good + `,"extract_concurrency_max_limit":-1}`, "extract_concurrency_max_limit"},
		{"objnames twice", `{"input_bck":{"name":"src"},"input_format":{"objnames":["a.tar","b.tar","a.tar"]},"output_format":"o-{0..9}.tar"}`, "objnames[2]: a.tar is objnames[0] too"},
		{"output names that climb", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"../o-{0..9}.tar"}`, `output_format "../o-{0..9}.tar"`},
		{"output names with an empty segment", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"a//o-{0..9}.tar"}`, `output_format "a//o-{0..9}.tar"`},
		{"both inputs", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar","objnames":["a.tar"]},"output_format":"o-{0..9}.tar"}`, "not both"},
		{"input names that climb", `{"input_bck":{"name":"src"},"input_format":{"template":"../in-{0..9}.tar"},"output_format":"o-{0..9}.tar"}`, `input_format.template "../in-{0..9}.tar"`},
		{"input names with an empty segment", `{"input_bck":{"name":"src"},"input_format":{"template":"a//in-{0..9}.tar"},"output_format":"o-{0..9}.tar"}`, `input_format.template "a//in-{0..9}.tar"`},
		{"input names too long with input_extension", `{"input_bck":{"name":"src"},"input_extension":".tar","input_format":{"template":"` + strings.Repeat("a", 250) + `-{0..9}"},"output_format":"o-{0..9}.tar"}`, "input_format.template"},
		// The index's name is the shard's and .idx: 256 bytes here.
		{"index names too long", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_index":true,"output_format":"o/` + strings.Repeat("a", 246) + `-{0..9}.tar"}`, "with output_index"},
		{"bad objname", `{"input_bck":{"name":"src"},"input_format":{"objnames":["../a.tar"]},"output_format":"o-{0..9}.tar"}`, "objnames[0]"},
		{"negative grace", `{` + good + `,"target_grace":"-5s"}`, "target_grace: -5s is negative"},
		{"absurd grace", `{` + good + `,"target_grace":"1000h"}`, "target_grace: 1000h0m0s is longer than"},
		{"grace not a duration", `{` + good + `,"target_grace":"soon"}`, `target_grace: "soon" is not a duration`},
		{"description too long", `{` + good + `,"description":"` + strings.Repeat("<", 1025) + `"}`, "description: 1025 bytes, more than 1024"},
		{"dry run mode", `{` + good + `,"dry_run":"maybe"}`, `dry_run: "maybe" is neither true, false nor "estimate"`},
		{"objnames of two formats", `{"input_bck":{"name":"src"},"input_format":{"objnames":["a.tar","b.tgz"]},"output_format":"o-{0..9}.tar"}`, "objnames[1]: b.tgz is tgz"},
		{"objnames against input_extension", `{"input_bck":{"name":"src"},"input_extension":".tgz","input_format":{"objnames":["a.tar"]},"output_format":"o-{0..9}.tar"}`, "objnames[0]: a.tar is tar"},
		{"md5 with a key map", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"http://x/k.json","output_shard_size":"1MiB","algorithm":{"kind":"md5"}}`, "md5 with ekm_file"},
		{"key map URL without host", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"http://","output_shard_size":"1MiB"}`, "not a URL with a host"},
		{"key map URL with a bad port", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"http://host:99999/k.json","output_shard_size":"1MiB"}`, "ekm_file"},
		{"key map bucket without object", `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"ais://maps","output_shard_size":"1MiB"}`, "names no object"},
	}
	for _, tc := range tests {
		spec, err := pipeline.ParseSpec([]byte(tc.spec))
		if err == nil {
			_, err = spec.Validate(formats.Default())
		}
		if !errors.Is(err, pipeline.ErrInvalidSpec) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want ErrInvalidSpec saying %q", tc.name, err, tc.says)
		}
	}
}

// FuzzParseSpec: decoding never panics, and a spec that validates has a
// usable plan.
func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(`{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"out-{00..99}.tgz","output_shard_size":"1MiB","algorithm":{"kind":"content","extension":".cls","content_key_type":"int"}}`))
	f.Add([]byte(`{"bucket":"b","input_format":"in-@99","extension":"zip","output_format":"o-%04d","shard_size":"5GB"}`))
	f.Add([]byte("input_bck: src\ninput_format: {objnames: [a.tar, b.tar]}\noutput_format: 'x-{0..9}'\n"))
	f.Add([]byte(`{"input_bck":{"name":"s"},"input_format":{"template":"a{0..1}"},"ekm_file":"http://x","output_shard_size":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := pipeline.ParseSpec(data)
		if err != nil {
			if !errors.Is(err, pipeline.ErrInvalidSpec) {
				t.Fatalf("parse error %v is not ErrInvalidSpec", err)
			}
			return
		}
		plan, err := spec.Validate(formats.Default())
		if err != nil {
			if !errors.Is(err, pipeline.ErrInvalidSpec) {
				t.Fatalf("validation error %v is not ErrInvalidSpec", err)
			}
			return
		}
		if plan.InputFormat == nil || plan.OutputFormat == nil || plan.Input.Name == "" || plan.ShardSize < 0 {
			t.Fatalf("valid spec with an unusable plan: %+v", plan)
		}
		if plan.InputTemplate.IsRange() && plan.InputTemplate.Count() > shards.MaxTemplateNames {
			t.Fatalf("input template of %d names accepted", plan.InputTemplate.Count())
		}
	})
}

// AIStore's CLI sends its whole dsort config section in Config: every key
// is accepted, the reactions and default_max_mem_usage are honoured, and
// the rest is kept as sent.
func TestSpecAcceptsAIStoreConfigSection(t *testing.T) {
	data := []byte(`{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"output_format":"out-{00..99}.tar",
		"Config":{"duplicated_records":"warn","missing_shards":"ignore","ekm_malformed_line":"abort","ekm_missing_key":"warn",
		"default_max_mem_usage":"60%","call_timeout":"10m","dsorter_mem_threshold":"100GB","compression":"never","dsorter_type":"dsorter_general",
		"a_future_key":{"nested":[1,2]}}}`)
	spec, err := pipeline.ParseSpec(data)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := spec.WithDefaults(pipeline.Defaults{}).Validate(formats.Default())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Reactions.DuplicatedRecords != "warn" || plan.Reactions.EKMMissingKey != "warn" || plan.Spec.MaxMemUsage != "60%" {
		t.Fatalf("honoured: reactions %+v, max_mem_usage %q", plan.Reactions, plan.Spec.MaxMemUsage)
	}
	round, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pipeline.ParseSpec(round)
	if err != nil || string(again.Config.Others["dsorter_type"]) != `"dsorter_general"` || string(again.Config.Others["a_future_key"]) != `{"nested":[1,2]}` {
		t.Fatalf("a spec sent on to the targets keeps the section: %s %v", round, err)
	}
}

// With a key map naming the shards, output_format still gives their
// format.
func TestOutputFormatBesideAKeyMapGivesTheFormat(t *testing.T) {
	spec, err := pipeline.ParseSpec([]byte(`{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"http://k/m.json","output_format":"out-{0..9}.tgz","output_shard_size":"1MiB"}`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := spec.WithDefaults(pipeline.Defaults{}).Validate(formats.Default())
	if err != nil {
		t.Fatal(err)
	}
	if plan.OutputFormat.Name() != "tgz" {
		t.Fatalf("output format %s, want tgz (output_format's)", plan.OutputFormat.Name())
	}
	// output_extension, what AIStore reads beside a key map, wins.
	spec, err = pipeline.ParseSpec([]byte(`{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"http://k/m.json","output_format":"out-{0..9}.tar","output_extension":".tgz","output_shard_size":"1MiB"}`))
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = spec.WithDefaults(pipeline.Defaults{}).Validate(formats.Default()); err != nil || plan.OutputFormat.Name() != "tgz" {
		t.Fatalf("output_extension beside a key map and a leftover output_format: %v %v", plan, err)
	}
}

// Shard creation defaults to AIStore's most, min(15, 200/mountpaths) per
// mountpath, and a spec's own limit wins; a target builds at most 64.
func TestCreateConcurrencyDefaults(t *testing.T) {
	for _, tc := range []struct{ spec, mountpaths, want int }{
		{0, 1, 15},
		{0, 2, 30},
		{0, 20, 64},
		{3, 2, 6},
		{100, 1, 64},
	} {
		if got := pipeline.CreateConcurrencyForTest(tc.spec, tc.mountpaths); got != tc.want {
			t.Errorf("create_concurrency_max_limit %d on %d mountpath(s): %d shards at once, want %d", tc.spec, tc.mountpaths, got, tc.want)
		}
	}
}

// A tiny max_mem_usage percentage is a tiny budget, not none (a budget of
// 0 bytes means no limit).
func TestTinyMemoryPercentIsABudget(t *testing.T) {
	for _, tc := range []struct {
		percent float64
		total   int64
		want    int64
	}{
		{60, 1000, 600},
		{1e-7, 16 << 30, 17},
		{1e-12, 1 << 30, 1},
	} {
		if got := pipeline.MemoryLimitForTest(&pipeline.Plan{MemoryPercent: tc.percent}, tc.total); got != tc.want {
			t.Errorf("%g%% of %d: %d bytes, want %d", tc.percent, tc.total, got, tc.want)
		}
	}
}

// Record-format shards are built few enough at once that each holding
// its biggest record fits the job's memory budget; other formats stream.
func TestRecordBuildsKeepToTheBudget(t *testing.T) {
	planned := []shards.OutputShard{{Records: []shards.RecordMeta{{Size: 10 << 20}, {Size: 100 << 20}}}, {Records: []shards.RecordMeta{{Size: 1 << 20}}}}
	for _, tc := range []struct {
		format formats.Format
		limit  int64
		held   int64 // extracted records still here
		builds int
		want   int
	}{
		{formats.Msgpack{}, 1 << 30, 0, 64, 10},
		{formats.TFRecord{}, 1 << 30, 0, 4, 4},
		{formats.Msgpack{}, 50 << 20, 0, 64, 1},
		{formats.Tar{}, 50 << 20, 0, 64, 64},
		{formats.Msgpack{}, 0, 0, 64, 64},
		{formats.Msgpack{}, 1 << 30, 700 << 20, 64, 3}, // 324 MiB left
		{formats.Msgpack{}, 1 << 30, 2 << 30, 64, 1},
	} {
		if got := pipeline.RecordBuildsForTest(tc.format, planned, tc.limit, tc.held, tc.builds); got != tc.want {
			t.Errorf("%s within %d bytes, %d builds asked: %d, want %d", tc.format.Name(), tc.limit, tc.builds, got, tc.want)
		}
	}
}

// AIStore's clients send the bucket's namespace, empty for the global one.
func TestSpecBucketWithGlobalNamespace(t *testing.T) {
	// And its Python SDK sends ekm_sep for ekm_file_sep.
	if spec, err := pipeline.ParseSpec([]byte(`{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..9}.tar"},"ekm_file":"http://x/k.txt","ekm_sep":" ","output_shard_size":"1MiB"}`)); err != nil || spec.EKMFileSep != " " {
		t.Fatalf("ekm_sep: %+v %v", spec.EKMFileSep, err)
	}
	spec, err := pipeline.ParseSpec([]byte(`{"input_bck":{"name":"src","provider":"aws","namespace":{"uuid":"","name":""}},"input_format":{"template":"in-{0..9}.tar"},"output_format":"o-{0..9}.tar"}`))
	if err != nil {
		t.Fatal(err)
	}
	if spec.InputBucket.Name != "src" || spec.InputBucket.Provider != "aws" {
		t.Fatalf("input bucket %+v", spec.InputBucket)
	}
}

// An input template that names a shard twice is refused: each of its
// records would be in the output twice.
func TestInputTemplateNamingAShardTwiceIsRefused(t *testing.T) {
	spec := pipeline.Spec{InputBucket: pipeline.BucketRef{Name: "src"}, InputFormat: pipeline.InputFormat{Template: "in-{1..11}{1..11}.tar"},
		OutputFormat: "out-{000..999}.tar", OutputShardSize: "1MiB"}
	if _, err := spec.Validate(formats.Default()); !errors.Is(err, pipeline.ErrInvalidSpec) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("in-{1..11}{1..11}.tar: %v", err)
	}
}

// A YAML spec with aliases is refused before it is expanded: a small
// one of many aliases of a long value would take gigabytes.
func TestParseSpecRefusesYAMLAliases(t *testing.T) {
	var spec strings.Builder
	spec.WriteString("input_bck: {name: src}\ninput_format: {template: \"shard-{0..9}.tar\"}\noutput_format: \"out-{0..9}.tar\"\noutput_shard_size: 1MiB\n")
	spec.WriteString("description: &a \"" + strings.Repeat("x", 1000) + "\"\nextra: [")
	for range 1000 {
		spec.WriteString("*a, ")
	}
	spec.WriteString("*a]\n")
	_, err := pipeline.ParseSpec([]byte(spec.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Fatalf("a YAML spec of 1001 aliases: %v, want refused for its aliases", err)
	}
}

// A YAML spec's values are read as written, as AIStore reads them: seed
// 0123 is 123 (not octal 83), a date is its text; a number YAML would
// read otherwise than as decimal (0x2A, 1_000, 010) is refused where a
// number goes, and a key given twice is refused.
func TestParseSpecReadsYAMLValuesAsWritten(t *testing.T) {
	base := "input_bck: {name: src}\ninput_format: {template: \"shard-{0..9}.tar\"}\noutput_format: \"out-{0..9}.tar\"\noutput_shard_size: 1MiB\n"
	for _, c := range []struct {
		seed string
		want int64
	}{{"0123", 123}, {"42", 42}, {"'0042'", 42}, {"0", 0}} {
		spec, err := pipeline.ParseSpec([]byte(base + "description: 2024-01-01\nalgorithm: {kind: shuffle, seed: " + c.seed + "}\n"))
		if err != nil {
			t.Fatalf("seed %s: %v", c.seed, err)
		}
		plan, err := spec.Validate(formats.Default())
		if err != nil {
			t.Fatalf("seed %s: %v", c.seed, err)
		}
		if plan.Algorithm.Seed != c.want || spec.Description != "2024-01-01" {
			t.Errorf("seed %s: %d, description %q; want %d, 2024-01-01", c.seed, plan.Algorithm.Seed, spec.Description, c.want)
		}
	}
	for _, bad := range []string{
		"algorithm: {kind: shuffle, seed: 0x2A}\n",
		"algorithm: {kind: shuffle, seed: 1_000}\n",
		"algorithm: {kind: shuffle, seed: 1e3}\n",
		"extract_concurrency_max_limit: 010\n",
		"description: a\ndescription: b\n",
	} {
		spec, err := pipeline.ParseSpec([]byte(base + bad))
		if err == nil {
			_, err = spec.Validate(formats.Default())
		}
		if err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
