package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/aisgo/aisgo/extract"
	"github.com/aisgo/aisgo/shards"
)

// An abort stops the copy of a large record held here midway, not at
// its next file: creation copies a file whole from one Read loop.
func TestLocalStreamStopsMidFile(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	data := make([]byte, 8<<20)
	record := &shards.Record{Name: "big", Files: []shards.File{{Name: "big.bin", Size: int64(len(data)), Storage: shards.StorageMemory, Data: data}}}
	s := &localStream{ctx: ctx, job: &targetJob{budget: extract.NewBudget(0)}, records: []*shards.Record{record}, file: -1}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	read := int64(0)
	for {
		n, err := s.Read(buf)
		read += int64(n)
		if read >= 1<<20 {
			cancel()
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the stream ended with %v after %d bytes, want canceled", err, read)
			}
			break
		}
		if read == int64(len(data)) {
			t.Fatalf("the whole %d-byte file was read after the stream was canceled at 1 MiB", read)
		}
	}
}

// A job's warnings are bounded in bytes as in count: a shard's links of
// a MiB name each would otherwise make stats no peer takes.
func TestWarningsAreBoundedInBytes(t *testing.T) {
	j := &targetJob{}
	long := make([]byte, 64<<10) // past maxMessage: each is cut
	for i := range long {
		long[i] = 'n'
	}
	for range maxWarnings {
		if err := j.react(ReactWarn, linksSkipped("s.tar", 10, []string{string(long)})); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, w := range j.mu.stats.Warnings {
		if len(w) > maxMessage+3 {
			t.Fatalf("a warning of %d bytes", len(w))
		}
		total += len(w)
	}
	if total > maxWarningBytes || len(j.mu.stats.Warnings) == 0 {
		t.Fatalf("%d warnings of %d bytes, want some, at most %d bytes", len(j.mu.stats.Warnings), total, maxWarningBytes)
	}
}
