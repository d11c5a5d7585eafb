package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/spf13/cobra"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

// recordingGateway records what the CLI asks of a cluster: each request's
// method and path, and the body of each PUT and POST.
type recordingGateway struct {
	mu       sync.Mutex
	requests []string
	bodies   map[string]string
	objects  map[string]string // GET answers, by path
	gone     map[string]bool   // paths whose DELETE answers 404
}

func newRecordingGateway(t *testing.T) *recordingGateway {
	t.Helper()
	g := &recordingGateway{bodies: map[string]string{}, objects: map[string]string{}, gone: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.requests = append(g.requests, r.Method+" "+r.URL.Path)
		if r.Method == http.MethodPut || r.Method == http.MethodPost || len(data) > 0 {
			g.bodies[r.Method+" "+r.URL.Path] = string(data)
		}
		obj, ok := g.objects[r.URL.Path]
		gone := g.gone[r.URL.Path]
		g.mu.Unlock()
		switch {
		case r.Method == http.MethodDelete && gone:
			http.NotFound(w, r)
		case r.Method == http.MethodPost && r.URL.Path == "/v1/download":
			json.NewEncoder(w).Encode(map[string]string{"id": "dl-1"})
		case r.Method == http.MethodGet && ok:
			io.WriteString(w, obj)
		case r.Method == http.MethodPut || r.Method == http.MethodDelete:
		default:
			http.NotFound(w, r) // no cluster map: the client stays at the gateway
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AIS_ENDPOINT", srv.URL)
	return g
}

func (g *recordingGateway) sent() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests)
}

func (g *recordingGateway) body(key string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.bodies[key]
	return b, ok
}

// runCLI runs the ais command line; a command that does not end within a
// minute fails the test (a progress bar that never completes hangs).
func runCLI(t *testing.T, args ...string) error {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(""))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(t.Context()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("ais %s did not end", strings.Join(args, " "))
		return nil
	}
}

// A preStop hook's --skip-if file that reads true (the whole cluster
// stops) drains nothing and sends nothing; a value other than true or
// false is an error, not a guess.
func TestMaintenanceSkipIf(t *testing.T) {
	g := newRecordingGateway(t)
	dir := t.TempDir()
	stopping, typo := filepath.Join(dir, "stopping"), filepath.Join(dir, "typo")
	os.WriteFile(stopping, []byte("true"), 0o644)
	os.WriteFile(typo, []byte("yes"), 0o644)
	if err := runCLI(t, "cluster", "maintenance", "start", "t1", "--wait-rebalance", "--skip-if", stopping); err != nil {
		t.Fatalf("with the cluster stopping: %v", err)
	}
	if err := runCLI(t, "cluster", "maintenance", "start", "t1", "--skip-if", typo); err == nil || !strings.Contains(err.Error(), `"yes": want true or false`) {
		t.Fatalf("a --skip-if file reading yes: %v", err)
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Errorf("sent %v", sent)
	}
}

