//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/remote"
)

// Remote buckets against a real S3 server: versitygw (v1.8.0, which
// `make e2e` installs with go install), serving a directory on loopback.

const (
	remoteAccess = "AKIDREMOTEE2E"
	remoteSecret = "the-remote-secret"
)

// versitygwPath finds the S3 server's binary.
func versitygwPath(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("versitygw"); err == nil {
		return path
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		path := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	t.Fatal("versitygw is not installed: run `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` (make e2e does)")
	return ""
}

// s3Server is a running versitygw with a counting proxy in front.
type s3Server struct {
	t        *testing.T
	cmd      *exec.Cmd
	addr     string // versitygw's own
	endpoint string // the proxy's, which the cluster uses
	// gets counts object GETs through the proxy, by key.
	mu   sync.Mutex
	gets map[string]int
	down atomic.Bool
}

func startS3Server(t *testing.T) *s3Server {
	t.Helper()
	dir := t.TempDir()
	port := freePortRange(t, 1)
	s := &s3Server{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), gets: map[string]int{}}
	s.start(dir)
	target, _ := url.Parse("http://" + s.addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, "the S3 server is stopped", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 {
			s.mu.Lock()
			s.gets[strings.TrimPrefix(r.URL.Path, "/")]++
			s.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	})}
	go server.Serve(listener)
	t.Cleanup(func() { server.Close() })
	s.endpoint = "http://" + listener.Addr().String()
	return s
}

func (s *s3Server) start(dir string) {
	s.cmd = exec.Command(versitygwPath(s.t), "--access", remoteAccess, "--secret", remoteSecret, "--port", s.addr, "posix", dir)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	cmd := s.cmd
	s.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; {
		if conn, err := net.Dial("tcp", s.addr); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatal("versitygw did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *s3Server) getsOf(bucket, key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[bucket+"/"+key]
}

// client talks to the S3 server directly, as the data's owner would.
func (s *s3Server) client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.addr), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(remoteAccess, remoteSecret, "")})
}

func (s *s3Server) put(ctx context.Context, bucket, key string, data []byte) error {
	_, err := s.client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	return err
}

