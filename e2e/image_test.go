//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// imageUID is the user the image runs as and who owns /ais.
const imageUID = 10001

// `make image` with buildah, into a storage of its own, builds an image
// whose config runs aisnode as uid 10001 with /ais as a volume and ports
// 8080 and 8081, and whose filesystem holds the two binaries, static and
// stripped, CA certificates, and /ais owned by 10001. Nothing is run: the
// sandbox cannot start containers.
func TestImage(t *testing.T) {
	buildah, err := exec.LookPath("buildah")
	if err != nil {
		t.Fatal("buildah is not installed: apt-get install buildah (CI installs it)")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed: apt-get install make")
	}
	// vfs: a private storage needs no overlay mounts, so removing the
	// directory removes everything the test made.
	dir := t.TempDir()
	global := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(buildah, append(append([]string{}, global...), args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("buildah %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out, nil
	}
	const image = "localhost/aisgo-e2e/aisnode:test"
	// Registered after TempDir, so it runs before the directory goes.
	t.Cleanup(func() {
		if _, err := run("rm", "--all"); err != nil {
			t.Log(err)
		}
		if _, err := run("rmi", "--force", image); err != nil && !t.Failed() {
			t.Log(err)
		}
	})

	start := time.Now()
	mk := exec.Command("make", "-C", "..", "image",
		"IMAGE="+image, "IMAGE_TOOL=buildah", "IMAGE_FLAGS="+strings.Join(global, " "),
		"IMAGE_CTX="+filepath.Join(dir, "context"))
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image: %v", time.Since(start).Round(time.Second))

	out, err := run("inspect", "--type", "image", image)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		OCIv1 struct {
			Config struct {
				User         string
				ExposedPorts map[string]struct{}
				Entrypoint   []string
				Cmd          []string
				Volumes      map[string]struct{}
				Labels       map[string]string
			} `json:"config"`
		}
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("buildah inspect output: %v\n%s", err, out)
	}
	cfg := info.OCIv1.Config
	if len(cfg.Entrypoint) == 0 || cfg.Entrypoint[0] != "/usr/local/bin/aisnode" {
		t.Errorf("entrypoint %q, want /usr/local/bin/aisnode", cfg.Entrypoint)
	}
	for _, p := range []string{"8080/tcp", "8081/tcp"} {
		if _, ok := cfg.ExposedPorts[p]; !ok {
			t.Errorf("exposed ports %v lack %s", keys(cfg.ExposedPorts), p)
		}
	}
	if _, ok := cfg.Volumes["/ais"]; !ok {
		t.Errorf("volumes %v lack /ais", keys(cfg.Volumes))
	}
	for _, l := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.description"} {
		if cfg.Labels[l] == "" {
			t.Errorf("label %s is missing (labels %v)", l, cfg.Labels)
		}
	}

	// The filesystem, from an OCI layout: no mounts to undo.
	layout := filepath.Join(dir, "layout")
	if _, err := run("push", image, "oci:"+layout); err != nil {
		t.Fatal(err)
	}
	files, size := readLayers(t, layout)
	t.Logf("image: %.1f MiB uncompressed", float64(size)/(1<<20))
	if size >= 100<<20 {
		t.Errorf("image is %d bytes uncompressed, want under 100 MiB", size)
	}

	// A name in USER must map to the uid in the image's /etc/passwd.
	user, _, _ := strings.Cut(cfg.User, ":")
	uid, err := strconv.Atoi(user)
	if err != nil {
		uid = passwdUID(files["etc/passwd"].data, user)
	}
	if uid != imageUID {
		t.Errorf("user %q is uid %d, want %d", cfg.User, uid, imageUID)
	}
	if passwdUID(files["etc/passwd"].data, "ais") != imageUID {
		t.Errorf("/etc/passwd has no ais user with uid %d:\n%s", imageUID, files["etc/passwd"].data)
	}

	if f, ok := files["ais"]; !ok || f.hdr.Typeflag != tar.TypeDir {
		t.Error("/ais is not a directory in the image")
	} else if f.hdr.Uid != imageUID || f.hdr.Gid != imageUID {
		t.Errorf("/ais is owned by %d:%d, want %d:%d", f.hdr.Uid, f.hdr.Gid, imageUID, imageUID)
	}
	if f, ok := files["etc/ssl/certs/ca-certificates.crt"]; !ok || f.hdr.Size == 0 {
		t.Error("/etc/ssl/certs/ca-certificates.crt is missing or empty")
	}
	for _, name := range []string{"aisnode", "ais"} {
		p := "usr/local/bin/" + name
		f, ok := files[p]
		if !ok {
			t.Errorf("/%s is not in the image", p)
			continue
		}
		if f.hdr.Mode&0o111 == 0 {
			t.Errorf("/%s is not executable: mode %o", p, f.hdr.Mode)
		}
		bin, err := elf.NewFile(bytes.NewReader(f.data))
		if err != nil {
			t.Errorf("/%s: %v", p, err)
			continue
		}
		for _, prog := range bin.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("/%s is dynamically linked (PT_INTERP): it cannot run on scratch", p)
			}
		}
		if bin.Section(".symtab") != nil {
			t.Errorf("/%s has a symbol table: not built with -ldflags '-s -w'", p)
		}
	}
}

