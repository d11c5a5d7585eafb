package s3_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aisgo/aisgo/api"
	s3api "github.com/aisgo/aisgo/gateway/s3"
	"github.com/aisgo/aisgo/store"
)

// overwriting overwrites key after each of its first overwrites HEADs: the
// GET that follows reads another version than the HEAD described.
type overwriting struct {
	clientBackend
	key        string
	overwrites int32
	heads      atomic.Int32
	// body, when set, is what each overwrite writes.
	body string
}

func (o *overwriting) Head(ctx context.Context, bucket, name string) (store.ObjectMeta, error) {
	meta, err := o.clientBackend.Head(ctx, bucket, name)
	if name == o.key {
		if n := o.heads.Add(1); n <= o.overwrites {
			body := cmp.Or(o.body, fmt.Sprintf("version %d of the object", n+1))
			if _, perr := o.Client.Put(ctx, bucket, name, strings.NewReader(body), api.PutOptions{Size: int64(len(body))}); perr != nil {
				return meta, perr
			}
		}
	}
	return meta, err
}

// objectToOverwrite starts a cluster whose bucket b has the object k,
// "version 1 of the object", and returns its native client.
func objectToOverwrite(t *testing.T) *api.Client {
	t.Helper()
	c, _ := testCluster(t)
	native := api.NewClient(c.Primary().URL())
	body := "version 1 of the object"
	if err := native.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := native.Put(t.Context(), "b", "k", strings.NewReader(body), api.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	return native
}

// A suffix range of an object cut short between its HEAD and its GET
// (past the new end) is read again, not answered 416.
func TestRangeOfAnObjectCutShortWhileReadIsReadAgain(t *testing.T) {
	native := objectToOverwrite(t)
	backend := &overwriting{clientBackend: clientBackend{native}, key: "k", overwrites: 1, body: "v2"}
	server := httptest.NewServer(s3api.New(s3api.Config{Backend: backend}).Handler(""))
	defer server.Close()
	req, _ := http.NewRequest(http.MethodGet, server.URL+"/b/k", nil)
	req.Header.Set("Range", "bytes=-5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(got) != "v2" || resp.Header.Get("Content-Range") != "bytes 0-1/2" {
		t.Fatalf("a suffix range of an object cut short while read: %d %q %q, want 206 with the new version", resp.StatusCode, got, resp.Header.Get("Content-Range"))
	}
}

// A ranged read, or a part copied from a range, of an object overwritten
// between its HEAD and its GET is read again (S3 serves the current
// version, and clients do not retry a 412 they did not ask for); one
// overwritten on every read is 503, which they retry.
func TestObjectOverwrittenWhileReadIsReadAgain(t *testing.T) {
	native := objectToOverwrite(t)
	for _, tc := range []struct {
		overwrites int32
		status     int
		want       string
	}{
		{1, http.StatusPartialContent, "version 2"},
		{3, http.StatusServiceUnavailable, "SlowDown"},
	} {
		backend := &overwriting{clientBackend: clientBackend{native}, key: "k", overwrites: tc.overwrites}
		// As the node serves it: with its policy for stored content set
		// first, which an answer read again keeps.
		handler := s3api.New(s3api.Config{Backend: backend}).Handler("")
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", "sandbox")
			handler.ServeHTTP(w, r)
		}))
		req, _ := http.NewRequest(http.MethodGet, server.URL+"/b/k", nil)
		req.Header.Set("Range", "bytes=0-8")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(got), tc.want) {
			t.Errorf("a range of an object overwritten %d times while read: %d %q, want %d with %q", tc.overwrites, resp.StatusCode, got, tc.status, tc.want)
		}
		if tc.status == http.StatusPartialContent && resp.Header.Get("Content-Range") != "bytes 0-8/23" {
			t.Errorf("its Content-Range: %q", resp.Header.Get("Content-Range"))
		}
		if resp.Header.Get("Content-Security-Policy") != "sandbox" {
			t.Errorf("the answer read again lost the policy set before it: %q", resp.Header)
		}

		// A part copied from it.
		backend.heads.Store(0)
		status, answer := s3Call(t, server.URL, http.MethodPost, "/b/dst?uploads", nil)
		if status != http.StatusOK {
			t.Fatalf("create an upload: %d %s", status, answer)
		}
		id := answer[strings.Index(answer, "<UploadId>")+len("<UploadId>") : strings.Index(answer, "</UploadId>")]
		status, answer = s3Call(t, server.URL, http.MethodPut, "/b/dst?partNumber=1&uploadId="+id, map[string]string{"x-amz-copy-source": "b/k", "x-amz-copy-source-range": "bytes=0-8"})
		want := http.StatusOK
		if tc.status != http.StatusPartialContent {
			want = tc.status
		}
		if status != want {
			t.Errorf("a part copied from an object overwritten %d times while read: %d %s, want %d", tc.overwrites, status, answer, want)
		}
		server.Close()
	}
}

