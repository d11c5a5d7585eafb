package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/aisgo/aisgo/internal/pool"
)

// loopback is a bare net/http server and client on 127.0.0.1: the bound
// for any Go HTTP service moving the same bytes. GET /o/SIZE/I answers
// SIZE bytes from a warm buffer; PUT /o/SIZE/I reads the body into a
// pooled buffer and drops it.
type loopback struct {
	server *http.Server
	url    string
	client *http.Client
	src    []byte
}

func startLoopback(src []byte) (*loopback, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loopback server: %w", err)
	}
	lb := &loopback{url: "http://" + listener.Addr().String(), src: src}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /o/{size}/{i}", lb.get)
	mux.HandleFunc("PUT /o/{size}/{i}", lb.put)
	lb.server = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go lb.server.Serve(listener)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.MaxIdleConnsPerHost = 64 // the default 2 would reconnect with 4 streams
	lb.client = &http.Client{Transport: transport}
	return lb, nil
}

func (lb *loopback) close() {
	lb.server.Close()
	lb.client.CloseIdleConnections()
}

func (lb *loopback) get(w http.ResponseWriter, r *http.Request) {
	size, err1 := strconv.Atoi(r.PathValue("size"))
	i, err2 := strconv.ParseInt(r.PathValue("i"), 10, 64)
	if err1 != nil || err2 != nil || size < 0 || size > len(lb.src) {
		http.Error(w, "bad size or index", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(slice(lb.src, i, size))
}

func (lb *loopback) put(w http.ResponseWriter, r *http.Request) {
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	if _, err := drainInto(r.Body, buf); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func loopbackName(method string, size, streams int) string {
	return fmt.Sprintf("net/http %s %s, %d %s", method, sizeName(size), streams, plural(streams, "stream"))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// figures measures PUT then GET of total bytes as objects of size, with
// the given number of parallel streams.
func (lb *loopback) figures(ctx context.Context, rec *recorder, total int64, size, streams int, baseline string) error {
	n := count(total, size)
	bytesMoved := n * int64(size)
	err := rec.measure(ctx, figure{name: loopbackName("PUT", size, streams), baseline: baseline, bytes: bytesMoved, ops: n, repeat: true}, func() error {
		return runWorkers(ctx, streams, n, pool.CopyBufferSize, func(ctx context.Context, i int64, buf []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%s/o/%d/%d", lb.url, size, i), bytes.NewReader(slice(lb.src, i, size)))
			if err != nil {
				return err
			}
			resp, err := lb.client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			drainInto(resp.Body, buf)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("PUT: %s", resp.Status)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	return rec.measure(ctx, figure{name: loopbackName("GET", size, streams), baseline: baseline, bytes: bytesMoved, ops: n, repeat: true}, func() error {
		return runWorkers(ctx, streams, n, pool.CopyBufferSize, func(ctx context.Context, i int64, buf []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/o/%d/%d", lb.url, size, i), nil)
			if err != nil {
				return err
			}
			resp, err := lb.client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			got, err := drainInto(resp.Body, buf)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET: %s", resp.Status)
			}
			return expectSize("GET", got, int64(size))
		})
	})
}