// A negative count, size or duration is refused before anything is
// sent, naming the flag; so are no workers and a port range past 65535.
func TestNegativeFlagsAreRefused(t *testing.T) {
	g := newRecordingGateway(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ls", "ais://b", "--limit", "-1"}, "--limit -1: cannot be negative"},
		{[]string{"auth", "login", "alice", "-p", "x", "--expires", "-1h"}, "--expires -1h0m0s: cannot be negative"},
		{[]string{"put", os.Args[0], "ais://b/x", "--workers", "0"}, "--workers 0: want 1 to 1024"},
		{[]string{"get", "ais://b/o", filepath.Join(t.TempDir(), "o"), "--offset", "-5"}, "--offset -5: cannot be negative"},
		{[]string{"cluster", "start", "--dir", t.TempDir(), "--aisnode", os.Args[0], "--port", "65534", "--targets", "3"}, "must lie within 1 to 65535"},
	} {
		if err := runCLI(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ais %v: %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Errorf("refused commands sent %v", sent)
	}
}

// The object's name given to 'bucket rm' (the wrong verb) destroys no
// bucket: not that one, nor one named before it.
func TestBucketRmRefusesAnObjectName(t *testing.T) {
	g := newRecordingGateway(t)
	err := runCLI(t, "bucket", "rm", "ais://first", "ais://train/shard-0001.tar")
	if err == nil || !strings.Contains(err.Error(), "not an object") {
		t.Fatalf("got %v", err)
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Fatalf("requests sent: %v", sent)
	}
	if err := runCLI(t, "bucket", "props", "ais://train/x"); err == nil || !strings.Contains(err.Error(), "not an object") {
		t.Fatalf("bucket props of an object: %v", err)
	}
}

// An empty file is put, and the command ends (its progress bar, of total
// 0, completes).
func TestPutEmptyFile(t *testing.T) {
	g := newRecordingGateway(t)
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runCLI(t, "put", empty, "ais://b"); err != nil {
		t.Fatal(err)
	}
	if body, ok := g.body("PUT /v1/objects/b/empty"); !ok || body != "" {
		t.Fatalf("PUT of the empty file: %q %v (sent %v)", body, ok, g.sent())
	}
}

// A pipe (what <(cmd) and /dev/stdin are) is put as a stream: its bytes,
// not an empty object of the size stat gives it.
func TestPutPipe(t *testing.T) {
	g := newRecordingGateway(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		io.WriteString(w, "streamed bytes")
		w.Close()
	}()
	if err := runCLI(t, "put", fifo, "ais://b/from-pipe"); err != nil {
		t.Fatal(err)
	}
	if body, _ := g.body("PUT /v1/objects/b/from-pipe"); body != "streamed bytes" {
		t.Fatalf("the pipe's object: %q (sent %v)", body, g.sent())
	}
}

// A directory named by a symlink is put whole; a symlinked file inside
// is followed, a symlinked directory is not (no loops).
func TestPutSymlinkedDirectory(t *testing.T) {
	g := newRecordingGateway(t)
	root := t.TempDir()
	data := filepath.Join(root, "data")
	os.MkdirAll(filepath.Join(data, "sub"), 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(data, "sub", "b.txt"), []byte("b"), 0o644)
	outside := filepath.Join(root, "outside.txt")
	os.WriteFile(outside, []byte("o"), 0o644)
	os.Symlink(outside, filepath.Join(data, "linked.txt"))
	os.Symlink(data, filepath.Join(data, "loop"))
	// Dangling ones are skipped: to nothing, through a file, to itself.
	os.Symlink(filepath.Join(root, "gone"), filepath.Join(data, "gone"))
	os.Symlink(filepath.Join(outside, "x"), filepath.Join(data, "through-a-file"))
	os.Symlink(filepath.Join(data, "self"), filepath.Join(data, "self"))
	link := filepath.Join(root, "link")
	os.Symlink(data, link)
	if err := runCLI(t, "put", link, "ais://b/p/"); err != nil {
		t.Fatal(err)
	}
	var puts []string
	for _, r := range g.sent() {
		if strings.HasPrefix(r, "PUT ") {
			puts = append(puts, strings.TrimPrefix(r, "PUT /v1/objects/b/"))
		}
	}
	slices.Sort(puts)
	if want := []string{"p/a.txt", "p/linked.txt", "p/sub/b.txt"}; !slices.Equal(puts, want) {
		t.Fatalf("put %v, want %v", puts, want)
	}
}

// '@' in a URL (a version, a user name) makes no range; --template does.
func TestDownloadURLWithAt(t *testing.T) {
	g := newRecordingGateway(t)
	if err := runCLI(t, "download", "https://host/model@1.0.tar", "ais://b", "--no-wait"); err != nil {
		t.Fatal(err)
	}
	var req api.DownloadRequest
	body, _ := g.body("POST /v1/download")
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	if req.Type != api.DownloadSingle || req.Link != "https://host/model@1.0.tar" {
		t.Fatalf("a URL with '@' sent as %+v", req)
	}
	if err := runCLI(t, "download", "https://host/shard-@09.tar", "ais://b", "--no-wait", "--template"); err != nil {
		t.Fatal(err)
	}
	body, _ = g.body("POST /v1/download")
	json.Unmarshal([]byte(body), &req)
	if req.Type != api.DownloadRange || req.Template != "https://host/shard-@09.tar" {
		t.Fatalf("--template sent as %+v", req)
	}
	// The bucket's provider is the URI's: an ht:// bucket is sent as one
	// (for the cluster to say it takes no downloads), not as a name.
	for dest, want := range map[string]string{"s3://cloud": "aws/cloud", "ht://origin": "ht/origin", "b": "ais/b"} {
		if err := runCLI(t, "download", "https://host/a.tar", dest, "--no-wait"); err != nil {
			t.Fatal(err)
		}
		body, _ = g.body("POST /v1/download")
		req = api.DownloadRequest{}
		json.Unmarshal([]byte(body), &req)
		if got := req.Bucket.Provider + "/" + req.Bucket.Name; got != want {
			t.Fatalf("download into %s sent the bucket as %s, want %s", dest, got, want)
		}
	}
}

// A NAME that ends in '/' is a prefix, for one URL and for a range.
func TestDownloadIntoPrefix(t *testing.T) {
	g := newRecordingGateway(t)
	for _, c := range []struct{ link, typ string }{
		{"https://host/labels.json", api.DownloadSingle},
		{"https://host/t-{0..9}.tar", api.DownloadRange},
	} {
		if err := runCLI(t, "download", c.link, "ais://b/meta/", "--no-wait"); err != nil {
			t.Fatal(err)
		}
		var req api.DownloadRequest
		body, _ := g.body("POST /v1/download")
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		if req.Type != c.typ || req.Subdir != "meta/" || req.ObjectName != "" {
			t.Errorf("%s into ais://b/meta/ sent as %+v", c.link, req)
		}
	}
	if err := runCLI(t, "download", "https://host/a.json", "ais://b/meta/", "--subdir", "x"); err == nil || !strings.Contains(err.Error(), "once") {
		t.Errorf("a prefix given twice: %v", err)
	}
}

// 'ais get OBJ DIR' writes DIR/<base name>, as cp does; a name whose base
// is ".." is refused, not written over the parent.
func TestGetIntoDirectory(t *testing.T) {
	// A narrow umask: the file must not be wider than it allows.
	umask := os.FileMode(0o027)
	old := syscall.Umask(int(umask))
	t.Cleanup(func() { syscall.Umask(old) })
	g := newRecordingGateway(t)
	g.objects["/v1/objects/b/x/obj.bin"] = "the bytes"
	g.objects["/v1/objects/b/x/.."] = "sneaky"
	dir := t.TempDir()
	if err := runCLI(t, "get", "ais://b/x/obj.bin", dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "obj.bin"))
	if err != nil || string(got) != "the bytes" {
		t.Fatalf("got %q, %v", got, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "obj.bin")); err != nil || info.Mode().Perm() != 0o666&^umask {
		t.Fatalf("the file's mode: %v %v, want 0666 less the umask %#o", info.Mode(), err, umask)
	}
	// A file replaced keeps its mode.
	if err := os.Chmod(filepath.Join(dir, "obj.bin"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runCLI(t, "get", "ais://b/x/obj.bin", dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "obj.bin")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the replaced file's mode: %v %v, want 0600 kept", info.Mode(), err)
	}
	if err := runCLI(t, "get", "ais://b/x/..", dir); err == nil || !strings.Contains(err.Error(), "no file name") {
		t.Fatalf("an object whose base name is '..': %v", err)
	}
	// Into a directory that is not there: the error names the file
	// asked for, not the part file made beside it.
	missing := filepath.Join(dir, "nodir", "out")
	if err := runCLI(t, "get", "ais://b/x/obj.bin", missing); err == nil || !strings.Contains(err.Error(), "cannot write "+missing) {
		t.Fatalf("a GET into a directory that is not there: %v", err)
	}
}

// A login sends no token: the kept one (of the service logged in to
// before) would go to whatever service AIS_AUTHN_URL names now.
func TestLoginSendsNoToken(t *testing.T) {
	token := filepath.Join(t.TempDir(), "auth.token")
	t.Setenv(api.EnvTokenFile, token)
	t.Setenv("AIS_AUTHN_TOKEN", "from-the-environment")
	os.WriteFile(token, []byte("kept\n"), 0o600)
	sent := make(chan string, 1)
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent <- r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"token":"new"}`)
	}))
	defer service.Close()
	t.Setenv("AIS_AUTHN_URL", service.URL)
	if err := runCLI(t, "auth", "login", "alice", "-p", "pw"); err != nil {
		t.Fatal(err)
	}
	if got := <-sent; got != "" {
		t.Fatalf("a login sent Authorization %q, want none", got)
	}
}

// A logout that cannot reach the AuthN service keeps the token: it is
// still valid, and only the kept copy can revoke it later.
func TestLogoutKeepsAnUnrevokedToken(t *testing.T) {
	token := filepath.Join(t.TempDir(), "auth.token")
	t.Setenv(api.EnvTokenFile, token)
	t.Setenv("AIS_AUTHN_TOKEN", "")
	os.WriteFile(token, []byte("tok\n"), 0o600)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	t.Setenv("AIS_AUTHN_URL", down.URL)
	if err := runCLI(t, "auth", "logout"); err == nil || !strings.Contains(err.Error(), "--local") {
		t.Fatalf("a logout with the service down: %v", err)
	}
	if _, err := os.Stat(token); err != nil {
		t.Fatalf("the unrevoked token was removed: %v", err)
	}
	// A token the service cannot verify (another service's) stays.
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"authn: invalid token: signature is invalid"}`, http.StatusUnauthorized)
	}))
	defer foreign.Close()
	t.Setenv("AIS_AUTHN_URL", foreign.URL)
	if err := runCLI(t, "auth", "logout"); err == nil || !strings.Contains(err.Error(), "--local") {
		t.Fatalf("a logout at a service that cannot verify the token: %v", err)
	}
	if _, err := os.Stat(token); err != nil {
		t.Fatalf("a token another service refused was removed: %v", err)
	}
	// A token the service no longer takes (expired) goes.
	expired := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"token expired"}`, http.StatusUnauthorized)
	}))
	defer expired.Close()
	t.Setenv("AIS_AUTHN_URL", expired.URL)
	if err := runCLI(t, "auth", "logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(token); !os.IsNotExist(err) {
		t.Fatalf("an expired token stays: %v", err)
	}
	// The revocation is sent as the kept token, not as AIS_AUTHN_TOKEN's
	// (an expired one there would have the valid kept one removed).
	os.WriteFile(token, []byte("tok\n"), 0o600)
	t.Setenv("AIS_AUTHN_TOKEN", "stale")
	sentAs := make(chan string, 1)
	checks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sentAs <- r.Header.Get("Authorization")
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, `{"message":"token expired"}`, http.StatusUnauthorized)
		}
	}))
	defer checks.Close()
	t.Setenv("AIS_AUTHN_URL", checks.URL)
	if err := runCLI(t, "auth", "logout"); err != nil {
		t.Fatal(err)
	}
	if got := <-sentAs; got != "Bearer tok" {
		t.Fatalf("a logout with another token in AIS_AUTHN_TOKEN revoked as %q, want the kept token", got)
	}
	t.Setenv("AIS_AUTHN_TOKEN", "")
	os.WriteFile(token, []byte("tok\n"), 0o600)
	t.Setenv("AIS_AUTHN_URL", down.URL)
	if err := runCLI(t, "auth", "logout", "--local"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(token); !os.IsNotExist(err) {
		t.Fatalf("--local kept the token: %v", err)
	}
}

// A cluster made without authentication cannot be restarted with --auth:
// it would run without it while the user thinks tokens are checked.
func TestClusterRestartWithAuthRefused(t *testing.T) {
	dir := t.TempDir()
	c := localCluster{Endpoint: "http://127.0.0.1:1", Aisnode: "/bin/true", Nodes: []localNode{{Name: "g1", Role: "gateway", Port: 1, Dir: filepath.Join(dir, "g1")}}}
	data, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, "cluster.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	err := runCLI(t, "cluster", "start", "--dir", dir, "--auth", "--aisnode", "/bin/true")
	if err == nil || !strings.Contains(err.Error(), "--auth") {
		t.Fatalf("got %v", err)
	}
}

// A cluster whose state cannot be read is not taken for no cluster: it
// would be started over its nodes' data, without its authentication and
// TLS, and its state written over.
func TestClusterStartOverAnUnreadableStateRefused(t *testing.T) {
	dir := t.TempDir()
	state := []byte(`{"nodes": [`)
	if err := os.WriteFile(filepath.Join(dir, "cluster.json"), state, 0o644); err != nil {
		t.Fatal(err)
	}
	err := runCLI(t, "cluster", "start", "--dir", dir, "--aisnode", "/bin/true")
	if err == nil || !strings.Contains(err.Error(), "cluster.json") || !strings.Contains(err.Error(), "not started over") {
		t.Fatalf("got %v, want refused naming the file", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "cluster.json")); !bytes.Equal(data, state) {
		t.Fatalf("the state was written over: %s", data)
	}
}

// ht:// buckets (the reverse proxy's) are named as the CLI lists them.
func TestParseURIProviders(t *testing.T) {
	for _, c := range []struct{ in, bucket, object string }{
		{"ht://example.org/a/b.tar", "ht://example.org", "a/b.tar"},
		{"s3://b/x", "s3://b", "x"},
		{"aws://b/x", "s3://b", "x"},
		{"ais://b/x", "b", "x"},
		{"b", "b", ""},
		{"ais://@#/imgs/a/b.jpg", "imgs", "a/b.jpg"},
		{"ais://@#/imgs", "imgs", ""},
		{"s3://@#/b/x", "s3://b", "x"},
	} {
		bucket, object, err := parseURI(c.in)
		if err != nil || bucket != c.bucket || object != c.object {
			t.Errorf("parseURI(%q) = %q %q %v, want %q %q", c.in, bucket, object, err, c.bucket, c.object)
		}
	}
	if _, _, err := parseURI("gs://b"); err == nil {
		t.Error("gs:// taken")
	}
	// "." and ".." in a path reach another route than the bucket's.
	for _, in := range []string{"ais://.", "ais://../x", "s3://..", "b!d", "ais://" + strings.Repeat("b", 65)} {
		if _, _, err := parseURI(in); err == nil || !strings.Contains(err.Error(), "bucket name") {
			t.Errorf("parseURI(%q): %v, want the bucket name refused", in, err)
		}
	}
	if _, _, err := parseURI("ais://@uuid#ns/imgs"); err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Errorf("a namespace other than the global one: %v", err)
	}
}

// A name is a template only with braces: '@' and '%' are common in names
// (ckpt@100.pt would have evicted 101 objects). A prefix that would read
// as a template is refused, not expanded.
func TestSelectObjects(t *testing.T) {
	for _, c := range []struct {
		name, template, prefix string
		want                   api.ListRange
	}{
		{name: "ckpt@100.pt", want: api.ListRange{ObjNames: []string{"ckpt@100.pt"}}},
		{name: "sale-50%.png", want: api.ListRange{ObjNames: []string{"sale-50%.png"}}},
		{name: "shard-{0..3}.tar", want: api.ListRange{Template: "shard-{0..3}.tar"}},
		{template: "shard-@03.tar", want: api.ListRange{Template: "shard-@03.tar"}},
		{prefix: "run2/", want: api.ListRange{Template: "run2/"}},
	} {
		got, err := selectObjects(c.name, c.template, c.prefix)
		if err != nil || !slices.Equal(got.ObjNames, c.want.ObjNames) || got.Template != c.want.Template {
			t.Errorf("%+v: %+v %v, want %+v", c, got, err, c.want)
		}
	}
	if _, err := selectObjects("", "", "run@2/"); err == nil || !strings.Contains(err.Error(), "--template") {
		t.Errorf("a prefix with '@': %v", err)
	}
	// The cluster reads a '*' as any name from there: "*" would remove
	// every object, "tmp*" every tmp… one, though ls shows none.
	for _, wild := range []string{"*", "tmp*"} {
		if _, err := selectObjects("", "", wild); err == nil || !strings.Contains(err.Error(), "'*'") {
			t.Errorf("--prefix %q: %v, want refused naming '*'", wild, err)
		}
	}
	// A template with no range would be a prefix to the cluster (rm
	// --template shard-1 removed shard-10..shard-199): refused.
	for _, rangeless := range []string{"shard-1", "shard-1*"} {
		if _, err := selectObjects("", rangeless, ""); err == nil || !strings.Contains(err.Error(), `--prefix "shard-1"`) {
			t.Errorf("--template %q with no range: %v, want refused pointing to --prefix", rangeless, err)
		}
	}
	if _, err := selectObjects("", "*", ""); err == nil || !strings.Contains(err.Error(), "every object") || strings.Contains(err.Error(), "--prefix") {
		t.Errorf("--template \"*\": %v, want refused as every object, with no --prefix to give", err)
	}
	g := newRecordingGateway(t)
	if err := runCLI(t, "evict", "s3://b"); err == nil || !strings.Contains(err.Error(), "name what to drop") {
		t.Errorf("evict without a selection: %v", err)
	}
	// So for a copy and an archive of a bucket's objects.
	for _, args := range [][]string{
		{"bucket", "cp", "ais://a", "ais://b", "--template", "shard-0001.tar"},
		{"archive", "bucket", "ais://raw", "ais://s/x.tar", "--template", "img/0001.jpg"},
	} {
		if err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "--prefix") {
			t.Errorf("%v: %v, want refused pointing to --prefix", args, err)
		}
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Errorf("evict without a selection sent %v", sent)
	}
}

// A scrub that finds objects it cannot recover fails, in JSON too.
func TestShowScrubFailsOnUnrecoverable(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		var out bytes.Buffer
		err := showScrub(&out, store.ScrubReport{Objects: 10, OK: 7, Unrecoverable: 3}, "ais://b", asJSON, true)
		if err == nil || !strings.Contains(err.Error(), "3 object(s) of ais://b cannot be recovered") {
			t.Errorf("json %v: %v", asJSON, err)
		}
		if asJSON && !json.Valid(out.Bytes()) {
			t.Errorf("not JSON: %s", out.String())
		}
	}
	// Objects not checked are no clean bill: a script scrubs again.
	if err := showScrub(io.Discard, store.ScrubReport{Objects: 10, OK: 9, Skipped: 1}, "ais://b", false, false); err == nil || !strings.Contains(err.Error(), "scrub again") {
		t.Fatalf("a scrub that skipped an object: %v, want a failure saying to scrub again", err)
	}
	if err := showScrub(io.Discard, store.ScrubReport{Objects: 10, OK: 10}, "ais://b", true, false); err != nil {
		t.Error(err)
	}
	// Not repaired, what needs repairs fails it: a script's check acts.
	found := store.ScrubReport{Objects: 10, OK: 8, Corrupt: 1, MissingCopies: 1}
	if err := showScrub(io.Discard, found, "ais://b", true, false); err == nil || !strings.Contains(err.Error(), "--repair") {
		t.Errorf("a validate that found a corrupt object: %v", err)
	}
	if err := showScrub(io.Discard, store.ScrubReport{Objects: 10, OK: 8, Corrupt: 1, Repaired: 1, MissingCopies: 1}, "ais://b", true, true); err != nil {
		t.Errorf("a repair that repaired all: %v", err)
	}
}

// A name given to 'ais auth' is one path segment: "alice#old" must not
// act on alice (the '#' would start a fragment).
func TestAuthNamesAreEscaped(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	t.Setenv("AIS_AUTHN_URL", srv.URL)
	t.Setenv("AIS_AUTHN_TOKEN", "tok")
	if err := runCLI(t, "auth", "rm", "user", "alice#old"); err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0] != "/v1/users/alice%23old" {
		t.Fatalf("requests %q, want one DELETE of /v1/users/alice%%23old", paths)
	}
	paths = nil
	runCLI(t, "auth", "show", "user", "alice#old")
	if len(paths) != 1 || paths[0] != "/v1/users/alice%23old" {
		t.Fatalf("requests %q, want one GET of /v1/users/alice%%23old, not of user alice", paths)
	}
}

// A user's removal prints the S3 keys of others that went with it (it
// made them): their users need new ones.
func TestAuthRemoveUserNamesTheKeysThatWent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"dropped_s3_keys":[{"access_key":"AISKEY1","user":"bot"}]}`)
	}))
	defer srv.Close()
	t.Setenv("AIS_AUTHN_URL", srv.URL)
	t.Setenv("AIS_AUTHN_TOKEN", "tok")
	var out strings.Builder
	root := newRoot()
	root.SetArgs([]string{"auth", "rm", "user", "ops"})
	root.SetOut(&out)
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Removed user ops") || !strings.Contains(out.String(), "Deleted S3 key AISKEY1 of user bot") {
		t.Fatalf("the removal printed %q, want the key of bot that went named", out.String())
	}
}

