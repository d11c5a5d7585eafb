package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/sort"
	"github.com/aisgo/aisgo/store"
	"gopkg.in/yaml.v3"
)

// ErrInvalidSpec marks every problem of a dSort spec; the message names the
// field and what is wrong with it.
var ErrInvalidSpec = errors.New("invalid dSort spec")

// ErrInvalidInput marks input shards a job of the spec would fail on (a
// corrupt shard, a record without its key, a member the output format
// cannot hold): the caller's data, not the cluster, is at fault.
var ErrInvalidInput = errors.New("dsort: the input cannot be resharded as asked")

// ErrKeyMapFetch marks a spec whose external key map could not be had; the
// cause (the network, the source) is wrapped.
var ErrKeyMapFetch = errors.New("dsort: could not get the external key map")

func specError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidSpec}, args...)...)
}

// Spec is a dSort job request with AIStore's field names.
type Spec struct {
	InputBucket                BucketRef   `json:"input_bck"`
	OutputBucket               BucketRef   `json:"output_bck,omitzero"`
	InputFormat                InputFormat `json:"input_format"`
	InputExtension             string      `json:"input_extension,omitempty"`
	OutputFormat               string      `json:"output_format,omitempty"`
	OutputExtension            string      `json:"output_extension,omitempty"`
	OutputShardSize            SizeString  `json:"output_shard_size,omitempty"`
	Algorithm                  Algorithm   `json:"algorithm,omitzero"`
	EKMFile                    string      `json:"ekm_file,omitempty"`
	EKMFileSep                 string      `json:"ekm_file_sep,omitempty"`
	MaxMemUsage                SizeString  `json:"max_mem_usage,omitempty"`
	ExtractConcurrencyMaxLimit int         `json:"extract_concurrency_max_limit,omitempty"`
	CreateConcurrencyMaxLimit  int         `json:"create_concurrency_max_limit,omitempty"`
	DryRun                     bool        `json:"dry_run,omitempty"`
	// Estimate is `"dry_run": "estimate"`: no job, only what it would do
	// (Coordinator.Estimate).
	Estimate bool `json:"-"`
	// OutputIndex writes a shard index (formats.Index) beside every output
	// shard, for readers that fetch one record by one range read; the
	// output format must be tar.
	OutputIndex bool `json:"output_index,omitempty"`
	// TargetGrace is how long a job waits for a lost target to come back
	// before it aborts: a duration such as "30s" (the default); "0s"
	// aborts at once.
	TargetGrace string `json:"target_grace,omitempty"`
	Description string `json:"description,omitempty"`
	Reactions
	// Config holds per-job overrides: AIStore's CLI sends its whole dsort
	// config section here.
	Config *Config `json:"Config,omitempty"`
}

// Config is the Config object of a spec: AIStore's dsort config section.
// The reactions and default_max_mem_usage are honoured; AIStore's other
// keys (call_timeout, dsorter_type, compression...) are accepted and kept
// but mean nothing here.
type Config struct {
	Reactions
	DefaultMaxMemUsage SizeString
	// Others are the keys AIS-Go does not act on, as sent.
	Others map[string]json.RawMessage
}

// configKnownStrings are AIStore's dsort config keys whose values are
// strings; a value of another type is refused naming the key.
var configKnownStrings = map[string]bool{
	"duplicated_records": true, "missing_shards": true, "ekm_malformed_line": true, "ekm_missing_key": true,
	"default_max_mem_usage": true, "call_timeout": true, "dsorter_mem_threshold": true, "compression": true,
	"dsorter_type": true, "payload_compression": true,
}

// UnmarshalJSON reads every key of the section.
func (c *Config) UnmarshalJSON(data []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return fmt.Errorf("Config: want an object of dsort settings: %w", err)
	}
	*c = Config{}
	for key, raw := range fields {
		if len(key) > 128 {
			return fmt.Errorf("Config: a key of %d bytes", len(key))
		}
		var value string
		if configKnownStrings[key] {
			if err := json.Unmarshal(raw, &value); err != nil {
				return fmt.Errorf("Config.%s: want a string, not %s", key, truncate(string(raw), 40))
			}
		}
		switch key {
		case "duplicated_records":
			c.DuplicatedRecords = value
		case "missing_shards":
			c.MissingShards = value
		case "ekm_malformed_line":
			c.EKMMalformedLine = value
		case "ekm_missing_key":
			c.EKMMissingKey = value
		case "default_max_mem_usage":
			c.DefaultMaxMemUsage = SizeString(value)
		default:
			// Any other key is kept (AIStore's CLI sends its whole section),
			// but one a letter or two off a setting honoured here is a
			// typo: taken as another key, the setting would silently stay
			// at its default (missing shards ignored).
			if near := nearConfigKey(key); near != "" {
				return fmt.Errorf("Config.%s is not a dsort setting: did you mean %s?", key, near)
			}
			if c.Others == nil {
				c.Others = map[string]json.RawMessage{}
			}
			c.Others[key] = raw
		}
	}
	return nil
}

