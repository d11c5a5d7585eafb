package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// A relayed read follows a node's redirect to another node of the map
// (its map is ahead), and hands any other redirect to the client.
func TestRelayFollowsNodeRedirects(t *testing.T) {
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the object") }))
	defer owner.Close()
	elsewhere := "http://198.51.100.7/x"
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.URL.Query().Get("out") != "" {
			http.Redirect(w, r, elsewhere, http.StatusMovedPermanently)
			return
		}
		http.Redirect(w, r, owner.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	defer first.Close()
	isNode := func(_ context.Context, u *url.URL) bool {
		return "http://"+u.Host == owner.URL || "http://"+u.Host == first.URL
	}
	rt := &nodeRedirects{base: http.DefaultTransport, isNode: isNode}
	req, _ := http.NewRequest(http.MethodGet, first.URL+"/v1/objects/b/o", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "the object" {
		t.Fatalf("a read sent on to another node: %s %q", resp.Status, body)
	}
	req, _ = http.NewRequest(http.MethodGet, first.URL+"/v1/objects/b/o?out=1", nil)
	resp, err = rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != elsewhere {
		t.Fatalf("a redirect out of the cluster: %s %s, want it handed on", resp.Status, resp.Header.Get("Location"))
	}
	// A read's condition met: no redirect to follow.
	req, _ = http.NewRequest(http.MethodGet, first.URL+"/v1/objects/b/o", nil)
	req.Header.Set("If-None-Match", `"etag"`)
	resp, err = rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("a conditional read answered 304: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("a conditional read answered 304: %s, want it handed on", resp.Status)
	}
}