// A listing a target could not answer prints what the others hold and
// fails: a script acting on it must not take it for the whole bucket
// (with --limit too, which stops before the end of the page).
func TestListIncompleteFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/buckets/b" {
			json.NewEncoder(w).Encode(api.ListPage{Entries: []api.ListEntry{{Name: "a", Size: 1}}, Incomplete: []string{"t2"}})
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	t.Setenv("AIS_ENDPOINT", srv.URL)
	for _, args := range [][]string{{"ls", "ais://b"}, {"ls", "ais://b", "--json"}, {"ls", "ais://b", "--limit", "1"}} {
		err := runCLI(t, args...)
		if !errors.Is(err, api.ErrIncompleteListing) || !strings.Contains(err.Error(), "t2") {
			t.Fatalf("ais %s with target t2 unlisted: %v; want an incomplete-listing error naming t2", strings.Join(args, " "), err)
		}
	}
}

// A spec over the limit is refused, not cut: a cut list may still parse,
// and the job would run on part of its input.
func TestSpecOverTheLimitIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, bytes.Repeat([]byte(" "), 11), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readSpecFile(path, 10); err == nil || !strings.Contains(err.Error(), "longer than 10 bytes") {
		t.Fatalf("an 11-byte spec under a 10-byte limit: %v", err)
	}
	if data, err := readSpecFile(path, 11); err != nil || len(data) != 11 {
		t.Fatalf("a spec at the limit: %d bytes, %v", len(data), err)
	}
}

// 'ais get OBJ PIPE' writes into a FIFO (or a device: /dev/null) as
// it is, not a file renamed over it.
func TestGetIntoAPipe(t *testing.T) {
	g := newRecordingGateway(t)
	g.objects["/v1/objects/b/obj.bin"] = "the bytes"
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			read <- err.Error()
			return
		}
		data, _ := io.ReadAll(f)
		f.Close()
		read <- string(data)
	}()
	if err := runCLI(t, "get", "ais://b/obj.bin", fifo); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(fifo); err != nil || info.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the pipe after the get: %v %v, want it still a FIFO", info.Mode(), err)
	}
	if got := <-read; got != "the bytes" {
		t.Fatalf("the pipe read %q", got)
	}
}

// A get into a descriptor this process holds (/dev/fd/N, as a shell's
// >(...) hands over; /proc/self/fd/N) writes into it where it is: a pipe
// is written, not replaced; a file the shell opened keeps what it had
// before.
func TestGetIntoADescriptor(t *testing.T) {
	g := newRecordingGateway(t)
	g.objects["/v1/objects/b/obj.bin"] = "the bytes"
	// Descriptors handed over by a shell are not close-on-exec; the
	// test's own are made so.
	handed := func(f *os.File) uintptr {
		fd := f.Fd()
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFD, 0); errno != 0 {
			t.Fatal(errno)
		}
		return fd
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// One of this process's own (close-on-exec: a socket, as its
	// connections) is not written into: the path is taken for what it
	// names (a socket, which does not open).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	own, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if err := runCLI(t, "get", "ais://b/obj.bin", fmt.Sprintf("/dev/fd/%d", own.Fd())); err == nil {
		t.Fatal("a get into a socket this process opened itself wrote into it")
	}
	if err := runCLI(t, "get", "ais://b/obj.bin", fmt.Sprintf("/dev/fd/%d", handed(w))); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got, _ := io.ReadAll(r); string(got) != "the bytes" {
		t.Fatalf("the pipe read %q", got)
	}
	path := filepath.Join(t.TempDir(), "out.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("header\n")
	if err := runCLI(t, "get", "ais://b/obj.bin", fmt.Sprintf("/proc/self/fd/%d", handed(f))); err != nil {
		t.Fatal(err)
	}
	f.WriteString("\nfooter")
	if got, _ := os.ReadFile(path); string(got) != "header\nthe bytes\nfooter" {
		t.Fatalf("the file redirected to holds %q", got)
	}
	// The descriptors handed over stay open after the gets, whatever is
	// collected meanwhile.
	runtime.GC()
	runtime.GC()
	if _, err := f.WriteString("!"); err != nil {
		t.Fatalf("the descriptor handed over was closed: %v", err)
	}
}

// A file replaced by a get keeps its mode while the new bytes come: the
// part file of a private one is private from the start.
func TestPartFileOfAPrivateFileIsPrivate(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "id_key")
	if err := os.WriteFile(dest, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mode os.FileMode
	err := writeLocalFile(dest, func(w io.Writer) error {
		fi, err := w.(*os.File).Stat()
		if err != nil {
			return err
		}
		mode = fi.Mode().Perm()
		_, err = io.WriteString(w, "new")
		return err
	})
	if err != nil || mode != 0o600 {
		t.Fatalf("the part file's mode %v (%v), want 0600", mode, err)
	}
	if got, _ := os.ReadFile(dest); string(got) != "new" {
		t.Fatalf("the file holds %q", got)
	}
}

