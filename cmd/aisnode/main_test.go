package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreTheEmbeddedNode(t *testing.T) {
	cfg, err := parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Role != "all" || cfg.Port != 8080 || cfg.Data != "ais-data" || len(cfg.Mountpaths) != 1 || cfg.Mountpaths[0] != filepath.Join("ais-data", "mp1") || cfg.URL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults %+v", cfg)
	}
}

// A config file sets everything; flags given on the command line win.
func TestConfigFileAndFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.yaml")
	os.WriteFile(path, []byte("role: target\nport: 9001\ndata: /var/ais/t1\nmountpaths: [/d1, /d2]\njoin: http://10.0.0.1:8080\nkeepalive_timeout: 30s\nid: t1\nlimits:\n  rebalance_batch_objects: 64\n  body_timeout: 1m\n"), 0o644)
	cfg, err := parse([]string{"-config", path, "-port", "9002", "-host", "10.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Role != "target" || cfg.Port != 9002 || cfg.Data != "/var/ais/t1" || strings.Join(cfg.Mountpaths, ",") != "/d1,/d2" ||
		cfg.Join != "http://10.0.0.1:8080" || cfg.KeepaliveTimeout != 30*time.Second || cfg.ID != "t1" || cfg.URL != "http://10.0.0.2:9002" ||
		cfg.Limits.RebalanceBatchObjects != 64 || cfg.Limits.BodyTimeout != time.Minute {
		t.Fatalf("config %+v", cfg)
	}
}

func TestMisspelledConfigField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.yaml")
	os.WriteFile(path, []byte("role: target\nkeepalive_timout: 30s\n"), 0o644)
	if _, err := parse([]string{"-config", path}); err == nil || !strings.Contains(err.Error(), "keepalive_timout") {
		t.Fatalf("a misspelled field: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-role", "proxy"},
		{"-port", "70000"},
		{"-config", "/nonexistent.yaml"},
		{"extra"},
		{"-log-level", "loud"},
	} {
		if err := run(args); err == nil {
			t.Errorf("aisnode %v started", args)
		}
	}
}

// The first node of a new cluster creates the secret, readable only by
// its owner; later starts reuse it; a node that joins must be given it.
func TestClusterSecret(t *testing.T) {
	t.Setenv(secretEnv, "")
	meta := t.TempDir()
	first, err := clusterSecret(config{}, meta)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(meta, "cluster-secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	again, err := clusterSecret(config{}, meta)
	if err != nil || again.String() != first.String() {
		t.Fatalf("restart got another secret: %v", err)
	}
	_, err = clusterSecret(config{Join: "http://127.0.0.1:8080"}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "-secret-file") {
		t.Fatalf("joining without a secret: %v", err)
	}
	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte(first.String()), 0o600)
	fromFile, err := clusterSecret(config{Join: "http://127.0.0.1:8080", SecretFile: file}, t.TempDir())
	if err != nil || fromFile.String() != first.String() {
		t.Fatalf("from a file: %v", err)
	}
	t.Setenv(secretEnv, "not hex")
	if _, err := clusterSecret(config{}, meta); err == nil || !strings.Contains(err.Error(), secretEnv) {
		t.Fatalf("a bad secret in the environment: %v", err)
	}
}
