package egress

import (
	"context"
	"net"
	"net/url"
)

// CheckDestination resolves u's host and checks each of its addresses
// (host:port, the scheme's port when u names none) with check. A name
// only the proxy resolves is not one of this network's: it passes.
func CheckDestination(ctx context.Context, u *url.URL, check func(ctx context.Context, address string) error) error {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ips, _ := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	for _, ip := range ips {
		if err := check(ctx, net.JoinHostPort(ip.Unmap().String(), port)); err != nil {
			return err
		}
	}
	return nil
}
