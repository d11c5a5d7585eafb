package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
	"github.com/aisgo/aisgo/store"
)

// An object written in pieces (AIStore's APPEND): nothing is visible until
// the flush, the flush stores the pieces in order, checked against a
// checksum when one is sent, and the handle works for its object only.
func TestAppendPiecesThenFlush(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "logs", nil); err != nil {
		t.Fatal(err)
	}
	pieces := []string{"first line\n", "second line\n", strings.Repeat("x", 300<<10)}
	var handle string
	var err error
	for i, p := range pieces {
		if handle, err = client.Append(ctx, "logs", "day1.log", handle, strings.NewReader(p), int64(len(p))); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		if _, err := client.Head(ctx, "logs", "day1.log"); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("after piece %d the object is visible: %v", i, err)
		}
	}
	whole := strings.Join(pieces, "")
	// A piece a crash cut and never acknowledged: its bytes in the
	// session's file are no part of the object.
	target, token, _ := strings.Cut(handle, "|")
	cut := false
	for _, m := range c.Targets() {
		if m.Node.ID() == target {
			f, err := os.OpenFile(filepath.Join(m.Dir, "work", "append", token), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("a piece cut sh")
			f.Close()
			cut = true
		}
	}
	if !cut {
		t.Fatalf("no target %s for the handle %s", target, handle)
	}
	wrong := store.Checksum{Type: store.ChecksumMD5, Value: strings.Repeat("0", 32)}
	if _, err := client.Flush(ctx, "logs", "day1.log", handle, wrong); !errors.Is(err, api.ErrBadChecksum) {
		t.Fatalf("flush with a wrong checksum: %v, want ErrBadChecksum", err)
	}
	if _, err := client.Head(ctx, "logs", "day1.log"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a refused flush stored the object: %v", err)
	}
	// The session survives a refused flush: the right checksum stores it.
	h, err := store.NewHash(store.ChecksumMD5)
	if err != nil {
		t.Fatal(err)
	}
	h.Write([]byte(whole))
	right := store.ChecksumOf(store.ChecksumMD5, h)
	meta, err := client.Flush(ctx, "logs", "day1.log", handle, right)
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.GetBytes(ctx, "logs", "day1.log", api.GetOptions{})
	if err != nil || string(got) != whole {
		t.Fatalf("after the flush: %d bytes, %v; want the %d bytes of the pieces", len(got), err, len(whole))
	}
	if meta.Checksum.IsEmpty() {
		t.Fatal("the flush answered no checksum")
	}
	if _, err := client.Flush(ctx, "logs", "day1.log", handle, store.Checksum{}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("a second flush of the handle: %v, want ErrBadRequest", err)
	}
	// No session file is left behind.
	for _, m := range c.Targets() {
		entries, _ := os.ReadDir(filepath.Join(m.Dir, "work", "append"))
		if len(entries) != 0 {
			t.Fatalf("target %s keeps %d append files after the flush", m.Node.ID(), len(entries))
		}
	}
}

