package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
)

// udpListener collects StatsD lines sent to 127.0.0.1.
type udpListener struct {
	conn net.PacketConn
}

func listenUDP(t *testing.T) *udpListener {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &udpListener{conn: conn}
}

// lines reads the packets that arrive until none comes for a while.
func (l *udpListener) lines(t *testing.T, quiet time.Duration) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 64<<10)
	for {
		l.conn.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := l.conn.ReadFrom(buf)
		if err != nil {
			return out
		}
		if n > 1400 {
			t.Errorf("a %d-byte datagram", n)
		}
		out = append(out, strings.Split(string(buf[:n]), "\n")...)
	}
}

func put(t *testing.T, c *api.Client, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := c.Put(t.Context(), "s", name, strings.NewReader("0123456789"), api.PutOptions{Size: 10}); err != nil {
			t.Fatal(err)
		}
	}
}

// Each flush sends the increase of counters since the previous one, and
// the mean request time with a sample rate that counts every request.
func TestStatsDFlush(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	client := c.Client().UseRedirects() // redirects are part of what is counted
	if err := client.CreateBucket(t.Context(), "s", nil); err != nil {
		t.Fatal(err)
	}
	listener := listenUDP(t)
	node := c.Primary().Node
	sd, err := NewStatsD(StatsDConfig{
		Address:  listener.conn.LocalAddr().String(),
		Prefix:   "ais.n1",
		Gatherer: node.Gatherer,
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, client, "a", "b", "c", "d")
	if err := sd.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := listener.lines(t, 500*time.Millisecond)
	for _, want := range []string{"ais.n1.put_total:4|c", "ais.n1.put_bytes_total:40|c", "ais.n1.redirects_total.put:4|c"} {
		if !slices.Contains(first, want) {
			t.Errorf("first flush lacks %q: %q", want, first)
		}
	}
	if !hasPrefixLine(first, "ais.n1.request_duration.put:", "|ms|@0.25") {
		t.Errorf("first flush has no PUT timer at rate 1/4: %q", first)
	}
	if !hasPrefixLine(first, "ais.n1.cluster_map_version:", "|g") {
		t.Errorf("first flush has no map version gauge: %q", first)
	}

	put(t, client, "e")
	if err := sd.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := listener.lines(t, 500*time.Millisecond)
	if !slices.Contains(second, "ais.n1.put_total:1|c") || !hasPrefixLine(second, "ais.n1.request_duration.put:", "|ms|@1") {
		t.Errorf("second flush: %q", second)
	}
	// Counters that did not move are not sent.
	if hasPrefixLine(second, "ais.n1.get_total:", "") {
		t.Errorf("second flush sends an unchanged counter: %q", second)
	}
}

// Run flushes by itself until its context ends.
func TestStatsDRun(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	if err := c.Client().CreateBucket(t.Context(), "s", nil); err != nil {
		t.Fatal(err)
	}
	put(t, c.Client(), "x")
	listener := listenUDP(t)
	sd, err := NewStatsD(StatsDConfig{
		Address:  listener.conn.LocalAddr().String(),
		Interval: 20 * time.Millisecond,
		Gatherer: c.Primary().Node.Gatherer,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { sd.Run(ctx); close(done) }()
	var got []string
	buf := make([]byte, 64<<10)
	for range 200 {
		listener.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := listener.conn.ReadFrom(buf)
		if err != nil {
			break
		}
		got = append(got, strings.Split(string(buf[:n]), "\n")...)
		// Wait for a flush after the one that carried the PUT.
		if slices.Contains(got, "ais.put_total:1|c") && strings.Count(fmt.Sprint(got), "ais.cluster_map_version:") >= 2 {
			break
		}
	}
	cancel()
	<-done
	if !slices.Contains(got, "ais.put_total:1|c") {
		t.Fatalf("no PUT counter arrived: %q", got)
	}
	if n := strings.Count(fmt.Sprint(got), "ais.put_total:"); n != 1 {
		t.Fatalf("the PUT counter was sent %d times for one PUT", n)
	}
}

func TestStatsDNeedsAddress(t *testing.T) {
	if _, err := NewStatsD(StatsDConfig{}); err == nil {
		t.Fatal("no error without an address")
	}
	gatherer := func(context.Context) prometheus.Gatherer { return prometheus.NewRegistry() }
	if _, err := NewStatsD(StatsDConfig{Address: "statsd-without-port", Gatherer: gatherer}); err == nil {
		t.Fatal("an address without a port was taken")
	}
	// A port out of range would fail every flush, the node started.
	for _, address := range []string{"127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:no-such-service"} {
		if _, err := NewStatsD(StatsDConfig{Address: address, Gatherer: gatherer}); err == nil {
			t.Errorf("statsd %s was taken", address)
		}
	}
}

// A StatsD server whose name does not resolve when the node starts (its
// DNS entry still coming) does not keep the node from starting: its
// flushes fail, saying where, until it does.
func TestStatsDNameNotResolvedYet(t *testing.T) {
	registry := prometheus.NewRegistry()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "ais_put_total"})
	registry.MustRegister(counter)
	counter.Inc()
	sd, err := NewStatsD(StatsDConfig{Address: "statsd.invalid:8125", Gatherer: func(context.Context) prometheus.Gatherer { return registry }})
	if err != nil {
		t.Fatalf("a StatsD name that does not resolve yet: %v, want the node to start", err)
	}
	if err := sd.Flush(t.Context()); err == nil || !strings.Contains(err.Error(), "statsd.invalid:8125") {
		t.Fatalf("a flush to a name that does not resolve: %v", err)
	}
}

func hasPrefixLine(lines []string, prefix, suffix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) && strings.HasSuffix(l, suffix) {
			return true
		}
	}
	return false
}