// 'put -' with --archpath is refused before anything is sent: stdin put
// as the object would replace the whole shard.
func TestPutStdinIntoAShardIsRefused(t *testing.T) {
	g := newRecordingGateway(t)
	err := runCLI(t, "put", "-", "ais://b/train-0001.tar", "--archpath", "x.jpg")
	if err == nil || !strings.Contains(err.Error(), "--archpath") {
		t.Fatalf("put - --archpath: %v, want refused", err)
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Fatalf("requests sent: %v", sent)
	}
}

// An empty file put into a shard goes with a Content-Length of 0 (a
// chunked body is refused there), not as a body of unknown length.
func TestPutEmptyFileIntoAShard(t *testing.T) {
	var mu sync.Mutex
	var lengths []int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			lengths = append(lengths, r.ContentLength)
			mu.Unlock()
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	t.Setenv("AIS_ENDPOINT", srv.URL)
	empty := filepath.Join(t.TempDir(), "label.cls")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runCLI(t, "put", empty, "ais://b/train-0001.tar", "--archpath", "0001.cls"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lengths) != 1 || lengths[0] != 0 {
		t.Fatalf("the PUT's Content-Length: %v, want [0]", lengths)
	}
}

// A get into a symbolic link writes the file it points to, as cp and
// curl -o do: the link stays a link.
func TestGetThroughASymlink(t *testing.T) {
	g := newRecordingGateway(t)
	g.objects["/v1/objects/b/model.bin"] = "new weights"
	dir := t.TempDir()
	real := filepath.Join(dir, "v3", "model.bin")
	os.MkdirAll(filepath.Dir(real), 0o755)
	if err := os.WriteFile(real, []byte("old weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "current.bin")
	if err := os.Symlink(filepath.Join("v3", "model.bin"), link); err != nil {
		t.Fatal(err)
	}
	if err := runCLI(t, "get", "ais://b/model.bin", link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link after the get: %v %v, want a link still", fi.Mode(), err)
	}
	if got, err := os.ReadFile(real); err != nil || string(got) != "new weights" {
		t.Fatalf("the file the link points to: %q %v", got, err)
	}
}

// SHARD:FILE splits after a shard's name only: an object named with a
// colon is taken whole.
func TestBatchEntryArguments(t *testing.T) {
	for arg, want := range map[string]api.BatchEntry{
		"shard-0.tar:a.jpg":        {ObjName: "shard-0.tar", ArchPath: "a.jpg"},
		"d/s.tgz:dir/x:y.cls":      {ObjName: "d/s.tgz", ArchPath: "dir/x:y.cls"},
		"ckpt:100.pt":              {ObjName: "ckpt:100.pt"},
		"2024-01-01T10:00:00.jpg":  {ObjName: "2024-01-01T10:00:00.jpg"},
		"run:7/shard-3.tar:b.json": {ObjName: "run:7/shard-3.tar", ArchPath: "b.json"},
		"plain.bin":                {ObjName: "plain.bin"},
	} {
		if got := batchEntry(arg); got.ObjName != want.ObjName || got.ArchPath != want.ArchPath {
			t.Errorf("%q: %+v, want %+v", arg, got, want)
		}
	}
}

// A local file that is not an archive's name is not taken for get-batch's
// OUT (an entry with OUT forgotten); a HEAD names an object.
func TestLocalFilesAndNamesAreChecked(t *testing.T) {
	g := newRecordingGateway(t)
	existing := filepath.Join(t.TempDir(), "obj-2")
	if err := os.WriteFile(existing, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runCLI(t, "ml", "get-batch", "ais://b", "obj-1", existing); err == nil || !strings.Contains(err.Error(), "not an archive's name") {
		t.Errorf("get-batch over an existing file: %v", err)
	}
	if data, _ := os.ReadFile(existing); string(data) != "mine" {
		t.Errorf("the local file is now %q", data)
	}
	// Not only an existing one: an entry is not taken for OUT.
	absent := filepath.Join(t.TempDir(), "obj-3")
	if err := runCLI(t, "ml", "get-batch", "ais://b", "obj-1", absent); err == nil || !strings.Contains(err.Error(), "not an archive's name") {
		t.Errorf("get-batch with OUT forgotten: %v", err)
	}
	if _, err := os.Stat(absent); err == nil {
		t.Errorf("get-batch with OUT forgotten wrote %s", absent)
	}
	if err := runCLI(t, "ml", "get-batch", "ais://b", "obj-1", "--mime", ".zip", filepath.Join(t.TempDir(), "out.tgz")); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Errorf("get-batch --mime .zip into out.tgz: %v", err)
	}
	if err := runCLI(t, "object", "head", "ais://b"); err == nil || !strings.Contains(err.Error(), "names no object") {
		t.Errorf("object head of a bucket: %v", err)
	}
	// Flags that would be ignored are refused.
	for _, args := range [][]string{
		{"ls", "--prefix", "x"},
		{"ls", "--limit", "3"},
		{"ls", "ais://b/p", "--prefix", "q"},
		{"put", existing, "ais://b/o", "--archmime", ".tgz"},
		{"get", "ais://b/shard.bin", "--archmime", ".tar"},
		{"get", "ais://b/shard.bin", "--archpath", "a.jpg", "--archmode", "prefix"},
	} {
		if err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "--") && !strings.Contains(err.Error(), "prefixes") {
			t.Errorf("%v: %v, want refused", args, err)
		}
	}
	spec := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(spec, []byte(`{"input_bck":{"name":"src"},"input_format":"in-{0..9}.tar","output_format":"out-{00..99}.tar","output_shard_size":"1MiB"}`), 0o644)
	for _, flags := range [][]string{{"--progress"}, {"--estimate", "--wait"}} {
		if err := runCLI(t, append([]string{"dsort", "start", spec}, flags...)...); err == nil || !strings.Contains(err.Error(), "--wait") {
			t.Errorf("dsort start %v: %v", flags, err)
		}
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Errorf("sent %v", sent)
	}
	// A spec that asks for an estimate itself, with --wait: estimated, as
	// before (not refused for a flag not given).
	dry := filepath.Join(t.TempDir(), "dry.json")
	os.WriteFile(dry, []byte(`{"input_bck":{"name":"src"},"input_format":"in-{0..9}.tar","output_format":"out-{00..99}.tar","output_shard_size":"1MiB","dry_run":"estimate"}`), 0o644)
	if err := runCLI(t, "dsort", "start", dry, "--wait"); err != nil && strings.Contains(err.Error(), "--estimate starts no job") {
		t.Errorf("a dry-run spec with --wait: %v", err)
	}
	before := len(g.sent())
	if err := runCLI(t, "dsort", "start", dry, "--estimate-first"); err == nil || !strings.Contains(err.Error(), "dry_run") {
		t.Errorf("a dry-run spec with --estimate-first: %v", err)
	}
	if sent := g.sent()[before:]; len(sent) > 0 {
		t.Errorf("a dry-run spec with --estimate-first sent %v", sent)
	}
	// get-batch with --template: OUT is the last argument, whatever it is.
	if err := runCLI(t, "ml", "get-batch", "ais://b", "--template", "s-{0..1}.tar", existing); err != nil && strings.Contains(err.Error(), "not an archive's name") {
		t.Errorf("get-batch --template into an existing file: %v", err)
	}
}

// A listing is printed as it comes: its JSON is the array of its entries
// (empty too), its table a header and a row each.
func TestListingPrinter(t *testing.T) {
	entries := []api.ListEntry{{Name: "a", Size: 1}, {Name: "b\x1b[2J", Size: 2048}, {Name: "c", Size: 3}}
	for n := range len(entries) + 1 {
		var out bytes.Buffer
		p := newListingPrinter(&out, true, false, "name,size")
		for _, e := range entries[:n] {
			p.add(e)
		}
		if err := p.close(); err != nil {
			t.Fatal(err)
		}
		var got []api.ListEntry
		if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != n || n > 0 && got[n-1].Name != entries[n-1].Name {
			t.Fatalf("%d entries as JSON: %q %v", n, out.String(), err)
		}
	}
	// A listing that fails prints nothing when nothing was listed (not an
	// empty bucket's "[]" or header), and leaves a JSON array cut short
	// open.
	for _, asJSON := range []bool{true, false} {
		var out bytes.Buffer
		newListingPrinter(&out, asJSON, false, "name,size").fail()
		if out.Len() != 0 {
			t.Errorf("json %v: a listing failed at once printed %q", asJSON, out.String())
		}
	}
	var cut bytes.Buffer
	p := newListingPrinter(&cut, true, false, "name,size")
	p.add(entries[0])
	p.fail()
	if json.Valid(cut.Bytes()) {
		t.Errorf("a JSON listing cut short reads whole: %q", cut.String())
	}
	var empty bytes.Buffer
	newListingPrinter(&empty, false, false, "name,size").close()
	if strings.TrimSpace(empty.String()) != "NAME  SIZE" {
		t.Errorf("an empty bucket's table: %q", empty.String())
	}
	var out bytes.Buffer
	p = newListingPrinter(&out, false, true, "name,size")
	for _, e := range entries {
		p.add(e)
	}
	p.close()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "CACHED") || strings.Contains(out.String(), "\x1b") || !strings.Contains(lines[2], "2.00KiB") && !strings.Contains(lines[2], "2KiB") {
		t.Fatalf("the table: %q", out.String())
	}
}

