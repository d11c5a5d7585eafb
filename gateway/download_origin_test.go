package gateway_test

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/store"
)

// A file an origin sends gzip-encoded (an S3 object stored with
// Content-Encoding: gzip, a .tar.gz behind a CDN) is stored as sent:
// the bytes a plain GET of the URL gets, not unpacked on the way.
func TestDownloadKeepsTheOriginsBytes(t *testing.T) {
	var packed bytes.Buffer
	zw := gzip.NewWriter(&packed)
	zw.Write(bytes.Repeat([]byte("record "), 1000))
	zw.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(packed.Bytes())
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	id := startRange(t, client, origin.URL+"/data-{0..0}.tar.gz")
	if s := waitDownload(t, client, id); s.Finished != 1 {
		t.Fatalf("the download: %+v", s)
	}
	body, _, err := client.Get(t.Context(), "dl", "data-0.tar.gz", api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(body)
	body.Close()
	if !bytes.Equal(got, packed.Bytes()) {
		t.Fatalf("stored %d bytes, want the origin's %d gzip bytes", len(got), packed.Len())
	}
}

// An origin that sends part of a file and then nothing is given up on
// after the idle time (and tried again), not after the job's timeout:
// the file fails naming the stall, and nothing half-written is stored.
// One that sends slowly, but keeps sending, is waited for.
func TestDownloadGivesUpOnAStalledOrigin(t *testing.T) {
	defer gateway.SetDownloadIdle(300 * time.Millisecond)()
	var requests atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/f-1" {
			w.Header().Set("Content-Length", "10240")
			for range 10 {
				w.Write(make([]byte, 1024))
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return
		}
		requests.Add(1)
		w.Header().Set("Content-Length", "2048")
		w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "dl"}, Template: origin.URL + "/f-{0..1}", Timeout: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	s := waitDownload(t, client, id)
	if s.Finished != 1 || len(s.Errors) != 1 || !strings.Contains(fmt.Sprint(s.Errors), "sent nothing for") {
		t.Fatalf("a download from a stalled origin: %+v", s)
	}
	if n := requests.Load(); n < 2 {
		t.Fatalf("the origin was asked %d times, want the stalled attempt tried again", n)
	}
	if _, err := client.Head(t.Context(), "dl", "f-0"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the object of a stalled download: %v", err)
	}
}

// An origin that answers 429 or 503 with Retry-After is asked again no
// sooner than it said (up to a bound: an hour's wait is cut short), and
// the file is stored when it then answers.
func TestDownloadWaitsForAnOriginsRetryAfter(t *testing.T) {
	const bound = 700 * time.Millisecond
	defer gateway.SetMaxRetryAfter(bound)()
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		var mu sync.Mutex
		var asked []time.Time
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			asked = append(asked, time.Now())
			first := len(asked) == 1
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(status)
				return
			}
			w.Write([]byte("the file"))
		}))
		_, client := downloadCluster(t)
		id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/f", ObjectName: "f"})
		if err != nil {
			t.Fatal(err)
		}
		s := waitDownload(t, client, id)
		origin.Close()
		if s.Finished != 1 || len(s.Errors) != 0 {
			t.Fatalf("a download from an origin that answered %d once: %+v", status, s)
		}
		mu.Lock()
		if len(asked) != 2 {
			t.Fatalf("the origin was asked %d times, want 2", len(asked))
		}
		// The lower bound only: a slow machine waits longer, never less.
		if gap := asked[1].Sub(asked[0]); gap < bound-50*time.Millisecond {
			t.Fatalf("after %d with Retry-After the origin was asked again in %s, want at least %s", status, gap, bound)
		}
		mu.Unlock()
	}
}

// An HTTP origin's bucket is filled by reading through it: a download
// into it is refused at once, naming why (each file's write-through to
// the origin would be refused, after it was fetched).
func TestDownloadIntoAnOriginsBucketIsRefused(t *testing.T) {
	_, client := downloadCluster(t)
	_, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "example.com", Provider: "ht"}, Link: "http://example.com/a", ObjectName: "a"})
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "HTTP origin") {
		t.Fatalf("a download into ht://: %v, want 400 naming the origin's bucket", err)
	}
}

