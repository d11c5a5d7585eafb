package gateway_test

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/datasets"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
)

// An estimate over HTTP, from the targets' headers and samples, agrees
// with the job it estimates: shards, names, records and bytes; an input
// that matches nothing is a 400 naming the template.
func TestDsortEstimateOverHTTP(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	putDataset(t, client, "src", datasets.Spec{Template: "in-{00..09}.tar", Records: 20, RecordSize: 2000, SizeSpread: 0.5, Extensions: []string{".jpg", ".cls"}, Seed: 9})
	spec := `{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..09}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"50KiB","algorithm":{"kind":"shuffle","seed":"77"}}`
	est, err := client.EstimateDsort(ctx, []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if est.Records != 200 || est.InputShards != 10 || len(est.Targets) != 3 || !est.OutputExact || est.Input.Name != "src" {
		t.Fatalf("estimate %+v", est)
	}
	for _, target := range est.Targets {
		if target.InputShards > 0 && (target.ReadBytes == 0 || target.NetworkBytes == 0) {
			t.Errorf("target %s measured no disk or network: %+v", target.Node, target)
		}
	}
	if jobs, err := client.DsortList(ctx, "", false); err != nil || len(jobs) != 0 {
		t.Fatalf("the estimate started jobs: %+v %v", jobs, err)
	}

	id, err := client.DsortStart(ctx, []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	sum := waitDsort(t, client, id)
	m := sum.Metrics
	if !sum.Archived || m.Creation.CreatedCount != est.OutputShards || m.Creation.CreatedRecordCount != est.OutputRecords ||
		m.Extraction.ExtractedSize != est.FileBytes || m.Creation.CreatedSize != est.OutputBytes {
		t.Fatalf("the job made %d shards, %d records, %d bytes from %d; estimate %d, %d, %d from %d", m.Creation.CreatedCount,
			m.Creation.CreatedRecordCount, m.Creation.CreatedSize, m.Extraction.ExtractedSize, est.OutputShards, est.OutputRecords, est.OutputBytes, est.FileBytes)
	}
	names := map[string]bool{}
	for e, err := range client.ListAll(ctx, "dst", api.ListObjectsMessage{}) {
		if err != nil {
			t.Fatal(err)
		}
		names[e.Name] = true
	}
	sorted := slices.Sorted(maps.Keys(names))
	if sorted[0] != est.FirstShard || sorted[len(sorted)-1] != est.LastShard {
		t.Fatalf("the job wrote %s to %s, estimate %s to %s", sorted[0], sorted[len(sorted)-1], est.FirstShard, est.LastShard)
	}

	// "dry_run": "estimate" through POST /v1/sort answers the same
	// estimate and starts nothing.
	asDryRun := strings.Replace(spec, `"algorithm"`, `"dry_run":"estimate","algorithm"`, 1)
	resp, err := http.Post(c.Primary().URL()+"/v1/sort", "application/json", strings.NewReader(asDryRun))
	if err != nil {
		t.Fatal(err)
	}
	var again api.DsortEstimate
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		err = json.Unmarshal(raw, &again)
	}
	if err != nil || resp.StatusCode != http.StatusOK || again.OutputShards != est.OutputShards || again.FirstShard != est.FirstShard || again.Records != est.Records {
		t.Fatalf("POST /v1/sort with dry_run estimate: %d %+v %v", resp.StatusCode, again, err)
	}
	// The seed as the spec gives it, a string: a drawn one (past 2^53)
	// would be rounded by a browser's JSON.parse as a number.
	var fields map[string]any
	if json.Unmarshal(raw, &fields) != nil || fields["seed"] != "77" || again.Seed != 77 {
		t.Fatalf("the estimate's seed: %#v (%d), want the string \"77\"", fields["seed"], again.Seed)
	}
	if _, err := client.DsortStart(ctx, []byte(asDryRun)); err == nil || !strings.Contains(err.Error(), "EstimateDsort") {
		t.Fatalf("DsortStart of an estimate spec: %v, want an error pointing at EstimateDsort", err)
	}
	if jobs, err := client.DsortList(ctx, "", false); err != nil || len(jobs) != 1 {
		t.Fatalf("jobs after the dry-run estimates: %+v %v", jobs, err)
	}

	noMatch := strings.ReplaceAll(spec, "in-{00..09}.tar", "none-{00..09}.tar")
	_, err = client.EstimateDsort(ctx, []byte(noMatch))
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Message, `"none-{00..09}.tar" matches no object`) {
		t.Fatalf("estimate of a template that matches nothing: %v, want 400 naming it", err)
	}
}

// An estimate of input the job would fail on (a corrupt shard) is a 400
// naming it, not a server error: the data is at fault, not the cluster.
func TestDsortEstimateOfCorruptInputIsABadRequest(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	client.CreateBucket(ctx, "src", nil)
	garbage := strings.Repeat("not a tar header ", 64)
	if _, err := client.Put(ctx, "src", "in-0.tar", strings.NewReader(garbage), api.PutOptions{Size: int64(len(garbage))}); err != nil {
		t.Fatal(err)
	}
	spec := `{"input_bck":{"name":"src"},"input_format":{"template":"in-{0..0}.tar"},"output_format":"out-{00..99}.tar"}`
	_, err := client.EstimateDsort(ctx, []byte(spec))
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "in-0.tar") {
		t.Fatalf("an estimate of a corrupt shard: %v, want a 400 naming it", err)
	}
}
