package s3

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/store"
)

// An answer without a length (a GET sent chunked by an S3-compatible
// server) is of unknown size: a cold GET stores what comes instead of
// failing on an announced 0.
func TestAttrsOfUnknownLength(t *testing.T) {
	if got := attrsOf("o", nil, nil, nil, nil).Size; got != -1 {
		t.Fatalf("no Content-Length: size %d, want -1", got)
	}
	size := int64(0)
	if got := attrsOf("o", &size, nil, nil, nil).Size; got != 0 {
		t.Fatalf("Content-Length 0: size %d", got)
	}
}

// A client slow to make (credentials from a metadata server that does not
// answer) holds no bucket whose client is made already, and once it
// failed the reads after it are answered at once for a while.
func TestResolveWaitsOnNoOtherSetup(t *testing.T) {
	bs := NewBackends(egress.Route{})
	release := make(chan struct{})
	var builds atomic.Int64
	bs.build = func(_ context.Context, s store.AWSProps) (*Backend, error) {
		builds.Add(1)
		if s.Endpoint == "http://slow" {
			<-release
			return nil, errors.New("no credentials")
		}
		return &Backend{where: s.Endpoint}, nil
	}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "b"}
	at := func(endpoint string) store.Props {
		return store.Props{Extra: &store.ExtraProps{AWS: &store.AWSProps{Endpoint: endpoint}}}
	}
	if _, err := bs.Resolve(t.Context(), b, at("http://fast")); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := bs.Resolve(t.Context(), b, at("http://slow"))
			slow <- err
		}()
	}
	for builds.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// While the slow one is made: the made one at once.
	if _, err := bs.Resolve(t.Context(), b, at("http://fast")); err != nil {
		t.Fatal(err)
	}
	close(release)
	for range 2 {
		if err := <-slow; err == nil {
			t.Fatal("a setup that failed answered no error")
		}
	}
	if _, err := bs.Resolve(t.Context(), b, at("http://slow")); err == nil {
		t.Fatal("a setup that failed just now answered no error")
	}
	if n := builds.Load(); n != 2 {
		t.Fatalf("%d setups made, want 2: the fast one, and the slow one once for all", n)
	}
}

// An endpoint a bucket's props name is a user's choice: every connection
// to it is checked (a node's own address, a cloud's metadata service must
// not be reached through a bucket), the operator's endpoint is not.
func TestPropsEndpointConnectionsAreChecked(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var asked atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked.Add(1) }))
	defer server.Close()
	refused := errors.New("refused by the node")
	control := func(context.Context, string, string, syscall.RawConn) error { return refused }
	b := store.Bucket{Provider: store.ProviderAWS, Name: "b"}
	be, err := newBackend(t.Context(), store.AWSProps{Endpoint: server.URL}, egress.Checked(control))
	if err != nil {
		t.Fatal(err)
	}
	if err := be.HeadBucket(t.Context(), b); err == nil || asked.Load() != 0 {
		t.Fatalf("a bucket's endpoint the node refuses: %v, %d requests reached it", err, asked.Load())
	}
	t.Setenv("AWS_ENDPOINT_URL", server.URL)
	if be, err = newBackend(t.Context(), store.AWSProps{}, egress.Checked(control)); err != nil {
		t.Fatal(err)
	}
	if err := be.HeadBucket(t.Context(), b); err != nil || asked.Load() == 0 {
		t.Fatalf("the operator's endpoint: %v, %d requests", err, asked.Load())
	}
}

