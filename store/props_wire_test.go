package store_test

import (
	"encoding/json"
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
