package redact

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A link is shown without what may be secret in it.
func TestLink(t *testing.T) {
	for link, want := range map[string]string{
		"http://user:secret@h/f.tar?X-Amz-Signature=abc#x": "http://h/f.tar?...",
		"https://h/d/f.tar":   "https://h/d/f.tar",
		"http://h/%zz":        "(a link that does not parse)",
		"user:secret@h/f.tar": "user:...",
	} {
		if got := Link(link); got != want {
			t.Errorf("Link(%q) = %q, want %q", link, got, want)
		}
	}
}

// net/http's errors carry the query: Error takes it out.
func TestError(t *testing.T) {
	link := "http://127.0.0.1:1/map.json?X-Amz-Signature=secret"
	_, err := http.Get(link)
	if err == nil {
		t.Fatal("a GET of a closed port passed")
	}
	if msg := Error(err, link).Error(); strings.Contains(msg, "secret") || !strings.Contains(msg, "127.0.0.1:1/map.json?...") {
		t.Fatalf("error %q", msg)
	}
	if plain := errors.New("x"); Error(plain, link) != plain {
		t.Fatal("an error without a URL changed")
	}
	// A redirect to a Location that does not parse: net/http quotes it.
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://bucket example/o?X-Amz-Signature=secret") // (fails to parse: nothing dialed)
		w.WriteHeader(http.StatusFound)
	}))
	defer origin.Close()
	_, err = http.Get(origin.URL + "/f")
	if err == nil {
		t.Fatal("a redirect to a bad Location was followed")
	}
	if msg := Error(err, origin.URL+"/f").Error(); strings.Contains(msg, "secret") {
		t.Fatalf("error %q: the Location's signature is shown", msg)
	}
}
