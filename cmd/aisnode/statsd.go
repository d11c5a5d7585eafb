package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// StatsDConfig configures a StatsD pusher.
type StatsDConfig struct {
	// Address is the StatsD server's UDP host:port; required.
	Address string
	// Prefix starts every metric name, e.g. "ais.t1"; empty means "ais".
	Prefix string
	// Interval between flushes; zero means 5s.
	Interval time.Duration
	// Gatherer returns the metrics to push, read under ctx; required
	// (Node.Gatherer).
	Gatherer func(ctx context.Context) prometheus.Gatherer
	// Logger receives send failures (the first of a streak as a warning);
	// nil discards them.
	Logger *slog.Logger
	// Dial opens the socket; nil: a net.Dialer's.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// StatsD pushes the ais_ metrics of a node to a StatsD server in its line
// format: counters as the increase since the last flush (|c), gauges
// (|g), and for each operation the mean request time of the interval as a
// timer (|ms) whose sample rate makes the server count every request.
type StatsD struct {
	config StatsDConfig
	conn   net.Conn
	// last holds the counters and histogram totals of the previous flush.
	last map[string]float64
	// next gathers those of this flush; it becomes last.
	next map[string]float64
	// gauges are the gauges the last flush sent.
	gauges map[string]bool
}

// statsdPacket bounds a datagram below common MTUs.
const statsdPacket = 1400

// NewStatsD returns a pusher; Run sends until its context ends.
func NewStatsD(cfg StatsDConfig) (*StatsD, error) {
	if cfg.Address == "" || cfg.Gatherer == nil {
		return nil, errors.New("statsd: an address and a gatherer are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "ais"
	}
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	// The address is checked now, resolved at the first flush (and again
	// after a failed send): a StatsD server whose name does not resolve
	// yet (its DNS entry still coming) does not keep the node from
	// starting, and one that moves is followed.
	if _, port, err := net.SplitHostPort(cfg.Address); err != nil || port == "" {
		return nil, fmt.Errorf("statsd %q: not a host:port", cfg.Address)
	} else if n, err := net.LookupPort("udp", port); err != nil || n < 1 {
		return nil, fmt.Errorf("statsd %q: port %q is not 1 to 65535 (nor a service's name)", cfg.Address, port)
	}
	return &StatsD{config: cfg, last: map[string]float64{}, next: map[string]float64{}}, nil
}

// send writes one datagram, dialing first when no socket is open (under
// ctx: a name whose resolver is gone does not hold a node's stop); a
// failed send closes the socket, for the next to resolve the name again.
func (s *StatsD) send(ctx context.Context, packet []byte) error {
	if s.conn == nil {
		conn, err := s.config.Dial(ctx, "udp", s.config.Address)
		if err != nil {
			return err
		}
		s.conn = conn
	}
	if _, err := s.conn.Write(packet); err != nil {
		s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

// finalFlush bounds the flush Run makes as it ends.
const finalFlush = 2 * time.Second

// Run flushes every interval until ctx ends, then once more (what was
// counted since the last interval), and closes the socket.
func (s *StatsD) Run(ctx context.Context) {
	defer func() {
		if s.conn != nil {
			s.conn.Close()
		}
	}()
	ticker := time.NewTicker(s.config.Interval)
	defer ticker.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlush)
			defer cancel()
			if err := s.Flush(last); err != nil {
				s.config.Logger.Debug("statsd: last flush", "address", s.config.Address, "err", err)
			}
			return
		case <-ticker.C:
			err := s.Flush(ctx)
			switch {
			case err != nil && !failing:
				// Once a streak: the server away, the node goes on.
				s.config.Logger.Warn("statsd: flush failed (the node goes on; tried every interval)", "address", s.config.Address, "err", err)
			case err != nil:
				s.config.Logger.Debug("statsd: flush", "address", s.config.Address, "err", err)
			}
			failing = err != nil
		}
	}
}

// Flush gathers the metrics and sends what changed since the last flush.
func (s *StatsD) Flush(ctx context.Context) error {
	families, err := s.config.Gatherer(ctx).Gather()
	if err != nil && len(families) == 0 {
		return fmt.Errorf("statsd: gather: %w", err)
	}
	var packet []byte
	var sendErr error
	// The baselines of what a packet carried (counters' keys, gauges
	// zeroed) are kept back when it is not sent: the next flush sends
	// those increases and zeroings again.
	var packetKeys, unsentKeys []string
	flush := func() {
		// After a failed send, the flush's other packets wait for the
		// next: each would dial (and resolve) again.
		if sendErr != nil {
			unsentKeys = append(unsentKeys, packetKeys...)
		} else if err := s.send(ctx, packet); err != nil {
			sendErr = err
			unsentKeys = append(unsentKeys, packetKeys...)
		}
		packet, packetKeys = packet[:0], packetKeys[:0]
	}
	add := func(line string, keys ...string) {
		if len(packet) > 0 && len(packet)+1+len(line) > statsdPacket {
			flush()
		}
		if len(packet) > 0 {
			packet = append(packet, '\n')
		}
		packet = append(packet, line...)
		packetKeys = append(packetKeys, keys...)
	}
	// A job's series (labelled by its id) are summed by kind: a name per
	// job would be a new series on the StatsD server for each job run, kept
	// there for good.
	var jobNames []string
	jobSums := map[string]*jobSum{}
	gauges := map[string]bool{}
	for _, family := range families {
		base, ok := strings.CutPrefix(family.GetName(), "ais_")
		if !ok || strings.HasSuffix(base, "_info") {
			continue
		}
		for _, m := range family.GetMetric() {
			path, id := labelPath(m)
			name := s.config.Prefix + "." + base + path
			if id != "" {
				sum := jobSums[name]
				if sum == nil {
					sum = &jobSum{gauge: family.GetType() == dto.MetricType_GAUGE}
					jobSums[name] = sum
					jobNames = append(jobNames, name)
				}
				switch family.GetType() {
				case dto.MetricType_COUNTER:
					sum.value += s.delta(name+"#"+id, m.GetCounter().GetValue())
					sum.keys = append(sum.keys, name+"#"+id)
				case dto.MetricType_GAUGE:
					sum.value += m.GetGauge().GetValue()
				}
				continue
			}
			switch family.GetType() {
			case dto.MetricType_COUNTER:
				if delta := s.delta(name, m.GetCounter().GetValue()); delta > 0 {
					add(name+":"+formatNumber(delta)+"|c", name)
				}
			case dto.MetricType_GAUGE:
				add(name + ":" + formatNumber(m.GetGauge().GetValue()) + "|g")
				gauges[name] = true
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				timer := s.config.Prefix + "." + strings.TrimSuffix(base, "_seconds") + path
				count := s.delta(timer+"#count", float64(h.GetSampleCount()))
				sum := s.delta(timer+"#sum", h.GetSampleSum())
				if count > 0 {
					add(fmt.Sprintf("%s:%s|ms|@%s", timer, formatNumber(sum/count*1000), formatNumber(1/count)), timer+"#count", timer+"#sum")
				}
			}
		}
	}
	for _, name := range jobNames {
		switch sum := jobSums[name]; {
		case sum.gauge:
			add(name + ":" + formatNumber(sum.value) + "|g")
			gauges[name] = true
		case sum.value > 0:
			add(name+":"+formatNumber(sum.value)+"|c", sum.keys...)
		}
	}
	// A gauge no longer sent (a kind whose last job left the node's list,
	// a mountpath's former state, a role with no node left) goes to 0,
	// not left at what it was on the server. Not a mountpath's capacity
	// while it cannot be read (a hung disk): left at its last reading,
	// not a full disk shown empty.
	unread := gaugeValue(families, "ais_mountpath_capacity_errors") == 1
	for name := range s.gauges {
		if gauges[name] {
			continue
		}
		if unread && isCapacityGauge(s.config.Prefix, name) {
			gauges[name] = true
			continue
		}
		add(name+":0|g", zeroedGauge+name)
	}
	if len(packet) > 0 {
		flush()
	}
	for _, key := range unsentKeys {
		if name, ok := strings.CutPrefix(key, zeroedGauge); ok {
			gauges[name] = true // zeroed next time
		} else if prev, ok := s.last[key]; ok {
			s.next[key] = prev
		} else {
			delete(s.next, key)
		}
	}
	s.gauges = gauges
	// Series gone from the registry (a job forgotten) are forgotten too.
	s.last, s.next = s.next, s.last
	clear(s.next)
	if sendErr != nil {
		return fmt.Errorf("statsd %s: %w", s.config.Address, sendErr)
	}
	return nil
}

// jobSum is a job metric summed over the jobs of a kind.
type jobSum struct {
	gauge bool
	value float64
	keys  []string // a counter's, of each job
}

// zeroedGauge marks a packet's key of a gauge it zeroes.
const zeroedGauge = "\x00gauge:"

// delta returns the increase of a cumulative value since the last flush.
func (s *StatsD) delta(key string, value float64) float64 {
	prev := s.last[key]
	s.next[key] = value
	if value < prev { // the source restarted
		return value
	}
	return value - prev
}

// labelPath appends the label values, made safe for StatsD names, but a
// job's id, which it returns apart.
func labelPath(m *dto.Metric) (path, id string) {
	var b strings.Builder
	for _, l := range m.GetLabel() {
		if l.GetName() == "id" {
			id = l.GetValue()
			continue
		}
		b.WriteByte('.')
		writeSafe(&b, l.GetValue())
	}
	return b.String(), id
}

// statsdSegment makes s one segment of a StatsD name: a '.' would add a
// level (and break a query as ais.*.get_total), a ':' or '|' the packet.
func statsdSegment(s string) string {
	var b strings.Builder
	writeSafe(&b, s)
	return b.String()
}

func writeSafe(b *strings.Builder, s string) {
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
}

func formatNumber(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// gaugeValue is the value of the unlabelled gauge family name, or -1.
func gaugeValue(families []*dto.MetricFamily, name string) float64 {
	for _, family := range families {
		if family.GetName() == name && family.GetType() == dto.MetricType_GAUGE && len(family.GetMetric()) == 1 {
			return family.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// isCapacityGauge reports a StatsD name of a mountpath's capacity gauges.
func isCapacityGauge(prefix, name string) bool {
	for _, base := range []string{"mountpath_capacity_bytes", "mountpath_used_bytes", "mountpath_utilization_ratio"} {
		if strings.HasPrefix(name, prefix+"."+base+".") || name == prefix+"."+base {
			return true
		}
	}
	return false
}
