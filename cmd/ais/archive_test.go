package main

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aisgo/aisgo/api"
)

// A shard whose generation is cut short is aborted: its PUT fails and
// nothing is stored under its name, while a whole one is stored.
func TestPutWriterAbortStoresNothing(t *testing.T) {
	var mu sync.Mutex
	stored := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.NotFound(w, r) // no cluster map: the client PUTs here
			return
		}
		data, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		stored[r.URL.Path] = string(data)
		mu.Unlock()
	}))
	defer srv.Close()
	client := api.NewClient(srv.URL)
	whole := newPutWriter(t.Context(), client, "b", "whole.tar", func() {})
	io.WriteString(whole, "all of it")
	if err := whole.Close(); err != nil {
		t.Fatal(err)
	}
	cut := newPutWriter(t.Context(), client, "b", "cut.tar", func() { t.Error("an aborted shard was reported stored") })
	io.WriteString(cut, strings.Repeat("part of it ", 1000))
	cut.Abort()
	mu.Lock()
	defer mu.Unlock()
	if len(stored) != 1 || stored["/v1/objects/b/whole.tar"] != "all of it" {
		t.Fatalf("stored %v, want the whole shard only", slices.Sorted(maps.Keys(stored)))
	}
}

// A node's process is known by its data directory: another program that
// took a saved id (after a reboot) is not a node, and stop leaves it
// alone; a node's binary of another name (--aisnode ./bin/node) is one.
func TestRunningIsANodesProcess(t *testing.T) {
	dir := t.TempDir()
	if (&localNode{PID: os.Getpid(), Dir: dir}).running() {
		t.Fatal("the test's own process taken for a node")
	}
	runningNode(t, t.TempDir())              // fails unless its process is taken for a node
	runningNodeNamed(t, t.TempDir(), "node") // the same, by another name
}

// gen-shards --local --progress draws the shards bar, as a bucket's
// generation does, and counts every shard in place.
func TestGenShardsLocalProgress(t *testing.T) {
	dir := t.TempDir()
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = stderr
	err = runCLI(t, "archive", "gen-shards", "s-{0..4}.tar", "--local", dir, "--records", "3", "--record-size", "1KiB", "--progress")
	os.Stderr = saved
	if err != nil {
		t.Fatal(err)
	}
	drawn, _ := os.ReadFile(stderr.Name())
	if !strings.Contains(string(drawn), "shards") || !strings.Contains(string(drawn), "5 / 5") {
		t.Errorf("no bar drawn: %q", drawn)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 {
		t.Errorf("%d files in the directory, want 5", len(entries))
	}
}
