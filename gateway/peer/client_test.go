package peer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/cluster/membership"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// TestErrorsCrossAsKinds: a target's error answer decodes back to the
// sentinel of its kind, so a coordinator tells "aborted" from "gone" with
// errors.Is, not by its text.
func TestErrorsCrossAsKinds(t *testing.T) {
	secret := NewSecret()
	kinds := map[string]error{
		"job-aborted":   pipeline.ErrAborted,
		"job-phase":     pipeline.ErrPhase,
		"job-not-found": pipeline.ErrJobNotFound,
		"worker-closed": pipeline.ErrWorkerClosed,
		"no-space":      store.ErrNoSpace,
		"stale-map":     cluster.ErrStaleMap,
	}
	var kind string
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(api.Error{Status: http.StatusConflict, Kind: kind, Message: "as the target said it", Node: "t1"})
	}))
	defer server.Close()
	c := NewClient(ClientConfig{Auth: NewAuth(secret, Options{}), Node: "g1"})
	target := cluster.Node{ID: "t1", URL: server.URL}
	for k, want := range kinds {
		kind = k
		err := c.Init(t.Context(), target, pipeline.JobInit{ID: "srt-1"})
		if !errors.Is(err, want) {
			t.Errorf("kind %s: %v does not decode to %v", k, err, want)
		}
		var remote *api.Error
		if !errors.As(err, &remote) || remote.Node != "t1" {
			t.Errorf("kind %s: the remote error is lost: %v", k, err)
		}
	}
}

// A push a node answers with a server error is refused by a live node
// (the keepalive keeps it); a 503 or a 4xx is not. One answered by
// another node at the address (the node restarted elsewhere, its address
// taken) is no answer from the node: not taken, not refused, so the
// keepalive counts the node as silent.
func TestPushAnswers(t *testing.T) {
	const taken, refused, failed = "taken", "refused", "failed"
	for _, tc := range []struct {
		id     string // the answering node's, "" for none said
		status int
		want   string
	}{
		{"t1", http.StatusOK, taken}, {"", http.StatusOK, taken},
		{"t1", http.StatusInternalServerError, refused}, {"t1", http.StatusInsufficientStorage, refused}, {"", http.StatusInternalServerError, failed}, {"", http.StatusBadGateway, failed},
		{"t1", http.StatusServiceUnavailable, failed}, {"t1", http.StatusUnauthorized, failed},
		{"t9", http.StatusOK, failed}, {"t9", http.StatusInternalServerError, failed},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.id != "" {
				w.Header().Set(api.HeaderNodeID, tc.id)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			fmt.Fprintf(w, `{"status":%d,"message":"no"}`, tc.status)
		}))
		c := NewClient(ClientConfig{Auth: NewAuth(NewSecret(), Options{}), Node: "g1"})
		err := c.Push(t.Context(), cluster.Node{ID: "t1", URL: srv.URL}, membership.Snapshot{}, false)
		srv.Close()
		got := failed
		switch {
		case err == nil:
			got = taken
		case errors.Is(err, membership.ErrRefused):
			got = refused
		}
		if got != tc.want {
			t.Errorf("a push answered %d by node %q: %v (%s), want %s", tc.status, tc.id, err, got, tc.want)
		}
	}
}

// A pull from a gateway carries the log index its map came with; one
// from a node that sends none has 0 (not known).
func TestPullCarriesTheLogIndex(t *testing.T) {
	for _, header := range []string{"42", ""} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Query().Get("what") {
			case "smap":
				if header != "" {
					w.Header().Set(HeaderLogIndex, header)
				}
				fmt.Fprint(w, `{"version":3,"primary":"g1","nodes":[{"id":"g1","role":"gateway","url":"http://127.0.0.1:1","state":"active"}]}`)
			case "bmd":
				fmt.Fprint(w, `{"version":2}`)
			default:
				fmt.Fprint(w, `{"version":1}`)
			}
		}))
		c := NewClient(ClientConfig{Auth: NewAuth(NewSecret(), Options{}), Node: "g2"})
		s, err := c.Pull(t.Context(), cluster.Node{ID: "g1", Role: cluster.RoleGateway, URL: srv.URL})
		srv.Close()
		want := map[string]uint64{"42": 42, "": 0}[header]
		if err != nil || s.Index != want || s.Map == nil || s.Map.Version != 3 {
			t.Fatalf("a pull with log index %q: index %d, %v", header, s.Index, err)
		}
	}
}