// remoteCluster starts an S3 server and a cluster whose nodes reach it
// with the SDK's environment.
func remoteCluster(t *testing.T, targets int) (*s3Server, *cliCluster) {
	s := startS3Server(t)
	t.Setenv("AWS_ACCESS_KEY_ID", remoteAccess)
	t.Setenv("AWS_SECRET_ACCESS_KEY", remoteSecret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", s.endpoint)
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	return s, startCLICluster(t, 1, targets)
}

// checksumOf is data's checksum of a type the store knows.
func checksumOf(t *testing.T, typ string, data []byte) store.Checksum {
	t.Helper()
	h, err := store.NewHash(typ)
	if err != nil || h == nil {
		t.Fatalf("checksum type %q: %v", typ, err)
	}
	h.Write(data)
	return store.ChecksumOf(typ, h)
}

func objectData(name string, size int) []byte {
	return bytes.Repeat([]byte(name+"|"), size/(len(name)+1)+1)[:size]
}

func TestRemoteBucket(t *testing.T) {
	s, c := remoteCluster(t, 2)
	ctx := t.Context()
	if _, err := s.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("remote-data")}); err != nil {
		t.Fatal(err)
	}
	// 1,000 objects in S3, none in the cluster.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range 1000 {
		g.Go(func() error {
			name := fmt.Sprintf("cold/o-%04d", i)
			return s.put(gctx, "remote-data", name, objectData(name, 1000+i))
		})
	}
	for i := range 500 {
		g.Go(func() error {
			name := fmt.Sprintf("pre/p-%04d", i)
			return s.put(gctx, "remote-data", name, objectData(name, 500))
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	client := c.client()
	const bucket = "s3://remote-data"
	readAll := func(prefix string, n, size int, sizeStep int) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for i := range n {
			g.Go(func() error {
				name := fmt.Sprintf(prefix, i)
				data, err := client.GetBytes(gctx, bucket, name, api.GetOptions{})
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if !bytes.Equal(data, objectData(name, size+sizeStep*i)) {
					return fmt.Errorf("%s: wrong bytes", name)
				}
				return nil
			})
		}
		return g.Wait()
	}
	// The listing has them all, none cached.
	out := ais(t, c.endpoint, "ls", bucket, "--prefix", "cold/", "--limit", "3")
	if !strings.Contains(out, "cold/o-0000") || !strings.Contains(out, "no") {
		t.Fatalf("ls of the remote bucket:\n%s", out)
	}
	// Its summary counts S3's objects (listed by one target) beside the
	// none the cluster holds.
	out = ais(t, c.endpoint, "bucket", "summary", bucket)
	if fields := strings.Fields(out); !strings.Contains(out, "REMOTE OBJECTS") || !slices.Contains(fields, "1500") {
		t.Fatalf("bucket summary of the remote bucket:\n%s", out)
	}
	// Of every bucket, what the cluster holds: no remote column of zeros.
	if out := ais(t, c.endpoint, "storage", "summary"); !strings.Contains(out, "s3://remote-data") || strings.Contains(out, "REMOTE") {
		t.Fatalf("storage summary:\n%s", out)
	}
	// Cold GETs, then prefetch of a 500-object template.
	if err := readAll("cold/o-%04d", 1000, 1000, 1); err != nil {
		t.Fatalf("cold GET: %v", err)
	}
	ais(t, c.endpoint, "prefetch", bucket, "--template", "pre/p-{0000..0499}")
	if got := s.getsOf("remote-data", "cold/o-0007"); got != 1 {
		t.Fatalf("cold/o-0007 was fetched %d times", got)
	}
	// The SDK put them with a CRC (CRC64NVME in this version), which S3
	// gives back with the bytes: the cold GET checked that, and keeps it.
	meta, err := client.Head(ctx, bucket, "cold/o-0007")
	kept, _, _ := strings.Cut(meta.Custom[remote.CustomChecksum], ":")
	if want := checksumOf(t, kept, objectData("cold/o-0007", 1007)); err != nil || kept == "" || meta.Custom[remote.CustomChecksum] != want.String() {
		t.Fatalf("a cold GET's copy: custom %v %v, want %s=%s", meta.Custom, err, remote.CustomChecksum, want)
	}
	// The S3 server stops: every object is still served, warm.
	s.down.Store(true)
	if err := readAll("cold/o-%04d", 1000, 1000, 1); err != nil {
		t.Fatalf("warm GET with S3 down: %v", err)
	}
	if err := readAll("pre/p-%04d", 500, 500, 0); err != nil {
		t.Fatalf("prefetched objects with S3 down: %v", err)
	}
	// An object never fetched: 503 naming the remote, nothing left here.
	_, err = client.GetBytes(ctx, bucket, "never/fetched", api.GetOptions{})
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || !strings.Contains(apiErr.Message, "remote") {
		t.Fatalf("cold GET with S3 down: %v", err)
	}
	if _, errOut, err := aisResult(c.endpoint, "ls", bucket); err == nil || !strings.Contains(errOut, "503") && !strings.Contains(errOut, "unavailable") {
		t.Fatalf("ls with S3 down: %v %s", err, errOut)
	}
	cached := ais(t, c.endpoint, "ls", bucket, "--cached", "--json")
	if strings.Count(cached, `"name"`) != 1500 {
		t.Fatalf("ls --cached with S3 down: %d entries, want 1500", strings.Count(cached, `"name"`))
	}
	var summaries []api.BucketSummary
	if err := json.Unmarshal([]byte(ais(t, c.endpoint, "bucket", "summary", bucket, "--cached", "--json")), &summaries); err != nil || len(summaries) != 1 || summaries[0].ObjCount.Present != 1500 || summaries[0].ObjCount.Remote != 0 {
		t.Fatalf("bucket summary --cached with S3 down: %+v %v", summaries, err)
	}
	if _, errOut, err := aisResult(c.endpoint, "bucket", "summary", bucket); err == nil || !strings.Contains(errOut, "remote") {
		t.Fatalf("bucket summary with S3 down: %v %s", err, errOut)
	}
	s.down.Store(false)

	// validate_warm_get: a changed object is fetched again only with it.
	name := "cold/o-0001"
	if err := s.put(ctx, "remote-data", name, []byte("changed in S3")); err != nil {
		t.Fatal(err)
	}
	if data, _ := client.GetBytes(ctx, bucket, name, api.GetOptions{}); !bytes.Equal(data, objectData(name, 1001)) {
		t.Fatalf("without validate_warm_get: %q, want the cached bytes", data)
	}
	// AIStore's latest-ver asks for the check on one read.
	latest := "cold/o-0002"
	if err := s.put(ctx, "remote-data", latest, []byte("latest in S3")); err != nil {
		t.Fatal(err)
	}
	if data, err := client.GetBytes(ctx, bucket, latest, api.GetOptions{Latest: true}); string(data) != "latest in S3" {
		t.Fatalf("GET ?latest-ver=true: %q %v, want the new bytes", data, err)
	}
	// synchronize: an object deleted in S3 goes from the cache too.
	gone := "cold/o-0003"
	if _, err := s.client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("remote-data"), Key: aws.String(gone)}); err != nil {
		t.Fatal(err)
	}
	if data, _ := client.GetBytes(ctx, bucket, gone, api.GetOptions{}); !bytes.Equal(data, objectData(gone, 1003)) {
		t.Fatalf("a plain GET of an object deleted in S3: %q, want the cached bytes", data)
	}
	resp, err := http.Get(c.endpoint + "/v1/objects/remote-data/" + gone + "?provider=aws&synchronize=true")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET ?synchronize=true of an object deleted in S3: %s, want 404", resp.Status)
	}
	if _, err := client.GetBytes(ctx, bucket, gone, api.GetOptions{}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a plain GET after synchronize: %v, want not found (the cached copy removed)", err)
	}
	if err := client.SetBucketProps(ctx, bucket, map[string]any{"versioning": map[string]any{"validate_warm_get": true}}); err != nil {
		t.Fatal(err)
	}
	if data, _ := client.GetBytes(ctx, bucket, name, api.GetOptions{}); string(data) != "changed in S3" {
		t.Fatalf("with validate_warm_get: %q, want the new bytes", data)
	}

	// 50 concurrent cold GETs of one 64 MiB object: S3 sees one GET.
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20)
	if err := s.put(ctx, "remote-data", "big", big); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 50 {
		wg.Go(func() {
			r, _, err := client.Get(ctx, bucket, "big", api.GetOptions{})
			if err != nil {
				failed.Add(1)
				return
			}
			defer r.Close()
			if n, _ := io.Copy(io.Discard, r); n != int64(len(big)) {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 || s.getsOf("remote-data", "big") != 1 {
		t.Fatalf("50 concurrent cold GETs: %d failed, S3 served %d GETs (want 1)", failed.Load(), s.getsOf("remote-data", "big"))
	}

	// Write-through and delete; evict keeps the remote copy.
	ais(t, c.endpoint, "put", writeTemp(t, "through"), bucket+"/written")
	if got, err := s.client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("remote-data"), Key: aws.String("written")}); err != nil {
		t.Fatalf("write-through: %v", err)
	} else {
		got.Body.Close()
	}
	// Its custom metadata goes to S3 with it, and comes back after an
	// eviction.
	if _, err := client.Put(ctx, bucket, "labeled", strings.NewReader("l"), api.PutOptions{Size: 1, Custom: map[string]string{"label": "cat"}}); err != nil {
		t.Fatal(err)
	}
	if head, err := s.client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("remote-data"), Key: aws.String("labeled")}); err != nil || head.Metadata[remote.CustomEntry] == "" {
		t.Fatalf("the user metadata in S3 of an object written with custom metadata: %v", err)
	}
	ais(t, c.endpoint, "evict", bucket+"/labeled")
	if meta, err := client.Head(ctx, bucket, "labeled"); err != nil || meta.Custom["label"] != "cat" {
		t.Fatalf("an evicted object's custom metadata: %+v %v", meta, err)
	}
	ais(t, c.endpoint, "evict", bucket, "--template", "pre/p-{0000..0099}")
	cached = ais(t, c.endpoint, "ls", bucket, "--prefix", "pre/", "--cached", "--json")
	if strings.Count(cached, `"name"`) != 400 {
		t.Fatalf("after evicting 100 of 500: %d cached", strings.Count(cached, `"name"`))
	}
	before := s.getsOf("remote-data", "pre/p-0005")
	if err := readAll("pre/p-%04d", 10, 500, 0); err != nil || s.getsOf("remote-data", "pre/p-0005") != before+1 {
		t.Fatalf("an evicted object read again: %v, %d GETs", err, s.getsOf("remote-data", "pre/p-0005")-before)
	}
	ais(t, c.endpoint, "rm", bucket+"/written")
	if _, err := s.client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("remote-data"), Key: aws.String("written")}); err == nil {
		t.Fatal("the deleted object is still in S3")
	}

	// A download of the remote bucket's objects is a prefetch.
	id, err := client.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadBackend, Bucket: api.Bck{Name: "remote-data", Provider: "aws"}, Prefix: "pre/p-001"})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitDownload(t, client, id); len(st.Errors) > 0 || st.Finished != 10 {
		t.Fatalf("backend download: %+v, want the 10 evicted pre/p-001x fetched", st)
	}
	// Listed with the downloads (and counted with them against the most
	// that run at once).
	resp, err = http.Get(strings.Split(c.endpoint, ",")[0] + "/v1/download")
	if err != nil {
		t.Fatal(err)
	}
	var listed []struct {
		ID string `json:"id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || !slices.ContainsFunc(listed, func(d struct {
		ID string `json:"id"`
	}) bool {
		return d.ID == id
	}) {
		t.Fatalf("the downloads listed: %+v %v, want the backend download %s", listed, err, id)
	}

	// A copy into the s3:// bucket writes there (through to S3), not into
	// an ais:// bucket of the same name, from every target.
	if err := client.CreateBucket(ctx, "cp-src", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		name := fmt.Sprintf("copied/c-%d", i)
		if _, err := client.Put(ctx, "cp-src", name, bytes.NewReader(objectData(name, 300)), api.PutOptions{Size: 300}); err != nil {
			t.Fatal(err)
		}
	}
	copyID, err := client.CopyBucket(ctx, "cp-src", bucket, api.CopyBucketMessage{})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := client.WaitJob(ctx, copyID, 50*time.Millisecond); err != nil || len(j.Errors) > 0 {
		t.Fatalf("copy into %s: %+v %v", bucket, j, err)
	}
	for i := range 8 {
		name := fmt.Sprintf("copied/c-%d", i)
		got, err := s.client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("remote-data"), Key: aws.String(name)})
		if err != nil {
			t.Fatalf("%s copied into %s is not in S3: %v", name, bucket, err)
		}
		data, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if !bytes.Equal(data, objectData(name, 300)) {
			t.Fatalf("%s in S3: wrong bytes", name)
		}
	}
	if _, err := client.BucketProps(ctx, "ais://remote-data"); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("the copy made ais://remote-data: %v", err)
	}

	// extra.aws.multipart_size: a write-through bigger than it goes to S3
	// in parts (an object past 5 GiB always does); a size S3 does not
	// take as a part is refused, naming the setting.
	if _, errOut, err := aisResult(c.endpoint, "bucket", "props", bucket, "--set", `{"extra":{"aws":{"multipart_size":"1048576"}}}`); err == nil || !strings.Contains(errOut, "multipart_size") {
		t.Fatalf("multipart_size of 1 MiB: %v %s", err, errOut)
	}
	ais(t, c.endpoint, "bucket", "props", bucket, "--set", `{"extra":{"aws":{"multipart_size":"5242880"}}}`)
	parted := objectData("parts/big", 12<<20)
	if _, err := client.Put(ctx, bucket, "parts/big", bytes.NewReader(parted), api.PutOptions{Size: int64(len(parted))}); err != nil {
		t.Fatalf("a write-through in parts: %v", err)
	}
	inParts, err := s.client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("remote-data"), Key: aws.String("parts/big")})
	if err != nil {
		t.Fatal(err)
	}
	inS3, _ := io.ReadAll(inParts.Body)
	inParts.Body.Close()
	if !bytes.Equal(inS3, parted) || !strings.HasSuffix(strings.Trim(aws.ToString(inParts.ETag), `"`), "-3") {
		t.Fatalf("the write-through in parts: %d bytes in S3 (want %d), ETag %s (want 3 parts)", len(inS3), len(parted), aws.ToString(inParts.ETag))
	}
	if data, err := client.GetBytes(ctx, bucket, "parts/big", api.GetOptions{}); err != nil || !bytes.Equal(data, parted) {
		t.Fatalf("the object written in parts, read back: %d bytes, %v", len(data), err)
	}

	// Bad input.
	if _, errOut, err := aisResult(c.endpoint, "ls", "gs://x"); err == nil || !strings.Contains(errOut, "provider") {
		t.Fatalf("an unknown provider: %v %s", err, errOut)
	}
	if _, errOut, err := aisResult(c.endpoint, "ls", "s3://no-such-bucket"); err == nil || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("a missing remote bucket: %v %s", err, errOut)
	}
	if _, errOut, err := aisResult(c.endpoint, "prefetch", bucket, "--template", "x-{9..1}"); err == nil || !strings.Contains(errOut, "template") {
		t.Fatalf("a malformed template: %v %s", err, errOut)
	}
	if _, errOut, err := aisResult(c.endpoint, "prefetch", bucket+"/no-such-object"); err == nil || !strings.Contains(errOut, "1 of the 1 objects named are not in") {
		t.Fatalf("a prefetch of an object the remote does not have: %v %s", err, errOut)
	}
	fmt.Printf("remote: 1,000 cold GETs and a 500-object prefetch from versitygw, all served with it stopped; 50 concurrent cold GETs of 64 MiB made 1 S3 GET\n")
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// dSort reads its input from an s3:// bucket through cold GETs, and
// writes what the same spec writes over an ais:// copy of the input.
func TestDsortFromRemoteBucket(t *testing.T) {
	s, c := remoteCluster(t, 3)
	ctx := t.Context()
	if _, err := s.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("shards")}); err != nil {
		t.Fatal(err)
	}
	ais(t, c.endpoint, "bucket", "create", "ais://copy")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://copy/in-{00..15}.tar", "--records", "30", "--record-size", "4KiB", "--exts", ".jpg,.cls", "--seed", "4")
	client := c.client()
	for i := range 16 {
		name := fmt.Sprintf("in-%02d.tar", i)
		data, err := client.GetBytes(ctx, "copy", name, api.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.put(ctx, "shards", name, data); err != nil {
			t.Fatal(err)
		}
	}
	spec := func(input, output string) string {
		path := filepath.Join(t.TempDir(), "spec.json")
		os.WriteFile(path, []byte(fmt.Sprintf(`{"input_bck":%s,"output_bck":{"name":%q},"input_format":{"template":"in-{00..15}.tar"},
			"output_format":"out-{000..999}.tar","output_shard_size":"100KiB","algorithm":{"kind":"shuffle","seed":"9"}}`, input, output)), 0o644)
		return path
	}
	for _, run := range []struct{ input, output string }{{`{"name":"shards","provider":"aws"}`, "from-s3"}, {`{"name":"copy"}`, "from-ais"}} {
		if out := ais(t, c.endpoint, "dsort", "start", spec(run.input, run.output), "--wait"); !strings.Contains(out, "finished") {
			t.Fatalf("dsort from %s:\n%s", run.input, out)
		}
	}
	fromS3, fromAIS := c.outputs("from-s3"), c.outputs("from-ais")
	if len(fromS3) < 5 || len(fromS3) != len(fromAIS) {
		t.Fatalf("outputs: %d from s3, %d from ais", len(fromS3), len(fromAIS))
	}
	for name, sum := range fromAIS {
		if fromS3[name] != sum {
			t.Fatalf("%s differs between the s3:// and the ais:// input", name)
		}
	}
	if s.getsOf("shards", "in-03.tar") != 1 {
		t.Fatalf("in-03.tar was fetched %d times", s.getsOf("shards", "in-03.tar"))
	}
	// Output into an s3:// bucket: written through, the same bytes in S3.
	if _, err := s.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("resharded")}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "to-s3.json")
	os.WriteFile(path, []byte(`{"input_bck":{"name":"copy"},"output_bck":{"name":"resharded","provider":"aws"},"input_format":{"template":"in-{00..15}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"100KiB","algorithm":{"kind":"shuffle","seed":"9"}}`), 0o644)
	if out := ais(t, c.endpoint, "dsort", "start", path, "--wait"); !strings.Contains(out, "finished") {
		t.Fatalf("dsort into s3://:\n%s", out)
	}
	for name := range fromAIS {
		want, err := client.GetBytes(ctx, "from-ais", name, api.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		obj, err := s.client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("resharded"), Key: aws.String(name)})
		if err != nil {
			t.Fatalf("%s is not in S3: %v", name, err)
		}
		got, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if !bytes.Equal(got, want) {
			t.Fatalf("%s in S3 differs from the ais:// output", name)
		}
	}
	fmt.Printf("remote: dSort over an s3:// input (cold GETs) wrote the same %d shards as over its ais:// copy, and into an s3:// output\n", len(fromS3))
}