// A file the store refuses once it has it whole (its name is below an
// object's: a conflict) fails at once: it is not fetched again for the
// same answer.
func TestDownloadRefusedByTheStoreIsNotFetchedAgain(t *testing.T) {
	var requests atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write(bytes.Repeat([]byte("x"), 4096))
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	if _, err := client.Put(t.Context(), "dl", "a", strings.NewReader("an object"), api.PutOptions{Size: 9}); err != nil {
		t.Fatal(err)
	}
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/f", ObjectName: "a/b"})
	if err != nil {
		t.Fatal(err)
	}
	s := waitDownload(t, client, id)
	if len(s.Errors) != 1 {
		t.Fatalf("a download under an object's name: %+v, want one error", s)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("the origin was asked %d times for a file the store refuses, want 1", n)
	}
}

// A file whose announced length cannot fit below out_of_space fails at
// once, once, nothing of its body read: streamed, it filled the disks
// (the cache evicted for it) before failing.
func TestDownloadBiggerThanTheRoomFailsAtOnce(t *testing.T) {
	var requests, sent atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Length", strconv.FormatInt(1<<60, 10))
		w.WriteHeader(http.StatusOK)
		for range 64 {
			n, err := w.Write(make([]byte, 64<<10))
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/huge", ObjectName: "huge"})
	if err != nil {
		t.Fatal(err)
	}
	s := waitDownload(t, client, id)
	if len(s.Errors) != 1 || !strings.Contains(fmt.Sprint(s.Errors), "does not fit") || requests.Load() != 1 {
		t.Fatalf("a download of 1 EiB: %+v after %d requests, want one error saying it does not fit", s, requests.Load())
	}
	if _, err := client.Head(t.Context(), "dl", "huge"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the refused download stored something: %v", err)
	}
}

// A file fetched by a target that does not own its name (the map changed
// since the job started) goes to its owner whatever this target's fill:
// the owner's PUT holds its own watermark.
func TestDownloadForAnotherOwnerIgnoresTheFetchersFill(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("the file's bytes"))
	}))
	defer origin.Close()
	c, client := downloadClusterOf(t, 2)
	fetcher, owner := c.Targets()[0], c.Targets()[1]
	b := store.Bucket{Provider: "ais", Name: "dl"}
	name := ""
	for i := 0; name == ""; i++ {
		candidate := fmt.Sprintf("f-%d", i)
		if o, err := fetcher.Node.Map().Owner(cluster.Uname(b.Provider, b.Name, candidate)); err == nil && o.ID == owner.Node.ID() {
			name = candidate
		}
	}
	gateway.FillDisks(fetcher.Node)
	if err := gateway.FetchDownloadFile(t.Context(), fetcher.Node, b, name, origin.URL+"/f", "download-test"); err != nil {
		t.Fatalf("a file for another owner, fetched by a full target: %v", err)
	}
	if _, err := client.Head(t.Context(), "dl", name); err != nil {
		t.Fatalf("the file on its owner: %v", err)
	}
	// Its own files, it refuses.
	own := ""
	for i := 0; own == ""; i++ {
		candidate := fmt.Sprintf("g-%d", i)
		if o, err := fetcher.Node.Map().Owner(cluster.Uname(b.Provider, b.Name, candidate)); err == nil && o.ID == fetcher.Node.ID() {
			own = candidate
		}
	}
	gateway.FillDisks(fetcher.Node) // (an LRU run meanwhile reads the disks again)
	if err := gateway.FetchDownloadFile(t.Context(), fetcher.Node, b, own, origin.URL+"/g", "download-test"); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("a file of its own, fetched by a full target: %v, want out of space", err)
	}
}

