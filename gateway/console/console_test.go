package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/gateway/console"
)

// get asks the console's handler for a path.
func get(t *testing.T, handler http.Handler, path string, header http.Header) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	return w.Result()
}

func TestConsoleServesAssetsWithTheirTypes(t *testing.T) {
	handler := console.Handler(nil)
	for path, want := range map[string]string{
		console.Prefix:                "text/html; charset=utf-8",
		console.Prefix + "index.html": "text/html; charset=utf-8",
		console.Prefix + "app.js":     "text/javascript; charset=utf-8",
		console.Prefix + "style.css":  "text/css; charset=utf-8",
	} {
		resp := get(t, handler, path, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
		if len(body) < 100 {
			t.Errorf("GET %s: %d bytes, the asset is not embedded", path, len(body))
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: no Content-Security-Policy limiting the page to itself", path)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", path)
		}
	}
}

// Every file the page refers to is served.
func TestConsolePageRefersToServedFiles(t *testing.T) {
	handler := console.Handler(nil)
	page, _ := io.ReadAll(get(t, handler, console.Prefix, nil).Body)
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 2 {
		t.Fatalf("the page refers to %d files: %q", len(refs), refs)
	}
	for _, ref := range refs {
		if resp := get(t, handler, console.Prefix+ref[1], nil); resp.StatusCode != http.StatusOK {
			t.Errorf("the page refers to %s, which answers %d", ref[1], resp.StatusCode)
		}
	}
}

func TestConsoleUnknownPathsGoToNotFound(t *testing.T) {
	var asked []string
	handler := console.Handler(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	})
	paths := []string{console.Prefix + "nope.js", console.Prefix + "assets/app.js", console.Prefix + "app.js/", console.Prefix + "APP.JS", "/elsewhere/app.js"}
	for _, path := range paths {
		if resp := get(t, handler, path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if len(asked) != len(paths) {
		t.Errorf("notFound saw %q, want every one of %q", asked, paths)
	}
	if resp := get(t, console.Handler(nil), console.Prefix+"nope.css", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET nope.css without a notFound handler: %d, want 404", resp.StatusCode)
	}
}

// A browser revalidates with the ETag and gets 304 while the binary is
// the same.
func TestConsoleConditionalGet(t *testing.T) {
	handler := console.Handler(nil)
	first := get(t, handler, console.Prefix+"app.js", nil)
	etag := first.Header.Get("ETag")
	if etag == "" || first.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, first.Header.Get("Cache-Control"))
	}
	if resp := get(t, handler, console.Prefix+"app.js", http.Header{"If-None-Match": {etag}}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET with If-None-Match: %d, want 304", resp.StatusCode)
	}
}

// Until its script runs, the page says it is loading: a script that
// does not come leaves that, not a blank page.
func TestConsolePageSaysLoading(t *testing.T) {
	page, _ := io.ReadAll(get(t, console.Handler(nil), console.Prefix, nil).Body)
	main := regexp.MustCompile(`(?s)<main id="main">(.*)</main>`).FindSubmatch(page)
	if main == nil || !strings.Contains(string(main[1]), "Loading") {
		t.Fatalf("the page's main holds no loading text: %q", main)
	}
}

// Static is every console file by GET or HEAD, and nothing else: not
// the API, the session, a change or a proxied URL.
func TestConsoleStatic(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		want           bool
	}{
		{http.MethodGet, console.Prefix, true},
		{http.MethodGet, console.Prefix + "index.html", true},
		{http.MethodGet, console.Prefix + "app.js", true},
		{http.MethodHead, console.Prefix + "style.css", true},
		{http.MethodPost, console.Prefix, false},
		{http.MethodDelete, console.Prefix, false},
		{http.MethodGet, console.SessionPath, false},
		{http.MethodGet, console.APIPrefix + "v1/buckets", false},
		{http.MethodGet, console.Prefix + "nope.js", false},
		{http.MethodGet, "/app.js", false},
		{http.MethodGet, "http://elsewhere.example" + console.Prefix + "app.js", false},
	} {
		if got := console.Static(httptest.NewRequest(tc.method, tc.target, nil)); got != tc.want {
			t.Errorf("Static(%s %s) = %v, want %v", tc.method, tc.target, got, tc.want)
		}
	}
}
