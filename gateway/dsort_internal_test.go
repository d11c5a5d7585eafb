package gateway

import (
	"math"
	"testing"

	"github.com/aisgo/aisgo/creation"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
)

// The bound on a fetch's body takes a whole batch of records a creator
// asks for, each at its largest encoding.
func TestFetchBoundTakesAWholeBatch(t *testing.T) {
	records := make([]shards.RecordMeta, creation.FetchBatch)
	for i := range records {
		records[i] = shards.RecordMeta{ID: shards.RecordID{Shard: math.MaxInt32, Record: math.MaxInt32}, Size: math.MaxInt64, Holder: math.MaxInt32,
			Key: shards.Key{Kind: shards.KeyString, String: "a key left out of a fetch"}}
	}
	if n := len(pipeline.AppendFetch(nil, records)); n > maxFetchSize {
		t.Fatalf("a batch of %d records encodes to %d bytes, over the bound of %d", len(records), n, maxFetchSize)
	}
}
