package formats_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/formats"
)

// CheckEntry refuses what a format's writer would (checked as a member
// is read); a format that takes any member refuses none.
func TestCheckEntry(t *testing.T) {
	for _, tc := range []struct {
		format formats.Format
		name   string
		size   int64
		want   error
	}{
		{formats.Tar{}, "caf\xe9.jpg", 1 << 40, nil},
		{formats.Zip{}, "caf\xe9.jpg", 4, formats.ErrInvalidName},
		{formats.Zip{}, "café.jpg", 4, nil},
		{formats.Msgpack{}, "a.jpg", formats.MaxBufferedRecord + 1, formats.ErrEntrySize},
		{formats.Msgpack{}, "a.jpg", 4, nil},
		{formats.TFRecord{}, "a.caf\xe9", 4, formats.ErrInvalidName},
		{formats.Msgpack{}, "a.", 4, nil}, // alone it reads back as it was (see TestCheckRecordMembers)
		// A name a tar reader takes (a GNU long name of 1 MiB) that no
		// tar header of the output carries.
		{formats.Tar{}, strings.Repeat("n", 1<<20-10), 4, formats.ErrInvalidName},
		{formats.TarGzip{}, strings.Repeat("n", 1<<20-10), 4, formats.ErrInvalidName},
		{formats.TarLZ4{}, strings.Repeat("n", 1<<20-10), 4, formats.ErrInvalidName},
		{formats.TarZstd{}, strings.Repeat("n", 1<<20-10), 4, formats.ErrInvalidName},
		{formats.TarGzip{}, strings.Repeat("n", 4096), 4, nil},
	} {
		if err := formats.CheckEntry(tc.format, tc.name, tc.size); tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s %q of %d bytes: %v, want %v", tc.format.Name(), tc.name, tc.size, err, tc.want)
		}
	}
}

// A record whose values add up past what is kept in memory is refused by
// the record formats as a whole (each value may fit); others take any.
func TestCheckRecord(t *testing.T) {
	for _, f := range []formats.Format{formats.Msgpack{}, formats.TFRecord{}} {
		if err := formats.CheckRecord(f, "k", []string{"k.bin"}, formats.MaxBufferedRecord+1); !errors.Is(err, formats.ErrEntrySize) {
			t.Errorf("%s: a record past the buffer: %v", f.Name(), err)
		}
		if err := formats.CheckRecord(f, "k", []string{"k.bin"}, formats.MaxBufferedRecord); err != nil {
			t.Errorf("%s: a record at the buffer: %v", f.Name(), err)
		}
	}
	if err := formats.CheckRecord(formats.Tar{}, "k", []string{"k.bin"}, 1<<40); err != nil {
		t.Errorf("tar: a record of 1 TiB: %v", err)
	}
}

// A member whose only dot ends its name ("a.") is of record "a" to dSort
// and a record of its own to a record format: beside the others of its
// record it is refused (it would cut the record in the output), alone
// it reads back as it was; other formats keep any.
func TestCheckRecordMembers(t *testing.T) {
	for _, tc := range []struct {
		format  formats.Format
		members []string
		want    error
	}{
		{formats.Msgpack{}, []string{"a.jpg", "a.", "a.cls"}, formats.ErrInvalidName},
		{formats.TFRecord{}, []string{"dir.v2/a.jpg", "dir.v2/a."}, formats.ErrInvalidName},
		{formats.Msgpack{}, []string{"a."}, nil},
		{formats.Msgpack{}, []string{"a.jpg", "a.b."}, nil},
		{formats.TFRecord{}, []string{".hidden", ".hidden.txt"}, nil},
		{formats.Tar{}, []string{"a.jpg", "a."}, nil},
	} {
		if err := formats.CheckRecord(tc.format, "a", tc.members, 4); tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s %q: %v, want %v", tc.format.Name(), tc.members, err, tc.want)
		}
	}
}
