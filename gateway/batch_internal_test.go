package gateway

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// TestBatchEntriesRefusedBeforeDecoded: a request of far too many
// entries is refused having decoded no more than the limit of them (3
// bytes of JSON an entry become about 128 in memory).
func TestBatchEntriesRefusedBeforeDecoded(t *testing.T) {
	body := []byte(`{"in":[` + strings.Repeat(`{},`, 2_000_000) + `{}]}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var decoded struct {
		In batchEntries `json:"in"`
	}
	err := json.Unmarshal(body, &decoded)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errTooManyEntries) {
		t.Fatalf("2,000,001 entries: %v, want too many", err)
	}
	// 100,000 entries decoded take about 70 MiB; 2,000,001 took 1.4 GiB.
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 256<<20 {
		t.Fatalf("%d MiB allocated to refuse the request", allocated>>20)
	}
}