// Handles that are malformed, forged, of another object or of another
// target are refused with a 400 that says why, and a flush takes no body.
// A target with all the sessions it keeps is busy, not in conflict over
// a name: 503, which a client tries again, and a flush frees a place.
func TestAppendSessionsBeyondTheBoundAreUnavailable(t *testing.T) {
	defer gateway.SetMaxAppends(2)()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "logs", nil); err != nil {
		t.Fatal(err)
	}
	var handles []string
	for i := range 2 {
		handle, err := client.Append(ctx, "logs", fmt.Sprintf("log-%d", i), "", strings.NewReader("piece"), 5)
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, handle)
	}
	_, err := client.Append(ctx, "logs", "log-2", "", strings.NewReader("piece"), 5)
	var e *api.Error
	if !errors.Is(err, api.ErrUnavailable) || !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "appends in progress") {
		t.Fatalf("a third append with two sessions kept at most: %v, want 503 naming the bound", err)
	}
	if _, err := client.Flush(ctx, "logs", "log-0", handles[0], store.Checksum{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Append(ctx, "logs", "log-2", "", strings.NewReader("piece"), 5); err != nil {
		t.Fatalf("an append after a flush freed a session: %v", err)
	}
}

func TestAppendRefusesBadHandles(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "logs", nil); err != nil {
		t.Fatal(err)
	}
	handle, err := client.Append(ctx, "logs", "a.log", "", strings.NewReader("piece"), 5)
	if err != nil {
		t.Fatal(err)
	}
	target, token, _ := strings.Cut(handle, "|")
	cases := []struct{ name, object, handle, appendType, want string }{
		{"path in the handle", "a.log", target + "|../../../etc/passwd", "append", "malformed"},
		{"short token", "a.log", target + "|abc", "append", "malformed"},
		{"no target", "a.log", token, "append", "malformed"},
		{"unknown token", "a.log", target + "|" + strings.Repeat("a", 32), "append", "no such append"},
		{"another object", "b.log", handle, "append", "issued for"},
		{"unknown type", "a.log", handle, "prepend", "want append or flush"},
		{"flush without handle", "a.log", "", "flush", "needs the append_handle"},
	}
	for _, tc := range cases {
		q := url.Values{"append_type": {tc.appendType}}
		if tc.handle != "" {
			q.Set("append_handle", tc.handle)
		}
		status, body := put(t, c.Primary().URL()+"/v1/objects/logs/"+tc.object+"?"+q.Encode(), "more")
		if status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", tc.name, status, body, tc.want)
		}
	}
	// Nor is it a write into a shard: the whole object would be written,
	// nor a DELETE of a file of one: the whole shard would go.
	for _, appendType := range []string{"append", "flush"} {
		q := url.Values{"append_type": {appendType}, "append_handle": {handle}, "archpath": {"x.txt"}}
		if status, body := put(t, c.Primary().URL()+"/v1/objects/logs/a.log?"+q.Encode(), "more"); status != http.StatusBadRequest || !strings.Contains(body, "archpath") {
			t.Errorf("%s with archpath: %d %s, want 400 naming archpath", appendType, status, body)
		}
	}
	for _, param := range []string{"archpath=x.txt", "archregx=x", "archmime=.tar"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, c.Primary().URL()+"/v1/objects/logs/a.log?"+param, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if name, _, _ := strings.Cut(param, "="); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), name) {
			t.Errorf("DELETE with %s: %d %s, want 400 naming it", param, resp.StatusCode, body)
		}
	}
	// Nor is a PUT with an archive parameter but no file to put into the
	// shard a PUT of the whole object: the shard would be replaced.
	for _, param := range []string{"archpath=", "archmime=.tar", "archregx=x"} {
		if status, body := put(t, c.Primary().URL()+"/v1/objects/logs/a.log?"+param, "whole"); status != http.StatusBadRequest || !strings.Contains(body, "archpath") {
			t.Errorf("PUT with %s: %d %s, want 400 naming archpath", param, status, body)
		}
	}
	// What an append would not honour is refused: conditions, and a
	// piece's checksum (a flush takes one).
	for _, tc := range []struct {
		appendType string
		header     http.Header
	}{
		{"flush", http.Header{"If-None-Match": {"*"}}},
		{"flush", http.Header{"If-None-Match": {"", "*"}}},
		{"append", http.Header{"If-Match": {`"x"`}}},
		{"append", http.Header{api.HeaderChecksumType: {"xxhash"}, api.HeaderChecksumValue: {"0123456789abcdef"}}},
	} {
		q := url.Values{"append_type": {tc.appendType}, "append_handle": {handle}}
		if status, body := putHeaders(t, c.Primary().URL()+"/v1/objects/logs/a.log?"+q.Encode(), "", tc.header); status != http.StatusBadRequest || !strings.Contains(body, "takes no") {
			t.Errorf("%s with %v: %d %s, want 400", tc.appendType, tc.header, status, body)
		}
	}
	// A handle of a target that is not the one asked: the gateway routes
	// by the handle, so go to the other target straight.
	for _, m := range c.Targets() {
		if m.Node.ID() == target {
			continue
		}
		q := url.Values{"append_type": {"append"}, "append_handle": {handle}, "pid": {"direct"}}
		status, body := put(t, m.URL()+"/v1/objects/logs/a.log?"+q.Encode(), "more")
		if status != http.StatusTemporaryRedirect && status != http.StatusBadRequest {
			t.Errorf("a handle of %s sent to %s: %d %s, want a redirect to its target or a 400", target, m.Node.ID(), status, body)
		}
	}
	q := url.Values{"append_type": {"flush"}, "append_handle": {handle}}
	if status, body := put(t, c.Primary().URL()+"/v1/objects/logs/a.log?"+q.Encode(), "stray bytes"); status != http.StatusBadRequest || !strings.Contains(body, "takes no body") {
		t.Errorf("a flush with a body: %d %s, want 400", status, body)
	}
	// None of it changed the session: the flush stores the one piece.
	if _, err := client.Flush(ctx, "logs", "a.log", handle, store.Checksum{}); err != nil {
		t.Fatal(err)
	}
	if got, err := client.GetBytes(ctx, "logs", "a.log", api.GetOptions{}); err != nil || string(got) != "piece" {
		t.Fatalf("after the refused requests: %q, %v; want %q", got, err, "piece")
	}
	if _, err := client.Append(ctx, "nosuch", "a.log", "", strings.NewReader("x"), 1); !errors.Is(err, api.ErrBucketNotFound) {
		t.Fatalf("an append to a missing bucket: %v, want ErrBucketNotFound", err)
	}
}

