package formats_test

// Cross-checks with tools no one here wrote: GNU tar, gzip, zstd, lz4,
// Info-ZIP's zip and unzip, Python's tarfile and zipfile, python3-msgpack
// and a TFRecord codec written from its spec read every format we write,
// and our readers read what they write, byte for byte.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/formats"
)

// need fails the test when a tool is missing: the tools are part of the
// test environment. Only zstd may be absent, and then only its subtest skips.
func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if tool == "zstd" && os.Getenv("CI") == "" {
			t.Skipf("zstd is not on PATH")
		}
		t.Fatalf("%s is not on PATH: %v", tool, err)
	}
}

// run runs a command in dir and returns its standard output.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// crossFiles are the entries of the cross-checks: directories, a USTAR
// prefix split, a PAX-only long name, non-ASCII, empty and large files.
func crossFiles() []file {
	files := sampleFiles()
	files = append(files, file{"deep/" + strings.Repeat("x", 150) + "/y.bin", randomBytes(9, 3000)})
	return files
}

// readDir returns the regular files under dir, sorted by name.
func readDir(t *testing.T, dir string) []file {
	t.Helper()
	var files []file
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, file{filepath.ToSlash(rel), data})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sortedFiles(files)
}

func sortedFiles(files []file) []file {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.Name, b.Name) })
	for i := range files {
		if files[i].Data == nil {
			files[i].Data = []byte{}
		}
	}
	return files
}

func sameFiles(t *testing.T, what string, got, want []file) {
	t.Helper()
	got, want = sortedFiles(got), sortedFiles(want)
	if !equalFiles(got, want) {
		t.Errorf("%s: got %v\nwant %v", what, got, want)
	}
}

// pythonList is a Python program printing the regular files of an archive
// as JSON [name, size, sha256] triples. It reads tar (any compression
// tarfile knows) or zip, by the second argument.
const pythonList = `
import hashlib, json, sys, tarfile, zipfile
path, kind = sys.argv[1], sys.argv[2]
out = []
if kind == "zip":
    with zipfile.ZipFile(path) as z:
        if z.testzip() is not None:
            sys.exit("bad CRC")
        for i in z.infolist():
            if not i.is_dir():
                data = z.read(i)
                out.append([i.filename, len(data), hashlib.sha256(data).hexdigest()])
else:
    with tarfile.open(path, "r:*") as t:
        for m in t:
            if m.isreg():
                data = t.extractfile(m).read()
                out.append([m.name, m.size, hashlib.sha256(data).hexdigest()])
json.dump(out, sys.stdout)
`

