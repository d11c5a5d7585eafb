package gateway

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// A peer that stops taking a stream: the write fails after the stall,
// and a cut ends one at once; a peer that reads gets every byte.
func TestStallWriter(t *testing.T) {
	payload := bytes.Repeat([]byte{'x'}, 64<<20) // more than the socket buffers take
	result := make(chan error, 1)
	cut := make(chan *stallWriter, 1)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := newStallWriter(w, 300*time.Millisecond, 1<<30)
		defer out.done()
		switch {
		case r.URL.Query().Has("cut"):
			out.stall = time.Hour
			cut <- out
		case r.URL.Query().Has("read"):
			out.stall = time.Minute // a loaded machine moves 64 MiB slowly
		}
		_, err := out.Write(payload)
		result <- err
	}))
	defer server.Close()

	// A reader gets it all.
	resp, err := http.Get(server.URL + "?read")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := <-result; err != nil || got != int64(len(payload)) {
		t.Fatalf("a reading peer got %d of %d bytes: %v", got, len(payload), err)
	}

	for _, query := range []string{"", "?cut"} {
		conn, err := net.Dial("tcp", server.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte("GET /" + query + " HTTP/1.1\r\nHost: x\r\n\r\n"))
		if query != "" {
			(<-cut).Cut()
		}
		select {
		case err := <-result:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%q: a write to a peer that reads nothing ended with %v", query, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: a write to a peer that reads nothing did not end", query)
		}
		conn.Close()
	}
}

// A body read late (after long work, as a member put into a big shard is)
// or with long work between reads (a durable commit of each item a peer
// streams) still has its grace: only the time waiting for bytes counts; a
// body read whole leaves no deadline behind to cancel the request while
// the handler works on.
func TestPacedBodyClockRunsWhileRead(t *testing.T) {
	const grace, rate = 200 * time.Millisecond, 64 << 10
	body := bytes.Repeat([]byte{'x'}, 192<<10) // 3 s at the rate
	type result struct {
		n   int
		err error
		ctx error
	}
	results := make(chan result, 1)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paced := newPacedBody(w, r.Body, grace, rate)
		if r.URL.Query().Has("late") {
			time.Sleep(3 * grace)
		}
		var data []byte
		var err error
		if r.URL.Query().Has("between") {
			// 4 reads of 8 KiB, each after 2 × the grace of work, then
			// the rest.
			buf := make([]byte, 8<<10)
			for i := 0; i < 4 && err == nil; i++ {
				time.Sleep(2 * grace)
				var n int
				n, err = io.ReadFull(paced, buf)
				data = append(data, buf[:n]...)
			}
			if err == nil {
				var rest []byte
				rest, err = io.ReadAll(paced)
				data = append(data, rest...)
			}
		} else {
			data, err = io.ReadAll(paced)
		}
		if r.URL.Query().Has("work") {
			time.Sleep(4 * time.Second) // past where the deadline ended
		}
		results <- result{len(data), err, r.Context().Err()}
	}))
	defer server.Close()
	for _, query := range []string{"?work", "?late", "?between"} {
		resp, err := http.Post(server.URL+"/"+query, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := <-results; got.n != len(body) || got.err != nil || got.ctx != nil {
			t.Fatalf("%s: read %d of %d bytes, %v; the request's context: %v", query, got.n, len(body), got.err, got.ctx)
		}
	}
}

// The deadline of a body of many gigabytes still moves with its bytes.
func TestPacedBodyDeadlineOfAHugeBody(t *testing.T) {
	start := time.Now()
	p := &pacedBody{grace: time.Second, minRate: 1 << 20, start: start, read: 50 << 30, off: true}
	p.off = false
	p.control = http.NewResponseController(httptest.NewRecorder())
	p.extend(start) // a recorder takes no deadline: it turns off
	want := start.Add(time.Second + 50*1024*time.Second)
	got := start.Add(p.grace).Add(time.Duration(float64(p.read) / float64(p.minRate) * float64(time.Second)))
	if got.Sub(want).Abs() > time.Second {
		t.Fatalf("deadline %s after the start, want %s", got.Sub(start), want.Sub(start))
	}
}