// get-batch makes the archive OUT's name says, unless --mime says it.
func TestGetBatchFormatFromOut(t *testing.T) {
	for _, c := range []struct {
		args []string
		mime string
	}{
		{[]string{"out.tgz"}, `"mime":".tgz"`},
		{[]string{"out.tar.gz"}, `"mime":".tgz"`},
		{[]string{"--mime", ".zip", "out.zip"}, `"mime":".zip"`},
		{[]string{"--mime", ".zip", "--template", "s-{0..1}.tar", "batch"}, `"mime":".zip"`},
	} {
		g := newRecordingGateway(t)
		dir := t.TempDir()
		args := append([]string{"ml", "get-batch", "ais://b"}, c.args...)
		if !slices.Contains(c.args, "--template") {
			args = slices.Insert(args, 3, "obj-1")
		}
		args[len(args)-1] = filepath.Join(dir, args[len(args)-1])
		runCLI(t, args...) // the recorder has no get-batch: only the request counts
		body, _ := g.body("GET /v1/ml/moss/b")
		if !strings.Contains(body, c.mime) {
			t.Errorf("%v: sent %q, want %s", c.args, body, c.mime)
		}
	}
}

// A restarted AuthN service keeps the admin of its first start: without
// its password, or with another, the start fails at once and says so (a
// password generated anew was written over the kept one, and the start
// retried a login that could not succeed).
func TestAuthNRestartKeepsItsAdmin(t *testing.T) {
	dir := t.TempDir()
	authDir := filepath.Join(dir, "authn")
	if err := os.MkdirAll(authDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(authDir, "authn.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logins atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logins.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"invalid credentials"}`)
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	// A process that passes for the running service (aisnode, its -data).
	shell := filepath.Join(dir, "aisnode")
	if err := os.Symlink("/bin/sh", shell); err != nil {
		t.Fatal(err)
	}
	service := exec.Command(shell, "-c", "sleep 60; :", "authn", "-data", authDir)
	if err := service.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { service.Process.Kill(); service.Wait() })
	c := &localCluster{AuthKey: filepath.Join(dir, "auth.key"), AuthN: &localNode{Name: "authn", Role: "authn", Port: port, Dir: authDir, PID: service.Process.Pid}}
	for deadline := time.Now().Add(10 * time.Second); !c.AuthN.running(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stand-in service does not pass for the running one")
		}
	}
	t.Setenv("AIS_AUTHN_SU_NAME", "")
	t.Setenv("AIS_AUTHN_SU_PASS", "")
	if _, err := c.startAuthn(t.Context(), nil, func(error) {}); err == nil || !strings.Contains(err.Error(), "AIS_AUTHN_SU_PASS") {
		t.Fatalf("a restart without the admin's password: %v", err)
	}
	if _, err := os.Stat(filepath.Join(authDir, "admin-password")); err == nil {
		t.Fatal("a restart without the admin's password kept a new one")
	}
	t.Setenv("AIS_AUTHN_SU_PASS", "not-the-first")
	if _, err := c.startAuthn(t.Context(), nil, func(error) {}); err == nil || !strings.Contains(err.Error(), "first start") {
		t.Fatalf("a restart with another password: %v", err)
	}
	if n := logins.Load(); n != 1 {
		t.Fatalf("%d logins with a refused password, want 1", n)
	}
}

// `ais storage` shows a disk's reason escaped: a disk's I/O error may
// quote the file of an object any user named.
func TestStorageEscapesReasons(t *testing.T) {
	status := &api.ClusterStatus{Nodes: []api.NodeStatus{
		{ID: "t1", Role: "target", Mountpaths: []store.MountpathStatus{{Path: "/data/1", State: "disabled", Reason: "health check failed: open /data/1/ais/b/x\x1b]0;pwned\x07: input/output error"}}},
		{ID: "t2", Role: "target", Error: "dial: \x1b[2J"},
	}}
	var out strings.Builder
	if err := showStorage(&out, status, false); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); strings.ContainsAny(got, "\x1b\x07") || !strings.Contains(got, `x\x1b]0;pwned\x07`) {
		t.Fatalf("the table:\n%q", got)
	}
}

// A get follows a link as the kernel would (fs.protected_symlinks): in
// a sticky, world-writable directory (/tmp), another user's link is not
// followed, else it would have the user replace any of its files.
func TestGetFollowsLinksAsTheKernelDoes(t *testing.T) {
	shared := os.ModeDir | os.ModeSticky | 0o777
	for _, c := range []struct {
		mode                      os.FileMode
		dirOwner, linkOwner, user uint32
		want                      bool
	}{
		{shared, 0, 1001, 1000, false},   // another user's link in /tmp
		{shared, 0, 1000, 1000, true},    // the user's own
		{shared, 1001, 1001, 1000, true}, // the directory owner's
		{os.ModeDir | 0o777, 0, 1001, 1000, true},
		{os.ModeDir | os.ModeSticky | 0o755, 0, 1001, 1000, true},
	} {
		if got := followAllowed(c.mode, c.dirOwner, c.linkOwner, c.user); got != c.want {
			t.Errorf("%+v: %v, want %v", c, got, c.want)
		}
	}
}

// The part file of a get fits a file name whatever the object's base
// name is (255 bytes, which objects may have), and a second interrupt's
// cleanup removes it.
func TestGetPartFileOfALongName(t *testing.T) {
	dest := filepath.Join(t.TempDir(), strings.Repeat("é", 127)+"x") // 255 bytes
	part, err := createPart(dest, 0o666)
	if err != nil {
		t.Fatalf("the part file of a 255-byte name: %v", err)
	}
	part.Close()
	if len(filepath.Base(part.Name())) > 255 || !utf8.ValidString(part.Name()) {
		t.Fatalf("the part file's name: %q", filepath.Base(part.Name()))
	}
	removeParts()
	if _, err := os.Stat(part.Name()); !os.IsNotExist(err) {
		t.Fatalf("the part file after the cleanup: %v, want removed", err)
	}
}

// An object whose base name is "-" is written to a file of that name:
// standard output is for a "-" the user names.
func TestGetOfAnObjectNamedDash(t *testing.T) {
	g := newRecordingGateway(t)
	g.objects["/v1/objects/b/logs/-"] = "log lines"
	dir := t.TempDir()
	t.Chdir(dir)
	if err := runCLI(t, "get", "ais://b/logs/-"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "-")); err != nil || string(got) != "log lines" {
		t.Fatalf("the file named -: %q %v", got, err)
	}
}

// --non-recursive is of --prefix's selection: with --template or --list
// it would be ignored, and objects below directories archived.
func TestArchiveNonRecursiveNeedsAPrefix(t *testing.T) {
	g := newRecordingGateway(t)
	for _, selection := range [][]string{{"--template", "img/{0..9}/a.jpg"}, {"--list", "img/a.jpg"}} {
		args := append([]string{"archive", "bucket", "ais://raw", "ais://raw/x.tar", "--non-recursive"}, selection...)
		if err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "--non-recursive") {
			t.Errorf("%v: %v, want refused naming --non-recursive", selection, err)
		}
	}
	if sent := g.sent(); len(sent) != 0 {
		t.Fatalf("requests sent: %v", sent)
	}
}

// --list splits on commas as they are (a CSV reading refused a name with
// a quote), may be repeated, and --list-file takes names with commas.
func TestArchiveListTakesNamesAsGiven(t *testing.T) {
	g := newRecordingGateway(t)
	file := filepath.Join(t.TempDir(), "names.txt")
	os.WriteFile(file, []byte("a,b.jpg\r\n\n\"quoted\".jpg\n"), 0o644)
	runCLI(t, "archive", "bucket", "ais://raw", "ais://raw/x.tar", "--list", `say "hi".jpg, lead.jpg`, "--list", "last.jpg", "--list-file", file)
	body, ok := g.body("PUT /v1/buckets/raw")
	if !ok {
		t.Fatalf("no archive request: %v", g.sent())
	}
	var msg struct {
		Value api.ArchiveMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(body), &msg); err != nil {
		t.Fatal(err)
	}
	want := []string{`say "hi".jpg`, " lead.jpg", "last.jpg", "a,b.jpg", `"quoted".jpg`}
	if !slices.Equal(msg.Value.ObjNames, want) {
		t.Fatalf("names sent: %q, want %q", msg.Value.ObjNames, want)
	}
	for _, args := range [][]string{{"--list", ","}, {"--list-file", os.DevNull}, {"--list-file", filepath.Join(t.TempDir(), "absent")}} {
		args = append([]string{"archive", "bucket", "ais://raw", "ais://raw/y.tar"}, args...)
		if err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "--list") {
			t.Errorf("%v: %v, want refused naming the flag", args[4:], err)
		}
	}
}