// s3Call sends an unsigned S3 request and returns its status and body.
func s3Call(t *testing.T, endpoint, method, path string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, endpoint+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// vanishing answers a HEAD of key, then has no object for its GET (a
// delete in between).
type vanishing struct {
	clientBackend
	key string
}

func (v vanishing) Get(ctx context.Context, bucket, name string, opts api.GetOptions) (io.ReadCloser, store.ObjectMeta, error) {
	if name == v.key {
		return nil, store.ObjectMeta{}, fmt.Errorf("%w: deleted meanwhile", api.ErrNotFound)
	}
	return v.clientBackend.Get(ctx, bucket, name, opts)
}

// An error found after the object's headers were set answers without
// them, and with the node's own (its policy for stored content).
func TestErrorAfterTheHeadersKeepsTheNodesHeaders(t *testing.T) {
	c, _ := testCluster(t)
	native := api.NewClient(c.Primary().URL())
	ctx := t.Context()
	if err := native.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := native.Put(ctx, "b", "k", strings.NewReader("data"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	handler := s3api.New(s3api.Config{Backend: vanishing{clientBackend{native}, "k"}}).Handler("")
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "sandbox")
		handler.ServeHTTP(w, r)
	}))
	defer server.Close()
	req, _ := http.NewRequest(http.MethodGet, server.URL+"/b/k", nil)
	req.Header.Set("Range", "bytes=0-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("ETag") != "" || resp.Header.Get("Content-Security-Policy") != "sandbox" {
		t.Fatalf("a GET whose object went after its HEAD: %d, headers %v; want 404 with the node's policy and no ETag", resp.StatusCode, resp.Header)
	}
}

// noHeads is a caller who may read and write objects but not HEAD them,
// nor read a bucket's props (a custom role of GET, PUT and DELETE).
type noHeads struct{ clientBackend }

func (noHeads) Head(context.Context, string, string) (store.ObjectMeta, error) {
	return store.ObjectMeta{}, fmt.Errorf("%w: HEAD", api.ErrForbidden)
}

func (noHeads) BucketProps(context.Context, string) (store.Props, error) {
	return store.Props{}, fmt.Errorf("%w: bucket props", api.ErrForbidden)
}

