package store_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/store"
)

// AIStore's clients read the integers of bucket props as JSON strings;
// props written before (numbers) still read.
func TestPropsIntegersAreStrings(t *testing.T) {
	props := store.DefaultProps()
	props.Created, props.BID, props.Access, props.Features = 1700000000000000000, 42, store.AccessAll, "0"
	data, err := json.Marshal(props)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"created":"1700000000000000000"`, `"bid":"42"`, `"access":"18446744073709551615"`, `"features":"0"`} {
		if !strings.Contains(string(data), want) {
			t.Fatalf("%s lacks %s", data, want)
		}
	}
	var back store.Props
	if err := json.Unmarshal(data, &back); err != nil || back != props {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	var old store.Props
	if err := json.Unmarshal([]byte(`{"created":1700000000000000000}`), &old); err != nil || old.Created != 1700000000000000000 {
		t.Fatalf("a number: %+v %v", old, err)
	}
	if err := json.Unmarshal([]byte(`{"created":"yesterday"}`), &old); err == nil || !strings.Contains(err.Error(), "want an integer") {
		t.Fatalf("a bad created: %v", err)
	}
}

// Slice counts are bounded each: two huge ones must not wrap around to a
// small sum and pass.
func TestPropsValidateSliceCounts(t *testing.T) {
	for _, tc := range []struct {
		data, parity int
		ok           bool
	}{
		{2, 2, true},
		{128, 128, true},
		{0, 2, false},
		{2, 0, false},
		{200, 57, false},
		{math.MaxInt, math.MaxInt, false},
		{math.MaxInt, 1, false},
	} {
		p := store.DefaultProps()
		p.EC.Enabled, p.EC.DataSlices, p.EC.ParitySlices = true, tc.data, tc.parity
		if err := p.Validate(); tc.ok != (err == nil) || err != nil && !errors.Is(err, store.ErrInvalidProps) {
			t.Errorf("ec %d+%d: %v, want valid %v", tc.data, tc.parity, err, tc.ok)
		}
	}
}

// AIStore names a remote bucket's region extra.aws.cloud_region: taken as
// the region (alone, it changes it), shown as region; both, differing,
// are refused.
func TestAWSPropsTakeAIStoresCloudRegion(t *testing.T) {
	var p store.Props
	if err := json.Unmarshal([]byte(`{"extra":{"aws":{"cloud_region":"eu-west-1","endpoint":"http://127.0.0.1:9"}}}`), &p); err != nil {
		t.Fatal(err)
	}
	if aws := p.AWS(); aws.Region != "eu-west-1" || aws.Endpoint != "http://127.0.0.1:9" {
		t.Fatalf("cloud_region taken as %+v", aws)
	}
	if err := json.Unmarshal([]byte(`{"extra":{"aws":{"cloud_region":"eu-west-2"}}}`), &p); err != nil || p.AWS().Region != "eu-west-2" || p.AWS().Endpoint != "http://127.0.0.1:9" {
		t.Fatalf("a patch of cloud_region alone: %+v %v", p.AWS(), err)
	}
	if err := json.Unmarshal([]byte(`{"extra":{"aws":{"Region":"us-east-1","cloud_region":"eu-west-1"}}}`), &p); !errors.Is(err, store.ErrInvalidProps) {
		t.Fatalf("region and cloud_region differing: %v, want refused", err)
	}
	if err := json.Unmarshal([]byte(`{"extra":{"aws":{"region":"us-east-1","cloud_region":"us-east-1"}}}`), &p); err != nil || p.AWS().Region != "us-east-1" {
		t.Fatalf("region and cloud_region the same: %+v %v", p.AWS(), err)
	}
	data, _ := json.Marshal(p)
	if !strings.Contains(string(data), `"region":"us-east-1"`) || strings.Contains(string(data), "cloud_region") {
		t.Fatalf("props shown as %s", data)
	}
}
