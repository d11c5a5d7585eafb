package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/selfsigned"
)

func TestDefaultsAreTheEmbeddedNode(t *testing.T) {
	cfg, err := parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	data := filepath.Join(wd, "ais-data") // (made absolute)
	if cfg.Role != "all" || cfg.Port != 8080 || cfg.Data != data || len(cfg.Mountpaths) != 1 || cfg.Mountpaths[0] != filepath.Join(data, "mp1") || cfg.URL != "http://127.0.0.1:8080" {
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

// -rejoin is for the gateway that starts the cluster: a URL, without
// -join, never for a target.
func TestRejoinFlag(t *testing.T) {
	cfg, err := parse([]string{"-role", "gateway", "-rejoin", "http://ais.ns.svc:8080/"})
	if err != nil || cfg.Rejoin != "http://ais.ns.svc:8080" {
		t.Fatalf("a gateway's rejoin URL: %q %v", cfg.Rejoin, err)
	}
	for _, bad := range [][]string{
		{"-role", "target", "-join", "http://g:8080", "-rejoin", "http://ais:8080"},
		{"-role", "gateway", "-join", "http://g:8080", "-rejoin", "http://ais:8080"},
		{"-role", "gateway", "-rejoin", "ais:8080"},
		{"-role", "gateway", "-rejoin", "ftp://ais:8080"},
	} {
		if _, err := parse(bad); err == nil || !strings.Contains(err.Error(), "-rejoin") {
			t.Errorf("%q: %v, want an error naming -rejoin", bad, err)
		}
	}
}

// The join URL takes a trailing slash as the node's own does; the former
// name of fetch_allow_local is read, and -fetch-allow-local=false turns
// it off; the two names saying otherwise are an error.
func TestJoinSlashAndFetchAllowLocal(t *testing.T) {
	dir := t.TempDir()
	config := func(text string) string {
		path := filepath.Join(dir, fmt.Sprintf("node-%d.yaml", len(text)))
		os.WriteFile(path, []byte(text), 0o644)
		return path
	}
	cfg, err := parse([]string{"-role", "target", "-join", "http://10.0.0.1:8080/"})
	if err != nil || cfg.Join != "http://10.0.0.1:8080" {
		t.Fatalf("a join URL with a trailing slash: %q %v", cfg.Join, err)
	}
	former := config("ekm_allow_local: true\n")
	if cfg, err := parse([]string{"-config", former}); err != nil || !cfg.FetchAllowLocal {
		t.Fatalf("ekm_allow_local: %+v %v, want fetch_allow_local on", cfg.FetchAllowLocal, err)
	}
	if cfg, err := parse([]string{"-config", former, "-fetch-allow-local=false"}); err != nil || cfg.FetchAllowLocal {
		t.Fatalf("ekm_allow_local with -fetch-allow-local=false: %v %v, want it off", cfg.FetchAllowLocal, err)
	}
	if _, err := parse([]string{"-config", config("ekm_allow_local: true\nfetch_allow_local: false\n")}); err == nil || !strings.Contains(err.Error(), "set one") {
		t.Fatalf("the two names saying otherwise: %v", err)
	}
	if cfg, err := parse([]string{"-config", config("# ekm_allow_local is fetch_allow_local's former name\nekm_allow_local: true\n")}); err != nil || !cfg.FetchAllowLocal {
		t.Fatalf("the new name in a comment only: %v %v", cfg.FetchAllowLocal, err)
	}
}

// A new node told to join through its own URL fails its start, saying
// so: no member yet, it cannot answer its own join, and it waited for
// ever. (A restart with state joins through no one, so its -join may name
// itself: see the e2e cluster restarts.)
func TestJoinOfItsOwnURLFailsTheStart(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	listener.Close()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(strings.Repeat("0123456789abcdef", 4)), 0o600)
	for _, role := range []string{"target", "gateway"} {
		done := make(chan error, 1)
		go func() {
			done <- run([]string{"-role", role, "-port", fmt.Sprint(port), "-data", t.TempDir(), "-secret-file", secret, "-join", fmt.Sprintf("http://localhost:%d/", port)})
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "own URL") {
				t.Errorf("a new %s joining through its own URL: %v", role, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("a new %s joining through its own URL is still starting", role)
		}
	}
}

// A rebalance batch longer than a receiver takes is refused at start:
// every batch would fail, and a leaving target never drain.
func TestRebalanceBatchBeyondTheReceiversBoundIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.yaml")
	os.WriteFile(path, []byte("role: target\nlimits:\n  rebalance_batch_objects: 10000\n"), 0o644)
	if _, err := parse([]string{"-config", path}); err == nil || !strings.Contains(err.Error(), "rebalance_batch_objects") {
		t.Fatalf("rebalance_batch_objects 10000: %v", err)
	}
}

// A static S3 key with an empty secret (a template's unset variable)
// is refused: it would sign with a key anyone can make.
func TestEmptyS3SecretIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.yaml")
	os.WriteFile(path, []byte("role: gateway\ns3:\n  keys:\n    AKIAEXAMPLE0001:\n"), 0o644)
	if _, err := parse([]string{"-config", path}); err == nil || !strings.Contains(err.Error(), "AKIAEXAMPLE0001") {
		t.Fatalf("an S3 key with an empty secret: %v", err)
	}
	os.WriteFile(path, []byte("role: gateway\ns3:\n  keys:\n    AKIAEXAMPLE0001: a-secret-of-the-key\n"), 0o644)
	if _, err := parse([]string{"-config", path}); err != nil {
		t.Fatalf("an S3 key with its secret: %v", err)
	}
}

