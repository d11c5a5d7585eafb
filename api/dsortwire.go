package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aisgo/aisgo/store"
)

// AIStore writes every counter of dSort's job info as a JSON string and
// its buckets as objects; these encoders give its clients that shape and
// read both it and the plain numbers of older AIS-Go nodes.

// DsortBucket is a bucket of a dSort job, as AIStore writes it.
type DsortBucket = Bck

// Bck is a bucket as AIStore writes it in jobs and summaries.
type Bck struct {
	Name      string    `json:"name"`
	Provider  string    `json:"provider"`
	Namespace Namespace `json:"namespace"`
}

// Namespace is AIStore's bucket namespace; AIS-Go has only the global
// one, written {"uuid":"","name":""}.
type Namespace struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
}

// UnmarshalJSON reads an object, or a string (the form of older AIS-Go
// nodes: "" is the global namespace).
func (ns *Namespace) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*ns = Namespace{Name: s}
		return nil
	}
	type plain Namespace
	return json.Unmarshal(data, (*plain)(ns))
}

// DsortBucketOf is the wire form of a bucket.
func DsortBucketOf(b store.Bucket) DsortBucket { return BckOf(b) }

// BckOf is the wire form of a bucket.
func BckOf(b store.Bucket) Bck {
	b = b.Normalize()
	return Bck{Name: b.Name, Provider: b.Provider}
}

// String is "provider://name", or "" for no bucket.
// IsGlobal reports the global namespace, the one AIS-Go serves.
func (ns Namespace) IsGlobal() bool { return ns.UUID == "" && ns.Name == "" }

// CheckNamespace refuses a bucket of another namespace than the global
// one (ErrNotImplemented): taken for the global bucket of its name, it
// would be written in the caller's stead.
func (b Bck) CheckNamespace() error {
	if b.Namespace.IsGlobal() {
		return nil
	}
	return fmt.Errorf("%w: bucket %s: namespace @%s#%s: only the global namespace is served", ErrNotImplemented, b, b.Namespace.UUID, b.Namespace.Name)
}

func (b Bck) String() string {
	if b.Name == "" {
		return ""
	}
	provider := b.Provider
	if provider == "" {
		provider = store.ProviderAIS
	}
	return provider + "://" + b.Name
}

// UnmarshalJSON reads an object or a "provider://name" string.
func (b *Bck) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		provider, name, found := strings.Cut(s, "://")
		if !found {
			provider, name = store.ProviderAIS, s
		}
		*b = Bck{Name: name, Provider: provider}
		return nil
	}
	type plain Bck
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("a dSort bucket: want an object or a string: %w", err)
	}
	*b = Bck(p)
	return nil
}

type count = store.Int64String

// nanoseconds is an elapsed time as AIStore writes it (a time.Duration:
// a JSON number); the string of older nodes reads too.
type nanoseconds int64

func (n nanoseconds) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, int64(n), 10), nil }

func (n *nanoseconds) UnmarshalJSON(data []byte) error {
	var c count
	if err := json.Unmarshal(data, &c); err != nil {
		return err
	}
	*n = nanoseconds(c)
	return nil
}

// phaseWire is AIStore's PhaseInfo: both times always there (the zero
// time before they happen), which its Python SDK requires.
type phaseWire struct {
	Started  json.RawMessage `json:"started_time"`
	Ended    json.RawMessage `json:"end_time"`
	Elapsed  nanoseconds     `json:"elapsed"`
	Running  bool            `json:"running"`
	Finished bool            `json:"finished"`
}

func (p DsortPhase) wire() (phaseWire, error) {
	w := phaseWire{Elapsed: nanoseconds(p.Elapsed), Running: p.Running, Finished: p.Finished}
	var err error
	if w.Started, err = json.Marshal(p.Started); err != nil {
		return w, err
	}
	w.Ended, err = json.Marshal(p.Ended)
	return w, err
}