// put sends a PUT without following redirects and returns its status and
// body.
func put(t *testing.T, u, body string) (int, string) {
	t.Helper()
	return putHeaders(t, u, body, nil)
}

// putHeaders is put with request headers, on both hops.
func putHeaders(t *testing.T, u, body string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, u, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTemporaryRedirect {
		// Follow the gateway's redirect once, to the target.
		req, _ = http.NewRequestWithContext(t.Context(), http.MethodPut, resp.Header.Get("Location"), bytes.NewReader([]byte(body)))
		maps.Copy(req.Header, header)
		if strings.Contains(u, "pid=direct") {
			return resp.StatusCode, ""
		}
		resp2, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp2.Body.Close()
		resp = resp2
	}
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// Appends fill the work directory, which need not be a mountpath: a piece
// that would leave its filesystem nearly full is refused with a 507, and
// the pieces before it stay whole.
func TestAppendKeepsWorkDirectoryRoom(t *testing.T) {
	work := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", work).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s (this test needs root, which CI has): %v %s", work, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", work).Run() })
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) { cfg.WorkDir = work }})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "logs", nil); err != nil {
		t.Fatal(err)
	}
	piece := strings.Repeat("p", 1<<20)
	handle, err := client.Append(ctx, "logs", "big.log", "", strings.NewReader(piece), int64(len(piece)))
	if err != nil {
		t.Fatal(err)
	}
	var refused error
	for i := 0; i < 8 && refused == nil; i++ {
		var next string
		if next, refused = client.Append(ctx, "logs", "big.log", handle, strings.NewReader(piece), int64(len(piece))); refused == nil {
			handle = next
		}
	}
	var e *api.Error
	if !errors.As(refused, &e) || e.Status != http.StatusInsufficientStorage || !strings.Contains(refused.Error(), "work directory") {
		t.Fatalf("appends past a 4 MiB work directory: %v, want 507 naming the work directory", refused)
	}
	// A piece of unknown length (chunked) stops at the reserve as well,
	// rather than fill the filesystem, and leaves the session whole.
	chunked := io.MultiReader(strings.NewReader(strings.Repeat(piece, 8)))
	if _, err := client.Append(ctx, "logs", "big.log", handle, chunked, -1); !errors.As(err, &e) || e.Status != http.StatusInsufficientStorage || !strings.Contains(err.Error(), "% free") {
		t.Fatalf("a chunked piece past the reserve: %v, want 507 naming the reserve (not a full disk)", err)
	}
	if _, err := client.Flush(ctx, "logs", "big.log", handle, store.Checksum{}); err != nil {
		t.Fatal(err)
	}
	meta, err := client.Head(ctx, "logs", "big.log")
	if err != nil || meta.Size%(1<<20) != 0 || meta.Size == 0 {
		t.Fatalf("the flush of the pieces that fitted: %+v %v, want whole pieces", meta, err)
	}
}