func pythonFiles(t *testing.T, path, kind string) [][3]any {
	t.Helper()
	var got [][3]any
	if err := json.Unmarshal([]byte(run(t, "", "python3", "-c", pythonList, path, kind)), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func describe(files []file) [][3]any {
	var out [][3]any
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		out = append(out, [3]any{f.Name, float64(len(f.Data)), hex.EncodeToString(sum[:])})
	}
	return out
}

// TestSystemToolsReadOurShards writes every format and has the system tools
// and Python read it back.
func TestSystemToolsReadOurShards(t *testing.T) {
	files := crossFiles()
	cases := []struct {
		format  formats.Format
		tools   []string
		extract func(t *testing.T, shard, dir string)
		python  func(t *testing.T, shard, dir string) string // path for Python, and its kind
	}{
		{
			format: formats.Tar{}, tools: []string{"tar"},
			extract: func(t *testing.T, shard, dir string) {
				listing := run(t, dir, "tar", "--quoting-style=literal", "-tf", shard)
				var want []string
				for _, f := range files {
					want = append(want, f.Name)
				}
				if got := strings.Fields(listing); !slices.Equal(got, want) {
					t.Errorf("tar -tf: %q, want %q", got, want)
				}
				if verbose := run(t, dir, "tar", "-tvf", shard); !strings.Contains(verbose, "-rw-r--r-- 0/0") || !strings.Contains(verbose, "1980-01-01") {
					t.Errorf("tar -tvf shows other modes, owners or times:\n%s", verbose)
				}
				run(t, dir, "tar", "-xf", shard)
			},
			python: func(t *testing.T, shard, dir string) string { return shard },
		},
		{
			format: formats.TarGzip{}, tools: []string{"tar", "gzip"},
			extract: func(t *testing.T, shard, dir string) {
				run(t, dir, "gzip", "-t", shard)
				run(t, dir, "tar", "-xzf", shard)
			},
			python: func(t *testing.T, shard, dir string) string { return shard },
		},
		{
			format: formats.TarZstd{}, tools: []string{"tar", "zstd"},
			extract: func(t *testing.T, shard, dir string) {
				run(t, dir, "zstd", "-q", "-t", shard)
				run(t, dir, "tar", "--zstd", "-xf", shard)
			},
			python: func(t *testing.T, shard, dir string) string {
				run(t, "", "zstd", "-q", "-d", shard, "-o", shard+".tar")
				return shard + ".tar"
			},
		},
		{
			format: formats.TarLZ4{}, tools: []string{"tar", "lz4", "sh"},
			extract: func(t *testing.T, shard, dir string) {
				run(t, dir, "sh", "-c", `lz4 -q -d -c "$1" | tar -xf -`, "sh", shard)
			},
			python: func(t *testing.T, shard, dir string) string {
				run(t, "", "lz4", "-q", "-d", shard, shard+".tar")
				return shard + ".tar"
			},
		},
		{
			format: formats.Zip{}, tools: []string{"unzip"},
			extract: func(t *testing.T, shard, dir string) {
				if out := run(t, dir, "unzip", "-t", shard); !strings.Contains(out, "No errors detected") {
					t.Errorf("unzip -t:\n%s", out)
				}
				run(t, dir, "unzip", "-q", shard)
			},
			python: func(t *testing.T, shard, dir string) string { return shard },
		},
	}
	for _, tc := range cases {
		t.Run(tc.format.Name(), func(t *testing.T) {
			for _, tool := range tc.tools {
				need(t, tool)
			}
			need(t, "python3")
			tmp := t.TempDir()
			shard := filepath.Join(tmp, "shard"+tc.format.Extensions()[0])
			if err := os.WriteFile(shard, writeShard(t, tc.format, files, 0), 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(tmp, "out")
			os.Mkdir(dir, 0o755)
			tc.extract(t, shard, dir)
			sameFiles(t, "extracted", readDir(t, dir), files)

			kind := "tar"
			if tc.format.Name() == "zip" {
				kind = "zip"
			}
			got := pythonFiles(t, tc.python(t, shard, dir), kind)
			if want := describe(files); !slices.EqualFunc(got, want, func(a, b [3]any) bool { return a == b }) {
				t.Errorf("python reads %v\nwant %v", got, want)
			}
		})
	}
}

// sourceTree writes crossFiles into a directory and returns it.
func sourceTree(t *testing.T) (string, []file) {
	t.Helper()
	files := crossFiles()
	dir := filepath.Join(t.TempDir(), "src")
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

// pythonWrite is a Python program archiving the files of a directory (in
// sorted order) with tarfile in a given format or with zipfile.
const pythonWrite = `
import os, sys, tarfile, zipfile
src, out, kind = sys.argv[1], sys.argv[2], sys.argv[3]
names = []
for root, dirs, files in os.walk(src):
    dirs.sort()
    for f in sorted(files):
        names.append(os.path.relpath(os.path.join(root, f), src))
if kind.startswith("zip"):
    method = zipfile.ZIP_STORED if kind == "zip-stored" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", method) as z:
        for n in names:
            z.write(os.path.join(src, n), n)
else:
    fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT}[kind]
    with tarfile.open(out, "w:gz" if out.endswith(".tgz") else "w", format=fmt) as t:
        for n in names:
            t.add(os.path.join(src, n), n)
`

// pythonOffsets prints the header and data offsets Python finds in a tar.
const pythonOffsets = `
import json, sys, tarfile
with tarfile.open(sys.argv[1], "r:") as t:
    json.dump([[m.name, m.offset, m.offset_data] for m in t if m.isreg()], sys.stdout)
`

// TestOurReadersReadSystemShards has GNU tar, zip and Python write shards
// and reads them with our readers.
func TestOurReadersReadSystemShards(t *testing.T) {
	src, files := sourceTree(t)
	cases := []struct {
		name  string // shard file name, which picks our format
		tools []string
		make  func(t *testing.T, shard string)
	}{
		{"gnutar-gnu.tar", []string{"tar"}, func(t *testing.T, shard string) {
			run(t, src, "tar", "--format=gnu", "-cf", shard, ".")
		}},
		{"gnutar-posix.tar", []string{"tar"}, func(t *testing.T, shard string) {
			run(t, src, "tar", "--format=posix", "-cf", shard, ".")
		}},
		{"gnutar-ustar.tar", []string{"tar"}, func(t *testing.T, shard string) {
			// USTAR cannot hold the two longest names: GNU tar fails on
			// them, so archive the rest.
			run(t, src, "tar", "--format=ustar", "-cf", shard, "--exclude=deep", "--exclude=very-long-segment", ".")
		}},
		{"gnutar.tgz", []string{"tar", "gzip"}, func(t *testing.T, shard string) {
			run(t, src, "tar", "-czf", shard, ".")
		}},
		{"gnutar.tar.zst", []string{"tar", "zstd"}, func(t *testing.T, shard string) {
			run(t, src, "tar", "--zstd", "-cf", shard, ".")
		}},
		{"gnutar.tar.lz4", []string{"tar", "lz4", "sh"}, func(t *testing.T, shard string) {
			run(t, src, "sh", "-c", `tar -cf - . | lz4 -q -z > "$1"`, "sh", shard)
		}},
		{"infozip.zip", []string{"zip"}, func(t *testing.T, shard string) {
			run(t, src, "zip", "-q", "-r", shard, ".")
		}},
		{"infozip-stored.zip", []string{"zip"}, func(t *testing.T, shard string) {
			run(t, src, "zip", "-q", "-0", "-r", shard, ".")
		}},
		{"python-pax.tar", []string{"python3"}, func(t *testing.T, shard string) {
			run(t, "", "python3", "-c", pythonWrite, src, shard, "pax")
		}},
		{"python-gnu.tar", []string{"python3"}, func(t *testing.T, shard string) {
			run(t, "", "python3", "-c", pythonWrite, src, shard, "gnu")
		}},
		{"python.tgz", []string{"python3"}, func(t *testing.T, shard string) {
			run(t, "", "python3", "-c", pythonWrite, src, shard, "pax")
		}},
		{"python.zip", []string{"python3"}, func(t *testing.T, shard string) {
			run(t, "", "python3", "-c", pythonWrite, src, shard, "zip")
		}},
		{"python-stored.zip", []string{"python3"}, func(t *testing.T, shard string) {
			run(t, "", "python3", "-c", pythonWrite, src, shard, "zip-stored")
		}},
	}
	reg := formats.Default()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, tool := range tc.tools {
				need(t, tool)
			}
			shard := filepath.Join(t.TempDir(), tc.name)
			tc.make(t, shard)
			data, err := os.ReadFile(shard)
			if err != nil {
				t.Fatal(err)
			}
			f, ok := reg.ByName(tc.name)
			if !ok {
				t.Fatalf("no format for %s", tc.name)
			}
			if d, ok := reg.Detect(data); !ok || d.Name() != f.Name() {
				t.Errorf("Detect = %v, %v; want %s", d, ok, f.Name())
			}
			got, entries, err := readShard(f, data)
			if err != nil {
				t.Fatal(err)
			}
			want := files
			if strings.Contains(tc.name, "ustar") {
				want = slices.DeleteFunc(slices.Clone(files), func(f file) bool {
					return strings.HasPrefix(f.Name, "deep/") || strings.HasPrefix(f.Name, "very-long-segment/")
				})
			}
			sameFiles(t, "read", got, want)

			if f.Offsets() {
				var offsets [][3]any
				if err := json.Unmarshal([]byte(run(t, "", "python3", "-c", pythonOffsets, shard)), &offsets); err != nil {
					t.Fatal(err)
				}
				for i, e := range entries {
					if i >= len(offsets) || offsets[i][1] != float64(e.HeaderOffset) || offsets[i][2] != float64(e.DataOffset) {
						t.Errorf("%s: offsets %d, %d; python says %v", e.Name, e.HeaderOffset, e.DataOffset, offsets[i:min(i+1, len(offsets))])
					}
				}
			}
		})
	}
}