// honouredConfigKeys are the keys of Config acted on.
var honouredConfigKeys = []string{"duplicated_records", "missing_shards", "ekm_malformed_line", "ekm_missing_key", "default_max_mem_usage"}

// nearConfigKey is the honoured key within two edits of key (not key
// itself), or "".
func nearConfigKey(key string) string {
	for _, known := range honouredConfigKeys {
		if d := editDistance(key, known, 2); d > 0 && d <= 2 {
			return known
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b, or most+1 once it
// is past most.
func editDistance(a, b string, most int) int {
	if len(a)-len(b) > most || len(b)-len(a) > most {
		return most + 1
	}
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous, current = current, previous
	}
	return min(previous[len(b)], most+1)
}

// MarshalJSON writes the section back as it came.
func (c Config) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(c.Others)+5)
	for k, v := range c.Others {
		out[k] = v
	}
	for key, value := range map[string]string{
		"duplicated_records": c.DuplicatedRecords, "missing_shards": c.MissingShards,
		"ekm_malformed_line": c.EKMMalformedLine, "ekm_missing_key": c.EKMMissingKey,
		"default_max_mem_usage": string(c.DefaultMaxMemUsage),
	} {
		if value != "" {
			out[key] = value
		}
	}
	return json.Marshal(out)
}

// Bounds of what a job tells: a message (a warning, an error) quotes
// names and keys of up to a MiB; the warnings go with every status.
const (
	maxMessage      = 2 << 10
	maxWarnings     = 1000
	maxWarningBytes = 256 << 10
)

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Reactions say what to do about a condition: ignore, warn or abort.
type Reactions struct {
	DuplicatedRecords string `json:"duplicated_records,omitempty"`
	MissingShards     string `json:"missing_shards,omitempty"`
	EKMMalformedLine  string `json:"ekm_malformed_line,omitempty"`
	EKMMissingKey     string `json:"ekm_missing_key,omitempty"`
}

// Defaults are the cluster's defaults of a spec's optional fields (the
// cluster config's distributed_sort section); empty fields leave the
// built-in defaults.
type Defaults struct {
	Reactions
	MaxMemUsage SizeString
}

// WithDefaults fills what the spec leaves out from the cluster's defaults.
// The coordinator fills them before the job starts, so that every target
// sees the same spec.
func (s Spec) WithDefaults(d Defaults) Spec {
	var config Reactions
	if s.Config != nil {
		config = s.Config.Reactions
	}
	for _, f := range []struct {
		top, nested *string
		def         string
	}{
		{&s.DuplicatedRecords, &config.DuplicatedRecords, d.DuplicatedRecords},
		{&s.MissingShards, &config.MissingShards, d.MissingShards},
		{&s.EKMMalformedLine, &config.EKMMalformedLine, d.EKMMalformedLine},
		{&s.EKMMissingKey, &config.EKMMissingKey, d.EKMMissingKey},
	} {
		if *f.top == "" && *f.nested == "" {
			*f.top = f.def
		}
	}
	if s.MaxMemUsage == "" && s.Config != nil {
		s.MaxMemUsage = s.Config.DefaultMaxMemUsage
	}
	if s.MaxMemUsage == "" {
		s.MaxMemUsage = d.MaxMemUsage
	}
	return s
}

// Reaction values.
const (
	ReactIgnore = "ignore"
	ReactWarn   = "warn"
	ReactAbort  = "abort"
)

// BucketRef is a bucket in a spec: {"name","provider"} or, as in 2019, a
// plain name.
type BucketRef store.Bucket

// UnmarshalJSON accepts an object or a string. A field it does not know
// is refused: a misspelled "provider" must not turn s3://b into ais://b.
func (b *BucketRef) UnmarshalJSON(data []byte) error {
	var name string
	if json.Unmarshal(data, &name) == nil {
		*b = BucketRef{Name: name}
		return nil
	}
	var v struct {
		Name     string `json:"name"`
		Provider string `json:"provider"`
		// Namespace is AIStore's; only the global one is served: {} with
		// empty uuid and name, or "" (older AIS-Go clients).
		Namespace json.RawMessage `json:"namespace"`
	}
	if err := decodeStrict(data, &v); err != nil {
		return fmt.Errorf("a bucket is {\"name\": ..., \"provider\": ...} or a name: %w", err)
	}
	if ns := strings.TrimSpace(string(v.Namespace)); ns != "" && ns != "null" && ns != `""` {
		var global struct {
			UUID string `json:"uuid"`
			Name string `json:"name"`
		}
		if err := decodeStrict(v.Namespace, &global); err != nil || global.UUID != "" || global.Name != "" {
			return fmt.Errorf("bucket %q: namespace %s: only the global namespace is served", v.Name, ns)
		}
	}
	*b = BucketRef{Name: v.Name, Provider: v.Provider}
	return nil
}