// A listing asks for URL-encoded keys and decodes them: a key with a
// control character (legal in S3) would otherwise fail the XML decoder,
// at every page of the listing.
func TestListingDecodesURLEncodedKeys(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var asked string
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.Query().Get("encoding-type")
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>`+
			`<Contents><Key>a%01b+c%2B</Key><Size>3</Size><ETag>"e"</ETag></Contents></ListBucketResult>`)
	}))
	defer server.Close()
	allow := func(context.Context, string, string, syscall.RawConn) error { return nil }
	be, err := newBackend(t.Context(), store.AWSProps{Endpoint: server.URL}, egress.Checked(allow))
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := be.ListObjects(t.Context(), store.Bucket{Provider: store.ProviderAWS, Name: "b"}, "", "", 0)
	if err != nil || len(list) != 1 || list[0].Name != "a\x01b c+" || asked != "url" {
		t.Fatalf("listing: %+v %v (encoding-type asked: %q)", list, err, asked)
	}
}

// A listing that says it goes on without a new continuation token (a
// server answering as ListObjects v1, with a NextMarker; or one that
// sends the same token again) fails, rather than end the bucket there or
// list the same page for good.
func TestListingTruncatedWithoutAToken(t *testing.T) {
	be := backendOf(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		token := ""
		if r.URL.Query().Get("continuation-token") != "" {
			token = `<NextContinuationToken>t1</NextContinuationToken>` // the same again
		}
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><IsTruncated>true</IsTruncated><NextMarker>k</NextMarker>`+token+
			`<Contents><Key>k</Key><Size>1</Size><ETag>"e"</ETag></Contents></ListBucketResult>`)
	}))
	b := store.Bucket{Provider: store.ProviderAWS, Name: "b"}
	for _, token := range []string{"", "t1"} {
		if list, next, err := be.ListObjects(t.Context(), b, "", token, 0); !errors.Is(err, store.ErrRemote) {
			t.Errorf("a truncated page after token %q without a new one: %d keys, next %q, %v", token, len(list), next, err)
		}
	}
}

// A continuation token the remote refuses (the caller's, made up) is the
// caller's fault (400), not a refusal of this cluster's credentials (403);
// a 400 to a listing without one stays a refusal.
func TestListingWithARefusedTokenIsInvalid(t *testing.T) {
	be := backendOf(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>The continuation token provided is incorrect</Message></Error>`)
	}))
	b := store.Bucket{Provider: store.ProviderAWS, Name: "b"}
	if _, _, err := be.ListObjects(t.Context(), b, "", "made-up", 0); !errors.Is(err, store.ErrInvalidToken) || errors.Is(err, store.ErrRemoteForbidden) || !strings.Contains(err.Error(), "made-up") {
		t.Errorf("a listing from a refused token: %v, want ErrInvalidToken naming it", err)
	}
	if _, _, err := be.ListObjects(t.Context(), b, "", "", 0); !errors.Is(err, store.ErrRemoteForbidden) {
		t.Errorf("a 400 to a listing without a token: %v, want a refusal", err)
	}
	// S3's other 400s are what they are: an expired session is this
	// cluster's credentials, a timeout is asked again.
	for code, want := range map[string]error{"ExpiredToken": store.ErrRemoteForbidden, "RequestTimeout": store.ErrRemote} {
		be := backendOf(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>no</Message></Error>`)
		}))
		if _, _, err := be.ListObjects(t.Context(), b, "", "issued-by-it", 0); !errors.Is(err, want) || errors.Is(err, store.ErrInvalidToken) {
			t.Errorf("a listing from a token answered 400 %s: %v, want %v", code, err, want)
		}
	}
}

