package ht_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/internal/egress"
	"github.com/aisgo/aisgo/store"
	"github.com/aisgo/aisgo/store/remote"
	"github.com/aisgo/aisgo/store/remote/ht"
)

// An object's name is the origin's path, whatever characters it has: a
// '?' or '#' in it is not sent as a query or a fragment.
func TestNameIsThePath(t *testing.T) {
	var path, query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, query = r.URL.Path, r.URL.RawQuery
		io.WriteString(w, "body")
	}))
	defer srv.Close()
	b := store.Bucket{Name: "origin", Provider: store.ProviderHT}
	be, err := ht.Resolve(srv.Client())(t.Context(), b, store.Props{Extra: &store.ExtraProps{HTTP: &store.HTTPProps{Origin: srv.URL + "/base/"}}})
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := be.GetObject(t.Context(), b, "dir/a?b=1#c%41 d")
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	if path != "/base/dir/a?b=1#c%41 d" || query != "" {
		t.Fatalf("the origin was asked for path %q query %q", path, query)
	}
}

// An origin's answer with more headers than a node keeps is refused, not
// held (net/http would take 10 MiB of them).
func TestOriginHeadersAreBounded(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("h", 1<<20))
		w.Write([]byte("data"))
	}))
	defer origin.Close()
	resp, err := ht.NewClient(egress.Checked(nil)).Get(origin.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("an answer with 1 MiB of headers was taken")
	}
}

// An origin's user and password (https://user:secret@host) are not in the
// errors a node answers and logs.
func TestOriginCredentialsAreNotInErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	}))
	defer srv.Close()
	b := store.Bucket{Name: "origin", Provider: store.ProviderHT}
	origin := strings.Replace(srv.URL, "http://", "http://reader:s3cret@", 1)
	be, err := ht.Resolve(srv.Client())(t.Context(), b, store.Props{Extra: &store.ExtraProps{HTTP: &store.HTTPProps{Origin: origin + "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = be.GetObject(t.Context(), b, "missing")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a GET of a missing name: %v", err)
	}
	srv.Close()
	_, _, err = be.GetObject(t.Context(), b, "any")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a GET from an origin gone: %v", err)
	}
}

// An origin that does not parse (a password's % not encoded), or whose
// fragment would swallow every name, is refused where props are set and
// where a bucket is resolved, without quoting it.
func TestBadOriginsAreRefusedUnquoted(t *testing.T) {
	b := store.Bucket{Name: "origin", Provider: store.ProviderHT}
	for _, origin := range []string{
		"https://svc:50%off@host", "https://host/files#s3cret", "https://host/files#",
		"ftp://host", "host/files", "https:s3cret", "https:///files",
	} {
		props := store.Props{Extra: &store.ExtraProps{HTTP: &store.HTTPProps{Origin: origin}}}
		err := props.Validate()
		if !errors.Is(err, store.ErrInvalidProps) || strings.Contains(err.Error(), "off") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("props of origin %q: %v, want invalid props, the origin unquoted", origin, err)
		}
		_, err = ht.Resolve(http.DefaultClient)(t.Context(), b, props)
		if !errors.Is(err, store.ErrInvalidProps) || strings.Contains(err.Error(), "off") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("a bucket of origin %q: %v, want invalid props, the origin unquoted", origin, err)
		}
	}
	for _, origin := range []string{"https://svc:50%25off@host", "http://127.0.0.1:8080/data/", "https://host", "http://[::1]:8080", "https://host/get?path="} {
		if err := (store.Props{Extra: &store.ExtraProps{HTTP: &store.HTTPProps{Origin: origin}}}).Validate(); err != nil {
			t.Errorf("props of origin %q: %v", origin, err)
		}
	}
}

// Of an origin with a query, a name ends the query's last value: its
// '&', '+', '=' or ';' are of the value, not other parameters.
func TestOriginWithAQueryTakesTheNameAsAValue(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, fmt.Sprintf("%s %q", r.URL.Path, r.URL.Query()))
		w.Write([]byte("x"))
	}))
	defer srv.Close()
	b := store.Bucket{Name: "origin", Provider: store.ProviderHT}
	be, err := ht.Resolve(srv.Client())(t.Context(), b, store.Props{Extra: &store.ExtraProps{HTTP: &store.HTTPProps{Origin: srv.URL + "/get?path="}}})
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := be.GetObject(t.Context(), b, "dir/a&b+c=d;e f.txt")
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	if want := `/get map["path":["/dir/a&b+c=d;e f.txt"]]`; len(got) != 1 || got[0] != want {
		t.Fatalf("the origin was asked %q, want %q", got, want)
	}
}

