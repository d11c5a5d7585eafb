package egress

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every address of the destination is checked, with the scheme's port
// when the URL names none; one refused refuses the destination.
func TestCheckDestination(t *testing.T) {
	var asked []string
	refuse := errors.New("refused")
	check := func(_ context.Context, address string) error {
		asked = append(asked, address)
		if address == "169.254.169.254:80" {
			return refuse
		}
		return nil
	}
	u, _ := url.Parse("http://169.254.169.254/latest/meta-data/")
	if err := CheckDestination(t.Context(), u, check); !errors.Is(err, refuse) {
		t.Fatalf("the metadata service: %v, want refused", err)
	}
	u, _ = url.Parse("https://192.0.2.10:8443/b")
	if err := CheckDestination(t.Context(), u, check); err != nil {
		t.Fatal(err)
	}
	if asked[len(asked)-1] != "192.0.2.10:8443" {
		t.Fatalf("checked %v", asked)
	}
}

// A host a proxy reads as an IPv4 address, though not written a.b.c.d,
// is checked as that address: Go's resolver has no answer for it.
func TestNumericHostsAreCheckedAsTheirAddress(t *testing.T) {
	var asked []string
	check := func(_ context.Context, address string) error {
		asked = append(asked, address)
		return nil
	}
	for host, want := range map[string]string{
		"127.1":         "127.0.0.1:80",
		"2130706433":    "127.0.0.1:80",
		"0x7f000001":    "127.0.0.1:80",
		"0177.0.0.1":    "127.0.0.1:80",
		"0x7f.1":        "127.0.0.1:80",
		"2852039166":    "169.254.169.254:80",
		"169.254.43518": "169.254.169.254:80",
		"10.0.0.1.":     "10.0.0.1:80",
		"0":             "0.0.0.0:80",
		// Sent to a proxy in ASCII, as net/http makes them.
		"１２７.１":           "127.0.0.1:80",
		"169。254。169。254": "169.254.169.254:80",
	} {
		asked = nil
		u, _ := url.Parse("http://" + host + "/x")
		if err := CheckDestination(t.Context(), u, check); err != nil || len(asked) != 1 || asked[0] != want {
			t.Errorf("%s: checked %v (%v), want %s", host, asked, err, want)
		}
	}
	// ASCII names net/http sends as they are, which IDNA's rules refuse
	// (underscores, "--" in third place), are looked up, not refused.
	// (A lookup bounded: .invalid has no answer.)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	for _, host := range []string{"my_bucket.invalid", "r3---sn-abc.invalid"} {
		u, _ := url.Parse("https://" + host + "/k")
		if err := CheckDestination(ctx, u, check); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	// Names, and numbers inet_aton refuses, are not addresses.
	for _, host := range []string{"example.com", "1.2.3.4.5", "256.1", "1.2.3.256", "4294967296", "08", "0xg", "1e3", "+1", "a.1"} {
		if _, ok := numericIPv4(host); ok {
			t.Errorf("%s read as an address", host)
		}
	}
}

// Through a proxy (HTTP_PROXY), the connection a node checks is the
// proxy's: the endpoint's own addresses are checked before the proxy is
// given the request, so that a bucket cannot reach a metadata service
// through it.
func TestProxiedEndpointIsChecked(t *testing.T) {
	proxy, _ := url.Parse("http://proxy.example:3128")
	proxyOf := func(*http.Request) (*url.URL, error) { return proxy, nil }
	control := func(_ context.Context, _, address string, _ syscall.RawConn) error {
		if strings.HasPrefix(address, "169.254.") {
			return errors.New("refused by the node")
		}
		return nil
	}
	check := CheckedProxy(proxyOf, control)
	metadata, _ := http.NewRequest(http.MethodGet, "http://169.254.169.254/latest/meta-data/", nil)
	if got, err := check(metadata); err == nil {
		t.Fatalf("a request to the metadata service went to the proxy %v", got)
	}
	allowed, _ := http.NewRequest(http.MethodGet, "http://192.0.2.10/b/o", nil)
	if got, err := check(allowed); err != nil || got != proxy {
		t.Fatalf("an allowed endpoint through the proxy: %v %v", got, err)
	}
}
