package gateway

import (
	"encoding/json"
	"strings"
	"testing"
)

// jsonLength is what the JSON encoder makes of a name: the archive
// listing's budget is charged what the answer takes, escapes and all.
func TestJSONLength(t *testing.T) {
	for _, s := range []string{"", "plain.jpg", "<a&b>", "\x00\x01\n", "quote\"back\\", "ünïcode/名前", "bad\xff\xfe", "\u2028\u2029", strings.Repeat("<", 1000)} {
		encoded, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := jsonLength(s), len(encoded)-2; got != want {
			t.Errorf("jsonLength(%q) = %d, the encoder writes %d", s, got, want)
		}
	}
}