// mountTmpfs mounts a tmpfs of a size at dir (it needs root, which CI
// has) and unmounts it at the end.
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs at %s (the LRU test needs root): %v %s", size, dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// LRU on a small mountpath: reads of a remote bucket fill it past highwm;
// the least recently read objects of that bucket go until it is under
// lowwm; a bucket with LRU off and objects younger than dont_evict_time
// stay; a read of an evicted object fetches it again; past out_of_space a
// PUT gets 507 and leaves nothing.
func TestLRUEviction(t *testing.T) {
	s, c := remoteCluster(t, 1)
	ctx := t.Context()
	client := c.client()
	var target localNode
	for _, n := range c.state() {
		if n.Role == "target" {
			target = n
		}
	}
	small := filepath.Join(target.Dir, "small")
	mountTmpfs(t, small, "24m")
	ais(t, c.endpoint, "storage", "mountpath", "attach", target.Name, small)
	ais(t, c.endpoint, "storage", "mountpath", "detach", target.Name, filepath.Join(target.Dir, "mp1"))
	ais(t, c.endpoint, "config", "cluster", "space.lowwm=50", "space.highwm=70", "space.out_of_space=90", "lru.capacity_upd_time=1s")
	// The config reaches the target with the primary's next keepalive.
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(c.nodeURL(target.Name) + "/v1/daemon?what=config")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `"highwm":70`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the target did not get the space config")
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, bucket := range []string{"lru-data", "lru-young"} {
		if _, err := s.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
	}
	const mib = 1 << 20
	for i := range 30 {
		if err := s.put(ctx, "lru-data", fmt.Sprintf("d-%02d", i), objectData(fmt.Sprint(i), mib)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := s.put(ctx, "lru-young", fmt.Sprintf("y-%d", i), objectData("y", mib)); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.SetBucketProps(ctx, "s3://lru-data", map[string]any{"lru": map[string]any{"dont_evict_time": "0s"}}); err != nil {
		t.Fatal(err)
	}
	ais(t, c.endpoint, "bucket", "create", "ais://pinned")
	for i := range 3 {
		if _, err := client.Put(ctx, "pinned", fmt.Sprintf("p-%d", i), bytes.NewReader(objectData("p", mib)), api.PutOptions{Size: mib}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.GetBytes(ctx, "s3://lru-young", fmt.Sprintf("y-%d", i), api.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	usage := func() int {
		status, err := client.ClusterStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, node := range status.Nodes {
			for _, mp := range node.Capacity {
				if mp.Path == small && mp.Total > 0 {
					return int(mp.Used * 100 / mp.Total)
				}
			}
		}
		t.Fatalf("no capacity of %s in the status", small)
		return 0
	}
	// Read until the mountpath passes highwm, then no more: LRU must
	// bring it under lowwm.
	peak, last := 0, -1
	for i := range 30 {
		if _, err := client.GetBytes(ctx, "s3://lru-data", fmt.Sprintf("d-%02d", i), api.GetOptions{}); err != nil {
			t.Fatalf("read d-%02d: %v", i, err)
		}
		last = i
		if peak = max(peak, usage()); peak >= 70 {
			break // the next capacity check starts LRU
		}
		time.Sleep(150 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ran, running := lruJobs(t, client)
		if ran && !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no LRU run ended: the mountpath peaked at %d%% (highwm 70%%)", peak)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if u := usage(); u >= 50 || peak < 70 {
		t.Fatalf("the mountpath peaked at %d%% and is at %d%% after LRU (want a peak at highwm 70%%, then under lowwm 50%%)", peak, u)
	}
	cachedNames := func(bucket string) map[string]bool {
		out := map[string]bool{}
		for e, err := range client.ListAll(ctx, bucket, api.ListObjectsMessage{Flags: api.ListCached}) {
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name] = true
		}
		return out
	}
	data, young, pinned := cachedNames("s3://lru-data"), cachedNames("s3://lru-young"), cachedNames("pinned")
	if len(young) != 3 || len(pinned) != 3 {
		t.Fatalf("LRU took objects it must not: young %v, pinned %v", young, pinned)
	}
	if len(data) == last+1 || !data[fmt.Sprintf("d-%02d", last)] || data["d-00"] {
		t.Fatalf("cached of lru-data after LRU: %v (want the least recently read gone, the last read kept)", data)
	}
	before := s.getsOf("lru-data", "d-00")
	if _, err := client.GetBytes(ctx, "s3://lru-data", "d-00", api.GetOptions{}); err != nil || s.getsOf("lru-data", "d-00") != before+1 {
		t.Fatalf("an evicted object read again: %v, %d GETs", err, s.getsOf("lru-data", "d-00")-before)
	}

	// Past out_of_space, with nothing LRU may take: 507, nothing left.
	var refused error
	for i := range 40 {
		_, err := client.Put(ctx, "pinned", fmt.Sprintf("fill-%02d", i), bytes.NewReader(objectData("f", mib)), api.PutOptions{Size: mib})
		if err != nil {
			refused = err
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var apiErr *api.Error
	if !errors.As(refused, &apiErr) || apiErr.Status != http.StatusInsufficientStorage || !strings.Contains(apiErr.Message, "out_of_space") {
		t.Fatalf("PUTs into a full mountpath: %v, want 507 naming out_of_space", refused)
	}
	work, _ := os.ReadDir(filepath.Join(small, ".ais", "work"))
	if len(work) != 0 {
		t.Fatalf("a refused PUT left %d work files", len(work))
	}
	fmt.Printf("lru: a 24 MiB mountpath filled to %d%% by cold GETs, brought under lowwm 50%%; %d of %d objects evicted, LRU-off and young buckets intact; 507 past out_of_space\n", peak, last+1-len(data), last+1)
}

// lruJobs reports whether an lru job ran on a target and whether one
// runs now.
func lruJobs(t *testing.T, client *api.Client) (ran, running bool) {
	status, err := client.ClusterStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range status.Nodes {
		for _, j := range node.Jobs {
			if j.Kind == "lru" {
				ran = true
				running = running || j.Running
			}
		}
	}
	return ran, running
}

// TestFetchesThroughTheEnvironmentsProxy: nodes whose way out is an HTTP
// proxy on their own host (HTTP_PROXY, a sidecar) reach every origin a
// user names through it: a download's link, an ht:// origin (the reverse
// proxy) and the endpoint an s3:// bucket's props name. Only the proxy
// reaches those hosts (TEST-NET addresses), and the nodes run without
// fetch_allow_local: the hop to the proxy is their one local connection.
func TestFetchesThroughTheEnvironmentsProxy(t *testing.T) {
	s := startS3Server(t)
	ctx := t.Context()
	if _, err := s.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("proxied")}); err != nil {
		t.Fatal(err)
	}
	if err := s.put(ctx, "proxied", "obj", fileBytes(3)); err != nil {
		t.Fatal(err)
	}
	const origin, endpoint = "198.51.100.20", "198.51.100.21:9000"
	front, _ := url.Parse(s.endpoint)
	toS3 := httputil.NewSingleHostReverseProxy(front) // the Host signed for stays
	var proxied sync.Map
	sidecar := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Store(r.URL.Host, true)
		switch {
		case r.URL.Host == origin && r.URL.Path == "/files/f.bin":
			w.Write(fileBytes(5))
		case r.URL.Host == origin:
			http.NotFound(w, r)
		case r.URL.Host == endpoint:
			toS3.ServeHTTP(w, r)
		default:
			http.Error(w, "no route to "+r.URL.Host, http.StatusBadGateway)
		}
	})}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sidecar.Serve(listener)
	t.Cleanup(func() { sidecar.Close() })
	t.Setenv("HTTP_PROXY", "http://"+listener.Addr().String())
	t.Setenv("AWS_ACCESS_KEY_ID", remoteAccess)
	t.Setenv("AWS_SECRET_ACCESS_KEY", remoteSecret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	c := startCLICluster(t, 1, 1)
	client := c.client()

	// A download.
	ais(t, c.endpoint, "bucket", "create", "ais://dl")
	ais(t, c.endpoint, "download", "http://"+origin+"/files/f.bin", "ais://dl/f.bin", "--timeout", "20s")
	if data, err := client.GetBytes(ctx, "dl", "f.bin", api.GetOptions{}); err != nil || !bytes.Equal(data, fileBytes(5)) {
		t.Fatalf("the downloaded file: %v", err)
	}
	// The reverse proxy's origin.
	out, err := exec.Command("curl", "-sS", "-f", "-x", c.nodeURL("g1"), "http://"+origin+"/files/f.bin").Output()
	if err != nil || !bytes.Equal(out, fileBytes(5)) {
		t.Fatalf("curl -x the gateway, an origin behind the sidecar: %v, %d bytes", err, len(out))
	}
	if data, err := client.GetBytes(ctx, "ht://"+origin, "files/f.bin", api.GetOptions{}); err != nil || !bytes.Equal(data, fileBytes(5)) {
		t.Fatalf("the origin's cached file: %v", err)
	}
	// A bucket's own endpoint.
	extra := map[string]any{"extra": map[string]any{"aws": map[string]any{"endpoint": "http://" + endpoint, "path_style": true}}}
	if err := client.CreateBucket(ctx, "s3://proxied", extra); err != nil {
		t.Fatalf("an s3:// bucket whose endpoint is behind the sidecar: %v", err)
	}
	if data, err := client.GetBytes(ctx, "s3://proxied", "obj", api.GetOptions{}); err != nil || !bytes.Equal(data, fileBytes(3)) {
		t.Fatalf("a cold GET from the bucket's endpoint: %v", err)
	}
	if s.getsOf("proxied", "obj") != 1 {
		t.Fatalf("the S3 server was asked for the object %d times, want 1", s.getsOf("proxied", "obj"))
	}
	for _, host := range []string{origin, endpoint} {
		if _, ok := proxied.Load(host); !ok {
			t.Fatalf("no request for %s went through the proxy", host)
		}
	}
	// A link to the sidecar itself is no way to it.
	if _, errOut, err := aisResult(c.endpoint, "download", "http://"+listener.Addr().String()+"/x", "ais://dl/x", "--timeout", "5s"); err == nil || !strings.Contains(errOut, "proxy") {
		t.Fatalf("a download of the proxy's own address: %v\n%s", err, errOut)
	}
	fmt.Printf("proxy: a download, an ht:// origin and an s3:// endpoint reached through HTTP_PROXY on loopback\n")
}