// debianPython is the system's Python, which carries python3-msgpack.
const debianPython = "/usr/bin/python3"

// recordScript returns the independent reader and writer of a record
// format under testdata: python3-msgpack for msgpack, a TFRecord codec
// written from the published spec (struct, a CRC-32C of its own, the
// protobuf wire format by hand) for tfrecord.
func recordScript(t *testing.T, f formats.Format) string {
	t.Helper()
	if f.Name() == "msgpack" {
		if out, err := exec.Command(debianPython, "-c", "import msgpack").CombinedOutput(); err != nil {
			t.Fatalf("%s cannot import msgpack (apt-get install python3-msgpack): %v\n%s", debianPython, err, out)
		}
	}
	script, err := filepath.Abs(filepath.Join("testdata", f.Name()+"_shards.py"))
	if err != nil {
		t.Fatal(err)
	}
	return script
}

// TestPythonReadsOurRecordShards has the Python readers list what our
// msgpack and TFRecord writers wrote.
func TestPythonReadsOurRecordShards(t *testing.T) {
	files := crossFiles()
	for _, f := range recordFormats() {
		t.Run(f.Name(), func(t *testing.T) {
			script := recordScript(t, f)
			shard := filepath.Join(t.TempDir(), "shard"+f.Extensions()[0])
			if err := os.WriteFile(shard, writeShard(t, f, files, 0), 0o644); err != nil {
				t.Fatal(err)
			}
			var got [][3]any
			if err := json.Unmarshal([]byte(run(t, "", debianPython, script, "list", shard)), &got); err != nil {
				t.Fatal(err)
			}
			if want := describe(files); !slices.EqualFunc(got, want, func(a, b [3]any) bool { return a == b }) {
				t.Errorf("python reads %v\nwant %v", got, want)
			}
		})
	}
}