// A get through a chain of links follows each as the kernel would: one
// link's target may be another user's link in a shared directory, not to
// be followed either.
func TestGetThroughAChainOfLinks(t *testing.T) {
	g := newRecordingGateway(t)
	g.objects["/v1/objects/b/x"] = "new"
	home, shared := t.TempDir(), t.TempDir()
	if err := os.Chmod(shared, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(home, "real.bin")
	os.WriteFile(real, []byte("old"), 0o644)
	middle := filepath.Join(shared, "latest.bin")
	if err := os.Symlink(real, middle); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(home, "latest")
	if err := os.Symlink(middle, first); err != nil {
		t.Fatal(err)
	}
	// The user's own links: followed to the end.
	if err := runCLI(t, "get", "ais://b/x", first); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(real); string(got) != "new" {
		t.Fatalf("the end of a chain of the user's links: %q, want the object", got)
	}
	// A relative link in a directory reached through a link: its ".."
	// is the real directory's parent, as the kernel takes it.
	data := t.TempDir()
	os.MkdirAll(filepath.Join(data, "proj"), 0o755)
	os.MkdirAll(filepath.Join(data, "shared"), 0o755)
	out := filepath.Join(data, "shared", "out.bin")
	os.WriteFile(out, []byte("old"), 0o644)
	if err := os.Symlink("../shared/out.bin", filepath.Join(data, "proj", "result.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(data, "proj"), filepath.Join(home, "proj")); err != nil {
		t.Fatal(err)
	}
	if err := runCLI(t, "get", "ais://b/x", filepath.Join(home, "proj", "result.bin")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "new" {
		t.Fatalf("the target of a relative link in a linked directory: %q, want the object", got)
	}
	if os.Geteuid() != 0 {
		t.Log("not root: another user's link in the chain is not tried")
		return
	}
	if err := os.Lchown(middle, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := runCLI(t, "get", "ais://b/x", first); err == nil || !strings.Contains(err.Error(), "another user's link") {
		t.Fatalf("a chain through another user's link in a shared directory: %v, want refused", err)
	}
}

// A closed terminal cancels a command, unless it was started to outlive
// it (nohup ignores the hangup).
func TestHangupCancelsUnlessIgnored(t *testing.T) {
	if signal.Ignored(syscall.SIGHUP) {
		// The tests run under nohup themselves: only the second case.
		if slices.Contains(interrupts(), os.Signal(syscall.SIGHUP)) {
			t.Fatal("a command under nohup is cancelled by the hangup")
		}
		return
	}
	if !slices.Contains(interrupts(), os.Signal(syscall.SIGHUP)) {
		t.Fatal("a hangup does not cancel a command")
	}
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP) // as it was: not ignored
	if slices.Contains(interrupts(), os.Signal(syscall.SIGHUP)) {
		t.Fatal("a command under nohup is cancelled by the hangup")
	}
}

// A bucket that holds objects is destroyed with --yes only (a script
// without a terminal is refused, nothing sent); an empty one needs none.
func TestBucketRmOfABucketWithObjectsNeedsYes(t *testing.T) {
	g := newRecordingGateway(t)
	g.mu.Lock()
	g.objects["/v1/buckets/full"] = `{"entries": [{"name": "x"}]}`
	g.mu.Unlock()
	err := runCLI(t, "bucket", "rm", "ais://full")
	if err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("bucket rm of a bucket with objects without --yes: %v", err)
	}
	if slices.Contains(g.sent(), "DELETE /v1/buckets/full") {
		t.Fatal("the bucket was destroyed without --yes")
	}
	// Several: each confirmed before any goes.
	if err := runCLI(t, "bucket", "rm", "ais://empty", "ais://full"); err == nil || slices.Contains(g.sent(), "DELETE /v1/buckets/empty") {
		t.Fatalf("bucket rm of an empty bucket and one with objects: %v, requests %v; want refused before any goes", err, g.sent())
	}
	if err := runCLI(t, "bucket", "rm", "--yes", "ais://full"); err != nil {
		t.Fatal(err)
	}
	if err := runCLI(t, "bucket", "rm", "ais://empty"); err != nil {
		t.Fatal(err)
	}
	sent := g.sent()
	if !slices.Contains(sent, "DELETE /v1/buckets/full") || !slices.Contains(sent, "DELETE /v1/buckets/empty") {
		t.Fatalf("requests: %v", sent)
	}
	// One that fails (gone already) leaves the others to go, and the
	// command fails saying how many did not.
	g.mu.Lock()
	g.gone["/v1/buckets/first"] = true
	g.mu.Unlock()
	err = runCLI(t, "bucket", "rm", "--yes", "ais://first", "ais://second", "ais://third")
	if err == nil || !strings.Contains(err.Error(), "1 of 3 buckets not removed") {
		t.Fatalf("bucket rm of three, the first gone: %v", err)
	}
	if sent := g.sent(); !slices.Contains(sent, "DELETE /v1/buckets/second") || !slices.Contains(sent, "DELETE /v1/buckets/third") {
		t.Fatalf("bucket rm of three, the first gone: the others not removed: %v", sent)
	}
	// A listing that could not reach every target tells nothing: its
	// objects may all be on those.
	g.mu.Lock()
	g.objects["/v1/buckets/partly"] = `{"entries": [], "incomplete": ["t2"]}`
	g.mu.Unlock()
	if err := runCLI(t, "bucket", "rm", "ais://partly"); err == nil || !strings.Contains(err.Error(), "t2") || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("bucket rm of a bucket listed without t2: %v", err)
	}
	if slices.Contains(g.sent(), "DELETE /v1/buckets/partly") {
		t.Fatal("the bucket was destroyed on a listing that missed a target")
	}
}

// A flag that would do nothing is refused, nothing sent: --no-wait of
// objects removed by name (no job), --json of a scrub not waited for.
func TestFlagsThatWouldDoNothingAreRefused(t *testing.T) {
	g := newRecordingGateway(t)
	if err := runCLI(t, "rm", "--no-wait", "ais://b/one", "ais://b/two"); err == nil || !strings.Contains(err.Error(), "--template or --prefix") {
		t.Fatalf("rm of names with --no-wait: %v", err)
	}
	if err := runCLI(t, "storage", "scrub", "ais://b", "--no-wait", "--json"); err == nil || !strings.Contains(err.Error(), "--no-wait") {
		t.Fatalf("scrub with --no-wait and --json: %v", err)
	}
	if sent := g.sent(); len(sent) != 0 {
		t.Fatalf("refused commands sent %v", sent)
	}
}

// A word that is none of a group's commands fails (a script's typo does
// not pass for done), naming a near one; the group alone shows its help.
func TestUnknownSubcommandFails(t *testing.T) {
	g := newRecordingGateway(t)
	err := runCLI(t, "job", "wiat", "x")
	if err == nil || !strings.Contains(err.Error(), `unknown command "wiat"`) || !strings.Contains(err.Error(), "wait") {
		t.Fatalf("ais job wiat: %v", err)
	}
	if err := runCLI(t, "cluster", "maintenence", "start", "t1"); err == nil {
		t.Fatal("ais cluster maintenence start: no error")
	}
	if err := runCLI(t, "bucket"); err != nil {
		t.Fatalf("ais bucket alone: %v", err)
	}
	// At the top too, in one clean line (cobra's own message has a tab).
	err = runCLI(t, "lss")
	if err == nil || oneLine(err) != `unknown command "lss" for "ais"; did you mean ls? (see ais --help)` {
		t.Fatalf("ais lss: %v", err)
	}
	if err := runCLI(t); err != nil {
		t.Fatalf("ais alone: %v", err)
	}
	if out, err := runAis(t, "--version"); err != nil || !strings.HasPrefix(out, "ais version ") {
		t.Fatalf("ais --version: %q %v", out, err)
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Fatalf("requests sent: %v", sent)
	}
}

// An AIS_ENDPOINT that is no URL is named, before anything is sent.
func TestEndpointWithoutAScheme(t *testing.T) {
	t.Setenv("AIS_ENDPOINT", "127.0.0.1:8080")
	// A command with subcommands that runs itself too is checked.
	for _, args := range [][]string{{"ls"}, {"storage"}} {
		if err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "AIS_ENDPOINT") {
			t.Fatalf("ais %s with AIS_ENDPOINT=127.0.0.1:8080: %v", strings.Join(args, " "), err)
		}
	}
}

// A GET into a directory fails before any byte is asked for; sizes with
// units are taken for --offset and --length.
func TestGetIntoADirectoryFailsFirst(t *testing.T) {
	g := newRecordingGateway(t)
	out := t.TempDir()
	if err := os.Mkdir(filepath.Join(out, "o"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := runCLI(t, "get", "ais://b/o", out)
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("ais get into a directory of the object's name: %v", err)
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Fatalf("requests sent: %v", sent)
	}
	if err := runCLI(t, "get", "ais://b/o", filepath.Join(out, "x"), "--offset", "1KiB", "--length", "ten"); err == nil || !strings.Contains(err.Error(), "--length") {
		t.Fatalf("a length that is no size: %v", err)
	}
}

// A malformed AIS_ENDPOINT does not stop the commands that do not use it
// (a group's help, shards generated into a local directory).
func TestEndpointNotCheckedWhereUnused(t *testing.T) {
	t.Setenv("AIS_ENDPOINT", "127.0.0.1:8080")
	if err := runCLI(t, "bucket"); err != nil {
		t.Fatalf("ais bucket: %v", err)
	}
	dir := t.TempDir()
	if err := runCLI(t, "archive", "gen-shards", "s-{0..1}.tar", "--local", dir, "--records", "2", "--record-size", "1KiB"); err != nil {
		t.Fatalf("gen-shards --local: %v", err)
	}
	for _, args := range [][]string{{"help", "put"}, {"completion", "bash"}, {"__complete", "bucket", ""}} {
		if err := runCLI(t, args...); err != nil {
			t.Fatalf("ais %s: %v", strings.Join(args, " "), err)
		}
	}
	// Commands on a local cluster's own gateways: refused for want of
	// the cluster, not for AIS_ENDPOINT.
	for _, args := range [][]string{{"cluster", "add-target", "--dir", dir}, {"cluster", "rm-target", "t1", "--dir", dir}} {
		if err := runCLI(t, args...); err == nil || strings.Contains(err.Error(), "AIS_ENDPOINT") || !strings.Contains(err.Error(), "no local cluster") {
			t.Fatalf("ais %s: %v, want no local cluster", strings.Join(args, " "), err)
		}
	}
}

// Commands on one local cluster take turns: a second waits, saying so,
// until the first ends (two add-target at once each saved the state as
// they read it, the last one losing the other's node).
func TestLocalClusterCommandsTakeTurns(t *testing.T) {
	dir := t.TempDir()
	first := &cobra.Command{}
	first.SetContext(t.Context())
	unlock, err := lockCluster(first, dir)
	if err != nil {
		t.Fatal(err)
	}
	var said bytes.Buffer
	second := &cobra.Command{}
	second.SetContext(t.Context())
	second.SetErr(&said)
	took := make(chan error, 1)
	go func() {
		unlock, err := lockCluster(second, dir)
		if err == nil {
			unlock()
		}
		took <- err
	}()
	select {
	case err := <-took:
		t.Fatalf("a second command took the cluster while the first held it: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-took:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second command did not take the cluster once the first ended")
	}
	if !strings.Contains(said.String(), "waiting for another 'ais cluster' command") {
		t.Fatalf("the second command said %q while it waited", said.String())
	}
}

// An offline target is taken out with --yes only (a script without a
// terminal is refused, nothing sent): it goes at once, and the objects
// only it holds with it.
func TestRmTargetOfAnOfflineTargetNeedsYes(t *testing.T) {
	g := newRecordingGateway(t)
	g.mu.Lock()
	g.objects["/v1/cluster"] = `{"version":3,"uuid":"u","primary":"g1","nodes":[` +
		`{"id":"g1","role":"gateway","url":"` + os.Getenv("AIS_ENDPOINT") + `","state":"active"},` +
		`{"id":"t1","role":"target","url":"http://127.0.0.1:1","state":"active"},` +
		`{"id":"t2","role":"target","url":"http://127.0.0.1:2","state":"offline"}]}`
	g.mu.Unlock()
	err := runCLI(t, "cluster", "rm-target", "t2")
	if err == nil || !strings.Contains(err.Error(), "offline") || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("rm-target of an offline target without --yes: %v", err)
	}
	if slices.Contains(g.sent(), "PUT /v1/cluster") {
		t.Fatal("the offline target was taken out without --yes")
	}
	// With it, the request goes (and the wait for the map, which the
	// fake never changes, ends at the timeout).
	if err := runCLI(t, "cluster", "rm-target", "t2", "--yes", "--timeout", "100ms"); err == nil || !strings.Contains(err.Error(), "still leaving") {
		t.Fatalf("rm-target --yes: %v", err)
	}
	if !slices.Contains(g.sent(), "PUT /v1/cluster") {
		t.Fatalf("rm-target --yes sent %v", g.sent())
	}
	// --timeout 0 is no limit (as for maintenance): it waits until the
	// target is gone, not failing at once while it leaves.
	go func() {
		time.Sleep(300 * time.Millisecond)
		g.mu.Lock()
		g.objects["/v1/cluster"] = `{"version":4,"uuid":"u","primary":"g1","nodes":[` +
			`{"id":"g1","role":"gateway","url":"` + os.Getenv("AIS_ENDPOINT") + `","state":"active"},` +
			`{"id":"t1","role":"target","url":"http://127.0.0.1:1","state":"active"}]}`
		g.mu.Unlock()
	}()
	if err := runCLI(t, "cluster", "rm-target", "t2", "--yes", "--timeout", "0"); err != nil {
		t.Fatalf("rm-target --timeout 0: %v, want it to wait until the target is gone", err)
	}
}