// A failed link's secrets (its query) stay out of the job's errors, also
// when its path holds the node's data directory (hidden as <data> first,
// the link was not found again to hide).
func TestDownloadErrorHidesTheLinksSecrets(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer origin.Close()
	c, client := downloadCluster(t)
	link := origin.URL + c.Targets()[0].Dir + "/a.tar?token=SECRET"
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: link, ObjectName: "a.tar"})
	if err != nil {
		t.Fatal(err)
	}
	s := waitDownload(t, client, id)
	if len(s.Errors) != 1 || strings.Contains(fmt.Sprint(s.Errors), "SECRET") || !strings.Contains(s.Errors[0].Error, "403") {
		t.Fatalf("the errors of a link with a token: %+v", s.Errors)
	}
}

// A job's failures are reported within a bound (each target's status
// carries every kept job's result, and its peers read that up to a
// limit): long links are cut, and past the bound they are counted.
func TestDownloadErrorsAreBounded(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusNotFound)
	}))
	defer origin.Close()
	c, client := downloadCluster(t)
	long := strings.Repeat("p", 900)
	id := startRange(t, client, origin.URL+"/"+long+"/f-{0000..0599}")
	s := waitDownload(t, client, id)
	size := 0
	for _, e := range s.Errors {
		size += len(e.Name) + len(e.Link) + len(e.Error)
	}
	if size > 2*(64<<10) || len(s.Errors) == 0 {
		t.Fatalf("%d errors of %d bytes for 600 failed files, want at most 128 KiB", len(s.Errors), size)
	}
	if s.Total != 600 || s.Failed != 600 || !strings.Contains(fmt.Sprint(s.Errors), "more files failed") {
		t.Fatalf("total %d, failed %d (want 600 each), errors end %v", s.Total, s.Failed, s.Errors[len(s.Errors)-1])
	}
	// The list of every job shows each one's counts and first errors,
	// not every target's whole list.
	resp, err := http.Get(c.Primary().URL() + "/v1/download")
	if err != nil {
		t.Fatal(err)
	}
	var listed []api.DownloadStatus
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || len(listed) != 1 || listed[0].ID != id {
		t.Fatalf("the list of downloads: %+v (%v), want the one job", listed, err)
	}
	if l := listed[0]; l.Failed != 600 || len(l.Errors) != 11 || l.Errors[10].Error != "590 more files failed: see the job's status (?id="+id+")" {
		t.Fatalf("the job in the list: failed %d, %d errors ending %v; want 600 failed, 10 errors and a count of the other 590", l.Failed, len(l.Errors), l.Errors[len(l.Errors)-1])
	}
}

// The bound of a target's listed failures counts them as its status
// carries them: names and links full of '<', which JSON escapes in six
// bytes, do not grow the status past it.
func TestDownloadErrorsAreBoundedEscaped(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusNotFound)
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	id := startRange(t, client, origin.URL+"/"+strings.Repeat("<", 240)+"/"+strings.Repeat("<", 200)+"-{000..199}")
	s := waitDownload(t, client, id)
	encoded, _ := json.Marshal(s.Errors)
	if len(encoded) > 64<<10+4<<10 || s.Failed != 200 {
		t.Fatalf("%d errors of %d bytes as JSON for %d failed files, want at most 64 KiB and a bit", len(s.Errors), len(encoded), s.Failed)
	}
}

// A redirect does not carry the link, with the token in its query, to
// the next host as its Referer.
func TestDownloadRedirectSendsNoReferer(t *testing.T) {
	var referer atomic.Value
	referer.Store("unset")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		referer.Store(r.Header.Get("Referer"))
		io.WriteString(w, "payload")
	}))
	defer target.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/cdn/file", http.StatusFound)
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/file?access_token=SECRET", ObjectName: "file"})
	if err != nil {
		t.Fatal(err)
	}
	if s := waitDownload(t, client, id); s.Finished != 1 {
		t.Fatalf("the download: %+v", s)
	}
	if got := referer.Load().(string); got != "" {
		t.Fatalf("the redirect's target was sent Referer %q", got)
	}
}