// The totals kept between flushes are those of the series still there: a
// series gone (a job forgotten) is forgotten, not kept for good.
func TestStatsDForgetsSeriesGone(t *testing.T) {
	listener := listenUDP(t)
	registry := prometheus.NewRegistry()
	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ais_job_objects_total"}, []string{"id"})
	registry.MustRegister(jobs)
	sd, err := NewStatsD(StatsDConfig{Address: listener.conn.LocalAddr().String(), Prefix: "ais.n1",
		Gatherer: func(context.Context) prometheus.Gatherer { return registry }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		id := fmt.Sprint("job-", i)
		jobs.WithLabelValues(id).Add(3)
		if err := sd.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		jobs.DeleteLabelValues(id)
	}
	if len(sd.last) > 1 {
		t.Fatalf("%d totals kept for 1 series left", len(sd.last))
	}
}

// A node id with a dot or a colon stays one segment of the name.
func TestStatsDSegment(t *testing.T) {
	for in, want := range map[string]string{"t1": "t1", "t1.rack2": "t1_rack2", "g:1|c": "g_1_c", "node-a_b": "node-a_b"} {
		if got := statsdSegment(in); got != want {
			t.Errorf("statsdSegment(%q) = %q, want %q", in, got, want)
		}
	}
}

// A job's series are sent summed by kind, with no name per job: each job
// run would be a series the StatsD server keeps for good.
func TestStatsDSumsJobsByKind(t *testing.T) {
	listener := listenUDP(t)
	registry := prometheus.NewRegistry()
	objects := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ais_job_objects_total"}, []string{"kind", "id"})
	running := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ais_job_running"}, []string{"kind", "id"})
	registry.MustRegister(objects, running)
	sd, err := NewStatsD(StatsDConfig{Address: listener.conn.LocalAddr().String(), Prefix: "ais.n1",
		Gatherer: func(context.Context) prometheus.Gatherer { return registry }})
	if err != nil {
		t.Fatal(err)
	}
	objects.WithLabelValues("lru", "lru-1").Add(3)
	objects.WithLabelValues("lru", "lru-2").Add(4)
	running.WithLabelValues("lru", "lru-1").Set(0)
	running.WithLabelValues("lru", "lru-2").Set(1)
	if err := sd.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := listener.lines(t, 300*time.Millisecond)
	objects.WithLabelValues("lru", "lru-2").Add(1)
	if err := sd.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := listener.lines(t, 300*time.Millisecond)
	if !slices.Contains(first, "ais.n1.job_objects_total.lru:7|c") || !slices.Contains(first, "ais.n1.job_running.lru:1|g") || len(first) != 2 {
		t.Errorf("first flush: %q, want the objects and running jobs of kind lru", first)
	}
	if !slices.Contains(second, "ais.n1.job_objects_total.lru:1|c") {
		t.Errorf("second flush: %q, want the increase of 1", second)
	}
	// The kind's last jobs leave the list: its gauge goes to 0, once.
	objects.Reset()
	running.Reset()
	for range 2 {
		if err := sd.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if third := listener.lines(t, 300*time.Millisecond); strings.Join(third, ",") != "ais.n1.job_running.lru:0|g" {
		t.Errorf("after the last job left: %q, want the gauge at 0 once", third)
	}
}

// A gauge no longer sent (a mountpath's former state, a role with no node
// left) goes to 0 at the next flush: left at its last value, the StatsD
// server would show a disabled mountpath enabled.
func TestStatsDZeroesAGaugeGone(t *testing.T) {
	listener := listenUDP(t)
	registry := prometheus.NewRegistry()
	enabled := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ais_mountpath_enabled"}, []string{"mountpath", "state"})
	registry.MustRegister(enabled)
	sd, err := NewStatsD(StatsDConfig{Address: listener.conn.LocalAddr().String(), Prefix: "ais.t1",
		Gatherer: func(context.Context) prometheus.Gatherer { return registry }})
	if err != nil {
		t.Fatal(err)
	}
	enabled.WithLabelValues("/mnt/d1", "enabled").Set(1)
	if err := sd.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := listener.lines(t, 300*time.Millisecond)
	enabled.Reset()
	enabled.WithLabelValues("/mnt/d1", "disabled").Set(0)
	if err := sd.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := listener.lines(t, 300*time.Millisecond)
	was := slices.IndexFunc(first, func(l string) bool { return strings.HasSuffix(l, ":1|g") })
	if was < 0 {
		t.Fatalf("the first flush: %q", first)
	}
	gone := strings.TrimSuffix(first[was], ":1|g") + ":0|g"
	if !slices.Contains(second, gone) {
		t.Fatalf("the second flush %q does not zero %s", second, gone)
	}
}

// A mountpath's capacity that cannot be read (a hung disk) is not sent
// as 0: a disk 95% full would read empty, its alerts cleared. Read again
// and gone for good, its gauges come and go as any.
func TestStatsDKeepsCapacityWhileItCannotBeRead(t *testing.T) {
	listener := listenUDP(t)
	registry := prometheus.NewRegistry()
	used := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ais_mountpath_utilization_ratio"}, []string{"mountpath"})
	failed := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ais_mountpath_capacity_errors"})
	registry.MustRegister(used, failed)
	sd, err := NewStatsD(StatsDConfig{Address: listener.conn.LocalAddr().String(), Prefix: "ais.t1",
		Gatherer: func(context.Context) prometheus.Gatherer { return registry }})
	if err != nil {
		t.Fatal(err)
	}
	flush := func() []string {
		t.Helper()
		if err := sd.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		return listener.lines(t, 300*time.Millisecond)
	}
	used.WithLabelValues("/mnt/d1").Set(0.95)
	if first := flush(); !slices.ContainsFunc(first, func(l string) bool { return strings.HasSuffix(l, ":0.95|g") }) {
		t.Fatalf("the first flush: %q", first)
	}
	used.Reset()
	failed.Set(1)
	if unread := flush(); slices.ContainsFunc(unread, func(l string) bool { return strings.Contains(l, "utilization") }) {
		t.Fatalf("a flush while the capacity cannot be read sends %q", unread)
	}
	failed.Set(0)
	if gone := flush(); !slices.ContainsFunc(gone, func(l string) bool { return strings.Contains(l, "utilization") && strings.HasSuffix(l, ":0|g") }) {
		t.Fatalf("a flush with the capacity read and the mountpath gone: %q", gone)
	}
}

// failingConn is a socket whose every send fails (a StatsD server away:
// ECONNREFUSED on a connected UDP socket).
type failingConn struct{ net.Conn }

func (failingConn) Write([]byte) (int, error) { return 0, syscall.ECONNREFUSED }
func (failingConn) Close() error              { return nil }

// What a flush could not send is sent by the next: the counters' increases
// of the lost packet, and the zeroing of a gauge gone meanwhile.
func TestStatsDSendsAgainWhatAFailedFlushLost(t *testing.T) {
	listener := listenUDP(t)
	registry := prometheus.NewRegistry()
	puts := prometheus.NewCounter(prometheus.CounterOpts{Name: "ais_put_total"})
	enabled := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ais_mountpath_enabled"}, []string{"mountpath"})
	registry.MustRegister(puts, enabled)
	sd, err := NewStatsD(StatsDConfig{Address: listener.conn.LocalAddr().String(), Prefix: "ais.t1",
		Gatherer: func(context.Context) prometheus.Gatherer { return registry }})
	if err != nil {
		t.Fatal(err)
	}
	puts.Add(1)
	enabled.WithLabelValues("d1").Set(1)
	if err := sd.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if first := listener.lines(t, 300*time.Millisecond); !slices.Contains(first, "ais.t1.put_total:1|c") || !slices.Contains(first, "ais.t1.mountpath_enabled.d1:1|g") {
		t.Fatalf("the first flush: %q", first)
	}
	puts.Add(3)
	enabled.Reset()
	sd.conn = failingConn{}
	if err := sd.Flush(t.Context()); err == nil {
		t.Fatal("a flush whose send failed reported none")
	}
	puts.Add(2)
	if err := sd.Flush(t.Context()); err != nil { // dialed again
		t.Fatal(err)
	}
	third := listener.lines(t, 300*time.Millisecond)
	for _, want := range []string{"ais.t1.put_total:5|c", "ais.t1.mountpath_enabled.d1:0|g"} {
		if !slices.Contains(third, want) {
			t.Errorf("the flush after a failed one lacks %q: %q", want, third)
		}
	}
}

// What was counted since the last interval goes out as Run ends (the
// node stopping after its drain): a restart loses no requests.
func TestStatsDFlushesAsItEnds(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	if err := c.Client().CreateBucket(t.Context(), "s", nil); err != nil {
		t.Fatal(err)
	}
	listener := listenUDP(t)
	sd, err := NewStatsD(StatsDConfig{
		Address:  listener.conn.LocalAddr().String(),
		Interval: time.Hour,
		Gatherer: c.Primary().Node.Gatherer,
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, c.Client(), "x", "y")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { sd.Run(ctx); close(done) }()
	cancel()
	<-done
	if got := listener.lines(t, time.Second); !slices.Contains(got, "ais.put_total:2|c") {
		t.Fatalf("no PUT counter went out as Run ended: %q", got)
	}
}

// A StatsD server that cannot be dialed (its name's resolver gone, as in
// a cluster-wide stop) holds the node's stop for the last flush's bound
// at most, dialed once in it, not once a packet.
func TestStatsDStopsWhileItsServerCannotBeDialed(t *testing.T) {
	// Gauges enough for several packets.
	registry := prometheus.NewRegistry()
	gauges := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ais_test_gauge"}, []string{"mountpath"})
	registry.MustRegister(gauges)
	for i := range 200 {
		gauges.WithLabelValues(fmt.Sprintf("/data/disk-%03d", i)).Set(float64(i))
	}
	var dials atomic.Int32
	sd, err := NewStatsD(StatsDConfig{
		Address:  "statsd.invalid:8125",
		Interval: time.Hour,
		Gatherer: func(context.Context) prometheus.Gatherer { return registry },
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			dials.Add(1)
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { sd.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not end while its last flush could not dial")
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("the last flush dialed %d times, want once", n)
	}
}
