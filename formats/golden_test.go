package formats_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/formats"
)

var update = flag.Bool("update", false, "regenerate the golden shards in testdata with testdata/gen.py")

// manifest reads a whole shard and renders what the reader returned in the
// format of the .want files written by testdata/gen.py.
func manifest(f formats.Format, data []byte, shard string) string {
	var b strings.Builder
	r, err := f.NewReader(bytes.NewReader(data), int64(len(data)), shard)
	for err == nil {
		var e *formats.Entry
		if e, err = r.Next(); err != nil {
			break
		}
		h := crc32.NewIEEE()
		var n int64
		if n, err = io.Copy(h, r); err != nil {
			break
		}
		if n != e.Size {
			err = fmt.Errorf("read %d bytes of %q, size %d", n, e.Name, e.Size)
			break
		}
		fmt.Fprintf(&b, "%s\t%d\t%d\t%d\t%08x\n", e.Name, e.Size, e.HeaderOffset, e.DataOffset, h.Sum32())
	}
	b.WriteString(describeEnd(err))
	b.WriteString("\n")
	return b.String()
}

// describeEnd renders how reading ended: "end", "error corrupt <offset>" or
// "error unsupported <offset>".
func describeEnd(err error) string {
	if err == io.EOF {
		return "end"
	}
	he, ok := errors.AsType[*formats.HeaderError](err)
	switch {
	case !ok:
		return "error not a HeaderError: " + err.Error()
	case errors.Is(err, formats.ErrCorrupt):
		return fmt.Sprintf("error corrupt %d", he.Offset)
	case errors.Is(err, formats.ErrUnsupported):
		return fmt.Sprintf("error unsupported %d", he.Offset)
	}
	return "error unclassified: " + err.Error()
}

// TestGolden reads every archive in testdata, made by Python and GNU tar,
// and compares what our readers return with what Python read from them.
func TestGolden(t *testing.T) {
	if *update {
		cmd := exec.Command("python3", "testdata/gen.py", "testdata")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("testdata/gen.py: %v", err)
		}
	}
	wants, err := filepath.Glob("testdata/*.want")
	if err != nil {
		t.Fatal(err)
	}
	if len(wants) < 28 {
		t.Fatalf("only %d golden manifests in testdata", len(wants))
	}
	reg := formats.Default()
	for _, wantFile := range wants {
		shard := strings.TrimSuffix(filepath.Base(wantFile), ".want")
		t.Run(shard, func(t *testing.T) {
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join("testdata", shard))
			if err != nil {
				t.Fatal(err)
			}
			f, ok := reg.ByName(shard)
			if !ok {
				t.Fatalf("no format for %q", shard)
			}
			if got := manifest(f, data, shard); got != string(want) {
				t.Errorf("%s: reader returned\n%s\nwant\n%s", shard, got, want)
			}
			// Detection by magic bytes agrees with the name, except for
			// archives too damaged to carry their magic.
			if d, ok := reg.Detect(data); ok && d.Name() != f.Name() {
				t.Errorf("Detect = %s, ByName = %s", d.Name(), f.Name())
			}
		})
	}
}

// TestGoldenErrorsNameShardAndOffset checks the text of a HeaderError.
func TestGoldenErrorsNameShardAndOffset(t *testing.T) {
	data, err := os.ReadFile("testdata/bad-checksum.tar")
	if err != nil {
		t.Fatal(err)
	}
	got := manifest(formats.Tar{}, data, "bucket/bad-checksum.tar")
	if !strings.HasSuffix(got, "error corrupt 2560\n") {
		t.Fatalf("manifest:\n%s", got)
	}
	r, _ := formats.Tar{}.NewReader(bytes.NewReader(data), int64(len(data)), "bucket/bad-checksum.tar")
	r.Next()
	_, err = r.Next()
	msg := err.Error()
	if !strings.Contains(msg, `"bucket/bad-checksum.tar"`) || !strings.Contains(msg, "offset 2560") {
		t.Errorf("error %q does not name the shard and offset", msg)
	}
	if _, again := r.Next(); again != err {
		t.Errorf("error is not sticky: %v", again)
	}
}
