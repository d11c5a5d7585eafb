package formats_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/formats"
)

// An index locates every member: the system's own tar reader finds the
// same offsets, and a range read of a member's data gives its bytes.
func TestShardIndex(t *testing.T) {
	files := sampleFiles()
	shard := writeShard(t, formats.Tar{}, files, 0)
	idx, err := formats.BuildIndex(formats.Tar{}, bytes.NewReader(shard), int64(len(shard)), "s.tar")
	if err != nil {
		t.Fatal(err)
	}
	if idx.Version != formats.IndexVersion || idx.Shard != "s.tar" || idx.ShardSize != int64(len(shard)) || idx.Format != "tar" || len(idx.Members) != len(files) {
		t.Fatalf("index %+v", idx)
	}
	tr := tar.NewReader(bytes.NewReader(shard))
	for i, f := range files {
		m := idx.Members[i]
		if m.Name != f.Name || m.Size != int64(len(f.Data)) || !bytes.Equal(shard[m.DataOffset:m.DataOffset+m.Size], f.Data) {
			t.Fatalf("member %d: %+v, want %s", i, m, f)
		}
		h, err := tr.Next()
		if err != nil || h.Name != f.Name {
			t.Fatalf("system tar at member %d: %v %v", i, h, err)
		}
	}
	data, err := idx.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"version":1`, `"shard_size":`, `"members":[{"name":`, `"header_offset":0`, `"data_offset":`} {
		if !strings.Contains(string(data), key) {
			t.Fatalf("index JSON lacks %s: %.200s", key, data)
		}
	}
	back, err := formats.DecodeIndex(data)
	if err != nil || len(back.Members) != len(files) {
		t.Fatalf("decode: %v", err)
	}
	if formats.IndexName("s.tar") != "s.tar.idx" || !formats.IsIndexName("s.tar.idx") || formats.IsIndexName("s.tar") {
		t.Fatal("index names")
	}
}

func TestShardIndexRefusals(t *testing.T) {
	tgz := writeShard(t, formats.TarGzip{}, sampleFiles(), 0)
	if _, err := formats.BuildIndex(formats.TarGzip{}, bytes.NewReader(tgz), int64(len(tgz)), "s.tgz"); !errors.Is(err, formats.ErrNotIndexable) {
		t.Fatalf("a tgz shard: %v, want ErrNotIndexable", err)
	}
	garbage := bytes.Repeat([]byte{7}, 2048)
	if _, err := formats.BuildIndex(formats.Tar{}, bytes.NewReader(garbage), int64(len(garbage)), "bad.tar"); err == nil || err == io.EOF {
		t.Fatalf("a corrupt shard: %v", err)
	}
	for _, data := range []string{
		`{"version":2,"shard":"s.tar","shard_size":10,"members":[]}`,
		`{"version":1,"shard":"s.tar","shard_size":10,"members":[{"name":"a","header_offset":0,"data_offset":512,"size":1}]}`,
		`{"version":1,"shard":"s.tar","shard_size":1024,"members":[{"name":"a","header_offset":-1,"data_offset":512,"size":1}]}`,
		`{"version":1,"shard":"s.tar","shard_size":1000,"members":[{"name":"x","header_offset":0,"data_offset":512,"size":9223372036854775807}]}`,
		`not json`,
	} {
		if _, err := formats.DecodeIndex([]byte(data)); err == nil {
			t.Errorf("DecodeIndex(%s) accepted", data)
		}
	}
}

// The member names of an index are bounded in bytes, not only in count: a
// tar of few members with megabyte names is refused.
func TestShardIndexBoundsNameBytes(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	long := strings.Repeat("<", 900<<10)
	for i := range 20 {
		name := fmt.Sprintf("%02d-%s", i, long)
		if err := tw.WriteHeader(&tar.Header{Name: name, Size: 1, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("x"))
	}
	tw.Close()
	shard := buf.Bytes()
	_, err := formats.BuildIndex(formats.Tar{}, bytes.NewReader(shard), int64(len(shard)), "long.tar")
	if err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("an index of 18 MiB of names: %v", err)
	}
}

// Member names that are not UTF-8 are not indexed: JSON would write them
// as U+FFFD, and two such names would read back as one.
func TestShardIndexRefusesNamesNotUTF8(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"caf\xe9.jpg", "caf\xe8.jpg"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Size: 1, Mode: 0o644, Format: tar.FormatGNU}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("x"))
	}
	tw.Close()
	shard := buf.Bytes()
	_, err := formats.BuildIndex(formats.Tar{}, bytes.NewReader(shard), int64(len(shard)), "latin1.tar")
	if err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("an index of names not UTF-8: %v", err)
	}
}