// decodeStrict decodes one JSON value, refusing fields v does not have.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// InputFormat selects the input shards: a template or a list of names; a
// plain string (2019) is a template.
type InputFormat struct {
	Template    string   `json:"template,omitempty"`
	ObjectNames []string `json:"objnames,omitempty"`
}

// UnmarshalJSON accepts an object or a template string.
func (f *InputFormat) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		*f = InputFormat{Template: s}
		return nil
	}
	type plain InputFormat
	var v plain
	if err := decodeStrict(data, &v); err != nil {
		return fmt.Errorf("input_format is {\"template\": ...}, {\"objnames\": [...]} or a template string: %w", err)
	}
	*f = InputFormat(v)
	return nil
}

// SizeString is a size in a spec: an IEC string ("10KB", "1GiB"), a
// percentage where allowed ("60%"), or a number of bytes.
type SizeString string

// UnmarshalJSON accepts a string or a number.
func (s *SizeString) UnmarshalJSON(data []byte) error {
	var str string
	if json.Unmarshal(data, &str) == nil {
		*s = SizeString(str)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("want a string (such as \"10MiB\") or a number, not %s", truncate(string(data), 40))
	}
	*s = SizeString(n.String())
	return nil
}

// Algorithm is the spec's sorting algorithm.
type Algorithm struct {
	Kind           string     `json:"kind,omitempty"`
	Decreasing     bool       `json:"decreasing,omitempty"`
	Seed           SizeString `json:"seed,omitempty"` // a decimal integer, as a string or number
	Extension      string     `json:"extension,omitempty"`
	ContentKeyType string     `json:"content_key_type,omitempty"`
}

// legacyNames maps AIStore's 2019 spec keys to the current ones.
var legacyNames = map[string]string{
	"bucket":                    "input_bck",
	"output_bucket":             "output_bck",
	"extension":                 "input_extension",
	"shard_size":                "output_shard_size",
	"order_file":                "ekm_file",
	"order_file_sep":            "ekm_file_sep",
	"ekm_sep":                   "ekm_file_sep", // what AIStore's Python SDK sends
	"extract_concurrency_limit": "extract_concurrency_max_limit",
	"create_concurrency_limit":  "create_concurrency_max_limit",
	"ignore_missing_files":      "missing_shards",
}

// ignoredKeys are AIStore keys that this implementation accepts and has no
// use for.
var ignoredKeys = map[string]bool{"dsorter_type": true, "stream_multiplier": true, "bundle_multiplier": true, "dsorter_mem_threshold": true}

// hasAlias reports a YAML alias anywhere in a document.
func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	return slices.ContainsFunc(n.Content, hasAlias)
}

// decimalInteger is an integer as a spec writes one: the YAML forms
// 0123 (octal), 0x2A and 1_000 are not, and stay text.
var decimalInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// yamlToJSON turns a YAML document into JSON keeping each scalar as
// written: decoded into Go values first, 0123 became 83 (octal) and a
// date a timestamp, where AIStore reads the text ("0123", a seed of 123).
// A number YAML would read otherwise than as decimal stays a string, so
// a number field refuses it.
func yamlToJSON(n *yaml.Node) ([]byte, error) {
	var out []byte
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		switch n.Kind {
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				out = append(out, "null"...)
				return nil
			}
			return walk(n.Content[0])
		case yaml.MappingNode:
			out = append(out, '{')
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := n.Content[i]
				if key.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: a key is not a plain name", key.Line)
				}
				if seen[key.Value] {
					return fmt.Errorf("line %d: %q is given twice", key.Line, key.Value)
				}
				seen[key.Value] = true
				if i > 0 {
					out = append(out, ',')
				}
				out, _ = appendJSONString(out, key.Value)
				out = append(out, ':')
				if err := walk(n.Content[i+1]); err != nil {
					return err
				}
			}
			out = append(out, '}')
		case yaml.SequenceNode:
			out = append(out, '[')
			for i, item := range n.Content {
				if i > 0 {
					out = append(out, ',')
				}
				if err := walk(item); err != nil {
					return err
				}
			}
			out = append(out, ']')
		case yaml.ScalarNode:
			switch n.ShortTag() {
			case "!!null":
				out = append(out, "null"...)
			case "!!bool":
				var b bool
				if err := n.Decode(&b); err != nil {
					return fmt.Errorf("line %d: %w", n.Line, err)
				}
				out = strconv.AppendBool(out, b)
			case "!!int", "!!float":
				if decimalInteger.MatchString(n.Value) || n.ShortTag() == "!!float" && json.Valid([]byte(n.Value)) {
					out = append(out, n.Value...)
					return nil
				}
				out, _ = appendJSONString(out, n.Value)
			default: // strings, and dates and the rest as written
				out, _ = appendJSONString(out, n.Value)
			}
		default:
			return fmt.Errorf("line %d: an alias", n.Line)
		}
		return nil
	}
	err := walk(n)
	return out, err
}

