package formats_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/formats"
)

// TarHeaderSize agrees with what the tar writer writes, for names USTAR
// holds, names it splits into a prefix, and names that need PAX.
func TestTarHeaderSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
	}{
		{"short", "a/b.jpg"},
		{"100 bytes", strings.Repeat("x", 96) + ".jpg"},
		{"prefix split", strings.Repeat("d", 90) + "/" + strings.Repeat("f", 60) + ".jpg"},
		{"pax long", strings.Repeat("y", 180) + ".jpg"},
		{"pax non-ASCII", "données/été.jpg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := formats.Tar{}.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			data := []byte("hello")
			if err := w.WriteHeader(&formats.Entry{Name: tc.path, Size: int64(len(data))}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			want := int64(buf.Len()) - 512 - 1024 // data padded, end marker
			if got := formats.TarHeaderSize(tc.path, int64(len(data))); got != want {
				t.Fatalf("TarHeaderSize(%q) = %d, the writer wrote %d bytes of headers", tc.path, got, want)
			}
		})
	}
}