// MarshalJSON writes the job with AIStore's counts of what this target
// (or, in a listing, the job) extracted: loc-objs and loc-bytes.
func (j DsortJobInfo) MarshalJSON() ([]byte, error) {
	type plain DsortJobInfo
	return json.Marshal(struct {
		plain
		Objs  count `json:"loc-objs"`
		Bytes count `json:"loc-bytes"`
	}{plain(j), count(j.Metrics.Extraction.ExtractedCount), count(j.Metrics.Extraction.ExtractedSize)})
}

func (p *DsortPhase) fromWire(w phaseWire) error {
	*p = DsortPhase{Elapsed: int64(w.Elapsed), Running: w.Running, Finished: w.Finished}
	if len(w.Started) > 0 {
		if err := json.Unmarshal(w.Started, &p.Started); err != nil {
			return err
		}
	}
	if len(w.Ended) > 0 {
		return json.Unmarshal(w.Ended, &p.Ended)
	}
	return nil
}

// MarshalJSON writes the phase with its elapsed time as a string.
func (p DsortPhase) MarshalJSON() ([]byte, error) {
	w, err := p.wire()
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads either form.
func (p *DsortPhase) UnmarshalJSON(data []byte) error {
	var w phaseWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	return p.fromWire(w)
}

type extractionWire struct {
	phaseWire
	TotalCount           count `json:"total_count"`
	ExtractedCount       count `json:"extracted_count"`
	ExtractedSize        count `json:"extracted_size"`
	ExtractedRecordCount count `json:"extracted_record_count"`
	ExtractedToDiskCount count `json:"extracted_to_disk_count"`
	ExtractedToDiskSize  count `json:"extracted_to_disk_size"`
	MissingCount         count `json:"missing_count,omitempty"`
}

// MarshalJSON writes the counters as strings.
func (e DsortExtraction) MarshalJSON() ([]byte, error) {
	phase, err := e.DsortPhase.wire()
	if err != nil {
		return nil, err
	}
	return json.Marshal(extractionWire{phase, count(e.TotalCount), count(e.ExtractedCount), count(e.ExtractedSize),
		count(e.ExtractedRecordCount), count(e.ExtractedToDiskCount), count(e.ExtractedToDiskSize), count(e.MissingCount)})
}

// UnmarshalJSON reads either form.
func (e *DsortExtraction) UnmarshalJSON(data []byte) error {
	var w extractionWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*e = DsortExtraction{TotalCount: int64(w.TotalCount), ExtractedCount: int64(w.ExtractedCount), ExtractedSize: int64(w.ExtractedSize),
		ExtractedRecordCount: int64(w.ExtractedRecordCount), ExtractedToDiskCount: int64(w.ExtractedToDiskCount), ExtractedToDiskSize: int64(w.ExtractedToDiskSize),
		MissingCount: int64(w.MissingCount)}
	return e.DsortPhase.fromWire(w.phaseWire)
}

type creationWire struct {
	phaseWire
	ToCreate           count `json:"to_create"`
	CreatedCount       count `json:"created_count"`
	CreatedSize        count `json:"created_size"`
	CreatedRecordCount count `json:"created_record_count"`
	MovedShardCount    count `json:"moved_shard_count"`
}

// MarshalJSON writes the counters as strings.
func (c DsortCreation) MarshalJSON() ([]byte, error) {
	phase, err := c.DsortPhase.wire()
	if err != nil {
		return nil, err
	}
	return json.Marshal(creationWire{phase, count(c.ToCreate), count(c.CreatedCount), count(c.CreatedSize), count(c.CreatedRecordCount), count(c.MovedShardCount)})
}

// UnmarshalJSON reads either form.
func (c *DsortCreation) UnmarshalJSON(data []byte) error {
	var w creationWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*c = DsortCreation{ToCreate: int64(w.ToCreate), CreatedCount: int64(w.CreatedCount), CreatedSize: int64(w.CreatedSize),
		CreatedRecordCount: int64(w.CreatedRecordCount), MovedShardCount: int64(w.MovedShardCount)}
	return c.DsortPhase.fromWire(w.phaseWire)
}