// Pieces of many sessions at once each start with the room of all: they
// stop at the work directory's reserve as they are written, rather than
// together fill the filesystem (the object PUTs, records and EC work on
// it failing meanwhile).
func TestAppendPiecesAtOnceKeepTheReserve(t *testing.T) {
	work := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", work).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s (this test needs root, which CI has): %v %s", work, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", work).Run() })
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) { cfg.WorkDir = work }})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "logs", nil); err != nil {
		t.Fatal(err)
	}
	// Two sessions, each sending 40 MiB of the 57.6 MiB of room, a MiB
	// in turn: together they pass the reserve at about 29 MiB each.
	const pieceMiB = 40
	var writers [2]*io.PipeWriter
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range writers {
		handle, err := client.Append(ctx, "logs", fmt.Sprintf("log-%d", i), "", strings.NewReader("start\n"), 6)
		if err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		writers[i] = pw
		wg.Go(func() {
			_, errs[i] = client.Append(ctx, "logs", fmt.Sprintf("log-%d", i), handle, pr, -1)
			pr.CloseWithError(errors.New("the piece ended"))
		})
	}
	mib := make([]byte, 1<<20)
	for range pieceMiB {
		for _, pw := range writers {
			pw.Write(mib) // (fails once its piece ended)
		}
	}
	for _, pw := range writers {
		pw.Close()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		var e *api.Error
		if !errors.As(err, &e) || e.Status != http.StatusInsufficientStorage || !strings.Contains(err.Error(), "% free") {
			t.Errorf("piece %d: %v, want 507 naming the reserve (not a full filesystem)", i, err)
		}
	}
	if failed == 0 {
		t.Fatal("two pieces of 40 MiB each fitted 57.6 MiB of room")
	}
}

// A session idle past the expiry goes when the next one starts (and a
// session's record left without its file), while one in use stays.
func TestAppendIdleSessionsExpire(t *testing.T) {
	client, work := appendNode(t)
	ctx := t.Context()
	idle, err := client.Append(ctx, "logs", "idle.log", "", strings.NewReader("old"), 3)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := client.Append(ctx, "logs", "busy.log", "", strings.NewReader("new"), 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, "append")
	_, token, _ := strings.Cut(idle, "|")
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, token), past, past); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, strings.Repeat("b", 32)+".json")
	if err := os.WriteFile(stray, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Append(ctx, "logs", "third.log", "", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Flush(ctx, "logs", "idle.log", idle, store.Checksum{}); err == nil || !strings.Contains(err.Error(), "no such append") {
		t.Fatalf("the flush of an expired session: %v, want 'no such append'", err)
	}
	if _, err := os.Stat(stray); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a session record without its file stays: %v", err)
	}
	if _, err := client.Flush(ctx, "logs", "busy.log", busy, store.Checksum{}); err != nil {
		t.Fatalf("the flush of a session in use: %v", err)
	}
	// Idle past the expiry, with no append started since to sweep it.
	late, err := client.Append(ctx, "logs", "late.log", "", strings.NewReader("old"), 3)
	if err != nil {
		t.Fatal(err)
	}
	_, token, _ = strings.Cut(late, "|")
	if err := os.Chtimes(filepath.Join(dir, token), past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Append(ctx, "logs", "late.log", late, strings.NewReader("more"), 4); err == nil || !strings.Contains(err.Error(), "no such append") {
		t.Fatalf("an append to a session idle past the expiry: %v, want 'no such append'", err)
	}
	if _, err := os.Stat(filepath.Join(dir, token)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the expired session's file stays: %v", err)
	}
}

// An abandoned session goes by itself once idle past the expiry, with no
// other append to sweep it: its pieces would hold the work directory.
func TestAbandonedAppendIsSwept(t *testing.T) {
	defer gateway.SweepAppendsEvery(20 * time.Millisecond)()
	client, work := appendNode(t)
	handle, err := client.Append(t.Context(), "logs", "gone.log", "", strings.NewReader("abandoned"), 9)
	if err != nil {
		t.Fatal(err)
	}
	_, token, _ := strings.Cut(handle, "|")
	file := filepath.Join(work, "append", token)
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(file, past, past); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := os.Stat(file)
		_, jerr := os.Stat(file + ".json")
		if errors.Is(err, fs.ErrNotExist) && errors.Is(jerr, fs.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("an abandoned append idle past the expiry is still there after 5 s: %v %v", err, jerr)
		}
	}
}

// Concurrent starts keep to the bound on open sessions (1024).
func TestAppendStartsKeepTheBound(t *testing.T) {
	client, work := appendNode(t)
	ctx := t.Context()
	dir := filepath.Join(work, "append")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 1020 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%032x", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var group sync.WaitGroup
	var started atomic.Int64
	for i := range 40 {
		group.Go(func() {
			if _, err := client.Append(ctx, "logs", fmt.Sprintf("o-%d", i), "", strings.NewReader("x"), 1); err == nil {
				started.Add(1)
			}
		})
	}
	group.Wait()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	open := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			open++
		}
	}
	if started.Load() != 4 || open != 1024 {
		t.Fatalf("%d of 40 concurrent starts over 1020 open sessions went through, %d sessions open; want 4 and 1024", started.Load(), open)
	}
}