// rm-target --dir takes the node out of the --dir cluster, whatever
// AIS_ENDPOINT names: node names repeat from one local cluster to the
// next.
func TestRmTargetWithDirAsksThatCluster(t *testing.T) {
	other := newRecordingGateway(t) // AIS_ENDPOINT: another cluster
	otherURL := os.Getenv("AIS_ENDPOINT")
	own := newRecordingGateway(t) // the --dir cluster's gateway
	ownURL := os.Getenv("AIS_ENDPOINT")
	t.Setenv("AIS_ENDPOINT", otherURL)
	own.mu.Lock()
	own.objects["/v1/cluster"] = `{"version":3,"uuid":"u","primary":"g1","nodes":[` +
		`{"id":"g1","role":"gateway","url":"` + ownURL + `","state":"active"},` +
		`{"id":"t1","role":"target","url":"http://127.0.0.1:1","state":"active"},` +
		`{"id":"t2","role":"target","url":"http://127.0.0.1:2","state":"active"}]}`
	own.mu.Unlock()
	dir := t.TempDir()
	state, _ := json.Marshal(localCluster{Endpoint: ownURL, Nodes: []localNode{{Name: "t2", Role: "target", Port: 1, Dir: filepath.Join(dir, "t2")}}})
	if err := os.WriteFile(filepath.Join(dir, "cluster.json"), state, 0o644); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "cluster", "rm-target", "t2", "--dir", dir, "--timeout", "100ms")
	if !slices.Contains(own.sent(), "PUT /v1/cluster") || slices.Contains(other.sent(), "PUT /v1/cluster") {
		t.Fatalf("the --dir cluster got %v, the AIS_ENDPOINT one %v", own.sent(), other.sent())
	}
}

// A put's bar moves as a file is read, back as it is rewound for a
// redirect: a big file shows its progress, not 0 until it is all sent.
func TestPutProgressMovesAsTheFileIsRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	bars := newBars(t.Context(), false)
	bar := bytesBar(bars, "put", 100)
	r := &barReader{file: file, bar: bar}
	current := func() int64 {
		t.Helper()
		// The bar takes increments in its own goroutine: read once they
		// are in.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if c := bar.Current(); c == r.read {
				return c
			}
		}
		return bar.Current()
	}
	if _, err := io.ReadFull(r, make([]byte, 40)); err != nil {
		t.Fatal(err)
	}
	if got := current(); got != 40 {
		t.Fatalf("after 40 bytes read the bar is at %d", got)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got := current(); got != 0 {
		t.Fatalf("after a rewind the bar is at %d", got)
	}
	if n, err := io.Copy(io.Discard, r); err != nil || n != 100 {
		t.Fatalf("read %d: %v", n, err)
	}
	if got := current(); got != 100 {
		t.Fatalf("after the whole file the bar is at %d", got)
	}
	bar.Abort(false)
	bars.Wait()
}

// A wait joining a job under way rates it from the job's start, the
// first of its nodes'.
func TestJobStartedIsTheFirstNodes(t *testing.T) {
	early, late := time.Unix(100, 0), time.Unix(200, 0)
	j := api.ClusterJob{Nodes: map[string]api.JobStatus{
		"t1": {Started: late.UnixNano()}, "t2": {Started: early.UnixNano()}, "t3": {},
	}}
	if got := jobStarted(j); !got.Equal(early) {
		t.Fatalf("started %v, want %v", got, early)
	}
	if got := jobStarted(api.ClusterJob{}); !got.IsZero() {
		t.Fatalf("a job no node tells the start of: %v", got)
	}
}

// `ais job show` of a job a target did not answer about says so, with
// the state 'ais job ls' gives and the job's errors: no row is that
// target's, and the job looked clean.
func TestJobShowNamesTargetsWithoutARow(t *testing.T) {
	status := api.ClusterStatus{Nodes: []api.NodeStatus{
		{ID: "p1", Role: "gateway"},
		{ID: "t1", Role: "target", Jobs: []api.JobStatus{{ID: "dl-1", Kind: "download", Objects: 5, Bytes: 50, Started: 1, Finished: 2, Targets: []string{"t1", "t2"}}}},
		{ID: "t2", Role: "target", Error: "dial tcp: connection refused"},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/cluster" || r.URL.Query().Get(api.QueryWhat) != "status" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(status)
	}))
	defer srv.Close()
	t.Setenv("AIS_ENDPOINT", srv.URL)
	out, err := runAis(t, "job", "show", "dl-1")
	if err != nil {
		t.Fatal(err)
	}
	var t2Row bool
	for line := range strings.Lines(out) {
		t2Row = t2Row || strings.HasPrefix(line, "t2 ") && strings.Contains(line, "did not answer")
	}
	if !t2Row || !strings.Contains(out, "state: failed\n") || !strings.Contains(out, "error: t2: did not answer") {
		t.Fatalf("ais job show of a job t2 did not answer about:\n%s", out)
	}
}

// A get-batch into a directory is refused before the batch is asked for
// (the archive was fetched whole, then the rename failed naming a temp).
func TestGetBatchIntoADirectoryIsRefused(t *testing.T) {
	g := newRecordingGateway(t)
	out := t.TempDir()
	err := runCLI(t, "ml", "get-batch", "ais://b", "--template", "x-{0..9}.jpg", "--mime", ".tar", out)
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("get-batch into a directory: %v", err)
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Fatalf("requests sent: %v", sent)
	}
}