// appendJSONString appends s as a JSON string.
func appendJSONString(out []byte, s string) ([]byte, error) {
	quoted, err := json.Marshal(s)
	return append(out, quoted...), err
}

// ParseSpec decodes a spec from JSON or YAML, accepting the 2019 names.
// Unknown fields are errors, so a misspelled field is not silently lost.
func ParseSpec(data []byte) (Spec, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Spec{}, specError("the spec is empty")
	}
	var fields map[string]json.RawMessage
	if trimmed[0] == '{' {
		if err := json.Unmarshal(trimmed, &fields); err != nil {
			return Spec{}, specError("not valid JSON: %w", err)
		}
	} else {
		var doc yaml.Node
		if err := yaml.Unmarshal(trimmed, &doc); err != nil {
			return Spec{}, specError("neither JSON nor YAML: %w", err)
		}
		// An alias repeats what it names: a small spec of many aliases
		// of a long value would be gigabytes once expanded.
		if hasAlias(&doc) {
			return Spec{}, specError("YAML aliases (*name) are not taken in a spec: write the values out")
		}
		asJSON, err := yamlToJSON(&doc)
		if err != nil {
			return Spec{}, specError("YAML: %w", err)
		}
		if err := json.Unmarshal(asJSON, &fields); err != nil {
			return Spec{}, specError("YAML: the spec is not a mapping of fields: %w", err)
		}
	}
	// In a fixed order: two old names of one field (order_file_sep and
	// ekm_sep) must not be chosen between at random.
	setBy := map[string]string{} // a current name, the old one that set it
	for _, old := range slices.Sorted(maps.Keys(legacyNames)) {
		current := legacyNames[old]
		v, ok := fields[old]
		if !ok {
			continue
		}
		delete(fields, old)
		if by, ok := setBy[current]; ok {
			if !bytes.Equal(bytes.TrimSpace(fields[current]), bytes.TrimSpace(v)) {
				return Spec{}, specError("%s and %s both give %s, with different values: give one", by, old, current)
			}
			continue
		}
		if _, ok := fields[current]; ok {
			continue // the current name wins
		}
		setBy[current] = old
		if old == "ignore_missing_files" {
			// A boolean in 2019: true meant ignore.
			var yes bool
			if json.Unmarshal(v, &yes) == nil {
				v = json.RawMessage(`"abort"`)
				if yes {
					v = json.RawMessage(`"ignore"`)
				}
			}
		}
		fields[current] = v
	}
	for k := range fields {
		if ignoredKeys[strings.ToLower(k)] {
			delete(fields, k)
		}
	}
	estimate := false
	if v, ok := fields["dry_run"]; ok && len(v) > 0 && v[0] == '"' {
		var mode string
		json.Unmarshal(v, &mode)
		if mode != "estimate" {
			return Spec{}, specError("dry_run: %q is neither true, false nor \"estimate\"", truncate(mode, 40))
		}
		estimate = true
		delete(fields, "dry_run")
	}
	normalized, _ := json.Marshal(fields)
	var spec Spec
	spec.Estimate = estimate
	dec := json.NewDecoder(bytes.NewReader(normalized))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return Spec{}, specError("%s", fieldError(fields, err))
	}
	return spec, nil
}

// fieldError names the field of a spec a decode error is about: the
// errors of the spec's own decoders (sizes, buckets, input formats) do
// not, as encoding/json's type errors do.
func fieldError(fields map[string]json.RawMessage, err error) string {
	msg := strings.TrimPrefix(err.Error(), "json: ")
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return msg
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if strings.Contains(msg, strconv.Quote(k)) {
			return msg // it names the field itself (unknown field "k")
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		var s Spec
		dec := json.NewDecoder(bytes.NewReader(one))
		dec.DisallowUnknownFields()
		if dec.Decode(&s) != nil {
			if strings.HasPrefix(msg, k+" ") {
				return msg // it starts with its name
			}
			return k + ": " + msg
		}
	}
	return msg
}

// Plan is a validated spec, with everything parsed.
type Plan struct {
	Spec   Spec
	Input  store.Bucket
	Output store.Bucket
	// InputTemplate or InputNames select the inputs.
	InputTemplate shards.Template
	InputNames    []string
	InputFormat   formats.Format
	OutputFormat  formats.Format
	// OutputTemplate names the output shards unless an EKM does.
	OutputTemplate shards.Template
	// OutputSuffix is appended to output names that have no known
	// extension.
	OutputSuffix string
	ShardSize    int64
	Algorithm    sort.Algorithm
	KeyExtension string
	KeyKind      shards.KeyKind
	// MemoryPercent, when > 0, is the memory budget as a share of the
	// target's memory; otherwise MemoryBytes is.
	MemoryPercent      float64
	MemoryBytes        int64
	ExtractConcurrency int
	CreateConcurrency  int
	Reactions          Reactions
	// TargetGrace is how long a lost target has to come back.
	TargetGrace time.Duration
}

