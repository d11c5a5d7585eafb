package egress

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/idna"
)

// CheckDestination resolves u's host and checks each of its addresses
// (host:port, the scheme's port when u names none) with check. A name
// only the proxy resolves is not one of this network's: it passes.
func CheckDestination(ctx context.Context, u *url.URL, check func(ctx context.Context, address string) error) error {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	host := u.Hostname()
	if !isASCII(host) {
		// As net/http sends it to the proxy: in ASCII ("１２７.１" and
		// "169。254。169。254" are numbers there). One it cannot make
		// ASCII is not sent on a guess. (An ASCII one it sends as is,
		// underscores and all.)
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return fmt.Errorf("host %q: %w", host, err)
		}
		host = ascii
	}
	// A number in another form than a.b.c.d ("127.1", "2130706433",
	// "0x7f000001") is no name to Go's resolver, and an IPv4 address to
	// most proxies' (inet_aton): it is checked as the address it reads as.
	if ip, ok := numericIPv4(host); ok {
		return check(ctx, net.JoinHostPort(ip.String(), port))
	}
	ips, _ := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	for _, ip := range ips {
		if err := check(ctx, net.JoinHostPort(ip.Unmap().String(), port)); err != nil {
			return err
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// numericIPv4 reads host as inet_aton(3) does: one to four numbers,
// decimal, octal (a leading 0) or hex (0x), the last filling the bytes
// left ("127.1" is 127.0.0.1). ok is false for anything else, names
// included.
func numericIPv4(host string) (netip.Addr, bool) {
	host = strings.TrimSuffix(host, ".")
	parts := strings.Split(host, ".")
	if host == "" || len(parts) > 4 {
		return netip.Addr{}, false
	}
	var value uint64
	for i, part := range parts {
		base, digits := 10, part
		switch {
		case len(part) > 1 && (part[:2] == "0x" || part[:2] == "0X"):
			base, digits = 16, part[2:]
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		if digits == "" && base != 16 || strings.ContainsAny(digits, "+-_") {
			return netip.Addr{}, false
		}
		n, err := strconv.ParseUint(cmp.Or(digits, "0"), base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 255 {
				return netip.Addr{}, false
			}
			value = value<<8 | n
			continue
		}
		// The last number fills the bytes the others left.
		left := uint(8 * (4 - i))
		if left < 32 && n >= 1<<left {
			return netip.Addr{}, false
		}
		value = value<<left | n
	}
	return netip.AddrFrom4([4]byte{byte(value >> 24), byte(value >> 16), byte(value >> 8), byte(value)}), true
}

// Route is how the fetches of URLs users give (download links, ht://
// origins, the endpoints buckets name) reach out: Proxy chooses the
// environment's proxy for a request, its destination checked first;
// DialContext checks every connection it makes.
type Route struct {
	Proxy       func(*http.Request) (*url.URL, error)
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
}

// Control checks a connection's address before it is made (a
// net.Dialer's ControlContext).
type Control func(ctx context.Context, network, address string, c syscall.RawConn) error

// Checked is the Route whose connections control checks, through the
// environment's proxy (HTTP_PROXY and the like) too: with one, control
// sees the proxy's address only, so the destination's addresses are
// checked before the proxy is given the request. A nil control checks
// nothing.
func Checked(control Control) Route {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if control == nil {
		return Route{Proxy: http.ProxyFromEnvironment, DialContext: dialer.DialContext}
	}
	dialer.ControlContext = control
	return Route{Proxy: CheckedProxy(http.ProxyFromEnvironment, control), DialContext: dialer.DialContext}
}

// CheckedProxy is proxyOf with the destination of each request it sends
// through a proxy checked by control first.
func CheckedProxy(proxyOf func(*http.Request) (*url.URL, error), control Control) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		proxy, err := proxyOf(r)
		if proxy == nil || err != nil {
			return proxy, err
		}
		err = CheckDestination(r.Context(), r.URL, func(ctx context.Context, address string) error {
			return control(ctx, "tcp", address, nil)
		})
		if err != nil {
			return nil, err
		}
		return proxy, nil
	}
}

// NoReferer is a CheckRedirect that sends no Referer: a link's query may
// hold a token, which net/http would send on to the redirect's host. It
// stops after 10 redirects, as net/http does.
func NoReferer(r *http.Request, via []*http.Request) error {
	r.Header.Del("Referer")
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