// TestOurReadersReadPythonRecordShards has the Python writers archive a
// tree, the key first in each record or last, and reads it with our
// readers. Given the same entries, our writers write the same bytes as
// the Python ones that put the key first.
func TestOurReadersReadPythonRecordShards(t *testing.T) {
	src, files := sourceTree(t)
	reg := formats.Default()
	for _, f := range recordFormats() {
		for _, order := range []string{"key-first", "key-last"} {
			t.Run(f.Name()+"/"+order, func(t *testing.T) {
				script := recordScript(t, f)
				shard := filepath.Join(t.TempDir(), "python"+f.Extensions()[0])
				args := []string{script, "write", src, shard}
				if order == "key-last" {
					args = append(args, "key-last")
				}
				run(t, "", debianPython, args...)
				data, err := os.ReadFile(shard)
				if err != nil {
					t.Fatal(err)
				}
				if g, ok := reg.ByName(shard); !ok || g.Name() != f.Name() {
					t.Fatalf("ByName(%s) = %v", shard, g)
				}
				// msgpack is detected by a key first in the first map.
				detected := order == "key-first" || f.Name() == "tfrecord"
				if d, ok := reg.Detect(data); ok != detected || ok && d.Name() != f.Name() {
					t.Errorf("Detect = %v, %v; want %s", d, ok, f.Name())
				}
				got, _, err := readShard(f, data)
				if err != nil {
					t.Fatal(err)
				}
				sameFiles(t, "read", got, files)
				if order == "key-first" {
					if ours := writeShard(t, f, got, 0); !bytes.Equal(ours, data) {
						t.Errorf("our writer wrote %d bytes that differ from python's %d", len(ours), len(data))
					}
				}
			})
		}
	}
}