// DefaultTargetGrace is target_grace when the spec leaves it out;
// MaxTargetGrace bounds it: a job waiting longer holds its targets'
// memory for nothing.
const (
	DefaultTargetGrace = 30 * time.Second
	MaxTargetGrace     = time.Hour
)

// defaultMaxMemUsage is AIStore's default_max_mem_usage.
const defaultMaxMemUsage = "80%"

// Validate checks the spec and returns its plan. Checks that need the
// cluster (does the input bucket exist) are the coordinator's.
func (s Spec) Validate(registry *formats.Registry) (*Plan, error) {
	p := &Plan{Spec: s}
	// The order is the order in which problems are reported; later steps
	// read what earlier ones set (the output format defaults to the
	// input's, the shard size depends on the output template).
	if err := p.validateBuckets(); err != nil {
		return nil, err
	}
	if err := p.validateInput(registry); err != nil {
		return nil, err
	}
	if err := p.validateOutput(registry); err != nil {
		return nil, err
	}
	if err := p.validateShardSize(); err != nil {
		return nil, err
	}
	if err := p.validateAlgorithm(); err != nil {
		return nil, err
	}
	if err := p.validateMemory(); err != nil {
		return nil, err
	}
	if err := p.validateReactions(); err != nil {
		return nil, err
	}
	if err := p.validateEKMSeparator(); err != nil {
		return nil, err
	}
	if err := p.validateTargetGrace(); err != nil {
		return nil, err
	}
	if len(s.Description) > MaxDescription {
		// Every target keeps it with the job's stats, and each one's
		// status of the job repeats it.
		return nil, specError("description: %d bytes, more than %d", len(s.Description), MaxDescription)
	}
	return p, nil
}

// MaxDescription bounds a job's description, in bytes.
const MaxDescription = 1024

// validateBuckets sets Input and Output; no output bucket means the input.
func (p *Plan) validateBuckets() error {
	s := &p.Spec
	p.Input = store.Bucket(s.InputBucket).Normalize()
	if s.InputBucket.Name == "" {
		return specError("input_bck is required")
	}
	if err := p.Input.Validate(); err != nil {
		return specError("input_bck: %w", err)
	}
	p.Output = store.Bucket(s.OutputBucket).Normalize()
	if s.OutputBucket.Name == "" {
		p.Output = p.Input
	} else if err := p.Output.Validate(); err != nil {
		return specError("output_bck: %w", err)
	}
	return nil
}

// validateInput sets the input shards (InputTemplate or InputNames) and
// their format.
func (p *Plan) validateInput(registry *formats.Registry) error {
	s := &p.Spec
	if s.InputExtension != "" {
		f, ok := registry.ByExtension(normalizeExtension(s.InputExtension))
		if !ok {
			return specError("input_extension: %q is not a known shard format (want one of %v)", s.InputExtension, registry.Extensions())
		}
		p.InputFormat = f
	}
	switch {
	case s.InputFormat.Template != "" && len(s.InputFormat.ObjectNames) > 0:
		return specError("input_format: give a template or objnames, not both")
	case s.InputFormat.Template != "":
		t, err := shards.ParseTemplate(s.InputFormat.Template)
		if err != nil {
			return specError("input_format.template: %w", err)
		}
		if !t.IsRange() {
			return specError("input_format.template %q has no range: name the shards like shard-{0000..0099}.tar", s.InputFormat.Template)
		}
		if !t.Bounded() {
			return specError("input_format.template %q is unbounded: input shards need a bounded range", s.InputFormat.Template)
		}
		// A shard named twice would give each of its records twice.
		if !t.Unique() {
			return specError("input_format.template %q names some shards twice (ranges of different widths, such as x{1..11}{1..11}, name x111 twice): pad them, {01..11}", s.InputFormat.Template)
		}
		p.InputTemplate = t
		if f, ok := registry.ByName(s.InputFormat.Template); ok {
			if p.InputFormat != nil && p.InputFormat.Name() != f.Name() {
				return specError("input_extension %q conflicts with the template's extension (%s)", s.InputExtension, f.Name())
			}
			p.InputFormat = f
		}
		// Refused here, not when the extraction meets them (after the
		// output bucket is made): names no object can have.
		if err := validateShardNames(t, p.InputShards(registry).suffix); err != nil {
			return specError("input_format.template %q: %w", s.InputFormat.Template, err)
		}
	case len(s.InputFormat.ObjectNames) > 0:
		seen := make(map[string]int, len(s.InputFormat.ObjectNames))
		for i, name := range s.InputFormat.ObjectNames {
			if err := store.ValidateName(name); err != nil {
				return specError("input_format.objnames[%d]: %w", i, err)
			}
			// A shard named twice would give each of its records twice.
			if first, ok := seen[name]; ok {
				return specError("input_format.objnames[%d]: %s is objnames[%d] too", i, name, first)
			}
			seen[name] = i
		}
		p.InputNames = s.InputFormat.ObjectNames
		// Every shard is read in one format: a name of another (a.tar
		// beside b.tgz) would fail the job midway through extraction.
		for i, name := range p.InputNames {
			f, ok := registry.ByName(name)
			if !ok {
				continue
			}
			if p.InputFormat == nil {
				p.InputFormat = f
			} else if p.InputFormat.Name() != f.Name() {
				return specError("input_format.objnames[%d]: %s is %s, the other shards %s: a job reads one format (input_extension)", i, name, f.Name(), p.InputFormat.Name())
			}
		}
	default:
		return specError("input_format is required: {\"template\": \"shard-{0000..0099}.tar\"} or {\"objnames\": [...]}")
	}
	if p.InputFormat == nil {
		p.InputFormat, _ = registry.ByExtension(".tar")
	}
	return nil
}