// A job the gateway takes reaches its targets as sent: links full of
// '&' (presigned URLs) are not HTML-escaped on the way, which would grow
// a body near the bound past what the targets read.
func TestDownloadOfManyPresignedLinksStarts(t *testing.T) {
	c, client := downloadCluster(t)
	// Few long links: the bytes near the bound are what matters, and
	// each link is work for the targets.
	query := strings.Repeat("&x=1", 500)
	var body strings.Builder
	body.WriteString(`{"type":"multi","bucket":{"name":"dl"},"links":[`)
	for i := range 3000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `"http://127.0.0.1:1/f-%05d?a=1%s"`, i, query)
	}
	body.WriteString(`]}`)
	if body.Len() > 8<<20 {
		t.Fatalf("the body is %d bytes, past the gateway's bound", body.Len())
	}
	resp, err := http.Post(c.Primary().URL()+"/v1/download", "application/json", strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a download of 3000 presigned links (%d bytes): %d %.300s", body.Len(), resp.StatusCode, answer)
	}
	var started struct {
		ID string `json:"id"`
	}
	json.Unmarshal(answer, &started)
	client.AbortDownload(t.Context(), started.ID)
}

// A download job saved where the work directory was in an earlier run
// (it follows the first mountpath enabled) is resumed, and its file there
// goes: left, a later restart would fetch the job again.
func TestDownloadSavedInAnEarlierWorkDirIsResumed(t *testing.T) {
	r := newResumeCluster(t, "resumed")
	c, client, earlier, asked := r.c, r.client, r.earlier, r.asked
	origin := r.origin
	os.MkdirAll(earlier, 0o755)
	// A file the job stored before the restart is done: not fetched again.
	if _, err := client.Put(t.Context(), "dl", "done", strings.NewReader("stored before"), api.PutOptions{Size: 13, Custom: map[string]string{"download.job": "download-0123456789ab"}}); err != nil {
		t.Fatal(err)
	}
	saved := fmt.Sprintf(`{"id":"download-0123456789ab","bucket":{"name":"dl","provider":"ais"},"request":{"type":"multi","bucket":{"name":"dl"},"objects":{"back":%q,"done":%q}}}`, origin.URL+"/f", origin.URL+"/g")
	if err := os.WriteFile(filepath.Join(earlier, "download-download-0123456789ab.json"), []byte(saved), 0o600); err != nil {
		t.Fatal(err)
	}
	// A save a crash cut left its temporary file: it goes too.
	cut := filepath.Join(earlier, "download-download-0123456789ac.json.tmp-1f2e3d")
	if err := os.WriteFile(cut, []byte(`{"id":"download-0123`), 0o600); err != nil {
		t.Fatal(err)
	}
	gateway.ResumeDownloads(c.Targets()[0].Node, t.Context()) // as at a start
	if _, err := os.Stat(cut); !os.IsNotExist(err) {
		t.Fatalf("the temporary file of a cut save after the start: %v, want it removed", err)
	}
	eventually(t, func() bool {
		got, err := client.GetBytes(t.Context(), "dl", "back", api.GetOptions{})
		return err == nil && string(got) == "resumed"
	}, "the download saved in the earlier work directory was not resumed")
	s := waitDownload(t, client, "download-0123456789ab")
	if got, err := client.GetBytes(t.Context(), "dl", "done", api.GetOptions{}); err != nil || string(got) != "stored before" || s.Skipped != 1 || asked.Load() != 1 {
		t.Fatalf("a file stored before the restart: %q %v, status %+v, origin asked %d times: want it kept, skipped, not fetched", got, err, s, asked.Load())
	}
	if left, _ := filepath.Glob(filepath.Join(earlier, "download-*.json")); len(left) != 0 {
		t.Fatalf("the earlier work directory keeps %v", left)
	}
}