// A metadata directory inside a mountpath (-data /mnt/d1/ais with the
// mountpath /mnt/d1: its meta is the bucket ais://meta) is refused, as
// is a mountpath inside it; apart, both are taken.
func TestMetadataApartFromMountpaths(t *testing.T) {
	root := t.TempDir()
	for _, mps := range [][]string{{root}, {filepath.Join(root, "ais", "meta", "x")}, {filepath.Join(root, "ais", "meta")}} {
		if err := metaApart(filepath.Join(root, "ais", "meta"), mps); err == nil {
			t.Errorf("metadata %s with mountpaths %v: taken", filepath.Join(root, "ais", "meta"), mps)
		}
	}
	if err := metaApart(filepath.Join(root, "data", "meta"), []string{filepath.Join(root, "data", "mp1"), filepath.Join(root, "d2")}); err != nil {
		t.Errorf("metadata apart from the mountpaths: %v", err)
	}
	// -data the same as a mountpath: MP/meta is no bucket's.
	if err := metaApart(filepath.Join(root, "meta"), []string{root}); err != nil {
		t.Errorf("metadata at MP/meta: %v", err)
	}
	if err := metaApart(filepath.Join(root, ".ais", "meta"), []string{root}); err == nil {
		t.Error("metadata among the mountpath's work files: taken")
	}
}

