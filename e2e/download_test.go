//go:build e2e

package e2e

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
)

// fileServer serves /f/NNN: 64 KiB of bytes named after the file; some
// numbers answer 404, some stall, and with a delay each file trickles.
type fileServer struct {
	url      string
	missing  map[int]bool
	stall    map[int]bool
	perChunk time.Duration
}

func fileBytes(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("file-%03d;", i)), 64<<10/9+1)[:64<<10]
}

func startFileServer(t *testing.T, fs *fileServer) *fileServer {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/f/"))
		if err != nil || fs.missing[i] {
			http.NotFound(w, r)
			return
		}
		if fs.stall[i] {
			<-r.Context().Done()
			return
		}
		data := fileBytes(i)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		for off := 0; off < len(data); off += 16 << 10 {
			if _, err := w.Write(data[off : off+16<<10]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			if fs.perChunk > 0 {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(fs.perChunk):
				}
			}
		}
	})}
	go server.Serve(listener)
	t.Cleanup(func() { server.Close() })
	fs.url = "http://" + listener.Addr().String()
	return fs
}

// waitDownload waits for a download job to end and returns its status.
func waitDownload(t *testing.T, client *api.Client, id string) api.DownloadStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s, err := client.DownloadStatus(t.Context(), id)
		if err == nil && s.Done {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("download %s did not end: %+v %v", id, s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkFiles reads back the downloaded objects: each whole, none partial.
func checkFiles(t *testing.T, client *api.Client, bucket string, n int) (present int) {
	t.Helper()
	for i := range n {
		data, err := client.GetBytes(t.Context(), bucket, fmt.Sprintf("%03d", i), api.GetOptions{})
		if errors.Is(err, api.ErrNotFound) {
			continue
		}
		if err != nil || !bytes.Equal(data, fileBytes(i)) {
			t.Fatalf("object %03d: %d bytes, %v: want the whole file", i, len(data), err)
		}
		present++
	}
	return present
}

func TestDownloader(t *testing.T) {
	c := startCLICluster(t, 1, 2, "-fetch-allow-local") // the files are on this host
	client := c.client()
	ctx := t.Context()
	ais(t, c.endpoint, "bucket", "create", "ais://dl")

	// A range with 3 missing files and one that stalls: the job ends, the
	// failures named with their causes.
	fs := startFileServer(t, &fileServer{missing: map[int]bool{5: true, 11: true, 17: true}, stall: map[int]bool{13: true}})
	out, errOut, err := aisResult(c.endpoint, "download", fs.url+"/f/{000..019}", "ais://dl", "--timeout", "1s")
	if err == nil || !strings.Contains(out, "downloaded 16 of 20") || strings.Count(errOut, "failed: ") != 4 ||
		!strings.Contains(errOut, "404") || !strings.Contains(errOut, "timed out") {
		t.Fatalf("download with failures: %v\n%s%s", err, out, errOut)
	}
	if got := checkFiles(t, client, "dl", 20); got != 16 {
		t.Fatalf("%d files downloaded, want 16", got)
	}

	// Abort mid-way: what is stored is whole, nothing else is left.
	slow := startFileServer(t, &fileServer{perChunk: 150 * time.Millisecond})
	ais(t, c.endpoint, "bucket", "create", "ais://aborted")
	id, err := client.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "aborted"}, Template: slow.url + "/f/{000..039}"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if err := client.AbortDownload(ctx, id); err != nil {
		t.Fatal(err)
	}
	s := waitDownload(t, client, id)
	got := checkFiles(t, client, "aborted", 40)
	if !s.Aborted || got == 40 {
		t.Fatalf("aborted download: %+v, %d files stored", s, got)
	}
	for _, n := range c.state() {
		if work, _ := os.ReadDir(filepath.Join(n.Dir, "mp1", ".ais", "work")); len(work) != 0 {
			t.Fatalf("%s keeps %d work files after the abort", n.Name, len(work))
		}
	}

	// An ended job can be removed from the list; a running one cannot.
	ais(t, c.endpoint, "bucket", "create", "ais://removed")
	running, err := client.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "removed"}, Template: slow.url + "/f/{000..039}"})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.RemoveDownload(ctx, running); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("removing a running download: %v, want a conflict", err)
	}
	if err := client.AbortDownload(ctx, running); err != nil {
		t.Fatal(err)
	}
	waitDownload(t, client, running)
	for _, ended := range []string{id, running} {
		if err := client.RemoveDownload(ctx, ended); err != nil {
			t.Fatalf("remove the ended download %s: %v", ended, err)
		}
		if _, err := client.DownloadStatus(ctx, ended); !errors.Is(err, api.ErrJobNotFound) {
			t.Fatalf("a removed download's status: %v, want not found", err)
		}
	}
	if err := client.RemoveDownload(ctx, id); !errors.Is(err, api.ErrJobNotFound) {
		t.Fatalf("removing a removed download: %v", err)
	}

	// A job timeout ends a job that runs too long, what it stored whole.
	ais(t, c.endpoint, "bucket", "create", "ais://timed")
	id, err = client.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "timed"}, Template: slow.url + "/f/{000..039}", JobTimeout: "1s"})
	if err != nil {
		t.Fatal(err)
	}
	s = waitDownload(t, client, id)
	if got := checkFiles(t, client, "timed", 40); got == 40 || len(s.Errors) == 0 || !strings.Contains(fmt.Sprint(s.Errors), "job_timeout") {
		t.Fatalf("a job over its job_timeout: %+v, %d files", s, got)
	}
	// Every file is of the total, those the timeout left as failed.
	if s.Total != 40 || s.Finished+s.Skipped+s.Failed != 40 {
		t.Fatalf("a job over its job_timeout counts %d of %d files (finished %d, skipped %d, failed %d), want all 40", s.Finished+s.Skipped+s.Failed, s.Total, s.Finished, s.Skipped, s.Failed)
	}

	// A target killed mid-job resumes its part after the restart.
	ais(t, c.endpoint, "bucket", "create", "ais://resumed")
	id, err = client.StartDownload(ctx, api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "resumed"}, Template: slow.url + "/f/{000..039}"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond)
	c.kill9("t1")
	c.restart(2)
	deadline := time.Now().Add(90 * time.Second)
	for checkFiles(t, client, "resumed", 40) != 40 {
		if time.Now().After(deadline) {
			t.Fatalf("the download did not resume: %d of 40 files", checkFiles(t, client, "resumed", 40))
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Bad input.
	for _, tc := range []struct {
		req  api.DownloadRequest
		want string
	}{
		{api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: "ftp://host/f"}, "scheme must be http or https"},
		{api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "nosuch"}, Link: fs.url + "/f/001"}, "does not exist"},
		{api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "dl"}, Template: fs.url + "/f/{9..1}"}, "template"},
		{api.DownloadRequest{Type: "torrent", Bucket: api.Bck{Name: "dl"}}, "type"},
		{api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: c.nodeURL("t1") + "/v1/daemon?what=config"}, "of this cluster"},
	} {
		if _, err := client.StartDownload(ctx, tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("download %+v: %v, want an error naming %q", tc.req, err, tc.want)
		}
	}
	fmt.Printf("downloader: a 20-file range with 3 missing and 1 stalled (16 stored, 4 failures named), an abort leaving only whole objects, a kill -9 resumed\n")
}