// A download saved both where the work directory is and in an earlier
// one (a crash between the copy and the removal) is resumed once, and
// keeps its journal: the earlier file goes, not the running job's.
func TestDownloadSavedTwiceKeepsItsJournal(t *testing.T) {
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			io.WriteString(w, "late")
		case <-r.Context().Done():
		}
	}))
	defer origin.Close()
	defer close(release)
	r := newResumeCluster(t, "unused")
	os.MkdirAll(r.earlier, 0o755)
	saved := fmt.Sprintf(`{"id":"download-0123456789ae","bucket":{"name":"dl","provider":"ais"},"request":{"type":"multi","bucket":{"name":"dl"},"objects":{"held":%q}}}`, origin.URL+"/held")
	for _, dir := range []string{r.work, r.earlier} {
		if err := os.WriteFile(filepath.Join(dir, "download-download-0123456789ae.json"), []byte(saved), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gateway.ResumeDownloads(r.c.Targets()[0].Node, t.Context())
	if _, err := os.Stat(filepath.Join(r.work, "download-download-0123456789ae.json")); err != nil {
		t.Fatalf("the journal of the job resumed (still running): %v, want it kept", err)
	}
	if left, _ := filepath.Glob(filepath.Join(r.earlier, "download-*.json")); len(left) != 0 {
		t.Fatalf("the earlier work directory keeps %v", left)
	}
}

// A download saved in an earlier work directory that cannot be resumed
// (its bucket destroyed while the target was down) leaves no journal in
// either: the copy made to resume it would come back at a later restart,
// into a bucket made again under the name.
func TestDownloadNotResumedLeavesNoJournal(t *testing.T) {
	r := newResumeCluster(t, "resumed")
	os.MkdirAll(r.earlier, 0o755)
	saved := fmt.Sprintf(`{"id":"download-0123456789ad","bucket":{"name":"gone","provider":"ais"},"request":{"type":"multi","bucket":{"name":"gone"},"objects":{"back":%q}}}`, r.origin.URL+"/f")
	if err := os.WriteFile(filepath.Join(r.earlier, "download-download-0123456789ad.json"), []byte(saved), 0o600); err != nil {
		t.Fatal(err)
	}
	gateway.ResumeDownloads(r.c.Targets()[0].Node, t.Context())
	for _, dir := range []string{r.earlier, r.work} {
		if left, _ := filepath.Glob(filepath.Join(dir, "download-*.json")); len(left) != 0 {
			t.Fatalf("a download not resumed (its bucket gone) left %v", left)
		}
	}
	if r.asked.Load() != 0 {
		t.Fatalf("the origin was asked %d times for a job not resumed", r.asked.Load())
	}
}

// A file whose bytes keep coming past the job's per-file timeout fails
// at its first attempt, naming the timeout: fetched again from byte 0
// under the same limit, it would only time out again.
func TestDownloadOverItsTimeoutIsNotFetchedAgain(t *testing.T) {
	var requests atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Length", "1048576")
		for range 1024 {
			if _, err := w.Write(make([]byte, 1024)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/big", Timeout: "2s"}) // the headers in time on a loaded machine, the body not
	if err != nil {
		t.Fatal(err)
	}
	s := waitDownload(t, client, id)
	if s.Finished != 0 || len(s.Errors) != 1 || !strings.Contains(s.Errors[0].Error, "timed out after 2s") {
		t.Fatalf("a download over its timeout: %+v", s)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("the origin was asked %d times, want once", n)
	}
}

// An origin that never answers a file's request times it out once: the
// job's timeout bounds the file over its attempts, not each attempt (it
// took three times the timeout).
func TestDownloadTimeoutBoundsTheFileNotEachAttempt(t *testing.T) {
	var requests atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		<-r.Context().Done() // no headers, ever
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/silent", Timeout: "1s"})
	if err != nil {
		t.Fatal(err)
	}
	s := waitDownload(t, client, id)
	if s.Finished != 0 || len(s.Errors) != 1 || !strings.Contains(s.Errors[0].Error, "timed out after 1s") {
		t.Fatalf("a download whose origin never answers: %+v", s)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("the silent origin was asked %d times within the file's timeout, want once", n)
	}
}

// A job's job_timeout runs from its start: a job resumed after a restart
// past its deadline ends at once, naming it, rather than run for another
// job_timeout.
func TestDownloadResumedPastItsDeadlineEnds(t *testing.T) {
	r := newResumeCluster(t, "late")
	c, client, work, asked := r.c, r.client, r.work, r.asked
	origin := r.origin
	saved := fmt.Sprintf(`{"id":"download-0123456789ab","bucket":{"name":"dl","provider":"ais"},"request":{"type":"single","bucket":{"name":"dl"},"link":%q,"object_name":"late","job_timeout":"1h"},"deadline":%d}`,
		origin.URL+"/f", time.Now().Add(-time.Second).UnixNano())
	if err := os.WriteFile(filepath.Join(work, "download-download-0123456789ab.json"), []byte(saved), 0o600); err != nil {
		t.Fatal(err)
	}
	gateway.ResumeDownloads(c.Targets()[0].Node, t.Context()) // as at a start
	s := waitDownload(t, client, "download-0123456789ab")
	if !strings.Contains(fmt.Sprint(s.Errors), "job_timeout") || asked.Load() != 0 {
		t.Fatalf("a job resumed past its deadline: %+v, origin asked %d times", s, asked.Load())
	}
}

// resumeCluster is a cluster of one target whose download journals a test
// writes by hand (in its work directory, or an earlier one), and the
// origin they name, which answers body and counts what it is asked.
type resumeCluster struct {
	c             *gatewaytest.Cluster
	client        *api.Client
	origin        *httptest.Server
	work, earlier string
	asked         *atomic.Int32
}

func newResumeCluster(t *testing.T, body string) *resumeCluster {
	r := &resumeCluster{asked: new(atomic.Int32)}
	r.origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.asked.Add(1)
		io.WriteString(w, body)
	}))
	t.Cleanup(r.origin.Close)
	r.c = gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, Configure: func(cfg *gateway.Config) {
		cfg.FetchAllowLocal = true
		if cfg.Role.IsTarget() {
			r.work, r.earlier = cfg.WorkDir, cfg.WorkDir+"-earlier"
			cfg.RecoverDirs = []string{r.earlier}
		}
	}})
	r.client = r.c.Client()
	if err := r.client.CreateBucket(t.Context(), "dl", nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// A multi download of fewer files than targets: the targets that own none
// of them have nothing to do, and no error (each said "give objects or
// links" to its empty share, and the job ended with errors).
func TestMultiDownloadOfOneFileOnManyTargets(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data") }))
	defer origin.Close()
	_, client := downloadClusterOf(t, 3)
	for _, req := range []api.DownloadRequest{
		{Type: api.DownloadMulti, Bucket: api.Bck{Name: "dl"}, Links: []string{origin.URL + "/one.bin"}},
		{Type: api.DownloadMulti, Bucket: api.Bck{Name: "dl"}, Objects: api.DownloadObjects{"two.bin": origin.URL + "/x"}},
	} {
		id, err := client.StartDownload(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if s := waitDownload(t, client, id); s.Finished != 1 || len(s.Errors) != 0 || s.Failed != 0 {
			t.Fatalf("a multi download of one file on 3 targets: %+v", s)
		}
	}
	for _, name := range []string{"one.bin", "two.bin"} {
		if got, err := client.GetBytes(t.Context(), "dl", name, api.GetOptions{}); err != nil || string(got) != "data" {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
}

// Download requests sent at once do not pass the most that may run
// between them: each counts those being started, not only those running.
func TestDownloadsAskedAtOnceKeepToTheMost(t *testing.T) {
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			w.Write([]byte("x"))
		case <-r.Context().Done():
		}
	}))
	defer origin.Close()
	defer close(release)
	_, client := downloadCluster(t)
	const asked = 48
	var started, refused atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, asked)
	for i := range asked {
		wg.Go(func() {
			_, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadRange, Bucket: api.Bck{Name: "dl"},
				Template: fmt.Sprintf("%s/f%d-{0..0}", origin.URL, i)})
			switch {
			case err == nil:
				started.Add(1)
			case errors.Is(err, api.ErrConflict) && strings.Contains(err.Error(), "the most at once"):
				refused.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a download start: %v", err)
	}
	if started.Load() > 32 || started.Load()+refused.Load() != asked {
		t.Fatalf("%d downloads started and %d refused of %d asked at once; want at most 32 started", started.Load(), refused.Load(), asked)
	}
}