// validateOutput sets the output format and names: OutputTemplate, unless
// an ekm_file names the shards, and OutputSuffix. It needs InputFormat.
func (p *Plan) validateOutput(registry *formats.Registry) error {
	s := &p.Spec
	if s.OutputExtension != "" {
		f, ok := registry.ByExtension(normalizeExtension(s.OutputExtension))
		if !ok {
			return specError("output_extension: %q is not a known shard format (want one of %v)", s.OutputExtension, registry.Extensions())
		}
		p.OutputFormat = f
	}
	if err := validateEKMFile(s.EKMFile); err != nil {
		return err
	}
	if s.EKMFile == "" {
		if s.OutputFormat == "" {
			return specError("output_format is required (a template like out-{0000..0999}.tar) unless ekm_file is given")
		}
		t, err := shards.ParseTemplate(s.OutputFormat)
		if err != nil {
			return specError("output_format: %w", err)
		}
		if !t.IsRange() {
			return specError("output_format %q has no range: name the shards like out-{0000..0999}.tar", s.OutputFormat)
		}
		// Found after extraction otherwise: two shards of one name.
		if !t.Unique() {
			return specError("output_format %q names some shards twice (ranges of different widths, such as x{1..11}{1..11}, name x111 twice): pad them, {01..11}", s.OutputFormat)
		}
		p.OutputTemplate = t
	} else if s.OutputFormat != "" {
		// The key map names the shards; output_format given beside it
		// (AIStore ignores it) still says their format, and is no typo
		// left unread.
		if _, err := shards.ParseTemplate(s.OutputFormat); err != nil {
			return specError("output_format (beside ekm_file, it gives the shards' format): %w", err)
		}
	}
	// Beside a key map, output_extension (what AIStore reads there) wins
	// over output_format's extension.
	if s.OutputFormat != "" && (s.EKMFile == "" || s.OutputExtension == "") {
		if f, ok := registry.ByName(s.OutputFormat); ok {
			if p.OutputFormat != nil && p.OutputFormat.Name() != f.Name() {
				return specError("output_extension %q conflicts with output_format's extension (%s)", s.OutputExtension, f.Name())
			}
			p.OutputFormat = f
		}
	}
	if p.OutputFormat == nil {
		p.OutputFormat = p.InputFormat
	}
	if s.OutputIndex && !p.OutputFormat.Offsets() {
		return specError("output_index: only tar output shards can be indexed, not %s", p.OutputFormat.Name())
	}
	if p.OutputTemplate.IsRange() {
		if _, ok := registry.ByName(s.OutputFormat); !ok {
			// As the spec spells it: out-{0..9} of x.tar.gz shards are
			// out-N.tar.gz, not out-N.tgz.
			switch {
			case s.OutputExtension != "":
				p.OutputSuffix = spelling(s.OutputExtension)
			case p.OutputFormat.Name() == p.InputFormat.Name():
				p.OutputSuffix = p.inputSuffix(registry)
			default:
				p.OutputSuffix = p.OutputFormat.Extensions()[0]
			}
		}
		if err := validateShardNames(p.OutputTemplate, p.OutputSuffix); err != nil {
			return specError("output_format %q: %w", s.OutputFormat, err)
		}
		// An index is stored beside each shard, once the shard is made.
		if s.OutputIndex {
			if err := validateShardNames(p.OutputTemplate, p.OutputSuffix+formats.IndexSuffix); err != nil {
				return specError("output_format %q with output_index: %w", s.OutputFormat, err)
			}
		}
	}
	return nil
}