// A flush after a target joined stores each object with its owner of the
// new map, the pieces read from the target that has them.
func TestAppendFlushAfterMapChange(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "logs", nil); err != nil {
		t.Fatal(err)
	}
	const objects = 16
	handles := make([]string, objects)
	for i := range handles {
		h, err := client.Append(ctx, "logs", fmt.Sprintf("log-%02d", i), "", strings.NewReader(fmt.Sprintf("piece %d", i)), int64(len(fmt.Sprintf("piece %d", i))))
		if err != nil {
			t.Fatal(err)
		}
		handles[i] = h
	}
	first := c.Targets()[0].Node.ID()
	c.AddTarget()
	m := c.WaitForMap(3)
	c.WaitRebalance(m.Version)
	moved := 0
	for i, h := range handles {
		name := fmt.Sprintf("log-%02d", i)
		if owner, _ := m.Owner(cluster.Uname("ais", "logs", name)); owner.ID != first {
			moved++
		}
		if _, err := client.Flush(ctx, "logs", name, h, store.Checksum{}); err != nil {
			t.Fatalf("flush %s after the map changed: %v", name, err)
		}
		if got, err := client.GetBytes(ctx, "logs", name, api.GetOptions{}); err != nil || string(got) != fmt.Sprintf("piece %d", i) {
			t.Fatalf("%s after the flush: %q %v", name, got, err)
		}
	}
	if moved == 0 {
		t.Fatalf("no object of %d moved to the new target: the test tested nothing", objects)
	}
}

// Past out_of_space, an append's flush and an archive job are refused as
// a PUT is (507 naming out_of_space), and store nothing.
func TestFlushAndArchivePastOutOfSpace(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.txt", "b.txt"} {
		if _, err := client.Put(ctx, "b", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	handle, err := client.Append(ctx, "b", "log", "", strings.NewReader("a line\n"), 7)
	if err != nil {
		t.Fatal(err)
	}
	// The disk this test runs on is "full" above 3%.
	if _, err := client.SetClusterConfig(ctx, map[string]any{"space": map[string]any{"lowwm": 1, "highwm": 2, "out_of_space": 3}}); err != nil {
		t.Fatal(err)
	}
	var e *api.Error
	eventually(t, func() bool {
		_, err := client.Flush(ctx, "b", "log", handle, store.Checksum{})
		return errors.As(err, &e) && e.Status == http.StatusInsufficientStorage && strings.Contains(err.Error(), "out_of_space")
	}, "a flush past out_of_space was not refused with 507")
	if _, err := client.Head(ctx, "b", "log"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a refused flush stored the object: %v", err)
	}
	id, err := client.Archive(ctx, "b", api.ArchiveMessage{ArchName: "all.tar", ListRange: api.ListRange{ObjNames: []string{"a.txt", "b.txt"}}})
	if err == nil {
		j, _ := client.WaitJob(ctx, id, 20*time.Millisecond)
		err = errors.New(strings.Join(j.Errors, "; "))
		if len(j.Errors) == 0 {
			err = nil
		}
	}
	if err == nil || !strings.Contains(err.Error(), "out_of_space") {
		t.Fatalf("an archive job past out_of_space: %v", err)
	}
	if _, err := client.Head(ctx, "b", "all.tar"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a refused archive stored the shard: %v", err)
	}
}

// twoMountpathsWithObjects starts a target of two mountpaths with n
// objects in bucket b (o00, o01, ...), one copy each.
func twoMountpathsWithObjects(t *testing.T, n int) (*gatewaytest.Cluster, *api.Client) {
	t.Helper()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, Mountpaths: 2, NoSync: true})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("o%02d", i)
		if _, err := client.Put(t.Context(), "b", name, strings.NewReader(name), api.PutOptions{Size: int64(len(name))}); err != nil {
			t.Fatal(err)
		}
	}
	return c, client
}