// A holder that stops sending records fails the fetch after RecordsStall
// (it would hold the job in create for good); one that is merely read
// slowly does not.
func TestFetchFromAStalledHolderFails(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer server.Close()
	// A stall bound that a loaded machine's first round trip fits in.
	c := NewClient(ClientConfig{Auth: NewAuth(NewSecret(), Options{}), Node: "t1", RecordsStall: time.Second})
	body, err := c.Fetch(t.Context(), cluster.Node{ID: "t2", URL: server.URL}, "srt-1", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	time.Sleep(2 * time.Second) // the caller busy: not a stall
	buf := make([]byte, 5)
	if _, err := io.ReadFull(body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("the bytes sent: %q %v", buf, err)
	}
	_, err = body.Read(buf)
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "sent nothing") {
		t.Fatalf("a read from a stalled holder: %v, want unavailable naming the stall", err)
	}
}

// A fetch names records by id, not with their keys: a batch of records
// with content keys of a megabyte each stays small, and the holder reads
// every id back.
func TestFetchCarriesNoKeys(t *testing.T) {
	got := make(chan []byte, 1)
	attempt := make(chan string, 1)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		attempt <- r.URL.Query().Get(QueryAttempt)
		got <- body
	}))
	defer server.Close()
	records := make([]shards.RecordMeta, 200)
	for i := range records {
		records[i] = shards.RecordMeta{ID: shards.RecordID{Shard: 1, Record: int32(i)}, Key: shards.Key{Kind: shards.KeyString, String: strings.Repeat("k", 1<<20)}, Size: 10, Holder: 2}
	}
	c := NewClient(ClientConfig{Auth: NewAuth(NewSecret(), Options{}), Node: "t1"})
	body, err := c.Fetch(t.Context(), cluster.Node{ID: "t2", URL: server.URL}, "srt-1", 2, records)
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	if a := <-attempt; a != "2" {
		t.Fatalf("the fetch names attempt %q, want the asking job's 2", a)
	}
	sent := <-got
	if len(sent) > 64<<10 {
		t.Fatalf("a fetch of %d records sent %d bytes", len(records), len(sent))
	}
	back, _, err := pipeline.ReadRecords(sent, pipeline.MaxFetchRecords)
	if err != nil || len(back) != len(records) || back[199].ID != records[199].ID || back[199].Size != 10 {
		t.Fatalf("the holder reads %d records: %v", len(back), err)
	}
}

// A part read from, or sent to, a target that stalls fails after the
// stall bound: a restore, and every read waiting on it, must not hang.
func TestPartStreamsWithAStalledTargetFail(t *testing.T) {
	release := make(chan struct{})
	meta := store.PartMeta{Bucket: store.NewBucket("b"), Name: "o", Index: 1, Data: 2, Parity: 1, SliceSize: 5, ObjectSize: 10, Stamp: store.Stamp{Clock: 1},
		PartChecksum: store.Checksum{Type: store.ChecksumXXHash, Value: "0123456789abcdef"}}
	header, err := EncodePart(meta)
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Header().Set(HeaderPart, header)
			w.Write([]byte("fi"))
			w.(http.Flusher).Flush()
		}
		// Neither the rest of the part nor an answer to the one sent.
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer server.Close()
	defer close(release) // before the server's Close, which waits for its handlers
	c := NewClient(ClientConfig{Auth: NewAuth(NewSecret(), Options{}), Node: "t1", RecordsStall: time.Second})
	target := cluster.Node{ID: "t2", URL: server.URL}
	body, _, err := c.OpenPart(t.Context(), target, meta.Bucket, "o", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	if _, err := io.ReadAll(body); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "sent nothing of part 1") {
		t.Fatalf("a part read from a stalled target: %v, want unavailable naming the stall", err)
	}
	if err := c.SendPart(t.Context(), target, meta, strings.NewReader("first"), 0); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "took nothing of part 1") {
		t.Fatalf("a part sent to a stalled target: %v, want unavailable naming the stall", err)
	}
	// A rebalance batch: a hung receiver does not hold the run.
	if _, err := c.Send(t.Context(), target, 1, strings.NewReader("frames")); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "rebalance batch") {
		t.Fatalf("a batch sent to a stalled target: %v, want unavailable naming the stall", err)
	}
}

