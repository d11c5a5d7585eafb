package pipeline_test

import (
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
	"github.com/tinylib/msgp/msgp"
)

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodersRefuseDeclaredCounts: a small message that declares billions
// of records is refused before anything is allocated for them (the attack
// that took a target's memory with one request).
func TestDecodersRefuseDeclaredCounts(t *testing.T) {
	huge := msgp.AppendArrayHeader(nil, 420_000_000)
	huge = append(huge, make([]byte, 64<<10)...)
	var err error
	n := allocated(func() { _, _, err = pipeline.ReadRecords(huge, pipeline.MaxFetchRecords) })
	if !errors.Is(err, pipeline.ErrWireLimit) || n > 1<<20 {
		t.Fatalf("records: %v after allocating %d bytes", err, n)
	}
	plan := msgp.AppendArrayHeader(nil, 1)
	plan = msgp.AppendArrayHeader(plan, 4)
	plan = msgp.AppendString(plan, "out-0.tar")
	plan = msgp.AppendInt32(plan, 0)
	plan = msgp.AppendInt64(plan, 1)
	plan = msgp.AppendArrayHeader(plan, 1<<31)
	plan = append(plan, make([]byte, 64<<10)...)
	n = allocated(func() { _, err = pipeline.ReadShards(plan, pipeline.MaxPlanRecords) })
	if !errors.Is(err, pipeline.ErrWireLimit) || n > 1<<20 {
		t.Fatalf("plan: %v after allocating %d bytes", err, n)
	}
	// More shards than records may be: each planned shard has one.
	shardsPlan := msgp.AppendArrayHeader(nil, 100_000)
	shardsPlan = append(shardsPlan, make([]byte, 1<<20)...)
	n = allocated(func() { _, err = pipeline.ReadShards(shardsPlan, 1000) })
	if !errors.Is(err, pipeline.ErrWireLimit) || n > 1<<20 {
		t.Fatalf("a plan of more shards than records: %v after allocating %d bytes", err, n)
	}
	// Within the message but over the ceiling.
	many := pipeline.AppendRecords(nil, make([]shards.RecordMeta, 1000))
	if _, _, err := pipeline.ReadRecords(many, 999); !errors.Is(err, pipeline.ErrWireLimit) {
		t.Fatalf("over the ceiling: %v", err)
	}
	if back, _, err := pipeline.ReadRecords(many, 1000); err != nil || len(back) != 1000 {
		t.Fatalf("at the ceiling: %d %v", len(back), err)
	}
}

// FuzzReadRecords: any bytes decode without panic, and never into more
// records than the message could hold.
func FuzzReadRecords(f *testing.F) {
	f.Add(pipeline.AppendRecords(nil, []shards.RecordMeta{{Key: shards.Key{Kind: shards.KeyString, String: "a"}, Size: 3}}))
	f.Add(msgp.AppendArrayHeader(nil, 1<<30))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		records, _, err := pipeline.ReadRecords(data, 1<<20)
		if err == nil && len(records)*7 > len(data) {
			t.Fatalf("%d records from %d bytes", len(records), len(data))
		}
	})
}

// FuzzReadShards: any bytes decode without panic within the ceiling.
func FuzzReadShards(f *testing.F) {
	f.Add(pipeline.AppendShards(nil, []shards.OutputShard{{Name: "o.tar", Size: 1, Records: make([]shards.RecordMeta, 2)}}))
	f.Add([]byte{0x91, 0x94})
	f.Fuzz(func(t *testing.T, data []byte) {
		planned, err := pipeline.ReadShards(data, 1000)
		if err != nil {
			return
		}
		total := 0
		for _, s := range planned {
			total += len(s.Records)
		}
		if total > 1000 {
			t.Fatalf("%d records over the ceiling", total)
		}
	})
}

