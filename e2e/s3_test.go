//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const (
	s3Access = "AKIDAISGOE2E"
	s3Secret = "the-e2e-secret"
)

// s3Cluster starts a cluster whose gateway serves S3 at /s3 and at the
// root of a port of its own, signed with the test key.
func s3Cluster(t *testing.T) (c *cliCluster, endpoint, rootEndpoint string) {
	t.Setenv("AIS_S3_ACCESS_KEY", s3Access)
	t.Setenv("AIS_S3_SECRET_KEY", s3Secret)
	s3Port := freePortRange(t, 1)
	c = startCLICluster(t, 1, 2, "-s3-port="+strconv.Itoa(s3Port))
	endpoint, rootEndpoint = c.nodeURL("g1")+"/s3", fmt.Sprintf("http://127.0.0.1:%d", s3Port)
	// The nodes took the key from ais cluster start's environment: an
	// unsigned request is refused.
	for _, url := range []string{endpoint + "/", rootEndpoint + "/"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "AccessDenied") {
			t.Fatalf("an unsigned ListBuckets at %s: %s %s, want 403 AccessDenied", url, resp.Status, body)
		}
	}
	return c, endpoint, rootEndpoint
}

// clientEnv is the environment of the Debian S3 clients.
func clientEnv(dir string) []string {
	config := filepath.Join(dir, "aws-config")
	os.WriteFile(config, []byte("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n"), 0o644)
	return append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3Access, "AWS_SECRET_ACCESS_KEY="+s3Secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE="+config, "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The Debian S3 clients, unchanged, against a cluster of real processes:
// boto3, awscli at /s3, s3cmd at the S3-only port.
func TestS3Clients(t *testing.T) {
	c, endpoint, root := s3Cluster(t)
	dir := t.TempDir()
	env := clientEnv(dir)
	fmt.Print(run(t, env, "/usr/bin/python3", "testdata/boto3_s3.py", endpoint, dir))

	// awscli: cp --recursive, sync twice, multipart by hand.
	aws := func(args ...string) string {
		return run(t, env, "/usr/bin/aws", append([]string{"--endpoint-url", endpoint}, args...)...)
	}
	src := filepath.Join(dir, "tree")
	for i := range 20 {
		path := filepath.Join(src, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%02d.txt", i))
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, bytes.Repeat([]byte{byte('a' + i)}, 1000+i), 0o644)
	}
	aws("s3", "mb", "s3://cli")
	if out := aws("s3", "cp", "--recursive", src, "s3://cli/copied/"); strings.Count(out, "upload:") != 20 {
		t.Fatalf("aws s3 cp --recursive:\n%s", out)
	}
	if out := aws("s3", "sync", src, "s3://cli/synced/"); strings.Count(out, "upload:") != 20 {
		t.Fatalf("first aws s3 sync:\n%s", out)
	}
	if out := aws("s3", "sync", src, "s3://cli/synced/"); strings.TrimSpace(out) != "" {
		t.Fatalf("second aws s3 sync copied again:\n%s", out)
	}
	back := filepath.Join(dir, "back")
	aws("s3", "cp", "--recursive", "s3://cli/synced/", back)
	if out, err := exec.Command("diff", "-r", src, back).CombinedOutput(); err != nil {
		t.Fatalf("the tree read back differs: %v\n%s", err, out)
	}
	part := filepath.Join(dir, "part")
	os.WriteFile(part, bytes.Repeat([]byte("p"), 5<<20), 0o644)
	upload := aws("s3api", "create-multipart-upload", "--bucket", "cli", "--key", "by-hand", "--query", "UploadId", "--output", "text")
	id := strings.TrimSpace(upload)
	var etags []string
	for n := 1; n <= 2; n++ {
		etag := aws("s3api", "upload-part", "--bucket", "cli", "--key", "by-hand", "--upload-id", id, "--part-number", strconv.Itoa(n), "--body", part, "--query", "ETag", "--output", "text")
		etags = append(etags, strings.TrimSpace(etag))
	}
	parts := fmt.Sprintf(`{"Parts":[{"PartNumber":1,"ETag":%q},{"PartNumber":2,"ETag":%q}]}`, etags[0], etags[1])
	os.WriteFile(filepath.Join(dir, "parts.json"), []byte(parts), 0o644)
	aws("s3api", "complete-multipart-upload", "--bucket", "cli", "--key", "by-hand", "--upload-id", id, "--multipart-upload", "file://"+filepath.Join(dir, "parts.json"))
	if size := strings.TrimSpace(aws("s3api", "head-object", "--bucket", "cli", "--key", "by-hand", "--query", "ContentLength", "--output", "text")); size != strconv.Itoa(10<<20) {
		t.Fatalf("the object of the multipart upload by hand: %s bytes", size)
	}
	fmt.Println("awscli: cp --recursive of 20 files, sync twice (the second copies nothing), s3api multipart by hand")

	// s3cmd at the S3-only port, which serves S3 at its root.
	host := strings.TrimPrefix(root, "http://")
	cfg := filepath.Join(dir, "s3cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n", s3Access, s3Secret, host, host)), 0o600)
	s3cmd := func(args ...string) string { return run(t, env, "s3cmd", append([]string{"-c", cfg}, args...)...) }
	s3cmd("mb", "s3://s3cmd")
	s3cmd("put", filepath.Join(src, "d0", "f00.txt"), "s3://s3cmd/one.txt")
	got := filepath.Join(dir, "one.txt")
	s3cmd("get", "s3://s3cmd/one.txt", got)
	if a, b := mustRead(t, got), mustRead(t, filepath.Join(src, "d0", "f00.txt")); !bytes.Equal(a, b) {
		t.Fatal("s3cmd get: the bytes differ")
	}
	if out := s3cmd("ls", "s3://s3cmd"); !strings.Contains(out, "s3://s3cmd/one.txt") {
		t.Fatalf("s3cmd ls:\n%s", out)
	}
	s3cmd("sync", src+"/", "s3://s3cmd/tree/")
	if out := s3cmd("ls", "--recursive", "s3://s3cmd/tree/"); strings.Count(out, "s3://s3cmd/tree/") != 20 {
		t.Fatalf("s3cmd sync then ls:\n%s", out)
	}
	s3cmd("del", "s3://s3cmd/one.txt")
	if out := s3cmd("ls", "s3://s3cmd/one.txt"); strings.Contains(out, "one.txt") {
		t.Fatalf("s3cmd del left:\n%s", out)
	}
	fmt.Println("s3cmd: put, get, ls, sync, del at the S3-only port")

	// One namespace: dSort reshards what boto3 put, and boto3 reads what
	// dSort made.
	fmt.Print(run(t, env, "/usr/bin/python3", "testdata/boto3_shards.py", "put", endpoint, "shards"))
	jobID := c.startJob(dsortSpec(t, "shards", "in-{000..007}.tgz", "resharded", ""))
	ais(t, c.endpoint, "dsort", "wait", jobID)
	fmt.Print(run(t, env, "/usr/bin/python3", "testdata/boto3_shards.py", "check", endpoint, "resharded"))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Readers and writers of one key: every read is one whole version.
