package pipeline_test

import (
	"errors"
	"io"
	"runtime"
	"testing"

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