// mirrorErrors runs make-n-copies of 2 on bucket b to its end and joins
// its errors.
func mirrorErrors(t *testing.T, client *api.Client) string {
	t.Helper()
	id, err := client.MakeNCopies(t.Context(), "b", 2)
	if err != nil {
		t.Fatal(err)
	}
	j, err := client.WaitJob(t.Context(), id, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(j.Errors, "; ")
}

// Past out_of_space, make-n-copies stops, naming the watermark, rather
// than fill the disks with copies; back below it, it makes them all.
func TestMakeCopiesKeepsToOutOfSpace(t *testing.T) {
	c, client := twoMountpathsWithObjects(t, 20)
	ctx := t.Context()
	copies := func() (total int) {
		for i := range 20 {
			list, err := c.Targets()[0].Store.Copies(ctx, store.NewBucket("b"), fmt.Sprintf("o%02d", i))
			if err != nil {
				t.Fatal(err)
			}
			total += len(list)
		}
		return total
	}
	mirror := func() string { return mirrorErrors(t, client) }
	// The disk this test runs on is "full" above 3%.
	if _, err := client.SetClusterConfig(ctx, map[string]any{"space": map[string]any{"lowwm": 1, "highwm": 2, "out_of_space": 3}}); err != nil {
		t.Fatal(err)
	}
	if errs := mirror(); !strings.Contains(errs, "out_of_space") {
		t.Fatalf("make-n-copies past out_of_space: errors %q, want it stopped naming the watermark", errs)
	}
	if n := copies(); n != 20 {
		t.Fatalf("%d copies of 20 objects past out_of_space, want one each", n)
	}
	if _, err := client.SetClusterConfig(ctx, map[string]any{"space": map[string]any{"lowwm": 97, "highwm": 98, "out_of_space": 99}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return mirror() == "" }, "make-n-copies below out_of_space did not succeed")
	if n := copies(); n != 40 {
		t.Fatalf("%d copies of 20 objects after make-n-copies, want two each", n)
	}
}

// A job's error that names a file of the node (a disk that fails) says
// <data> for the node's data directory, as a request's error does.
func TestJobErrorsHideTheDataDirectory(t *testing.T) {
	c, client := twoMountpathsWithObjects(t, 10)
	// The second mountpath's directory of the bucket becomes a file: the
	// copies cannot be written there.
	target := c.Targets()[0]
	bucketDir := filepath.Join(target.Dir, "mp2", "ais", "b")
	if err := os.RemoveAll(bucketDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bucketDir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	errs := mirrorErrors(t, client)
	if errs == "" || strings.Contains(errs, target.Dir) || !strings.Contains(errs, "<data>") {
		t.Fatalf("the job's errors: %q, want one naming <data>, not %s", errs, target.Dir)
	}
}

// A PUT that claims more bytes than any mountpath has room for below
// out_of_space is refused before its body is read (it would otherwise
// fill the disk to the last byte, failing every other write there).
func TestPutBiggerThanTheRoomIsRefused(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	const claim = 1 << 60
	_, err := client.Put(ctx, "b", "huge", io.LimitReader(zeros{}, claim), api.PutOptions{Size: claim})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusInsufficientStorage || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("a PUT of 1 EiB: %v, want 507 saying it does not fit", err)
	}
	if _, err := client.Head(t.Context(), "b", "huge"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the refused PUT stored something: %v", err)
	}
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// appendNode starts an embedded node with its work directory known and
// a bucket "logs", and returns its client and that directory.
func appendNode(t *testing.T) (*api.Client, string) {
	t.Helper()
	work := t.TempDir()
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, Configure: func(cfg *gateway.Config) { cfg.WorkDir = work }})
	client := c.Client()
	if err := client.CreateBucket(t.Context(), "logs", nil); err != nil {
		t.Fatal(err)
	}
	return client, work
}

// The pieces of an append to a bucket destroyed and made again since are
// the destroyed bucket's: a flush of them is refused, and no object made.
func TestAppendToABucketMadeAgainIsRefused(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	if err := client.CreateBucket(ctx, "logs", nil); err != nil {
		t.Fatal(err)
	}
	handle, err := client.Append(ctx, "logs", "a.log", "", strings.NewReader("old piece"), 9)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.DestroyBucket(ctx, "logs"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // (another creation time)
	if err := client.CreateBucket(ctx, "logs", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Flush(ctx, "logs", "a.log", handle, store.Checksum{}); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "made again") {
		t.Fatalf("a flush of pieces of the bucket destroyed: %v, want refused", err)
	}
	if _, err := client.Head(ctx, "logs", "a.log"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the object after the refused flush: %v, want none", err)
	}
}
