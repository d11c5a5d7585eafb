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

// A client TLS setting that cannot be read stops only the commands that
// reach a node, naming the variable: help and completion (TAB) go on.
func TestClientTLSOnlyWhereUsed(t *testing.T) {
	g := newRecordingGateway(t)
	t.Setenv(api.EnvSkipVerify, "")
	missing := filepath.Join(t.TempDir(), "ca.pem")
	t.Setenv(api.EnvClientCA, missing)
	for _, args := range [][]string{{"help", "put"}, {"completion", "bash"}, {"__complete", "ls", ""}, {"dashboard", "show"}} {
		if _, err := runAis(t, args...); err != nil {
			t.Errorf("ais %s with %s missing: %v", strings.Join(args, " "), api.EnvClientCA, err)
		}
	}
	for _, args := range [][]string{{"ls"}, {"storage"}, {"auth", "show", "user"}} {
		if err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), api.EnvClientCA) || !strings.Contains(err.Error(), missing) {
			t.Errorf("ais %s with %s missing: %v, want an error naming it and the file", strings.Join(args, " "), api.EnvClientCA, err)
		}
	}
	t.Setenv(api.EnvClientCA, "")
	t.Setenv(api.EnvSkipVerify, "yes")
	if _, err := runAis(t, "help", "put"); err != nil {
		t.Errorf("ais help put with %s=yes: %v", api.EnvSkipVerify, err)
	}
	if err := runCLI(t, "ls"); err == nil || !strings.Contains(err.Error(), api.EnvSkipVerify) {
		t.Errorf("ais ls with %s=yes: %v", api.EnvSkipVerify, err)
	}
	if sent := g.sent(); len(sent) > 0 {
		t.Errorf("requests sent: %v", sent)
	}
}