// A round of pushes of one snapshot encodes it once; a snapshot changed
// in any part (a new map, new buckets) is encoded anew.
func TestPushBodyIsEncodedOncePerSnapshot(t *testing.T) {
	c := NewClient(ClientConfig{Auth: NewAuth(NewSecret(), Options{}), Node: "g1"})
	md := store.NewBucketMetadata()
	s := membership.Snapshot{Map: &cluster.Map{Version: 3}, Buckets: &md}
	first, _, _, err := c.pushBody(s, false, "t1")
	if err != nil {
		t.Fatal(err)
	}
	again, _, _, _ := c.pushBody(s, false, "t1")
	if &first[0] != &again[0] {
		t.Fatal("the same snapshot was encoded again")
	}
	s.Map = &cluster.Map{Version: 4}
	changed, _, _, _ := c.pushBody(s, false, "t1")
	var msg MetaMessage
	if err := json.Unmarshal(changed, &msg); err != nil || msg.Map.Version != 4 {
		t.Fatalf("the body of a changed snapshot: %+v %v", msg.Map, err)
	}
}

// A node that took a snapshot's body whole is sent its digest alone in
// the next rounds (a snapshot with many revoked tokens is megabytes);
// one that does not know the digest (restarted, of an older version) is
// sent the body again, and a changed snapshot goes whole.
func TestPushSendsADigestOfABodyTaken(t *testing.T) {
	type request struct {
		digest string
		body   int
	}
	var got []request
	known := ""
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		digest := r.URL.Query().Get(QueryDigest)
		got = append(got, request{digest, len(body)})
		if digest != "" && digest != known {
			w.WriteHeader(http.StatusPreconditionFailed)
			fmt.Fprint(w, `{"message":"unknown digest","status":412}`)
			return
		}
		if digest == "" {
			known = Digest(body)
		}
	}))
	defer node.Close()
	c := NewClient(ClientConfig{Auth: NewAuth(NewSecret(), Options{}), Node: "g1"})
	to := cluster.Node{ID: "t1", URL: node.URL}
	md := store.NewBucketMetadata()
	s := membership.Snapshot{Map: &cluster.Map{Version: 3}, Buckets: &md}
	push := func() {
		t.Helper()
		if err := c.Push(t.Context(), to, s, false); err != nil {
			t.Fatal(err)
		}
	}
	push()
	push()
	if len(got) != 2 || got[0].digest != "" || got[0].body == 0 || got[1].digest == "" || got[1].body != 0 {
		t.Fatalf("two pushes of one snapshot: %+v, want the body, then its digest alone", got)
	}
	known = "" // the node restarted
	got = nil
	push()
	if len(got) != 2 || got[0].digest == "" || got[1].digest != "" || got[1].body == 0 {
		t.Fatalf("a push to a node that forgot the body: %+v, want the digest, then the body", got)
	}
	got = nil
	s.Map = &cluster.Map{Version: 4}
	push()
	if len(got) != 1 || got[0].digest != "" || got[0].body == 0 {
		t.Fatalf("a push of a changed snapshot: %+v, want the body", got)
	}
}