// What an authorized operation reads first (a key's metadata for a range
// or a condition, a bucket's existence) is read as the node: a caller
// allowed the operation is not refused for a HEAD it did not ask for.
func TestChecksBeneathAnOperationAreTheNodes(t *testing.T) {
	native := objectToOverwrite(t)
	server := httptest.NewServer(s3api.New(s3api.Config{Backend: noHeads{clientBackend{native}}, Hidden: clientBackend{native}}).Handler(""))
	defer server.Close()
	do := func(method, path string, header map[string]string) (int, string) {
		req, _ := http.NewRequest(method, server.URL+path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	if status, body := do(http.MethodGet, "/b/k", map[string]string{"Range": "bytes=0-6"}); status != http.StatusPartialContent || body != "version" {
		t.Fatalf("a ranged GET by a caller who may not HEAD: %d %q", status, body)
	}
	if status, body := do(http.MethodDelete, "/b/missing", nil); status != http.StatusNoContent {
		t.Fatalf("a DELETE of a missing key by a caller who may not read props: %d %s", status, body)
	}
	if status, body := do(http.MethodGet, "/b?list-type=2", nil); status != http.StatusOK || !strings.Contains(body, "<Key>k</Key>") {
		t.Fatalf("a listing by a caller who may not read props: %d %s", status, body)
	}
	for _, path := range []string{"/b/k?tagging", "/b/k?acl"} {
		if status, body := do(http.MethodGet, path, nil); status != http.StatusOK {
			t.Fatalf("GET %s by a caller who may not HEAD: %d %s", path, status, body)
		}
	}
	// A part copied from the object: its source read, not HEAD.
	status, body := do(http.MethodPost, "/b/dst?uploads", nil)
	_, rest, _ := strings.Cut(body, "<UploadId>")
	id, _, _ := strings.Cut(rest, "</UploadId>")
	if status != http.StatusOK || id == "" {
		t.Fatalf("CreateMultipartUpload: %d %s", status, body)
	}
	if status, body := do(http.MethodPut, "/b/dst?partNumber=1&uploadId="+id, map[string]string{"x-amz-copy-source": "/b/k", "x-amz-copy-source-range": "bytes=0-6"}); status != http.StatusOK || !strings.Contains(body, "<CopyPartResult") {
		t.Fatalf("UploadPartCopy by a caller who may not HEAD its source: %d %s", status, body)
	}
}

// A part asked by number is a range, the whole object's one too: 206
// with its Content-Range (downloaders read the size from it).
func TestPartOfTheWholeObjectIsARange(t *testing.T) {
	native := objectToOverwrite(t)
	server := httptest.NewServer(s3api.New(s3api.Config{Backend: clientBackend{native}}).Handler(""))
	defer server.Close()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, server.URL+"/b/k?partNumber=1", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 0-22/23" {
			t.Fatalf("%s of part 1 of a 23-byte object: %d %q, want 206 bytes 0-22/23", method, resp.StatusCode, resp.Header.Get("Content-Range"))
		}
	}
}