// The reverse proxy: curl with the gateway as its HTTP proxy gets a file;
// the second GET is served by the cluster, the origin not asked.
func TestReverseProxy(t *testing.T) {
	c := startCLICluster(t, 1, 2, "-fetch-allow-local") // the origin is on this host
	// GETs of the file; the gateway's one HEAD of a new origin (is it
	// there?) is counted apart.
	var hits, heads atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			heads.Add(1)
		} else {
			hits.Add(1)
		}
		switch r.URL.Path {
		case "/data/file.bin":
			w.Write(fileBytes(7))
		case "/data/big.bin":
			w.Header().Set("Content-Length", "4194304")
			w.Write(make([]byte, 4<<20))
		case "/data/unsized.bin":
			// A HEAD of it tells no size (a body past the server's
			// buffer is not measured for a HEAD).
			w.Write(make([]byte, 4<<20))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(origin.Close)
	gateway := c.nodeURL("g1")
	for i := range 2 {
		out, err := exec.Command("curl", "-sS", "-f", "-x", gateway, origin.URL+"/data/file.bin").Output()
		if err != nil || !bytes.Equal(out, fileBytes(7)) {
			t.Fatalf("curl -x, GET %d: %v, %d bytes", i+1, err, len(out))
		}
	}
	if hits.Load() != 1 || heads.Load() != 1 {
		t.Fatalf("the origin was asked %d GETs and %d HEADs, want 1 of each", hits.Load(), heads.Load())
	}
	// The file is an object of the origin's ht:// bucket.
	host := strings.TrimPrefix(origin.URL, "http://")
	bucket := "ht://" + strings.ReplaceAll(host, ":", "_")
	if data, err := c.client().GetBytes(t.Context(), bucket, "data/file.bin", api.GetOptions{}); err != nil || !bytes.Equal(data, fileBytes(7)) {
		t.Fatalf("the cached object in %s: %v", bucket, err)
	}
	// Missing at the origin: 404; a node of the cluster: refused.
	if out, err := exec.Command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", gateway, origin.URL+"/nope").Output(); err != nil || string(out) != "404" {
		t.Fatalf("a missing file through the proxy: %s %v", out, err)
	}
	if out, err := exec.Command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", gateway, gateway+"/v1/cluster?what=smap").Output(); err != nil || string(out) != "403" {
		t.Fatalf("a cluster node through the proxy: %s %v", out, err)
	}
	// A HEAD tells the size without fetching the file.
	hits.Store(0)
	out, err := exec.Command("curl", "-sS", "-f", "-I", "-x", gateway, origin.URL+"/data/big.bin").Output()
	if err != nil || !strings.Contains(strings.ToLower(string(out)), "content-length: 4194304") {
		t.Fatalf("HEAD through the proxy: %v\n%s", err, out)
	}
	// Nor when the origin does not tell the size (no Content-Length: -1).
	if out, err := exec.Command("curl", "-sS", "-f", "-I", "-x", gateway, origin.URL+"/data/unsized.bin").Output(); err != nil || strings.Contains(strings.ToLower(string(out)), "content-length: -") {
		t.Fatalf("HEAD through the proxy of a file of unknown size: %v\n%s", err, out)
	}
	if hits.Load() != 0 {
		t.Fatalf("a HEAD through the proxy had the origin send the file (%d GETs)", hits.Load())
	}
	fmt.Printf("proxy: curl -x through a gateway twice, the origin asked once\n")
}