// A listing answer without end (an endpoint a bucket's props name may be
// anyone's) is cut at maxListingPage and fails, rather than be decoded
// into memory.
func TestListingAnswerIsBounded(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var sent atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated>`)
		entry := []byte(`<Contents><Key>k</Key><Size>1</Size></Contents>`)
		for sent.Load() < 4*maxListingPage {
			n, err := w.Write(entry)
			if err != nil {
				return
			}
			sent.Add(int64(n))
		}
	}))
	defer server.Close()
	allow := func(context.Context, string, string, syscall.RawConn) error { return nil }
	be, err := newBackend(t.Context(), store.AWSProps{Endpoint: server.URL}, egress.Checked(allow))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := be.ListObjects(t.Context(), store.Bucket{Provider: store.ProviderAWS, Name: "b"}, "", "", 0); err == nil {
		t.Fatalf("a listing of %d bytes without end was taken", sent.Load())
	}
	if sent.Load() >= 4*maxListingPage {
		t.Fatalf("the whole endless answer (%d bytes) was read", sent.Load())
	}
}

// The answer to a write is bounded too: the SDK reads it to its end (a
// 200 may carry an error), and one without end would grow in memory.
func TestWriteAnswerIsBounded(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var sent atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		blank := bytes.Repeat([]byte(" "), 64<<10)
		for sent.Load() < 4*maxListingPage {
			n, err := w.Write(blank)
			if err != nil {
				return
			}
			sent.Add(int64(n))
		}
	}))
	defer server.Close()
	allow := func(context.Context, string, string, syscall.RawConn) error { return nil }
	be, err := newBackend(t.Context(), store.AWSProps{Endpoint: server.URL}, egress.Checked(allow))
	if err != nil {
		t.Fatal(err)
	}
	be.PutObject(t.Context(), store.Bucket{Provider: store.ProviderAWS, Name: "b"}, "o", bytes.NewReader([]byte("x")), 1, nil)
	if sent.Load() >= 4*maxListingPage {
		t.Fatalf("the whole endless answer to a PUT (%d bytes) was read", sent.Load())
	}
}

// A remote that refuses the credentials is a refusal (403 to clients,
// not retried), not an outage (503, retried for ever).
func TestAccessDeniedIsARefusal(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	defer server.Close()
	allow := func(context.Context, string, string, syscall.RawConn) error { return nil }
	be, err := newBackend(t.Context(), store.AWSProps{Endpoint: server.URL}, egress.Checked(allow))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = be.ListObjects(t.Context(), store.Bucket{Provider: store.ProviderAWS, Name: "b"}, "", "", 0)
	if !errors.Is(err, store.ErrRemoteForbidden) || errors.Is(err, store.ErrRemote) {
		t.Fatalf("a listing refused with AccessDenied: %v, want a refusal, not unavailable", err)
	}
}

// A HEAD has no error body: the SDK names its code after the status
// ("Forbidden", "BadRequest", "MovedPermanently": another region). A
// refusal by status is one too (a 503
// would have clients retry for ever); a 404 is not found; a 5xx or a
// throttle is worth asking again.
func TestHeadRefusalsByStatus(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var status atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer server.Close()
	allow := func(context.Context, string, string, syscall.RawConn) error { return nil }
	be, err := newBackend(t.Context(), store.AWSProps{Endpoint: server.URL}, egress.Checked(allow))
	if err != nil {
		t.Fatal(err)
	}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "b"}
	for code, want := range map[int32]error{
		http.StatusForbidden:          store.ErrRemoteForbidden,
		http.StatusBadRequest:         store.ErrRemoteForbidden,
		http.StatusMovedPermanently:   store.ErrRemoteForbidden,
		http.StatusNotImplemented:     store.ErrRemoteForbidden,
		http.StatusNotFound:           store.ErrNotFound,
		http.StatusServiceUnavailable: store.ErrRemote,
	} {
		status.Store(code)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		_, err := be.HeadObject(ctx, b, "x")
		cancel()
		if !errors.Is(err, want) || want == store.ErrRemoteForbidden && errors.Is(err, store.ErrRemote) {
			t.Errorf("a HEAD answered %d: %v, want %v", code, err, want)
		}
	}
	status.Store(http.StatusForbidden)
	if err := be.HeadBucket(t.Context(), b); !errors.Is(err, store.ErrRemoteForbidden) {
		t.Errorf("a HEAD of the bucket answered 403: %v, want a refusal", err)
	}
}

// An error answer whose body is not S3's XML (a proxy's HTML page in
// front of the store) is judged by its status as well: a 413 or a 403 is
// a refusal, a 404 not found, not a 503 clients retry for ever.
func TestErrorWithoutXMLIsJudgedByStatus(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var status atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "<html><head><title>refused</title></head><body><center><h1>refused</h1></center><hr><center>nginx</center></body></html>")
	}))
	defer server.Close()
	allow := func(context.Context, string, string, syscall.RawConn) error { return nil }
	be, err := newBackend(t.Context(), store.AWSProps{Endpoint: server.URL}, egress.Checked(allow))
	if err != nil {
		t.Fatal(err)
	}
	b := store.Bucket{Provider: store.ProviderAWS, Name: "b"}
	for code, want := range map[int32]error{
		http.StatusRequestEntityTooLarge: store.ErrRemoteForbidden,
		http.StatusForbidden:             store.ErrRemoteForbidden,
		http.StatusNotFound:              store.ErrNotFound,
		http.StatusBadGateway:            store.ErrRemote,
	} {
		status.Store(code)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		_, err := be.PutObject(ctx, b, "x", strings.NewReader("data"), 4, nil)
		cancel()
		if !errors.Is(err, want) || want != store.ErrRemote && errors.Is(err, store.ErrRemote) {
			t.Errorf("a PUT answered %d with HTML: %v, want %v", code, err, want)
		}
	}
}

// S3's refusals that asking again may pass (RequestTimeout is a 400,
// OperationAborted a 409, RequestTimeTooSkewed a 403) stay unavailable.
func TestRetryableCodesAreUnavailable(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var code atomic.Value
	var status atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code.Load().(string)+`</Code><Message>m</Message></Error>`)
	}))
	defer server.Close()
	allow := func(context.Context, string, string, syscall.RawConn) error { return nil }
	be, err := newBackend(t.Context(), store.AWSProps{Endpoint: server.URL}, egress.Checked(allow))
	if err != nil {
		t.Fatal(err)
	}
	for c, s := range map[string]int32{"RequestTimeout": 400, "OperationAborted": 409, "RequestTimeTooSkewed": 403} {
		code.Store(c)
		status.Store(s)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		_, _, err := be.GetObject(ctx, store.Bucket{Provider: store.ProviderAWS, Name: "b"}, "x")
		cancel()
		if !errors.Is(err, store.ErrRemote) || errors.Is(err, store.ErrRemoteForbidden) {
			t.Errorf("%s (%d): %v, want unavailable", c, s, err)
		}
	}
}

// A GET asks S3 for the checksum it keeps (x-amz-checksum-mode), and the
// cheapest whole-object one comes back as the object's: the store checks
// it as it caches the bytes, so the SDK must not read them a second time
// (a wrong CRC reads through here). A checksum of parts is none.
func TestGetObjectGivesTheRemoteChecksum(t *testing.T) {
	var mode atomic.Value
	be := backendOf(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode.Store(r.Header.Get("x-amz-checksum-mode"))
		w.Header().Set("ETag", `"00000000000000000000000000000000"`)
		switch r.URL.Path {
		case "/b/full":
			w.Header().Set("x-amz-checksum-crc64nvme", "AAAAAAAAAAE=")
			w.Header().Set("x-amz-checksum-crc32", "AAAAAQ==") // not the bytes'
			w.Header().Set("x-amz-checksum-type", "FULL_OBJECT")
		case "/b/parts":
			w.Header().Set("x-amz-checksum-crc32", "AAAAAQ==-3")
			w.Header().Set("x-amz-checksum-type", "COMPOSITE")
		}
		io.WriteString(w, "the bytes")
	}))
	b := store.Bucket{Provider: store.ProviderAWS, Name: "b"}
	for name, want := range map[string]store.Checksum{"full": {Type: store.ChecksumCRC32, Value: "00000001"}, "parts": {}, "none": {}} {
		body, attrs, err := be.GetObject(t.Context(), b, name)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(body)
		body.Close()
		if err != nil || string(data) != "the bytes" {
			t.Fatalf("%s: %q %v: the SDK checked the body", name, data, err)
		}
		if attrs.Checksum != want || mode.Load() != "ENABLED" {
			t.Fatalf("%s: checksum %+v (x-amz-checksum-mode %q), want %+v", name, attrs.Checksum, mode.Load(), want)
		}
	}
}

// fakeMultipart is an S3 endpoint that takes multipart uploads (and
// refuses single PUTs): parts are kept per upload, a completed upload's
// bytes are the parts in the order listed.
type fakeMultipart struct {
	mu       sync.Mutex
	parts    map[int][]byte
	object   []byte
	aborted  bool
	failPart int // a part number answered 400
	// gone answers the complete and the abort as S3 does once the upload
	// is completed (its answer lost) or aborted: 404 NoSuchUpload.
	gone bool
}

// set changes the fake under its lock.
func (f *fakeMultipart) set(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

func (f *fakeMultipart) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		f.parts = map[int][]byte{}
		io.WriteString(w, `<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>big</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPut && q.Get("uploadId") == "u1":
		number, _ := strconv.Atoi(q.Get("partNumber"))
		if number == f.failPart {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `<Error><Code>InvalidArgument</Code><Message>no</Message></Error>`)
			return
		}
		data, _ := io.ReadAll(r.Body)
		f.parts[number] = data
		w.Header().Set("ETag", fmt.Sprintf(`"p%d"`, number))
	case f.gone && q.Get("uploadId") == "u1" && r.Method != http.MethodPut:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>`)
	case r.Method == http.MethodPost && q.Get("uploadId") == "u1":
		var done struct {
			Parts []struct {
				PartNumber int
				ETag       string
			} `xml:"Part"`
		}
		if err := xml.NewDecoder(r.Body).Decode(&done); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.object = nil
		for i, p := range done.Parts {
			if p.PartNumber != i+1 || p.ETag != fmt.Sprintf(`"p%d"`, i+1) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `<Error><Code>InvalidPart</Code><Message>no</Message></Error>`)
				return
			}
			f.object = append(f.object, f.parts[p.PartNumber]...)
		}
		io.WriteString(w, fmt.Sprintf(`<CompleteMultipartUploadResult><ETag>"m-%d"</ETag></CompleteMultipartUploadResult>`, len(done.Parts)))
	case r.Method == http.MethodDelete && q.Get("uploadId") == "u1":
		f.aborted = true
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<Error><Code>EntityTooLarge</Code><Message>one PUT</Message></Error>`)
	}
}

