package pipeline_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// gnuBlock is a 512-byte tar header block of typeflag kind naming name,
// with size bytes of data after it (GNU magic).
func gnuBlock(kind byte, name string, size int) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], fmt.Sprintf("%011o\x00", 0))
	b[156] = kind
	copy(b[257:265], "ustar  \x00")
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// padded is data padded to a whole number of 512-byte blocks.
func padded(data []byte) []byte {
	return append(data, make([]byte, (512-len(data)%512)%512)...)
}

// A tar entry whose header blocks name it other than it is read (with
// "./"), or that has two GNU long names (archive/tar takes the last,
// Python's tarfile the first), is not copied raw: its output entry gets
// a header of its own, naming it as dSort grouped it, on any number of
// targets.
func TestEntriesNamedAmbiguouslyAreWrittenAnew(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, name := range []string{"./a.jpg", "a.cls", "c.jpg", "c.cls"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 3, Typeflag: tar.TypeReg, Format: tar.FormatGNU})
		tw.Write([]byte(name[len(name)-3:]))
	}
	tw.Flush()
	// b.jpg, behind a first long name "evil.jpg" the other readers take.
	for _, long := range []string{"evil.jpg", "b.jpg"} {
		in.Write(gnuBlock('L', "././@LongLink", len(long)+1))
		in.Write(padded([]byte(long + "\x00")))
	}
	in.Write(gnuBlock('0', "b.jpg", 3))
	in.Write(padded([]byte("jpg")))
	tw = tar.NewWriter(&in)
	tw.WriteHeader(&tar.Header{Name: "b.cls", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("cls"))
	tw.Close()
	inputs := map[string][]byte{"in-0.tar": in.Bytes()}
	spec := baseSpec("in-{0..0}.tar", "out-{000..999}.tar")
	for _, targets := range []int{1, 3} {
		out := runAndCompare(t, targets, inputs, spec, 7)
		var names []string
		for _, data := range out {
			if bytes.Contains(data, []byte("evil.jpg")) {
				t.Fatalf("%d targets: an output shard holds the shadowed long name", targets)
			}
			tr := tar.NewReader(bytes.NewReader(data))
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, h.Name)
			}
		}
		joined := strings.Join(names, " ")
		for _, want := range []string{"a.jpg", "a.cls", "b.jpg", "b.cls"} {
			if !strings.Contains(" "+joined+" ", " "+want+" ") {
				t.Fatalf("%d targets: output entries %v, want %s among them", targets, names, want)
			}
		}
		if strings.Contains(joined, "./") {
			t.Fatalf("%d targets: output entries %v keep an input's \"./\"", targets, names)
		}
	}
}