// validateShardNames tells whether a template's names can be objects,
// before the job reads anything. They differ in digits only: the first
// and the last (the most digits of every range; 19 for %d) tell.
func validateShardNames(t shards.Template, suffix string) error {
	for _, i := range []int64{0, t.Count() - 1} {
		name, err := t.At(i)
		if err == nil {
			err = store.ValidateName(name + suffix)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// validateEKMFile checks where an external key map comes from; "" is none.
func validateEKMFile(location string) error {
	const want = "want an http(s):// URL or ais://bucket/object"
	switch {
	case location == "":
		return nil
	case strings.HasPrefix(location, "ais://"):
		bucket, object, _ := strings.Cut(strings.TrimPrefix(location, "ais://"), "/")
		if bucket == "" || object == "" {
			return specError("ekm_file %q names no object: %s", location, want)
		}
		return nil
	case strings.HasPrefix(location, "http://"), strings.HasPrefix(location, "https://"):
		// Checked here, where the user reads why, not at the fetch.
		u, err := url.Parse(location)
		if err != nil || u.Hostname() == "" {
			return specError("ekm_file %q is not a URL with a host: %s", location, want)
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return specError("ekm_file %q: port %q is not 1..65535", location, port)
			}
		}
		return nil
	}
	return specError("ekm_file %q: %s", location, want)
}

// validateShardSize sets ShardSize; it needs OutputTemplate.
func (p *Plan) validateShardSize() error {
	s := &p.Spec
	if s.OutputShardSize != "" {
		size, err := shards.ParseSize(string(s.OutputShardSize))
		if err != nil || size < 0 {
			return specError("output_shard_size: %q is not a size", string(s.OutputShardSize))
		}
		p.ShardSize = size
	}
	if p.ShardSize == 0 && (s.EKMFile != "" || (p.OutputTemplate.IsRange() && !p.OutputTemplate.Bounded())) {
		return specError("output_shard_size is required with ekm_file or an unbounded output template")
	}
	return nil
}

// validateAlgorithm sets Algorithm and, for content sorting, KeyExtension
// and KeyKind.
func (p *Plan) validateAlgorithm() error {
	a := p.Spec.Algorithm
	switch a.Kind {
	case "", sort.Alphanumeric:
		a.Kind = sort.Alphanumeric
	case sort.Shuffle, sort.Content, sort.None, sort.MD5:
	default:
		return specError("algorithm.kind %q is not known (want alphanumeric, shuffle, content, md5 or none)", a.Kind)
	}
	p.Algorithm = sort.Algorithm{Kind: a.Kind, Decreasing: a.Decreasing}
	if a.Kind == sort.MD5 && p.Spec.EKMFile != "" {
		// The key map matches keys, which md5 makes hashes of the names:
		// no pattern would match one.
		return specError("algorithm.kind md5 with ekm_file: the key map's patterns would be matched against MD5 hashes, not record names; use alphanumeric or shuffle")
	}
	if a.Seed != "" {
		seed, err := strconv.ParseInt(string(a.Seed), 10, 64)
		if err != nil || seed < 0 {
			return specError("algorithm.seed: %q is not a decimal integer >= 0", string(a.Seed))
		}
		p.Algorithm.Seed = seed
	}
	if a.Kind != sort.Content {
		if a.Extension != "" {
			return specError("algorithm.extension is only for kind %q", sort.Content)
		}
		return nil
	}
	if a.Extension == "" {
		return specError("algorithm.extension is required for kind %q", sort.Content)
	}
	if !strings.HasPrefix(a.Extension, ".") {
		return specError("algorithm.extension %q must start with '.'", a.Extension)
	}
	p.KeyExtension = a.Extension
	switch a.ContentKeyType {
	case "int":
		p.KeyKind = shards.KeyInt
	case "float":
		p.KeyKind = shards.KeyFloat
	case "string":
		p.KeyKind = shards.KeyString
	case "":
		return specError("algorithm.content_key_type is required for kind %q (int, float or string)", sort.Content)
	default:
		return specError("algorithm.content_key_type %q is not int, float or string", a.ContentKeyType)
	}
	return nil
}

// validateMemory sets the memory budget (MemoryPercent or MemoryBytes) and
// the concurrency limits.
func (p *Plan) validateMemory() error {
	s := &p.Spec
	mem := string(s.MaxMemUsage)
	if mem == "" {
		mem = defaultMaxMemUsage
	}
	pct, bytes, err := shards.ParseMemUsage(mem)
	if err != nil {
		return specError("max_mem_usage: %w", err)
	}
	p.MemoryPercent, p.MemoryBytes = pct, bytes
	if s.ExtractConcurrencyMaxLimit < 0 || s.ExtractConcurrencyMaxLimit > 1024 {
		return specError("extract_concurrency_max_limit %d is out of range 0..1024", s.ExtractConcurrencyMaxLimit)
	}
	if s.CreateConcurrencyMaxLimit < 0 || s.CreateConcurrencyMaxLimit > 1024 {
		return specError("create_concurrency_max_limit %d is out of range 0..1024", s.CreateConcurrencyMaxLimit)
	}
	p.ExtractConcurrency, p.CreateConcurrency = s.ExtractConcurrencyMaxLimit, s.CreateConcurrencyMaxLimit
	return nil
}

// validateTargetGrace sets TargetGrace.
func (p *Plan) validateTargetGrace() error {
	s := &p.Spec
	p.TargetGrace = DefaultTargetGrace
	if s.TargetGrace != "" {
		d, err := time.ParseDuration(strings.TrimSpace(s.TargetGrace))
		switch {
		case err != nil:
			return specError("target_grace: %q is not a duration like \"30s\" or \"2m\"", truncate(s.TargetGrace, 40))
		case d < 0:
			return specError("target_grace: %s is negative (\"0s\" aborts at once when a target is lost)", d)
		case d > MaxTargetGrace:
			return specError("target_grace: %s is longer than the most a job waits for a target, %s", d, MaxTargetGrace)
		}
		p.TargetGrace = d
	}
	return nil
}

// validateReactions sets Reactions: the defaults, overridden by the top
// level, overridden by Config.
func (p *Plan) validateReactions() error {
	s := &p.Spec
	p.Reactions = Reactions{DuplicatedRecords: ReactIgnore, MissingShards: ReactIgnore, EKMMalformedLine: ReactAbort, EKMMissingKey: ReactAbort}
	levels := []*Reactions{&s.Reactions}
	if s.Config != nil {
		levels = append(levels, &s.Config.Reactions)
	}
	for _, r := range levels {
		for _, f := range []struct {
			name     string
			from, to *string
		}{
			{"duplicated_records", &r.DuplicatedRecords, &p.Reactions.DuplicatedRecords},
			{"missing_shards", &r.MissingShards, &p.Reactions.MissingShards},
			{"ekm_malformed_line", &r.EKMMalformedLine, &p.Reactions.EKMMalformedLine},
			{"ekm_missing_key", &r.EKMMissingKey, &p.Reactions.EKMMissingKey},
		} {
			switch *f.from {
			case "":
			case ReactIgnore, ReactWarn, ReactAbort:
				*f.to = *f.from
			default:
				return specError("%s: %q is not ignore, warn or abort", f.name, *f.from)
			}
		}
	}
	return nil
}

// validateEKMSeparator refuses a separator without a key map to apply it
// to.
func (p *Plan) validateEKMSeparator() error {
	if p.Spec.EKMFileSep != "" && p.Spec.EKMFile == "" {
		return specError("ekm_file_sep is set but ekm_file is not")
	}
	return nil
}

// normalizeExtension maps "tar", "tar.gz", ".TGZ" to a known extension form.
func normalizeExtension(ext string) string {
	ext = strings.ToLower(strings.TrimSpace(ext))
	if !strings.HasPrefix(ext, ".") {
		ext = "." + ext
	}
	return ext
}

// Inputs are a job's input shard names by index. Names from a template
// are computed when asked for, never all held: a template of millions of
// names costs nothing until a name is used.
type Inputs struct {
	names    []string
	template shards.Template
	suffix   string
}

// Len returns the number of input names.
func (in Inputs) Len() int {
	if in.names != nil {
		return len(in.names)
	}
	return int(in.template.Count())
}

// At returns the i-th name.
func (in Inputs) At(i int) string {
	if in.names != nil {
		return in.names[i]
	}
	name, _ := in.template.At(int64(i))
	return name + in.suffix
}

// All yields every name with its index, in order.
func (in Inputs) All() iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		if in.names != nil {
			for i, name := range in.names {
				if !yield(i, name) {
					return
				}
			}
			return
		}
		i := 0
		for name := range in.template.Names() {
			if !yield(i, name+in.suffix) {
				return
			}
			i++
		}
	}
}