// An object bigger than S3 takes in one PUT (a write-through of 6 GiB)
// goes in parts, each from its own section of the bytes; a part refused
// aborts the upload, and the PUT fails.
func TestBigWriteThroughGoesInParts(t *testing.T) {
	fake := &fakeMultipart{}
	be := backendOf(t, fake)
	// A bucket's multipart_size: past it in parts of it (the default,
	// 64 MiB parts past 5 GiB, moves too much for a test).
	be.multipartSize = 1 << 20
	b := store.Bucket{Provider: store.ProviderAWS, Name: "b"}
	data := make([]byte, 2*be.multipartSize+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	attrs, err := be.PutObject(t.Context(), b, "big", bytes.NewReader(data), int64(len(data)), nil)
	if err != nil || !bytes.Equal(fake.object, data) || len(fake.parts) != 3 || attrs.ETag != "m-3" || !attrs.ETagNotMD5 {
		t.Fatalf("a PUT in parts: %+v %v; %d bytes in %d parts, want %d in 3", attrs, err, len(fake.object), len(fake.parts), len(data))
	}
	// Set under the fake's lock: the parts of a PUT that failed may still
	// be served after it returned.
	fake.set(func() { fake.failPart = 2 })
	_, err = be.PutObject(t.Context(), b, "big", bytes.NewReader(data), int64(len(data)), nil)
	aborted := false
	fake.set(func() { aborted = fake.aborted })
	if err == nil || !aborted {
		t.Fatalf("a PUT whose second part is refused: %v, upload aborted %v", err, aborted)
	}
	// An upload gone when completed (its first answer lost, or aborted
	// by a lifecycle rule) may have reached S3: unavailable, never "not
	// found" (the caller drops its copy of what may be stale).
	fake.set(func() { fake.failPart, fake.gone = 0, true })
	_, err = be.PutObject(t.Context(), b, "big", bytes.NewReader(data), int64(len(data)), nil)
	if !errors.Is(err, store.ErrRemote) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a PUT whose upload is gone at its completion: %v, want the remote's failure", err)
	}
	for _, c := range []struct{ size, want, part int64 }{
		{50 << 30, 0, minPartSize},
		{5 << 40, 0, 525 << 20}, // 5 TiB: 10,000 parts at most
		{100 << 20, 8 << 20, 8 << 20},
		{5 << 40, 8 << 20, 525 << 20},
	} {
		if got := partSizeFor(c.size, c.want); got != c.part || (c.size+got-1)/got > maxParts {
			t.Errorf("part size of %d bytes, %d wanted: %d, want %d", c.size, c.want, got, c.part)
		}
	}
}

// backendOf is a backend of an endpoint served by handler on loopback,
// with static credentials.
func backendOf(t *testing.T, handler http.Handler) *Backend {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	server := httptest.NewServer(handler)
	t.Cleanup(server.Close)
	allow := func(context.Context, string, string, syscall.RawConn) error { return nil }
	be, err := newBackend(t.Context(), store.AWSProps{Endpoint: server.URL}, egress.Checked(allow))
	if err != nil {
		t.Fatal(err)
	}
	return be
}