// FuzzFrameStream: a record stream of any bytes ends in an error or EOF,
// never a panic or a huge allocation.
func FuzzFrameStream(f *testing.F) {
	f.Add([]byte{0x85, 0xa1, 'n', 0xa1, 'x', 0xa1, 's', 0x01, 0xa1, 'r', 0xc2, 0xa1, 'l', 0x00, 0xa1, 'e', 0xc3, 'z'})
	f.Add([]byte{0x81, 0xa1, 'n', 0xdb, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := pipeline.NewFrameReaderForTest(data)
		for range 100 {
			if _, err := s.Next(); err != nil {
				return
			}
			io.Copy(io.Discard, s)
		}
	})
}

// A file name as long as extraction takes (past a few KiB) crosses the
// wire: with one target it never does, and a job must not pass on one
// and fail on several.
func TestFrameStreamTakesLongNames(t *testing.T) {
	name := strings.Repeat("n", 100<<10) + ".jpg"
	b := frame(name, 1, false, 0)
	b = append(b, 'x')
	f, err := pipeline.NewFrameReaderForTest(b).Next()
	if err != nil || f.Name != name {
		t.Fatalf("a frame with a %d-byte name: %v", len(name), err)
	}
}

// A raw entry's size is its data's, padded, plus its one header block: a
// holder cannot hide more in an output shard with one.
func TestFrameStreamBoundsRawEntries(t *testing.T) {
	for _, tc := range []struct {
		size, raw int64
		ok        bool
	}{{10, 1024, true}, {0, 512, true}, {512, 1024, true}, {10, 1024 + 512, false}, {10, 1 << 40, false}, {10, 512, false}, {math.MaxInt64, 1024, false}} {
		_, err := pipeline.NewFrameReaderForTest(frame("f.jpg", tc.size, true, tc.raw)).Next()
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, pipeline.ErrWireLimit) {
			t.Errorf("raw entry of %d bytes for %d bytes of data: %v, want ok %v", tc.raw, tc.size, err, tc.ok)
		}
	}
}

// frame encodes one record-stream frame header.
func frame(name string, size int64, raw bool, rawSize int64) []byte {
	b := msgp.AppendMapHeader(nil, 5)
	b = msgp.AppendString(b, "n")
	b = msgp.AppendString(b, name)
	b = msgp.AppendString(b, "s")
	b = msgp.AppendInt64(b, size)
	b = msgp.AppendString(b, "r")
	b = msgp.AppendBool(b, raw)
	b = msgp.AppendString(b, "l")
	b = msgp.AppendInt64(b, rawSize)
	b = msgp.AppendString(b, "e")
	return msgp.AppendBool(b, true)
}

// A plan placement gives one target more records than a target reads is
// refused before any shard is created, naming the target; the encoding
// bound holds for what AppendShards writes.
func TestPlansPastATargetsLimitsAreRefused(t *testing.T) {
	targets := []cluster.Node{{ID: "t1"}, {ID: "t2"}}
	shard := func(records int, key string) shards.OutputShard {
		s := shards.OutputShard{Name: "out-0001.tar"}
		for i := range records {
			s.Records = append(s.Records, shards.RecordMeta{ID: shards.RecordID{Shard: int32(i), Record: int32(i)}, Key: shards.Key{Kind: shards.KeyString, String: key}, Size: 1 << 40, Holder: 1})
		}
		return s
	}
	plans := [][]shards.OutputShard{{shard(10, "a")}, {shard(30, "b"), shard(30, "c")}}
	if err := pipeline.CheckPlansForTest(plans, targets, 60, 1<<20); err != nil {
		t.Fatalf("plans within the limits: %v", err)
	}
	err := pipeline.CheckPlansForTest(plans, targets, 59, 1<<20)
	if !errors.Is(err, pipeline.ErrWireLimit) || !strings.Contains(err.Error(), "t2") {
		t.Fatalf("60 records for a target taking 59: %v, want refused naming t2", err)
	}
	long := [][]shards.OutputShard{{shard(100, strings.Repeat("k", 1000))}, nil}
	encoded := int64(len(pipeline.AppendShards(nil, long[0])))
	if err := pipeline.CheckPlansForTest(long, targets, 1000, encoded-1); !errors.Is(err, pipeline.ErrWireLimit) {
		t.Fatalf("a plan of %d bytes for a target taking %d: %v", encoded, encoded-1, err)
	}
}