// A PUT (or a part) of HTTP/1.1 with no Content-Length nor chunks is
// refused, 411 MissingContentLength, nothing stored: it was an empty
// object, and the bytes sent were read as the next request.
func TestPutWithoutALengthIsRefused(t *testing.T) {
	native := objectToOverwrite(t)
	server := httptest.NewServer(s3api.New(s3api.Config{Backend: clientBackend{native}}).Handler(""))
	defer server.Close()
	conn, err := net.Dial("tcp", server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Kept alive, the bytes sent after (here a request of their own)
	// are not read as a next request: the connection closes.
	fmt.Fprintf(conn, "PUT /b/unsized HTTP/1.1\r\nHost: %[1]s\r\n\r\nDELETE /b/k HTTP/1.1\r\nHost: %[1]s\r\n\r\n", server.Listener.Addr())
	reader := bufio.NewReader(conn)
	resp, err := http.ReadResponse(reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusLengthRequired || !strings.Contains(string(body), "MissingContentLength") {
		t.Fatalf("a PUT without a length: %d %s, want 411 MissingContentLength", resp.StatusCode, body)
	}
	if _, err := native.Head(t.Context(), "b", "unsized"); err == nil {
		t.Fatal("a PUT without a length stored an object")
	}
	if next, err := http.ReadResponse(reader, nil); err == nil {
		t.Fatalf("the bytes after a PUT without a length were read as a request: %s", next.Status)
	}
	// A presigned PUT (its parameters many) is the object's bytes too.
	conn4, err := net.Dial("tcp", server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn4.Close()
	fmt.Fprintf(conn4, "PUT /b/k?X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&x-amz-checksum-crc32=AAAAAA%%3D%%3D&x-id=PutObject HTTP/1.1\r\nHost: %s\r\n\r\n", server.Listener.Addr())
	if resp, err := http.ReadResponse(bufio.NewReader(conn4), nil); err != nil || resp.StatusCode != http.StatusLengthRequired {
		t.Fatalf("a presigned PUT without a length: %v %v, want 411", resp, err)
	}
	if meta, err := native.Head(t.Context(), "b", "k"); err != nil || meta.Size == 0 {
		t.Fatalf("the object after a presigned PUT without a length: %+v %v, want it as it was", meta, err)
	}
	// Refused for anything else first (a key S3 cannot store), it is
	// the same.
	conn2, err := net.Dial("tcp", server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	fmt.Fprintf(conn2, "PUT /b/dir/ HTTP/1.1\r\nHost: %[1]s\r\n\r\nDELETE /b/k HTTP/1.1\r\nHost: %[1]s\r\n\r\n", server.Listener.Addr())
	reader2 := bufio.NewReader(conn2)
	if resp, err := http.ReadResponse(reader2, nil); err != nil || resp.StatusCode != http.StatusLengthRequired {
		t.Fatalf("a PUT of a directory key without a length: %v %v, want 411", resp, err)
	}
	if next, err := http.ReadResponse(reader2, nil); err == nil {
		t.Fatalf("the bytes after a refused PUT without a length were read as a request: %s", next.Status)
	}
	// A multipart upload's start without a length (some SDKs send none
	// for an empty body) is served, as S3 serves it, its connection
	// closed after.
	conn3, err := net.Dial("tcp", server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn3.Close()
	fmt.Fprintf(conn3, "POST /b/multi?uploads HTTP/1.1\r\nHost: %s\r\n\r\n", server.Listener.Addr())
	started, err := http.ReadResponse(bufio.NewReader(conn3), nil)
	if err != nil || started.StatusCode != http.StatusOK || !started.Close {
		t.Fatalf("a multipart upload started without a length: %v %v, want 200 and the connection closed", started, err)
	}
	if _, err := native.Head(t.Context(), "b", "k"); err != nil {
		t.Fatalf("the object the bytes after named: %v, want it there", err)
	}
}

// recordReads counts the reads of upload records.
type recordReads struct {
	clientBackend
	reads atomic.Int64
}

func (r *recordReads) Get(ctx context.Context, bucket, name string, opts api.GetOptions) (io.ReadCloser, store.ObjectMeta, error) {
	if strings.HasPrefix(name, ".s3-multipart/") && strings.HasSuffix(name, "/upload") {
		r.reads.Add(1)
	}
	return r.clientBackend.Get(ctx, bucket, name, opts)
}

// ListMultipartUploads pages without reading every upload's record for
// each page (a bucket of 10,000 uploads cost 10,000 reads a page, and a
// user who may list could ask max-uploads=1 in a loop): the keys read
// once are remembered, and a page reads again only the uploads it
// answers with (one closed since drops out).
func TestListUploadsReadsRecordsOnce(t *testing.T) {
	native := objectToOverwrite(t)
	backend := &recordReads{clientBackend: clientBackend{native}}
	server := httptest.NewServer(s3api.New(s3api.Config{Backend: backend}).Handler(""))
	defer server.Close()
	do := func(method, path string, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, server.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
		}
		if out != nil {
			if err := xml.Unmarshal(body, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	const uploads = 20
	ids := map[string]string{}
	for i := range uploads {
		var started s3api.InitiateMultipartUploadResult
		do(http.MethodPost, fmt.Sprintf("/b/key-%02d?uploads", i), &started)
		ids[started.Key] = started.UploadID
	}
	var listed []string
	keyMarker, idMarker := "", ""
	for page := 0; ; page++ {
		if page > uploads {
			t.Fatal("the listing does not end")
		}
		if page == 3 {
			// Aborted between pages: not listed.
			do(http.MethodDelete, "/b/key-15?uploadId="+ids["key-15"], nil)
		}
		var out s3api.ListMultipartUploadsResult
		do(http.MethodGet, "/b?uploads&max-uploads=2&key-marker="+keyMarker+"&upload-id-marker="+idMarker, &out)
		for _, u := range out.Uploads {
			listed = append(listed, u.Key)
		}
		if !out.IsTruncated {
			break
		}
		keyMarker, idMarker = out.NextKeyMarker, out.NextUploadIDMarker
	}
	var want []string
	for i := range uploads {
		if i != 15 {
			want = append(want, fmt.Sprintf("key-%02d", i))
		}
	}
	if strings.Join(listed, ",") != strings.Join(want, ",") {
		t.Fatalf("listed %v, want %v", listed, want)
	}
	// The first page reads every record; each next one, its own two.
	if reads := backend.reads.Load(); reads > uploads+2*uploads/2+2 {
		t.Fatalf("%d record reads to list %d uploads 2 a page, want every record read once and each page's again", reads, uploads)
	}
}
