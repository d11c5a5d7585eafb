package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/internal/selfsigned"
)

func TestClientTLSConfig(t *testing.T) {
	t.Setenv(api.EnvSkipVerify, "")
	t.Setenv(api.EnvClientCA, "")
	tc, err := clientTLSConfig(true)
	if err != nil || !tc.InsecureSkipVerify {
		t.Fatalf("--skip-verify: %+v %v", tc, err)
	}
	t.Setenv(api.EnvSkipVerify, "true")
	if tc, err := clientTLSConfig(false); err != nil || !tc.InsecureSkipVerify {
		t.Fatalf("%s=true: %+v %v", api.EnvSkipVerify, tc, err)
	}
	missing := filepath.Join(t.TempDir(), "ca.pem")
	t.Setenv(api.EnvClientCA, missing)
	if _, err := clientTLSConfig(false); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing %s: %v", api.EnvClientCA, err)
	}
}

// --tls-cert and --tls-key go together, are read before any node starts,
// and are kept as absolute paths.
func TestClusterTLSFiles(t *testing.T) {
	if _, _, err := tlsFiles("cert.pem", ""); err == nil || !strings.Contains(err.Error(), "one is missing") {
		t.Fatalf("a certificate without its key: %v", err)
	}
	dir := t.TempDir()
	cert, key, err := selfsigned.Write(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsFiles(key, key); err == nil || !strings.Contains(err.Error(), key) {
		t.Fatalf("a key as the certificate: %v", err)
	}
	t.Chdir(dir)
	gotCert, gotKey, err := tlsFiles("cert.pem", "key.pem")
	if err != nil || gotCert != cert || gotKey != key {
		t.Fatalf("got %q %q %v, want %q %q", gotCert, gotKey, err, cert, key)
	}
	c := &localCluster{TLSCert: cert, TLSKey: key, Nodes: []localNode{{Name: "g1", Role: "gateway", Port: 8443}}}
	c.Endpoint = c.url(c.Nodes[0])
	if c.Endpoint != "https://127.0.0.1:8443" {
		t.Fatalf("endpoint %s", c.Endpoint)
	}
	tc, err := c.tlsConfig()
	if err != nil || tc.RootCAs == nil || len(tc.Certificates) != 1 {
		t.Fatalf("the local cluster's client does not trust its certificate: %+v %v", tc, err)
	}
}