// A relative data directory beside absolute mountpaths (or the other
// way) is compared as the same paths: the metadata in a mountpath's
// bucket directory is refused whatever the spelling (a destroy of
// ais://meta took the node's id, secret and log).
func TestRelativeDataDirectoryIsComparedAbsolute(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	cfg, err := parse([]string{"-data", "ais", "-mountpaths", root})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data != filepath.Join(root, "ais") || !filepath.IsAbs(cfg.Mountpaths[0]) {
		t.Fatalf("data %q, mountpaths %q: want them absolute", cfg.Data, cfg.Mountpaths)
	}
	if err := metaApart(filepath.Join(cfg.Data, "meta"), cfg.Mountpaths); err == nil {
		t.Error("the metadata in ais://meta's directory, -data relative: taken")
	}
	cfg, err = parse([]string{"-data", filepath.Join(root, "mp", "ais"), "-mountpaths", "mp"})
	if err != nil {
		t.Fatal(err)
	}
	if err := metaApart(filepath.Join(cfg.Data, "meta"), cfg.Mountpaths); err == nil {
		t.Error("the metadata in ais://meta's directory, the mountpath relative: taken")
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
		{"-proxy-connect-ports", "443,https"},
		{"-proxy-connect-ports", "70000"},
	} {
		if err := run(args); err == nil {
			t.Errorf("aisnode %v started", args)
		}
	}
	// A negative interval is refused when read, not a panic of a ticker
	// after the node joined.
	for _, args := range [][]string{{"-keepalive", "-2s"}, {"-keepalive-timeout", "-1s"}, {"-election-timeout", "-1s"}, {"-role", "authn", "-token-ttl", "-1h"}} {
		if _, err := parse(args); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("aisnode %v: %v, want the negative duration refused", args, err)
		}
	}
	// Raft would refuse it only once the node listens, naming neither
	// the flag nor the range.
	if _, err := parse([]string{"-election-timeout", "8ms"}); err == nil || !strings.Contains(err.Error(), "election-timeout 8ms") {
		t.Errorf("an 8ms election timeout: %v", err)
	}
	// An id that cannot be a node's is refused before it is kept.
	if _, err := parse([]string{"-id", "node 1"}); err == nil || !strings.Contains(err.Error(), "-id") {
		t.Errorf("-id with a space: %v", err)
	}
	// Tiny lifetimes: tombstones gone before a rebalance carries them,
	// uploads swept while their parts come (and a ticker of 0 panics).
	for body, want := range map[string]string{"limits:\n  tombstone_ttl: 3ns\n": "tombstone_ttl", "s3:\n  upload_ttl: 2ns\n": "upload_ttl", "limits:\n  dsort_idle_timeout: 30s\n": "dsort_idle_timeout"} {
		path := filepath.Join(t.TempDir(), "node.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := parse([]string{"-config", path}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: %v, want %s refused", body, err, want)
		}
	}
	// An S3 domain no Host can match (a port, a scheme, a wildcard):
	// every virtual-hosted request would be read as path-style.
	for _, domain := range []string{"s3.example.com:9000", "http://s3.example.com", "*.s3.example.com", ".example.com", ""} {
		path := filepath.Join(t.TempDir(), "node.yaml")
		if err := os.WriteFile(path, []byte("s3:\n  domains: [\""+domain+"\"]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := parse([]string{"-config", path}); err == nil || !strings.Contains(err.Error(), "s3.domains[0]") {
			t.Errorf("s3 domain %q: %v, want it refused", domain, err)
		}
	}
	path := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(path, []byte("s3:\n  domains: [\"S3.Example.com.\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err := parse([]string{"-config", path}); err != nil || !slices.Equal(cfg.S3.Domains, []string{"s3.example.com"}) {
		t.Errorf("an S3 domain written with capitals and a final dot: %v %v, want s3.example.com", cfg.S3.Domains, err)
	}
	if _, err := parse([]string{"-role", "authn", "-token-ttl", "1000h"}); err == nil || !strings.Contains(err.Error(), "720h") {
		t.Errorf("a 1000h default token lifetime: %v", err)
	}
	// Shorter than a login may ask: every default login's token expired
	// before it was used.
	if _, err := parse([]string{"-role", "authn", "-token-ttl", "1s"}); err == nil || !strings.Contains(err.Error(), "1m to 720h") {
		t.Errorf("a 1s default token lifetime: %v", err)
	}

	// A target without -join is refused before its data directory is
	// touched: a cluster secret made up there would be taken at the next
	// start, with -join, and fail every call.
	data := t.TempDir()
	if _, err := parse([]string{"-role", "target", "-data", data}); err == nil || !strings.Contains(err.Error(), "-join") {
		t.Errorf("a target without -join: %v", err)
	}
	if err := run([]string{"-role", "target", "-data", data}); err == nil {
		t.Error("a target without -join started")
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("a target without -join wrote %v into its data directory", entries)
	}
	// A timeout within two rounds: one missed round would take a target
	// offline.
	for _, args := range [][]string{{"-keepalive", "5s", "-keepalive-timeout", "5s"}, {"-keepalive", "6s"}, {"-keepalive-timeout", "3s"}} {
		if _, err := parse(args); err == nil || !strings.Contains(err.Error(), "twice the keepalive") {
			t.Errorf("aisnode %v: %v, want the timeout refused", args, err)
		}
	}
	if _, err := parse([]string{"-keepalive", "5s"}); err != nil {
		t.Errorf("a 5s keepalive with the default 10s timeout: %v", err)
	}
	// An empty mountpath ("$MPS" unset, a stray comma) would be the
	// working directory.
	for _, list := range []string{"", "/d1,/d2,", "/d1,,/d2", " "} {
		if _, err := parse([]string{"-mountpaths", list}); err == nil || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("-mountpaths %q: %v, want an empty entry refused", list, err)
		}
	}
	if cfg, err := parse([]string{"-mountpaths", "/d1, /d2"}); err != nil || !slices.Equal(cfg.Mountpaths, []string{"/d1", "/d2"}) {
		t.Errorf("-mountpaths with a space after the comma: %v %v", cfg.Mountpaths, err)
	}
}

