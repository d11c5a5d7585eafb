package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/store"
)

// The sweep of idle append sessions leaves one that a piece reached
// between its look and its lock: that piece was acknowledged.
func TestAppendSweepSparesASessionUsedMeanwhile(t *testing.T) {
	root := t.TempDir()
	n := &Node{config: Config{WorkDir: root}}
	dir := filepath.Join(root, appendDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	idle, used := strings.Repeat("a", appendTokenLength), strings.Repeat("b", appendTokenLength)
	old := time.Now().Add(-2 * appendExpiry)
	for _, token := range []string{idle, used} {
		path := filepath.Join(dir, token)
		if err := os.WriteFile(path, []byte("piece"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	defer func(was func(string)) { appendSweeping = was }(appendSweeping)
	appendSweeping = func(token string) {
		if token == used { // a piece now
			now := time.Now()
			os.Chtimes(filepath.Join(dir, token), now, now)
		}
	}
	open, err := n.sweepAppendDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, used)); err != nil || open != 1 {
		t.Fatalf("a session used between the sweep's look and its lock: %v, %d open; want it kept, one open", err, open)
	}
	if _, err := os.Stat(filepath.Join(dir, idle)); !os.IsNotExist(err) {
		t.Fatalf("an idle session after the sweep: %v, want it ended", err)
	}
}

// A failed piece that cannot be cut back from the session's file ends
// the session: sent again, it would follow its own partial bytes into
// the object.
func TestAppendPieceNotCutBackEndsTheSession(t *testing.T) {
	root := t.TempDir()
	n := &Node{config: Config{WorkDir: root}}
	token := strings.Repeat("c", appendTokenLength)
	dir := filepath.Join(root, appendDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{token, token + ".json"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defer func(was func(*os.File, int64) error) { truncatePiece = was }(truncatePiece)
	truncatePiece = func(*os.File, int64) error { return errors.New("the test's disk") }
	// Fewer bytes than announced: the piece fails after some were written.
	r := httptest.NewRequest(http.MethodPut, "/v1/objects/b/o?append_type=append", strings.NewReader("abc"))
	r.ContentLength = 10
	err := n.writePiece(r, token, appendSession{})
	if !errors.Is(err, store.ErrSizeMismatch) || !strings.Contains(err.Error(), "start it again") {
		t.Fatalf("a piece that failed and could not be cut back: %v", err)
	}
	for _, name := range []string{token, token + ".json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Fatalf("the session's %s after a piece that could not be cut back: %v, want it gone", name, err)
		}
	}
}

// A piece a crash cut (its bytes in the session's file, never
// acknowledged) is cut from the file when it is sent again: it followed
// its own partial bytes into the object.
func TestAppendPieceCutByACrashIsNotKept(t *testing.T) {
	token := strings.Repeat("d", appendTokenLength)
	n, dir := appendFixture(t, token, "", 0)
	piece := func(body string) {
		t.Helper()
		if err := n.writePiece(httptest.NewRequest(http.MethodPut, "/v1/objects/b/o?append_type=append", strings.NewReader(body)), token, recordOf(t, dir, token)); err != nil {
			t.Fatal(err)
		}
	}
	piece("first-")
	// The target killed while "second" streamed in: part of it is there.
	f, err := os.OpenFile(filepath.Join(dir, token), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("sec")
	f.Close()
	piece("second")
	if data, err := os.ReadFile(filepath.Join(dir, token)); err != nil || string(data) != "first-second" {
		t.Fatalf("the session's file after a piece sent again: %q %v, want the pieces once each", data, err)
	}
}

// A session of an older build (TOKEN.json, no size) takes pieces as it
// is, and from its first piece is kept in this build's record
// (TOKEN.v2.json), which an older build does not read: it refuses the
// handle rather than append pieces it would not record. A record's
// write a crash cut is swept once old.
func TestAppendSessionRecords(t *testing.T) {
	token := strings.Repeat("e", appendTokenLength)
	n, dir := appendFixture(t, token, "before ", -1)
	// A size there (a build of this session's wrote it) is short of the
	// pieces an older build took since: the file is taken as it is.
	if err := os.WriteFile(filepath.Join(dir, token+".json"), []byte(`{"name":"o","size":3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	session, err := n.checkAppendSession(n.config.ID+"|"+token, token, store.Bucket{}, "o")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPut, "/v1/objects/b/o?append_type=append", strings.NewReader("after"))
	if err := n.writePiece(r, token, session); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, token)); err != nil || string(data) != "before after" {
		t.Fatalf("an older build's session after a piece: %q %v", data, err)
	}
	if s := recordOf(t, dir, token); s.Size == nil || *s.Size != int64(len("before after")) {
		t.Fatalf("this build's record after the piece: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, token+".json")); !os.IsNotExist(err) {
		t.Fatalf("the older build's record after the piece: %v, want it gone", err)
	}
	temp := filepath.Join(dir, token+appendRecord+".tmp-0123456789ab")
	if err := os.WriteFile(temp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * appendExpiry)
	os.Chtimes(temp, old, old)
	if _, err := n.sweepAppendDir(n.config.WorkDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(temp); !os.IsNotExist(err) {
		t.Fatalf("a record's write a crash cut, after the sweep: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, token+appendRecord)); err != nil {
		t.Fatalf("the session's record after the sweep: %v", err)
	}
}

// A piece whose record failed after it was renamed (its directory's sync
// failed) is not counted: the record is put back, and the piece sent
// again is taken, once.
func TestAppendPieceRecordFailedIsUndone(t *testing.T) {
	token := strings.Repeat("f", appendTokenLength)
	n, dir := appendFixture(t, token, "", 0)
	session := recordOf(t, dir, token)
	defer func(was func(string, []byte, os.FileMode) error) { writeAppendRecord = was }(writeAppendRecord)
	failed := false
	writeAppendRecord = func(path string, data []byte, perm os.FileMode) error {
		err := os.WriteFile(path, data, perm) // renamed, then:
		if !failed {
			failed = true
			return errors.New("the test's directory sync")
		}
		return err
	}
	piece := httptest.NewRequest(http.MethodPut, "/v1/objects/b/o?append_type=append", strings.NewReader("piece"))
	if err := n.writePiece(piece, token, session); err == nil {
		t.Fatal("a piece whose record failed was acknowledged")
	}
	// Sent again, with the session as its record now says.
	piece = httptest.NewRequest(http.MethodPut, "/v1/objects/b/o?append_type=append", strings.NewReader("piece"))
	if err := n.writePiece(piece, token, recordOf(t, dir, token)); err != nil {
		t.Fatalf("the piece sent again: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, token)); err != nil || string(data) != "piece" {
		t.Fatalf("the session's file: %q %v, want the piece once", data, err)
	}
}

// A piece whose record could not be written at all (a full work
// directory) fails alone: the record is as it was, and the session goes
// on with the pieces acknowledged before.
func TestAppendPieceRecordNotWrittenKeepsTheSession(t *testing.T) {
	token := strings.Repeat("9", appendTokenLength)
	n, dir := appendFixture(t, token, "acked", 5)
	session := recordOf(t, dir, token)
	defer func(was func(string, []byte, os.FileMode) error) { writeAppendRecord = was }(writeAppendRecord)
	writeAppendRecord = func(string, []byte, os.FileMode) error { return syscall.ENOSPC }
	piece := httptest.NewRequest(http.MethodPut, "/v1/objects/b/o?append_type=append", strings.NewReader("piece"))
	if err := n.writePiece(piece, token, session); !errors.Is(err, store.ErrNoSpace) || strings.Contains(err.Error(), "ended") {
		t.Fatalf("a piece whose record could not be written: %v, want out of space, the session kept", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, token)); err != nil || string(data) != "acked" {
		t.Fatalf("the session's file: %q %v, want the acknowledged pieces", data, err)
	}
}

// A piece a crash cut that cannot be cut from the session's file ends
// the session: the next piece would follow its bytes.
func TestAppendPieceCutByACrashNotCutEndsTheSession(t *testing.T) {
	token := strings.Repeat("8", appendTokenLength)
	n, dir := appendFixture(t, token, "acked+cut", 5)
	defer func(was func(*os.File, int64) error) { truncatePiece = was }(truncatePiece)
	truncatePiece = func(*os.File, int64) error { return errors.New("the test's disk") }
	piece := httptest.NewRequest(http.MethodPut, "/v1/objects/b/o?append_type=append", strings.NewReader("piece"))
	if err := n.writePiece(piece, token, recordOf(t, dir, token)); err == nil || !strings.Contains(err.Error(), "the test's disk") {
		t.Fatalf("a piece after bytes that could not be cut: %v, want the session ended naming why", err)
	}
	if _, err := os.Stat(filepath.Join(dir, token)); !os.IsNotExist(err) {
		t.Fatalf("the session's file: %v, want it gone", err)
	}
}

// appendFixture is a node whose work directory holds an append session
// of token: its data file with data and, unless acked is negative, this
// build's record of that many bytes acknowledged.
func appendFixture(t *testing.T, token, data string, acked int64) (n *Node, dir string) {
	t.Helper()
	root := t.TempDir()
	n = &Node{config: Config{WorkDir: root}}
	dir = filepath.Join(root, appendDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, token), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if acked >= 0 {
		if err := n.saveAppendSession(token, appendSession{Name: "o", Size: &acked}); err != nil {
			t.Fatal(err)
		}
	}
	return n, dir
}

// recordOf reads a session's record (this build's) as a piece finds it.
func recordOf(t *testing.T, dir, token string) appendSession {
	t.Helper()
	var s appendSession
	data, err := os.ReadFile(filepath.Join(dir, token+appendRecord))
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}