// A running job shows what failed so far, and why: a job whose files
// fail for hours is seen failing, not only at its end.
func TestDownloadShowsFailuresWhileItRuns(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	done := func() { once.Do(func() { close(release) }) }
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/f-0" {
			select { // held until the test saw the failures
			case <-release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "whole")
			return
		}
		http.Error(w, "no such file", http.StatusNotFound)
	}))
	defer origin.Close()
	defer done()
	_, client := downloadCluster(t)
	id := startRange(t, client, origin.URL+"/f-{0..3}")
	var seen api.DownloadStatus
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		s, err := client.DownloadStatus(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Done {
			t.Fatalf("the job ended with a file held: %+v", s)
		}
		if s.Failed == 3 && len(s.Errors) == 3 {
			seen = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a running job's status: %+v, want its 3 failures shown", s)
		}
	}
	if !strings.Contains(fmt.Sprint(seen.Errors), "404") {
		t.Fatalf("the failures shown while running: %+v, want their causes", seen.Errors)
	}
	done()
	if s := waitDownload(t, client, id); s.Finished != 1 || s.Failed != 3 || len(s.Errors) != 3 {
		t.Fatalf("the job at its end: %+v", s)
	}
}

// An origin's Content-MD5 (or x-goog-hash md5=) is checked against the
// bytes it sends: bytes changed on the way are fetched again, and a file
// whose bytes never match fails saying so, with nothing stored.
func TestDownloadChecksTheOriginsMD5(t *testing.T) {
	var corrupt atomic.Int32 // answers left to corrupt
	body := []byte(strings.Repeat("the file's bytes ", 100))
	sum := md5.Sum(body)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent := slices.Clone(body)
		if corrupt.Add(-1) >= 0 {
			sent[7] ^= 1 // one bit flipped, the length kept
		}
		switch r.URL.Path {
		case "/md5":
			w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
		case "/goog":
			w.Header().Set("X-Goog-Hash", "crc32c=AAAAAA==,md5="+base64.StdEncoding.EncodeToString(sum[:]))
		case "/goog-lines": // a line per field, as Google's XML API sends
			w.Header().Add("X-Goog-Hash", "crc32c=AAAAAA==")
			w.Header().Add("X-Goog-Hash", "md5="+base64.StdEncoding.EncodeToString(sum[:]))
		case "/hex-and-goog": // a Content-MD5 in hex (a CDN's) does not hide Google's
			w.Header().Set("Content-MD5", hex.EncodeToString(sum[:]))
			w.Header().Set("X-Goog-Hash", "md5="+base64.StdEncoding.EncodeToString(sum[:]))
		}
		w.Write(sent)
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	for _, path := range []string{"md5", "goog", "goog-lines", "hex-and-goog"} {
		corrupt.Store(1) // the first answer only: the retry stores the file
		id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/" + path, ObjectName: path})
		if err != nil {
			t.Fatal(err)
		}
		if s := waitDownload(t, client, id); s.Finished != 1 || s.Failed != 0 {
			t.Fatalf("%s: a download whose first answer was corrupt: %+v", path, s)
		}
		if got, err := client.GetBytes(t.Context(), "dl", path, api.GetOptions{}); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%s: stored %q, %v", path, got, err)
		}
	}
	corrupt.Store(100) // every answer
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/md5", ObjectName: "never"})
	if err != nil {
		t.Fatal(err)
	}
	if s := waitDownload(t, client, id); s.Failed != 1 || !strings.Contains(fmt.Sprint(s.Errors), "do not match the MD5") {
		t.Fatalf("a download whose bytes never match: %+v", s)
	}
	if _, err := client.Head(t.Context(), "dl", "never"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the object of bytes that never matched: %v", err)
	}
}