// A node's id is kept across restarts; an empty id file is refused,
// naming it, not taken as an id.
func TestNodeIDFile(t *testing.T) {
	meta := t.TempDir()
	id, err := nodeID(config{Role: "target"}, meta, nil)
	if err != nil || !strings.HasPrefix(id, "t") {
		t.Fatalf("first start: %q %v", id, err)
	}
	if again, err := nodeID(config{Role: "target"}, meta, nil); err != nil || again != id {
		t.Fatalf("restart: %q %v, want %q", again, err, id)
	}
	os.WriteFile(filepath.Join(meta, "node-id"), nil, 0o644)
	if _, err := nodeID(config{Role: "target"}, meta, nil); err == nil || !strings.Contains(err.Error(), "node-id is empty") {
		t.Fatalf("an empty node-id file: %v", err)
	}
}

// A target whose data directory was lost, started without -id on disks
// of a node (their .ais/owner), is refused naming that node, and keeps
// no id: started with -id of that node, it is that node.
func TestNodeIDOnDisksOfANode(t *testing.T) {
	mp1, mp2 := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(mp2, ".ais"), 0o755)
	os.WriteFile(filepath.Join(mp2, ".ais", "owner"), []byte("t7\n"), 0o644)
	meta := t.TempDir()
	cfg := config{Role: "target", Mountpaths: []string{mp1, mp2}}
	if _, err := nodeID(cfg, meta, nil); err == nil || !strings.Contains(err.Error(), "start it with -id t7") {
		t.Fatalf("no id kept, the disks of t7: %v, want refused naming t7", err)
	}
	if _, err := os.Stat(filepath.Join(meta, "node-id")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused start kept an id: %v", err)
	}
	// Nor is another -id kept on them: fs.Open would refuse it for the
	// disks, and a restart with -id t7 for the id kept.
	cfg.ID = "t5"
	if _, err := nodeID(cfg, meta, nil); err == nil || !strings.Contains(err.Error(), "start it with -id t7") {
		t.Fatalf("-id t5 on the disks of t7: %v, want refused naming t7", err)
	}
	if _, err := os.Stat(filepath.Join(meta, "node-id")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused -id was kept: %v", err)
	}
	cfg.ID = "t7"
	if id, err := nodeID(cfg, meta, nil); err != nil || id != "t7" {
		t.Fatalf("-id t7 on its disks: %q %v", id, err)
	}
}

