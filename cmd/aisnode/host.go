package main

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// checkHost refuses a -host that no interface of this machine has: the
// listen would fail with a less helpful error, or, for a name, bind
// somewhere unexpected.
func checkHost(host string) error {
	if host == "" || host == "0.0.0.0" || host == "::" {
		return nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("-host %s: list this machine's addresses: %w", host, err)
	}
	var local []net.IP
	for _, a := range addrs {
		if ipNet, ok := a.(*net.IPNet); ok {
			local = append(local, ipNet.IP)
		}
	}
	ips := []net.IP{net.ParseIP(host)}
	if ips[0] == nil {
		if ips, err = net.LookupIP(host); err != nil {
			return fmt.Errorf("-host %s: not an address, and the name does not resolve: %w", host, err)
		}
	}
	for _, ip := range ips {
		// Linux answers the whole of 127.0.0.0/8 on lo.
		if ip.IsLoopback() || slices.ContainsFunc(local, ip.Equal) {
			return nil
		}
	}
	names := make([]string, 0, len(local))
	for _, ip := range local {
		names = append(names, ip.String())
	}
	return fmt.Errorf("-host %s: no network interface of this machine has that address (it has %s)", host, strings.Join(names, ", "))
}