// A download part whose journal cannot be kept for a restart (its work
// directory unusable) is not started, saying why: run, a restart would
// forget it, and the status take it for a part that ended before.
func TestDownloadWithoutItsJournalIsNotStarted(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data") }))
	defer origin.Close()
	// Two targets, one of which has no file of the job: it counts none
	// failed.
	c, client := downloadClusterOf(t, 2)
	for _, m := range c.Targets() {
		work := filepath.Join(m.Dir, "work")
		if err := os.RemoveAll(work); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(work, []byte("not a directory"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(work)
	}
	id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + "/f", ObjectName: "f"})
	if err != nil {
		t.Fatal(err)
	}
	s := waitDownload(t, client, id)
	if !strings.Contains(fmt.Sprint(s.Errors), "journal for a restart cannot be kept") || s.Failed != 1 || s.Total != 1 {
		t.Fatalf("a download whose journal cannot be kept: %+v, want its part failed saying so, its file counted failed", s)
	}
	if _, err := client.Head(t.Context(), "dl", "f"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the part not started stored its file: %v", err)
	}
}

// An answer with neither a length nor chunks ends with its connection: an
// origin cut mid-way must not leave a whole-looking, short object. Asked
// the file's size at the end, the download tells, and tries again.
func TestDownloadOfACloseDelimitedFileChecksItsEnd(t *testing.T) {
	body := []byte(strings.Repeat("the file's bytes ", 100))
	var cut atomic.Int32 // answers left to cut
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			if r.URL.Path == "/refused" { // a link good for one GET
				w.WriteHeader(http.StatusForbidden)
				return
			}
			if r.URL.Path == "/star" { // the rest, of a size not told
				var from int
				fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &from)
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/*", from, len(body)-1))
				w.WriteHeader(http.StatusPartialContent)
				w.Write(body[from:])
				return
			}
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
			return
		}
		sent := body
		if cut.Add(-1) >= 0 {
			sent = body[:len(body)/2]
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n%s", sent)
		buf.Flush()
	}))
	defer origin.Close()
	_, client := downloadCluster(t)
	download := func(name string) api.DownloadStatus {
		path := "/f"
		if name == "refused" || name == "star" {
			path = "/" + name
		}
		id, err := client.StartDownload(t.Context(), api.DownloadRequest{Type: api.DownloadSingle, Bucket: api.Bck{Name: "dl"}, Link: origin.URL + path, ObjectName: name})
		if err != nil {
			t.Fatal(err)
		}
		return waitDownload(t, client, id)
	}
	cut.Store(1) // the first answer only: the retry stores the file
	if s := download("once"); s.Finished != 1 || s.Failed != 0 {
		t.Fatalf("a download whose first answer was cut: %+v", s)
	}
	if got, err := client.GetBytes(t.Context(), "dl", "once", api.GetOptions{}); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("stored %d bytes (%v), want %d", len(got), err, len(body))
	}
	// An origin that refuses to tell (a 4xx) is taken at its word.
	cut.Store(0)
	if s := download("refused"); s.Finished != 1 || s.Failed != 0 {
		t.Fatalf("a download whose origin refuses to tell its size: %+v", s)
	}
	cut.Store(100) // every answer
	if s := download("never"); s.Failed != 1 || !strings.Contains(fmt.Sprint(s.Errors), fmt.Sprintf("after %d bytes of %d", len(body)/2, len(body))) {
		t.Fatalf("a download whose answers are all cut: %+v", s)
	}
	if _, err := client.Head(t.Context(), "dl", "never"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the object of answers all cut: %v", err)
	}
	// The bytes past those read, of a whole size not told: cut too.
	if s := download("star"); s.Failed != 1 || !strings.Contains(fmt.Sprint(s.Errors), "it has more") {
		t.Fatalf("a download whose answers are all cut, its origin telling no size: %+v", s)
	}
}

// The list of download jobs, with none, is an empty JSON array (a client
// in another language iterates it), not null.
func TestNoDownloadsListAsAnEmptyArray(t *testing.T) {
	c, _ := downloadCluster(t)
	resp, err := http.Get(c.Primary().URL() + "/v1/download")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("the list of no downloads: %d %q (%v), want []", resp.StatusCode, body, err)
	}
}