// An origin that refuses (401, 403) is a refusal, not an outage; one
// that says the file is gone (410) is not found.
func TestOriginRefusalsAndGone(t *testing.T) {
	status := http.StatusForbidden
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
	}))
	defer srv.Close()
	b := store.Bucket{Name: "origin", Provider: store.ProviderHT}
	be, err := ht.Resolve(srv.Client())(t.Context(), b, store.Props{Extra: &store.ExtraProps{HTTP: &store.HTTPProps{Origin: srv.URL + "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, status = range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUnavailableForLegalReasons, http.StatusNotImplemented} {
		if _, _, err := be.GetObject(t.Context(), b, "f"); !errors.Is(err, store.ErrRemoteForbidden) || errors.Is(err, store.ErrRemote) {
			t.Errorf("an origin answering %d: %v, want a refusal", status, err)
		}
	}
	// A throttle, a timeout or a server's failure is worth asking again.
	for _, status = range []int{http.StatusTooManyRequests, http.StatusRequestTimeout, http.StatusBadGateway} {
		if _, _, err := be.GetObject(t.Context(), b, "f"); !errors.Is(err, store.ErrRemote) {
			t.Errorf("an origin answering %d: %v, want unavailable", status, err)
		}
	}
	status = http.StatusGone
	if _, _, err := be.GetObject(t.Context(), b, "f"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an origin answering 410: %v, want not found", err)
	}
}

// An origin that takes no HEAD (405, 501) but serves GETs is asked for
// its object's first byte instead: its size from the Content-Range, or
// the whole answer's length from an origin that ignores the Range, and 0
// for an empty file (416).
func TestHeadOfAnOriginWithoutHEAD(t *testing.T) {
	files := map[string]string{"/f": "hello world", "/empty": ""}
	ignoreRange := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		switch {
		case ignoreRange || r.Header.Get("Range") == "":
			io.WriteString(w, data)
		case data == "":
			w.Header().Set("Content-Range", "bytes */0")
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		default:
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-0/%d", len(data)))
			w.WriteHeader(http.StatusPartialContent)
			io.WriteString(w, data[:1])
		}
	}))
	defer srv.Close()
	b := store.Bucket{Name: "origin", Provider: store.ProviderHT}
	be, err := ht.Resolve(srv.Client())(t.Context(), b, store.Props{Extra: &store.ExtraProps{HTTP: &store.HTTPProps{Origin: srv.URL + "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ignore := range []bool{false, true} {
		ignoreRange = ignore
		for name, data := range map[string]string{"f": files["/f"], "empty": ""} {
			a, err := be.HeadObject(t.Context(), b, name)
			if err != nil || a.Size != int64(len(data)) || a.ETag != "v1" {
				t.Errorf("HEAD %s of an origin without HEAD (range ignored %v): %+v %v, want size %d", name, ignore, a, err, len(data))
			}
		}
	}
	if _, err := be.HeadObject(t.Context(), b, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("HEAD of a missing file of an origin without HEAD: %v, want not found", err)
	}
}

// A body without a length or chunks ends with the connection: an origin
// cut mid-body must not read as one whose object is that short. Its size,
// asked at the end, tells; an origin that tells none is taken at its word.
func TestCloseDelimitedBodyIsCheckedAtItsEnd(t *testing.T) {
	const whole = "hello world"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			switch r.URL.Path {
			case "/unsized":
			case "/refused": // a link good for a GET only
				w.WriteHeader(http.StatusForbidden)
			default:
				w.Header().Set("Content-Length", strconv.Itoa(len(whole)))
			}
			return
		}
		body := whole
		if r.URL.Path == "/cut" {
			body = whole[:5]
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n%s", body)
		buf.Flush()
	}))
	defer srv.Close()
	b := store.Bucket{Name: "origin", Provider: store.ProviderHT}
	be, err := ht.Resolve(srv.Client())(t.Context(), b, store.Props{Extra: &store.ExtraProps{HTTP: &store.HTTPProps{Origin: srv.URL + "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) (string, error) {
		body, a, err := be.GetObject(t.Context(), b, name)
		if err != nil {
			return "", err
		}
		defer body.Close()
		if a.Size != -1 {
			t.Errorf("%s: size %d of a close-delimited answer, want -1", name, a.Size)
		}
		data, err := io.ReadAll(body)
		return string(data), err
	}
	if data, err := read("cut"); !errors.Is(err, remote.ErrUnavailable) || !strings.Contains(fmt.Sprint(err), "after 5 bytes of 11") {
		t.Errorf("a body cut mid-way: %q %v, want unavailable after 5 bytes of 11", data, err)
	}
	for _, name := range []string{"whole", "unsized", "refused"} {
		if data, err := read(name); err != nil || data != whole {
			t.Errorf("%s: %q %v, want %q", name, data, err, whole)
		}
	}
}

// A redirect does not carry the origin's URL, with a token in its query,
// to the next host as its Referer.
func TestRedirectSendsNoReferer(t *testing.T) {
	referer := "unset"
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		referer = r.Header.Get("Referer")
		io.WriteString(w, "payload")
	}))
	defer target.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/cdn/file", http.StatusFound)
	}))
	defer origin.Close()
	resp, err := ht.NewClient(egress.Checked(nil)).Get(origin.URL + "/file?access_token=SECRET")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if referer != "" {
		t.Fatalf("the redirect's target was sent Referer %q", referer)
	}
}