// layerFile is one file of the image's filesystem; data only for the
// regular files the test reads.
type layerFile struct {
	hdr  *tar.Header
	data []byte
}

// readLayers reads the image of an OCI layout, applying its layers in
// order, and returns its files by path (no leading /) and the total
// uncompressed size of the layers.
func readLayers(t *testing.T, layout string) (map[string]layerFile, int64) {
	t.Helper()
	blob := func(digest string) []byte {
		algo, hex, _ := strings.Cut(digest, ":")
		b, err := os.ReadFile(filepath.Join(layout, "blobs", algo, hex))
		if err != nil {
			t.Fatalf("OCI layout: %v", err)
		}
		return b
	}
	type descriptor struct{ MediaType, Digest string }
	var index struct{ Manifests []descriptor }
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err == nil {
		err = json.Unmarshal(b, &index)
	}
	if err != nil || len(index.Manifests) != 1 {
		t.Fatalf("OCI layout index.json: want one manifest, got %d (%v)", len(index.Manifests), err)
	}
	var manifest struct{ Layers []descriptor }
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil {
		t.Fatalf("OCI manifest: %v", err)
	}
	want := map[string]bool{"etc/passwd": true, "usr/local/bin/aisnode": true, "usr/local/bin/ais": true}
	files := map[string]layerFile{}
	var size int64
	for _, l := range manifest.Layers {
		var r io.Reader = bytes.NewReader(blob(l.Digest))
		switch {
		case strings.HasSuffix(l.MediaType, "+gzip"):
			zr, err := gzip.NewReader(r)
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			r = zr
		case strings.HasSuffix(l.MediaType, ".tar"):
		default:
			t.Fatalf("layer %s: media type %s is neither tar nor tar+gzip", l.Digest, l.MediaType)
		}
		cr := &countingReader{r: r}
		tr := tar.NewReader(cr)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
			f := layerFile{hdr: hdr}
			if want[name] {
				if f.data, err = io.ReadAll(tr); err != nil {
					t.Fatalf("layer %s: %s: %v", l.Digest, name, err)
				}
			}
			files[name] = f
		}
		io.Copy(io.Discard, cr) // the tar's end padding counts too
		size += cr.n
	}
	return files, size
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// passwdUID returns the uid of user in an /etc/passwd, or -1.
func passwdUID(passwd []byte, user string) int {
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == user {
			if uid, err := strconv.Atoi(f[2]); err == nil {
				return uid
			}
		}
	}
	return -1
}

func keys(m map[string]struct{}) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