// A token file AIS_AUTHN_TOKEN_FILE names that cannot be read stops a
// command, naming it: sent without a token, it got a bare 401. A login
// with nowhere to keep its token says so before it logs in.
func TestTokenFileProblemsAreNamed(t *testing.T) {
	g := newRecordingGateway(t)
	t.Setenv(api.EnvToken, "")
	t.Setenv("AIS_AUTHN_URL", "http://127.0.0.1:1")
	missing := filepath.Join(t.TempDir(), "auth.tokn")
	t.Setenv(api.EnvTokenFile, missing)
	if err := runCLI(t, "ls", "ais://b"); err == nil || !strings.Contains(err.Error(), api.EnvTokenFile) || !strings.Contains(err.Error(), missing) {
		t.Errorf("ls with a token file missing: %v, want an error naming %s and the file", err, api.EnvTokenFile)
	}
	if err := runCLI(t, "auth", "show", "user"); err == nil || !strings.Contains(err.Error(), api.EnvTokenFile) {
		t.Errorf("auth show user with a token file missing: %v", err)
	}
	if err := runCLI(t, "storage"); err == nil || !strings.Contains(err.Error(), api.EnvTokenFile) {
		t.Errorf("storage with a token file missing: %v", err)
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Errorf("sent without the token: %v", sent)
	}
	// Nor help, completion, or a command signed with the cluster's
	// secret instead (a preStop hook's maintenance).
	for _, args := range [][]string{{"help"}, {"completion", "bash"}, {"__complete", "ls", ""}} {
		if err := runCLI(t, args...); err != nil {
			t.Errorf("ais %v with a token file missing: %v", args, err)
		}
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef"), 0o600)
	if err := runCLI(t, "cluster", "maintenance", "start", "t1", "--secret-file", secret); err != nil && strings.Contains(err.Error(), api.EnvTokenFile) {
		t.Errorf("maintenance with --secret-file: %v, want no token file asked", err)
	}
	t.Setenv(api.EnvTokenFile, "")
	t.Setenv("HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	if err := runCLI(t, "auth", "login", "admin", "-p", "pw"); err == nil || !strings.Contains(err.Error(), "no place to keep the token") {
		t.Errorf("a login with no home: %v, want refused before it logs in", err)
	}
}

// A get cut short names the object and the file, and leaves the file
// there as it was: a script's log says which of its gets failed.
func TestGetCutShortNamesWhatFailed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/objects/b/obj.bin" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "the first bytes")
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	t.Setenv("AIS_ENDPOINT", srv.URL)
	dest := filepath.Join(t.TempDir(), "obj.bin")
	if err := os.WriteFile(dest, []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runCLI(t, "get", "ais://b/obj.bin", dest)
	if err == nil || !strings.Contains(err.Error(), "ais://b/obj.bin") || !strings.Contains(err.Error(), dest+" (left as it was)") {
		t.Fatalf("a get cut short: %v, want an error naming the object and %s, left as it was", err, dest)
	}
	if data, err := os.ReadFile(dest); err != nil || string(data) != "before" {
		t.Fatalf("the file after a get cut short: %q %v", data, err)
	}
	// A device is written where it is: what came went out, and no
	// "left as it was" is said of it.
	err = runCLI(t, "get", "ais://b/obj.bin", os.DevNull)
	if err == nil || !strings.Contains(err.Error(), "ais://b/obj.bin into "+os.DevNull+":") {
		t.Fatalf("a get into %s cut short: %v", os.DevNull, err)
	}
}

// refusingGateway answers 400 to the PUTs and DELETEs of names holding
// "bad", 404 to DELETEs of names holding "missing", and records every
// request.
func refusingGateway(t *testing.T) *recordingGateway {
	t.Helper()
	g := &recordingGateway{bodies: map[string]string{}, objects: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		g.mu.Lock()
		g.requests = append(g.requests, r.Method+" "+r.URL.Path)
		g.mu.Unlock()
		switch {
		case strings.Contains(r.URL.Path, "bad") && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"status":400,"message":"the test refuses this name"}`)
		case strings.Contains(r.URL.Path, "missing") && r.Method == http.MethodDelete:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"status":404,"message":"object not found"}`)
		case r.Method == http.MethodPut || r.Method == http.MethodDelete:
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AIS_ENDPOINT", srv.URL)
	return g
}

// A file that cannot be put does not stop the others: every file is
// tried, and the command fails saying how many were not put.
func TestPutDirectoryGoesOnPastAFailure(t *testing.T) {
	g := refusingGateway(t)
	dir := t.TempDir()
	for _, name := range []string{"a", "bad-1", "b", "bad-2", "c", "d"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := runCLI(t, "put", dir, "ais://b/", "--workers", "1")
	if err == nil || !strings.Contains(err.Error(), "2 of 6 files not put") || !strings.Contains(err.Error(), "4 put") {
		t.Fatalf("a put of 6 files, 2 refused: %v", err)
	}
	puts := 0
	for _, r := range g.sent() {
		if strings.HasPrefix(r, "PUT ") {
			puts++
		}
	}
	if puts != 6 {
		t.Fatalf("%d PUTs sent, want every file's 6 (sent %v)", puts, g.sent())
	}
}

// ais rm of several objects removes each it can, tells each failure, and
// fails saying how many; a name that is no object fails before any is
// removed.
func TestRemoveObjectsGoesOnPastAFailure(t *testing.T) {
	g := refusingGateway(t)
	err := runCLI(t, "rm", "ais://b/one", "ais://b/missing", "ais://b/two")
	if err == nil || !strings.Contains(err.Error(), "1 of 3 objects not removed") {
		t.Fatalf("rm of 3 objects, 1 missing: %v", err)
	}
	var deletes []string
	for _, r := range g.sent() {
		if strings.HasPrefix(r, "DELETE ") {
			deletes = append(deletes, r)
		}
	}
	if want := []string{"DELETE /v1/objects/b/one", "DELETE /v1/objects/b/missing", "DELETE /v1/objects/b/two"}; !slices.Equal(deletes, want) {
		t.Fatalf("sent %v, want %v", g.sent(), want)
	}
	before := len(g.sent())
	if err := runCLI(t, "rm", "ais://b/three", "ais://b"); err == nil || !strings.Contains(err.Error(), "names no object") {
		t.Fatalf("rm with a bucket among the objects: %v", err)
	}
	if len(g.sent()) != before {
		t.Fatalf("an rm refused for one of its names sent %v", g.sent()[before:])
	}
}

// A download whose files failed and a scrub that found objects it cannot
// recover (or did not repair) end without a job error: their results say so, and 'ais job'
// shows them failed (a wait exits non-zero), not done.
func TestJobResultsThatFailedAreFailed(t *testing.T) {
	download := api.ClusterJob{ID: "download-1", Kind: "download", Nodes: map[string]api.JobStatus{
		"t1": {Result: json.RawMessage(`{"total":3,"downloaded":1,"failed":2}`)},
		"t2": {Result: json.RawMessage(`{"total":2,"downloaded":2}`)},
	}}
	if err := jobResultFailed(download); err == nil || !strings.Contains(err.Error(), "2 file(s) failed") || jobState(download) != "failed" {
		t.Fatalf("a download of 2 failed files: %v, %s", err, jobState(download))
	}
	scrub := api.ClusterJob{ID: "scrub-1", Kind: "scrub", Nodes: map[string]api.JobStatus{"t1": {Result: json.RawMessage(`{"objects":5,"unrecoverable":1}`)}}}
	if err := jobResultFailed(scrub); err == nil || jobState(scrub) != "failed" {
		t.Fatalf("a scrub with an object it cannot recover: %v, %s", err, jobState(scrub))
	}
	// As 'ais scrub' says: found and not repaired, or not checked, is
	// failed; found and repaired is done.
	for result, failed := range map[string]bool{
		`{"objects":5,"ok":4,"corrupt":1}`:                            true,
		`{"objects":5,"ok":4,"skipped":1}`:                            true,
		`{"objects":5,"ok":4,"corrupt":1,"repaired":1,"repair":true}`: false,
		`{"objects":5,"ok":5}`:                                        false,
		// A node from before reports said whether they repaired.
		`{"objects":5,"ok":4,"corrupt":1,"repaired":1}`: false,
	} {
		scrub := api.ClusterJob{ID: "scrub-2", Kind: "scrub", Bucket: "ais://b", Nodes: map[string]api.JobStatus{"t1": {Result: json.RawMessage(result)}}}
		if err := jobResultFailed(scrub); (err != nil) != failed || (jobState(scrub) == "failed") != failed {
			t.Errorf("a scrub of %s: %v, %s; want failed %v", result, err, jobState(scrub), failed)
		}
	}
	clean := api.ClusterJob{ID: "download-2", Kind: "download", Nodes: map[string]api.JobStatus{"t1": {Result: json.RawMessage(`{"total":2,"downloaded":2}`)}}}
	if err := jobResultFailed(clean); err != nil || jobState(clean) != "done" {
		t.Fatalf("a download whose files all came: %v, %s", err, jobState(clean))
	}
}

// "replacing the file that was there" is said of a regular file only: a
// device or a descriptor is written in place, nothing replaced.
func TestReplacesFileOnlyOfARegularFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if replacesFile(file) {
		t.Error("a missing file replaced")
	}
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !replacesFile(file) {
		t.Error("a regular file not replaced")
	}
	for _, path := range []string{"/dev/null", "/dev/stdout", filepath.Dir(file)} {
		if replacesFile(path) {
			t.Errorf("%s replaced", path)
		}
	}
}

// A user with grants on a bucket only (the cluster's status and its job
// stop forbidden) follows a download to its end by the download's own
// status, and stops it as a download.
func TestDownloadByABucketUser(t *testing.T) {
	var polls, aborts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forbidden := func() {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(api.Error{Status: 403, Kind: "forbidden", Message: "needs LIST on the cluster"})
		}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/download":
			json.NewEncoder(w).Encode(map[string]string{"id": "download-1"})
		case r.Method == http.MethodGet && r.URL.Path == "/v1/download":
			done := polls.Add(1) > 2
			json.NewEncoder(w).Encode(api.DownloadStatus{ID: "download-1", Total: 2, Finished: 2, Running: !done, Done: done, Errors: []api.DownloadFailed{}})
		case r.Method == http.MethodDelete && r.URL.Path == "/v1/download/abort" && r.URL.Query().Get("id") == "download-1":
			aborts.Add(1)
		case r.URL.Path == "/v1/cluster" || r.URL.Path == "/v1/download/abort":
			forbidden()
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("AIS_ENDPOINT", srv.URL)
	if err := runCLI(t, "download", "https://host/a.tar", "ais://b"); err != nil {
		t.Fatalf("a download followed by its bucket's user: %v", err)
	}
	if polls.Load() < 3 {
		t.Fatalf("the download's status was asked %d times, want until done", polls.Load())
	}
	if err := runCLI(t, "job", "stop", "download-1"); err != nil || aborts.Load() != 1 {
		t.Fatalf("a download stopped by its bucket's user: %v (%d aborts)", err, aborts.Load())
	}
	if err := runCLI(t, "job", "stop", "copy-1"); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("a job the user may not stop: %v, want forbidden", err)
	}
}

// A job started by a user who may not read the cluster's jobs is said to
// run (not to be started again), not just "forbidden".
func TestFollowingAJobWithoutClusterListSaysItRuns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/buckets/src":
			io.WriteString(w, "copy-1")
		case r.URL.Path == "/v1/cluster":
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(api.Error{Status: 403, Kind: "forbidden", Message: "needs LIST on the cluster"})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("AIS_ENDPOINT", srv.URL)
	err := runCLI(t, "bucket", "cp", "ais://src", "ais://dst")
	if !errors.Is(err, api.ErrForbidden) || !strings.Contains(err.Error(), "job copy-1 runs") {
		t.Fatalf("a copy followed without LIST on the cluster: %v", err)
	}
}