func TestS3ConcurrentReadersAndWriters(t *testing.T) {
	_, endpoint, _ := s3Cluster(t)
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s3Access, s3Secret, ""), Retryer: aws.NopRetryer{}})
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("race")}); err != nil {
		t.Fatal(err)
	}
	versions := [][]byte{bytes.Repeat([]byte{'A'}, 1<<20), bytes.Repeat([]byte{'B'}, 1<<20), bytes.Repeat([]byte{'C'}, 512<<10)}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("race"), Key: aws.String("k"), Body: bytes.NewReader(versions[0])}); err != nil {
		t.Fatal(err)
	}
	var reads, writes, torn atomic.Int64
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 40 {
				v := versions[(w+i)%len(versions)]
				if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("race"), Key: aws.String("k"), Body: bytes.NewReader(v)}); err != nil {
					t.Errorf("PUT: %v", err)
					return
				}
				writes.Add(1)
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for range 60 {
				out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("race"), Key: aws.String("k")})
				if err != nil {
					// A read that meets a write between its HEAD and GET is
					// refused rather than served mixed.
					if !strings.Contains(err.Error(), "PreconditionFailed") {
						t.Errorf("GET: %v", err)
					}
					continue
				}
				var body bytes.Buffer
				body.ReadFrom(out.Body)
				out.Body.Close()
				reads.Add(1)
				b := body.Bytes()
				if len(b) == 0 || !bytes.Equal(b, bytes.Repeat(b[:1], len(b))) || int64(len(b)) != aws.ToInt64(out.ContentLength) {
					torn.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if torn.Load() != 0 || reads.Load() == 0 {
		t.Fatalf("%d of %d reads torn or mixed", torn.Load(), reads.Load())
	}
	fmt.Printf("s3 one key: %d writes, %d reads, 0 torn or mixed\n", writes.Load(), reads.Load())
}

// A PUT that claims 6 GiB and sends 10 bytes fails cleanly, and no work
// file is left on the targets.
func TestS3ShortBody(t *testing.T) {
	c, endpoint, _ := s3Cluster(t)
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s3Access, s3Secret, ""), Retryer: aws.NopRetryer{}})
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("short")}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, endpoint+"/short/claim", nil)
	req.ContentLength = 6 << 30
	req.Header.Set("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s3Access, SecretAccessKey: s3Secret}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.URL.RequestURI(), req.URL.Host, req.ContentLength)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(conn, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprint(conn, "\r\n0123456789")
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("a PUT of 10 of 6 GiB answered %d", resp.StatusCode)
		}
	}
	// Not stored, and the gateway still serves (a crash would also fail
	// the HEAD).
	_, err = client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("short"), Key: aws.String("claim")})
	if notFound := new(types.NotFound); !errors.As(err, &notFound) {
		t.Fatalf("HEAD of the object a short PUT claimed: %v, want 404", err)
	}
	if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("short"), Key: aws.String("after"), Body: strings.NewReader("whole")}); err != nil {
		t.Fatalf("a PUT after the short one: %v", err)
	}
	until(t, 10*time.Second, "the targets' work files to go", func() bool {
		for _, n := range c.state() {
			files, _ := filepath.Glob(filepath.Join(n.Dir, "mp*", ".ais", "work", "*"))
			for _, f := range files {
				if info, err := os.Stat(f); err == nil && info.Mode().IsRegular() {
					return false
				}
			}
		}
		return true
	})
}