// InputShards returns the input shard names in order; names without a
// known extension get the input format's.
func (p *Plan) InputShards(registry *formats.Registry) Inputs {
	if p.InputNames != nil {
		return Inputs{names: p.InputNames}
	}
	suffix := ""
	if _, ok := registry.ByName(p.InputTemplate.String()); !ok && p.Spec.InputExtension != "" {
		suffix = spelling(p.Spec.InputExtension)
	}
	return Inputs{template: p.InputTemplate, suffix: suffix}
}

// spelling is an extension as a spec gives it, with its dot: shards
// named x.tar.gz are not found as x.tgz.
func spelling(ext string) string {
	ext = strings.TrimSpace(ext)
	if !strings.HasPrefix(ext, ".") {
		ext = "." + ext
	}
	return ext
}

// inputSuffix is the input shards' extension as the spec spells it: the
// template's, else input_extension, else the first object name's, else
// the input format's.
func (p *Plan) inputSuffix(registry *formats.Registry) string {
	if ext := registry.ExtensionOf(p.Spec.InputFormat.Template); ext != "" {
		return ext
	}
	if p.Spec.InputExtension != "" {
		return spelling(p.Spec.InputExtension)
	}
	for _, name := range p.InputNames {
		if ext := registry.ExtensionOf(name); ext != "" {
			return ext
		}
	}
	return p.InputFormat.Extensions()[0]
}
