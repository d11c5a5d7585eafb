package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// dSort job info in AIStore's shape: buckets as objects, every counter a
// JSON string; the numbers and bucket strings of older nodes still read.
func TestDsortJobInfoShape(t *testing.T) {
	info := api.DsortJobInfo{ID: "srt-1", SourceBck: api.DsortBucket{Name: "src", Provider: "ais"}, DestBck: api.DsortBucket{Name: "dst", Provider: "ais"},
		StartedTime: time.Unix(100, 0).UTC()}
	info.Metrics.Extraction = api.DsortExtraction{DsortPhase: api.DsortPhase{Elapsed: 5, Finished: true, Started: time.Unix(100, 0).UTC()},
		TotalCount: 10, ExtractedCount: 9, ExtractedSize: 1 << 40, ExtractedRecordCount: 200, ExtractedToDiskCount: 3, ExtractedToDiskSize: 4, MissingCount: 1}
	info.Metrics.Creation = api.DsortCreation{ToCreate: 7, CreatedCount: 6, CreatedSize: 5, CreatedRecordCount: 4, MovedShardCount: 1}
	info.Metrics.Sorting = api.DsortPhase{Elapsed: 8}
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"src-bck":{"name":"src","provider":"ais","namespace":{"uuid":"","name":""}}`, `"dst-bck":{"name":"dst","provider":"ais","namespace":{"uuid":"","name":""}}`,
		`"total_count":"10"`, `"extracted_count":"9"`, `"extracted_size":"1099511627776"`, `"extracted_record_count":"200"`,
		`"extracted_to_disk_count":"3"`, `"extracted_to_disk_size":"4"`, `"missing_count":"1"`, `"to_create":"7"`, `"created_count":"6"`,
		`"created_size":"5"`, `"created_record_count":"4"`, `"moved_shard_count":"1"`, `"elapsed":5,`, `"elapsed":8,`,
		`"started_time":"1970-01-01T00:01:40Z"`, `"finished":true`,
		// AIStore's PhaseInfo writes both times always; its JobInfo, what
		// the target extracted (its Python SDK requires them).
		`"end_time":"0001-01-01T00:00:00Z"`, `"loc-objs":"9"`, `"loc-bytes":"1099511627776"`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %s", data, want)
		}
	}
	var back api.DsortJobInfo
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Metrics.Extraction != info.Metrics.Extraction || back.Metrics.Creation != info.Metrics.Creation || back.SourceBck != info.SourceBck {
		t.Fatalf("round trip:\n%+v\n%+v", back.Metrics, info.Metrics)
	}
	old := `{"id":"srt-2","src-bck":"ais://src","dst-bck":"dst","Metrics":{"local_extraction":{"elapsed":5,"total_count":10},"shard_creation":{"to_create":3}}}`
	var legacy api.DsortJobInfo
	if err := json.Unmarshal([]byte(old), &legacy); err != nil {
		t.Fatal(err)
	}
	if legacy.SourceBck.String() != "ais://src" || legacy.DestBck.String() != "ais://dst" || legacy.Metrics.Extraction.TotalCount != 10 ||
		legacy.Metrics.Extraction.Elapsed != 5 || legacy.Metrics.Creation.ToCreate != 3 {
		t.Fatalf("the older shape: %+v", legacy)
	}
	if err := json.Unmarshal([]byte(`{"Metrics":{"local_extraction":{"total_count":"ten"}}}`), &legacy); err == nil {
		t.Fatal("a counter that is no number read")
	}
}

// The job's phase is finished once every target's is, from the first
// start to the last end.
func TestDsortSummaryPhases(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	perTarget := map[string]api.DsortJobInfo{
		"t1": {Metrics: api.DsortMetrics{Creation: api.DsortCreation{DsortPhase: api.DsortPhase{Started: at(10), Ended: at(20), Finished: true}}}},
		"t2": {Metrics: api.DsortMetrics{Creation: api.DsortCreation{DsortPhase: api.DsortPhase{Started: at(5), Ended: at(30), Finished: true}}}},
	}
	sum := api.DsortSummary(perTarget).Metrics.Creation
	if !sum.Finished || !sum.Started.Equal(at(5)) || !sum.Ended.Equal(at(30)) {
		t.Fatalf("creation over two finished targets: %+v", sum)
	}
	perTarget["t3"] = api.DsortJobInfo{Metrics: api.DsortMetrics{Creation: api.DsortCreation{DsortPhase: api.DsortPhase{Started: at(7), Running: true}}}}
	if sum := api.DsortSummary(perTarget).Metrics.Creation; sum.Finished || !sum.Running {
		t.Fatalf("creation with a target still creating: %+v", sum)
	}
}
