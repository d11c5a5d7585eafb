//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/api"
)

// The CLI over AIStore's multi-object operations: a bucket copied by
// prefix, a summary, objects removed by template and by prefix, each a
// job on every target of real aisnode processes.
func TestCLIManyObjects(t *testing.T) {
	c := startCLICluster(t, 1, 3)
	client := c.client()
	ctx := t.Context()
	ais(t, c.endpoint, "bucket", "create", "ais://src")
	for i := range 40 {
		data := strings.Repeat("d", 1000+i)
		name := fmt.Sprintf("train/s-%02d.bin", i)
		if i >= 30 {
			name = fmt.Sprintf("val/s-%02d.bin", i)
		}
		if _, err := client.Put(ctx, "src", name, strings.NewReader(data), api.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}

	ais(t, c.endpoint, "bucket", "cp", "ais://src", "ais://dst", "--prefix", "train/")
	var summaries []api.BucketSummary
	if err := json.Unmarshal([]byte(ais(t, c.endpoint, "storage", "summary", "--json")), &summaries); err != nil || len(summaries) != 2 {
		t.Fatalf("storage summary: %v %+v", err, summaries)
	}
	counts := map[string]int64{}
	for _, s := range summaries {
		counts[s.Name] = int64(s.ObjCount.Present)
	}
	if counts["src"] != 40 || counts["dst"] != 30 {
		t.Fatalf("summary counts %v, want src 40 and dst 30", counts)
	}
	out := ais(t, c.endpoint, "bucket", "summary", "ais://src")
	if !strings.Contains(out, "ais://src") || !strings.Contains(out, "40") {
		t.Fatalf("bucket summary:\n%s", out)
	}

	// get-batch: objects of every target in one tar, in the order given,
	// read back by Python's tarfile; what is missing is named.
	batch := filepath.Join(t.TempDir(), "batch.tar")
	ais(t, c.endpoint, "ml", "get-batch", "ais://src", "train/s-07.bin", "val/s-31.bin", "train/s-00.bin", batch)
	listing, err := exec.Command("/usr/bin/python3", "-c",
		"import tarfile,sys; print(' '.join(f'{m.name}:{m.size}' for m in tarfile.open(sys.argv[1])))", batch).CombinedOutput()
	if got := strings.TrimSpace(string(listing)); err != nil || got != "src/train/s-07.bin:1007 src/val/s-31.bin:1031 src/train/s-00.bin:1000" {
		t.Fatalf("the get-batch archive read by tarfile: %q %v", got, err)
	}
	if _, errOut, err := aisResult(c.endpoint, "ml", "get-batch", "ais://src", "train/s-01.bin", "gone.bin", batch, "--continue-on-error"); err != nil || !strings.Contains(errOut, "missing: src/gone.bin") {
		t.Fatalf("get-batch with a missing entry: %v %s", err, errOut)
	}
	if _, errOut, err := aisResult(c.endpoint, "ml", "get-batch", "ais://src", "gone.bin", batch); err == nil || !strings.Contains(errOut, "gone.bin") {
		t.Fatalf("get-batch with a missing entry and no --continue-on-error: %v %s", err, errOut)
	}
	ais(t, c.endpoint, "ml", "get-batch", "ais://src", "--template", "train/s-{02..04}.bin", "--only-name", batch)
	listing, err = exec.Command("/usr/bin/python3", "-c", "import tarfile,sys; print(' '.join(m.name for m in tarfile.open(sys.argv[1])))", batch).CombinedOutput()
	if got := strings.TrimSpace(string(listing)); err != nil || got != "train/s-02.bin train/s-03.bin train/s-04.bin" {
		t.Fatalf("get-batch --template read by tarfile: %q %v", got, err)
	}
	if _, errOut, err := aisResult(c.endpoint, "ml", "get-batch", "ais://src", "--archpath", "x.jpg", batch); err == nil || !strings.Contains(errOut, "--template") {
		t.Fatalf("get-batch --archpath without --template: %v %s", err, errOut)
	}

	// archive: objects of every target into one shard, read by tarfile.
	ais(t, c.endpoint, "bucket", "create", "ais://packed")
	ais(t, c.endpoint, "archive", "bucket", "ais://src", "ais://packed/val.tar", "--prefix", "val/", "--base-name")
	listing, err = exec.Command("/usr/bin/python3", "-c", "import tarfile,sys; print(' '.join(m.name for m in tarfile.open(sys.argv[1])))", fetch(t, client, "packed", "val.tar")).CombinedOutput()
	if got := strings.TrimSpace(string(listing)); err != nil || got != "s-30.bin s-31.bin s-32.bin s-33.bin s-34.bin s-35.bin s-36.bin s-37.bin s-38.bin s-39.bin" {
		t.Fatalf("ais archive bucket --prefix, read by tarfile: %q %v", got, err)
	}
	if _, errOut, err := aisResult(c.endpoint, "archive", "bucket", "ais://src", "ais://packed/x.tar", "--list", "train/s-01.bin,gone.bin"); err == nil || !strings.Contains(errOut, "gone.bin") {
		t.Fatalf("ais archive bucket with a missing object: %v %s", err, errOut)
	}

	ais(t, c.endpoint, "rm", "ais://dst", "--template", "train/s-{00..09}.bin")
	ais(t, c.endpoint, "rm", "ais://src", "--prefix", "val/")
	names := func(bucket string) []string {
		var out []string
		for e, err := range client.ListAll(ctx, bucket, api.ListObjectsMessage{}) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e.Name)
		}
		return out
	}
	if got := names("dst"); len(got) != 20 || got[0] != "train/s-10.bin" {
		t.Fatalf("dst after rm --template: %v", got)
	}
	if got := names("src"); len(got) != 30 || slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, "val/") }) {
		t.Fatalf("src after rm --prefix: %v", got)
	}
	if _, errOut, err := aisResult(c.endpoint, "rm", "ais://src", "--template", "s-{9..1}"); err == nil || !strings.Contains(errOut, "template") {
		t.Fatalf("a bad template: %v %s", err, errOut)
	}
	fmt.Printf("aiscompat CLI: bucket cp by prefix (30 of 40), storage summary, get-batch and archive read by tarfile, rm by template and by prefix\n")
}

// fetch writes an object to a temporary file and returns its path.
func fetch(t *testing.T, client *api.Client, bucket, name string) string {
	t.Helper()
	data, err := client.GetBytes(t.Context(), bucket, name, api.GetOptions{})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, name, err)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