// An -id is kept as a made-up one is: a restart without it is the same
// node, and a restart with another is refused, naming both.
func TestNodeIDGivenIsKept(t *testing.T) {
	meta := t.TempDir()
	if id, err := nodeID(config{Role: "gateway", ID: "p1"}, meta, nil); err != nil || id != "p1" {
		t.Fatalf("first start with -id p1: %q %v", id, err)
	}
	if id, err := nodeID(config{Role: "gateway"}, meta, nil); err != nil || id != "p1" {
		t.Fatalf("restart without -id: %q %v, want p1", id, err)
	}
	_, err := nodeID(config{Role: "gateway", ID: "p2"}, meta, nil)
	if err == nil || !strings.Contains(err.Error(), "p2") || !strings.Contains(err.Error(), "-id p1") {
		t.Fatalf("restart with -id p2: %v", err)
	}
	if id, err := nodeID(config{Role: "gateway", ID: "p1"}, meta, nil); err != nil || id != "p1" {
		t.Fatalf("restart with -id p1: %q %v", id, err)
	}
	// A node an older version knew by -id alone (it kept a made-up id,
	// never used): the map it kept names -id, so -id it is, and kept.
	old := t.TempDir()
	os.WriteFile(filepath.Join(old, "node-id"), []byte("t1a2b3c4d\n"), 0o644)
	saved := &cluster.Map{Nodes: []cluster.Node{{ID: "t7", Role: cluster.RoleTarget, URL: "http://10.0.0.7:8080"}, {ID: "t8", Role: cluster.RoleTarget, URL: "http://10.0.0.8:8080"}}}
	// Another node's id, given by mistake: not taken.
	if _, err := nodeID(config{Role: "target", ID: "t8", URL: "http://10.0.0.7:8080"}, old, saved); err == nil {
		t.Fatal("-id t8, the map's entry of another node: taken")
	}
	if id, err := nodeID(config{Role: "target", ID: "t7", URL: "http://10.0.0.7:8080"}, old, saved); err != nil || id != "t7" {
		t.Fatalf("-id t7 with the map naming t7: %q %v", id, err)
	}
	// The id it had is kept: its disks stamped with it are its own, at
	// this start or a later one (this one may be cut short).
	if former, _ := os.ReadFile(filepath.Join(old, formerIDFile)); string(former) != "t1a2b3c4d\n" {
		t.Fatalf("the former id kept: %q", former)
	}
	if id, err := nodeID(config{Role: "target"}, old, saved); err != nil || id != "t7" {
		t.Fatalf("then without -id: %q %v, want t7 kept", id, err)
	}
	if _, err := nodeID(config{Role: "target", ID: "t9", URL: "http://10.0.0.7:8080"}, old, saved); err == nil {
		t.Fatal("-id t9, which the map does not name: taken")
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
	// The file given is what the node uses, though the environment has
	// another (a shell set up for another cluster).
	t.Setenv(secretEnv, peer.NewSecret().String())
	fromFile, err = clusterSecret(config{Join: "http://127.0.0.1:8080", SecretFile: file}, t.TempDir())
	if err != nil || fromFile.String() != first.String() {
		t.Fatalf("a file given and another secret in the environment: %v", err)
	}
	t.Setenv(secretEnv, "not hex")
	if _, err := clusterSecret(config{}, meta); err == nil || !strings.Contains(err.Error(), secretEnv) {
		t.Fatalf("a bad secret in the environment: %v", err)
	}
}

// A gateway first started with a secret given (a file, the environment)
// and restarted without one is refused: a made-up secret would fail
// every call between it and the other nodes.
func TestClusterSecretNotMadeUpForAnOldNode(t *testing.T) {
	t.Setenv(secretEnv, "")
	for _, state := range []string{"smap.json", "raft"} {
		meta := t.TempDir()
		os.Mkdir(filepath.Join(meta, state), 0o700)
		_, err := clusterSecret(config{}, meta)
		if err == nil || !strings.Contains(err.Error(), "-secret-file") || !strings.Contains(err.Error(), state) {
			t.Fatalf("%s kept, no secret given: %v", state, err)
		}
		if _, err := os.Stat(filepath.Join(meta, "cluster-secret")); err == nil {
			t.Fatalf("%s kept: a secret was made up", state)
		}
	}
}

// TLS settings that do not go together fail at parse, naming what is
// missing or wrong.
func TestTLSFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-tls-cert", "c.pem"}, "the key is missing"},
		{[]string{"-tls-key", "k.pem"}, "the certificate is missing"},
		{[]string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-tls-client-auth", "always"}, `-tls-client-auth "always"`},
		{[]string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-tls-client-auth", "verify"}, "-tls-client-ca"},
		{[]string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-tls-client-auth", "require", "-tls-client-ca", "ca.pem"}, "verify only"},
		{[]string{"-tls-client-auth", "require"}, "need -tls-cert"},
		{[]string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-url", "http://10.0.0.1:8080"}, "serves HTTPS only"},
		{[]string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-url", "HTTP://10.0.0.1:8080"}, "serves HTTPS only"},
		{[]string{"-url", "https://10.0.0.1:8080"}, "serves plain HTTP"},
	} {
		if _, err := parse(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("aisnode %v: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// With a certificate the node's URL is https; a client CA makes verify
// the default; the config file's tls section works like the flags.
func TestTLSConfig(t *testing.T) {
	cfg, err := parse([]string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-tls-client-ca", "ca.pem", "-port", "9443"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "https://127.0.0.1:9443" || cfg.TLS.ClientAuth != "verify" {
		t.Fatalf("config %+v", cfg)
	}
	path := filepath.Join(t.TempDir(), "node.yaml")
	os.WriteFile(path, []byte("tls:\n  cert: /c.pem\n  key: /k.pem\n  client_auth: request\n  ca: /ca.pem\n  skip_verify: true\n"), 0o644)
	cfg, err = parse([]string{"-config", path})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS != (tlsConfig{Cert: "/c.pem", Key: "/k.pem", ClientAuth: "request", CA: "/ca.pem", SkipVerify: true}) || !strings.HasPrefix(cfg.URL, "https://") {
		t.Fatalf("config file: %+v", cfg.TLS)
	}
}

// Bad files fail the start, naming the file; a self-signed certificate is
// trusted by the node's own calls to its peers.
func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := selfsigned.Write(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("-----BEGIN NOTHING-----\n"), 0o644)
	missing := filepath.Join(dir, "missing.pem")
	// A client CA that did not sign the node's certificate: the node's
	// calls to its peers, which show it, would all fail.
	otherCA, _, err := selfsigned.Write(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		tls  tlsConfig
		want string
	}{
		{tlsConfig{Cert: missing, Key: key, ClientAuth: "none"}, missing},
		{tlsConfig{Cert: junk, Key: key, ClientAuth: "none"}, junk},
		{tlsConfig{Cert: cert, Key: junk, ClientAuth: "none"}, junk},
		{tlsConfig{Cert: cert, Key: key, ClientAuth: "verify", ClientCA: junk}, junk},
		{tlsConfig{CA: missing, ClientAuth: "none"}, missing},
		{tlsConfig{Cert: cert, Key: key, ClientAuth: "verify", ClientCA: otherCA}, "does not pass as a client certificate"},
	} {
		if _, _, err := tc.tls.load(logger, "https://127.0.0.1:8080"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error naming %s", tc.tls, err, tc.want)
		}
	}
	server, client, err := tlsConfig{Cert: cert, Key: key, ClientAuth: "verify", ClientCA: cert}.load(logger, "https://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	if server.MinVersion != tls.VersionTLS12 || server.ClientAuth != tls.RequireAndVerifyClientCert || server.ClientCAs == nil {
		t.Fatalf("server config %+v", server)
	}
	// The peers' client trusts the self-signed certificate and shows it.
	if _, err := server.Certificates[0].Leaf.Verify(x509.VerifyOptions{Roots: client.RootCAs}); err != nil || len(client.Certificates) != 1 {
		t.Fatalf("the node does not trust its own self-signed certificate: %v", err)
	}
	if err := run([]string{"-tls-cert", junk, "-tls-key", key, "-data", t.TempDir(), "-port", "1"}); err == nil || !strings.Contains(err.Error(), junk) {
		t.Fatalf("a bad certificate: %v", err)
	}
}

func TestHostMustBeLocal(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "127.0.0.9", "0.0.0.0", "::1", "localhost"} {
		if err := checkHost(host); err != nil {
			t.Errorf("-host %s: %v", host, err)
		}
	}
	// TEST-NET-3 (RFC 5737): on no machine's interface; run refuses it
	// before it listens or touches the data directory.
	err := run([]string{"-host", "203.0.113.77", "-data", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "203.0.113.77") || !strings.Contains(err.Error(), "no network interface") {
		t.Fatalf("-host 203.0.113.77: %v", err)
	}
}

// proxy_connect_ports in the config file: an empty list is the default
// (443), not "no port"; each must be a port, as with the flag.
func TestProxyConnectPortsInTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		path := filepath.Join(dir, "node.yaml")
		os.WriteFile(path, []byte(text), 0o644)
		return path
	}
	cfg, err := parse([]string{"-config", write("proxy_connect_ports: []\n")})
	if err != nil || cfg.ProxyConnectPorts != nil {
		t.Fatalf("an empty list: %v %v, want nil (443)", cfg.ProxyConnectPorts, err)
	}
	if _, err := parse([]string{"-config", write("proxy_connect_ports: [443, 70000]\n")}); err == nil || !strings.Contains(err.Error(), "70000") {
		t.Fatalf("a port out of range in the config: %v", err)
	}
}

// The AuthN secret from the environment is trimmed as the key file is:
// a secret written with a newline signs the same either way.
func TestAuthnSecretFromTheEnvironmentIsTrimmed(t *testing.T) {
	secret := strings.Repeat("ab", 32)
	t.Setenv(envAuthnSecret, secret+"\n")
	fromEnv, err := authKeys(config{Role: "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key")
	os.WriteFile(path, []byte(secret+"\n"), 0o600)
	fromFile, err := authKeys(config{Role: "gateway", AuthKey: path})
	if err != nil {
		t.Fatal(err)
	}
	token, err := fromFile.Sign(&authn.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "u", ID: authn.NewTokenID(), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fromEnv.Parse(token); err != nil {
		t.Fatalf("a token signed with the key file's secret, checked with the environment's: %v", err)
	}
}

// In a container, the runtime's soft limit sits below the hard one (90%);
// an operator's GOMEMLIMIT is kept; no container limit sets none.
func TestSoftMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		env       string
		container int64
		want      int64
	}{
		{"", 10 << 30, 9 << 30},
		{"6GiB", 10 << 30, 0},
		{"", 0, 0},
	} {
		if got := softMemoryLimit(c.env, c.container); got != c.want {
			t.Errorf("softMemoryLimit(%q, %d) = %d, want %d", c.env, c.container, got, c.want)
		}
	}
}

// The AuthN service reads a whole request within a bound: a body sent a
// byte at a time does not hold a connection for ever.
func TestAuthnServerBoundsARequest(t *testing.T) {
	s := authnServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if s.ReadTimeout <= 0 || s.ReadTimeout > 5*time.Minute || s.ReadHeaderTimeout <= 0 {
		t.Fatalf("read timeout %s, header timeout %s: want both bounded", s.ReadTimeout, s.ReadHeaderTimeout)
	}
}

// A shutdown that cuts requests waits for their handlers before the
// store closes under them, and only as long as its limit.
func TestShutdownWaitsForCutHandlers(t *testing.T) {
	var running handlers
	release := make(chan struct{})
	started := make(chan struct{})
	handler := running.track(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	go handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	<-started
	if running.wait(20 * time.Millisecond) {
		t.Fatal("wait returned with a handler running")
	}
	close(release)
	if !running.wait(time.Minute) {
		t.Fatal("wait did not see the handler return")
	}
}

// A directory locked by one node is refused to a second, naming it, and
// free again once the first lets it go; a directory missing, or listed
// twice (the store names that), is no conflict.
func TestLockDirs(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	first, missing, err := lockDirs(logger, dir, filepath.Join(dir, "not-mounted"), dir+"/.")
	if err != nil || !slices.Equal(missing, []string{filepath.Join(dir, "not-mounted")}) {
		t.Fatalf("%v, missing %v: want the one not there told, to lock once made", err, missing)
	}
	if _, _, err := lockDirs(logger, t.TempDir(), dir); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second lock of %s: %v", dir, err)
	}
	first.Close()
	again, _, err := lockDirs(logger, dir)
	if err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	again.Close()
}

// A second AuthN service on a running one's data directory is refused
// before it writes anything; a crash's temporary files there go at start.
func TestAuthnDataDirectoryIsLocked(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	held, _, err := lockDirs(logger, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{Role: roleAuthn, Host: "127.0.0.1", Port: 0, Data: dir}
	err = runAuthn(t.Context(), cfg, logger, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "in use by another aisnode") {
		t.Fatalf("a second service on a locked directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the refused service wrote %v", entries)
	}
	held.Close()
	t.Setenv(envAuthnAdminName, "admin")
	t.Setenv(envAuthnAdminPass, "a password long enough")
	os.WriteFile(filepath.Join(dir, "authn.json.tmp-0a1b2c3d4e5f"), []byte("{half"), 0o600)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := runAuthn(ctx, cfg, logger, nil, nil); err != nil {
		t.Fatalf("the service once the lock is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "authn.json.tmp-0a1b2c3d4e5f")); !os.IsNotExist(err) {
		t.Fatalf("the temporary file a crash left is still there: %v", err)
	}
}

// The temporary files a crash left in the metadata directory go; the
// files they would have replaced stay.
func TestSweepTemps(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "smap.json"), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(dir, "smap.json.tmp-0a1b2c3d4e5f"), []byte("{half"), 0o600)
	sweepTemps(slog.New(slog.DiscardHandler), dir)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "smap.json" {
		t.Fatalf("left %v, want smap.json alone", entries)
	}
}

// A URL given with a trailing "/" is the node's URL without it: nodes put
// their routes after it.
func TestURLTrailingSlashIsTrimmed(t *testing.T) {
	cfg, err := parse([]string{"-url", "http://10.0.0.2:9002/", "-data", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "http://10.0.0.2:9002" {
		t.Fatalf("url %q", cfg.URL)
	}
}

// An empty data directory (a variable unset in -data "$DIR") is refused:
// it would be the working directory.
func TestEmptyDataDirectoryIsRefused(t *testing.T) {
	for _, args := range [][]string{{"-data", ""}, {"-data", "  "}} {
		if _, err := parse(args); err == nil || !strings.Contains(err.Error(), "data: empty") {
			t.Fatalf("parse %q: %v, want the empty data directory refused", args, err)
		}
	}
}

// The AuthN service whose state was signed with a key given then, and
// started without it, refuses to start rather than make a new secret
// (its tokens would be refused by every node, its old ones unrevocable);
// a new service makes and keeps one.
func TestAuthnWithoutItsKeyRefusesToStart(t *testing.T) {
	t.Setenv(envAuthnSecret, "")
	fresh := t.TempDir()
	if keys, err := authKeys(config{Role: roleAuthn, Data: fresh}); err != nil || keys == nil {
		t.Fatalf("a new service: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh, "authn-secret")); err != nil {
		t.Fatalf("a new service keeps no secret: %v", err)
	}
	given := t.TempDir()
	os.WriteFile(filepath.Join(given, "authn.json"), []byte("{}"), 0o600)
	if _, err := authKeys(config{Role: roleAuthn, Data: given}); err == nil || !strings.Contains(err.Error(), "give it again") {
		t.Fatalf("a service with state and no key: %v, want refused", err)
	}
	if _, err := os.Stat(filepath.Join(given, "authn-secret")); err == nil {
		t.Fatal("a secret was made for a state signed with another key")
	}
}

// A node that ran with user authentication refuses to start without its
// key (it would serve every route to anyone), until the file that says
// so is removed; one that never ran with it starts.
func TestNodeThatRanWithAuthNeedsItsKey(t *testing.T) {
	meta := t.TempDir()
	if err := keepAuthOn(meta, false); err != nil {
		t.Fatalf("a node that never ran with a key: %v", err)
	}
	if err := keepAuthOn(meta, true); err != nil {
		t.Fatal(err)
	}
	if err := keepAuthOn(meta, true); err != nil {
		t.Fatalf("started again with its key: %v", err)
	}
	if err := keepAuthOn(meta, false); err == nil || !strings.Contains(err.Error(), "-auth-key") {
		t.Fatalf("started again without its key: %v, want refused", err)
	}
	os.Remove(filepath.Join(meta, authOnFile))
	if err := keepAuthOn(meta, false); err != nil {
		t.Fatalf("authentication turned off on purpose: %v", err)
	}
}