// TestProxyTunnel: https through the gateway's proxy (curl -x with an
// https URL) is a CONNECT tunnel to the origin, end to end; only to the
// allowed ports.
func TestProxyTunnel(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(fileBytes(9))
	}))
	t.Cleanup(origin.Close)
	caFile := filepath.Join(t.TempDir(), "origin.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: origin.Certificate().Raw}), 0o644)
	port := origin.URL[strings.LastIndex(origin.URL, ":")+1:]
	c := startCLICluster(t, 1, 1, "-proxy-connect-ports=443,"+port, "-fetch-allow-local")
	gateway := c.nodeURL("g1")
	for i := range 2 {
		out, err := exec.Command("curl", "-sS", "-f", "--cacert", caFile, "-x", gateway, origin.URL+"/secure.bin").Output()
		if err != nil || !bytes.Equal(out, fileBytes(9)) {
			t.Fatalf("curl -x with https, GET %d: %v, %d bytes", i+1, err, len(out))
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("the origin was asked %d times through the tunnel, want 2 (TLS end to end: nothing cached)", hits.Load())
	}
	// A port not allowed: 403 (nodes of the cluster are refused as for
	// plain http, see TestReverseProxy).
	out, _ := exec.Command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_connect}", "-p", "-x", gateway, "http://127.0.0.1:22/").Output()
	if string(out) != "403" {
		t.Errorf("CONNECT to port 22 through the proxy: %s, want 403", out)
	}
}
