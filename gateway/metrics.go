package gateway

import (
	"cmp"
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/s3"
)

// operation names a request kind in metric names and labels.
type operation string

const (
	opGet    operation = "get"
	opPut    operation = "put"
	opHead   operation = "head"
	opDelete operation = "delete"
	opList   operation = "list"
)

var operations = []operation{opGet, opPut, opHead, opDelete, opList}

// objectOperations maps the methods of /v1/objects/ to operations.
var objectOperations = map[string]operation{
	http.MethodGet:    opGet,
	http.MethodPut:    opPut,
	http.MethodHead:   opHead,
	http.MethodDelete: opDelete,
}

// metrics holds the node's request counters, registered on its own
// registry: several nodes can share a process (test clusters).
type metrics struct {
	// jobs adds up the jobs' progress across scrapes (and StatsD's
	// pushes): the node's, not a scrape's.
	jobs      jobTotals
	registry  *prometheus.Registry
	count     map[operation]prometheus.Counter
	bytes     map[operation]prometheus.Counter // GET and PUT only
	duration  *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	redirects *prometheus.CounterVec
	// repairs counts copies rewritten from a good one (mirror) and
	// objects rebuilt from their parts (ec).
	repairs *prometheus.CounterVec
	// s3 counts the S3 API's requests by operation and status, and times
	// them.
	s3Requests         *prometheus.CounterVec
	s3Duration         *prometheus.HistogramVec
	mountpathsDisabled prometheus.Counter
	// batches counts the get-batch requests a designated target served,
	// by result; batchEntries their entries (found or missing), batchBytes
	// the archives' bytes, batchDuration their time.
	batches       *prometheus.CounterVec
	batchEntries  *prometheus.CounterVec
	batchBytes    prometheus.Counter
	batchDuration prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		count:    map[operation]prometheus.Counter{},
		bytes:    map[operation]prometheus.Counter{},
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ais_request_duration_seconds",
			Help:    "Time to serve a request on the node that serves its data (redirects excluded), by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 22), // 100µs to 3.5 min: a big object's GET streams long
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ais_errors_total",
			Help: "Failed requests by operation and error kind.",
		}, []string{"op", "kind"}),
		redirects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ais_redirects_total",
			Help: "Requests redirected to the target that owns the object, by operation.",
		}, []string{"op"}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ais_repairs_total",
			Help: "Bad or lost data repaired: mirror copies rewritten from a good copy, objects rebuilt from erasure-coded parts.",
		}, []string{"kind"}),
		s3Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ais_s3_requests_total",
			Help: "Requests of the S3 API served by this gateway, by operation (method and resource) and HTTP status.",
		}, []string{"op", "status"}),
		s3Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ais_s3_request_duration_seconds",
			Help:    "Time to serve a request of the S3 API, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 22),
		}, []string{"op"}),
		mountpathsDisabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ais_mountpaths_disabled_total",
			Help: "Mountpaths disabled, by a failed health check or by hand.",
		}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ais_getbatch_total",
			Help: "Get-batch requests this target served as their designated target, by result (ok, failed).",
		}, []string{"result"}),
		batchEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ais_getbatch_entries_total",
			Help: "Entries of the get-batch archives this target wrote, found or missing (coer).",
		}, []string{"result"}),
		batchBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ais_getbatch_bytes_total",
			Help: "Bytes of the entries of the get-batch archives this target wrote.",
		}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ais_getbatch_duration_seconds",
			Help:    "Time to serve a get-batch request on its designated target.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1ms to 33s
		}),
	}
	for _, result := range []string{"ok", "failed"} {
		m.batches.WithLabelValues(result)
	}
	for _, result := range []string{"found", "missing"} {
		m.batchEntries.WithLabelValues(result)
	}
	m.repairs.WithLabelValues("mirror")
	m.repairs.WithLabelValues("ec")
	for _, op := range operations {
		m.count[op] = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ais_" + string(op) + "_total",
			Help: "Successful " + string(op) + " requests served by this node.",
		})
		m.registry.MustRegister(m.count[op])
		m.duration.WithLabelValues(string(op))
		// Every error series from the start: one that first appears at 1
		// reads as no increase, and a first error would not show.
		for _, k := range api.Kinds {
			m.errors.WithLabelValues(string(op), k.Name)
		}
		m.errors.WithLabelValues(string(op), api.KindInternal)
	}
	for _, op := range s3.Operations {
		for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
			m.s3Requests.WithLabelValues(op, strconv.Itoa(status))
		}
	}
	for _, op := range []operation{opGet, opPut} {
		m.bytes[op] = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ais_" + string(op) + "_bytes_total",
			Help: "Object bytes of successful " + string(op) + " requests served by this node.",
		})
		m.registry.MustRegister(m.bytes[op])
	}
	for op := range objectOperations {
		m.redirects.WithLabelValues(string(objectOperations[op]))
	}
	m.registry.MustRegister(m.duration, m.errors, m.redirects, m.repairs, m.mountpathsDisabled, m.s3Requests, m.s3Duration,
		m.batches, m.batchEntries, m.batchBytes, m.batchDuration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe wraps a handler of op: it counts what the handler served, its
// bytes, time and errors, or the redirect it answered with.
func (m *metrics) observe(op operation, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ow := &observedWriter{ResponseWriter: w}
		var body *countingBody
		if op == opPut && r.Body != nil {
			body = &countingBody{ReadCloser: r.Body}
			r = r.WithContext(r.Context())
			r.Body = body
		}
		start := time.Now()
		defer func() {
			// A response cut by aborting the handler (http.ErrAbortHandler,
			// once its status went out) is an error of the request when
			// the handler recorded one (not a client that left); any
			// other panic is.
			if p := recover(); p != nil {
				switch {
				case ow.internal:
					// A node's own request: its job counts it.
				case ow.err != nil:
					m.errors.WithLabelValues(string(op), api.KindOf(ow.err)).Inc()
				case p != http.ErrAbortHandler:
					m.errors.WithLabelValues(string(op), api.KindInternal).Inc()
				case ow.relayed:
					// A relay cut (the client left, the target's body
					// ended short): a redirect the gateway followed, as
					// one that ended well; not a read of its own.
					m.redirects.WithLabelValues(string(op)).Inc()
				}
				// The latency is of requests served here (not redirects,
				// relays nor a node's own).
				if !ow.internal && !ow.relayed {
					m.duration.WithLabelValues(string(op)).Observe(time.Since(start).Seconds())
				}
				panic(p)
			}
		}()
		next(ow, r)
		elapsed := time.Since(start)
		switch {
		case ow.internal:
			// A node's own request (a copy job's PUT, a get-batch's read
			// of an entry elsewhere): its job counts it, and the client
			// figures are of clients.
			return
		case isRedirect(ow.status) || ow.relayed && ow.err == nil:
			// A relay is a redirect the gateway follows for its client
			// (one it could not make is its own error: the target never
			// saw the request).
			m.redirects.WithLabelValues(string(op)).Inc()
			return
		case ow.err != nil || ow.status >= http.StatusBadRequest:
			kind := api.KindInternal
			if ow.err != nil {
				kind = api.KindOf(ow.err)
			}
			m.errors.WithLabelValues(string(op), kind).Inc()
		default:
			m.count[op].Inc()
			switch op {
			case opGet:
				m.bytes[op].Add(float64(ow.bytes))
			case opPut:
				if body != nil {
					m.bytes[op].Add(float64(body.n))
				}
			}
		}
		m.duration.WithLabelValues(string(op)).Observe(elapsed.Seconds())
	}
}

// observeObject wraps the object route, whose operation is its method.
func (m *metrics) observeObject(next http.HandlerFunc) http.HandlerFunc {
	wrapped := map[string]http.HandlerFunc{}
	for method, op := range objectOperations {
		wrapped[method] = m.observe(op, next)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if h, ok := wrapped[r.Method]; ok {
			h(w, r)
			return
		}
		next(w, r)
	}
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// errorRecorder is implemented by writers that want the error a handler
// answered with (writeError calls it), to label it by kind.
type errorRecorder interface{ recordError(error) }

// observedWriter records the status, body bytes and error of a response.
// It keeps io.ReaderFrom so that object bodies still go out by sendfile.
type observedWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	err    error
	// relayed: the answer is a target's, which counts it.
	relayed bool
	// internal: a node of the cluster sent the request (recordInternal).
	internal bool
}

func (o *observedWriter) recordError(err error) { o.err = err }

func (o *observedWriter) recordRelay() { o.relayed = true }

func (o *observedWriter) recordInternal() { o.internal = true }

// internalRecorder is the observed writer, told that a node of the
// cluster sent the request.
type internalRecorder interface{ recordInternal() }

// markInternal tells the observed writer w that a node sent the request
// r for itself (not for a client: headerForClient).
func markInternal(w http.ResponseWriter, r *http.Request) {
	if rec, ok := w.(internalRecorder); ok && r.Header.Get(headerForClient) == "" {
		rec.recordInternal()
	}
}

// relayRecorder is the observed writer, told that a target answers.
type relayRecorder interface{ recordRelay() }

func (o *observedWriter) WriteHeader(status int) {
	if o.status == 0 {
		o.status = status
	}
	o.ResponseWriter.WriteHeader(status)
}

func (o *observedWriter) Write(p []byte) (int, error) {
	if o.status == 0 {
		o.status = http.StatusOK
	}
	n, err := o.ResponseWriter.Write(p)
	o.bytes += int64(n)
	return n, err
}

func (o *observedWriter) ReadFrom(r io.Reader) (int64, error) {
	if o.status == 0 {
		o.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := o.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{o.ResponseWriter}, r)
	}
	o.bytes += n
	return n, err
}

func (o *observedWriter) Flush() {
	if f, ok := o.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (o *observedWriter) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// writerOnly hides ReadFrom, so io.Copy does not call back into it.
type writerOnly struct{ io.Writer }

// countingBody counts the bytes of a request body a handler reads.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// Gatherer returns everything /metrics serves: the request counters, Go
// and process collectors, and the node's state (cluster map, mountpath
// capacity, jobs) read now under ctx.
func (n *Node) Gatherer(ctx context.Context) prometheus.Gatherer {
	state := prometheus.NewRegistry()
	state.MustRegister(&stateCollector{ctx: ctx, node: n})
	return prometheus.Gatherers{n.metrics.registry, state}
}

func (n *Node) handleMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(n.Gatherer(r.Context()), promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP(w, r)
}

// Descriptions of the node's state, read on scrape.
var (
	nodeInfoDesc = prometheus.NewDesc("ais_node_info",
		"Always 1; labels name the node and its role.", []string{"id", "role"}, nil)
	mapVersionDesc = prometheus.NewDesc("ais_cluster_map_version",
		"Version of the cluster map this node holds.", nil, nil)
	mapNodesDesc = prometheus.NewDesc("ais_cluster_map_nodes",
		"Nodes in this node's cluster map, by role.", []string{"role"}, nil)
	bucketsVersionDesc = prometheus.NewDesc("ais_bucket_metadata_version",
		"Version of the bucket metadata this node holds.", nil, nil)
	// The filesystem label tells mountpaths that share one (their bytes
	// are the same bytes: sum by it, once).
	capacityDesc = prometheus.NewDesc("ais_mountpath_capacity_bytes",
		"Total bytes of a mountpath's filesystem.", []string{"mountpath", "filesystem"}, nil)
	usedDesc = prometheus.NewDesc("ais_mountpath_used_bytes",
		"Used bytes of a mountpath's filesystem.", []string{"mountpath", "filesystem"}, nil)
	utilizationDesc = prometheus.NewDesc("ais_mountpath_utilization_ratio",
		"Used over total bytes of a mountpath's filesystem, 0 to 1.", []string{"mountpath"}, nil)
	capacityErrorsDesc = prometheus.NewDesc("ais_mountpath_capacity_errors",
		"1 when the last capacity reading failed, else 0.", nil, nil)
	mountpathStateDesc = prometheus.NewDesc("ais_mountpath_enabled",
		"1 for an enabled mountpath, 0 for a disabled or detaching one.", []string{"mountpath", "state"}, nil)
	// By kind, not by job: a job's id as a label would make new series
	// with every job (an LRU run every few seconds), which a Prometheus
	// server keeps for hours. A job's own figures are in its status.
	jobRunningDesc = prometheus.NewDesc("ais_job_running",
		"Jobs of a kind (rebalance, dsort, ...) running on this node.", []string{"kind"}, nil)
	jobObjectsDesc = prometheus.NewDesc("ais_job_objects_total",
		"Objects the jobs of a kind have processed on this node since it started.", []string{"kind"}, nil)
	jobBytesDesc = prometheus.NewDesc("ais_job_bytes_total",
		"Bytes the jobs of a kind have processed on this node since it started.", []string{"kind"}, nil)
)

// jobCounts are a job's, or a kind's, objects and bytes.
type jobCounts struct{ objects, bytes int64 }

// jobTotals adds up the jobs' progress by kind across scrapes: each job's
// growth since the scrape before, so that the totals go on growing as
// ended jobs leave the node's list.
type jobTotals struct {
	mu sync.Mutex
	// seen is what each job had counted when last listed; a job missing
	// from one list (a status not read then) is remembered a while, or
	// its counts would be added again when it is back.
	seen   map[jobKey]seenJob
	totals map[string]jobCounts
}

// jobKey tells jobs apart: an id may name a job again (a rebalance run
// again under its map, a dSort job's next attempt), started anew.
type jobKey struct {
	kind, id string
	started  int64
}

type seenJob struct {
	jobCounts
	at time.Time
}

// jobForgotten is how long a job no longer listed is remembered.
const jobForgotten = time.Hour

// add lists the jobs now and returns the totals and the running jobs by
// kind (every kind seen since the start, running or not). Listed under
// the lock: a scrape's older list, added after a newer one, would look
// like a job's new run and be counted again.
func (t *jobTotals) add(list func() []api.JobStatus, now time.Time) (map[string]jobCounts, map[string]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	jobs := list()
	if t.totals == nil {
		t.totals, t.seen = map[string]jobCounts{}, map[jobKey]seenJob{}
	}
	for _, j := range jobs {
		key := jobKey{j.Kind, j.ID, j.Started}
		before := t.seen[key]
		if j.Objects < before.objects || j.Bytes < before.bytes {
			before = seenJob{} // counted from zero again: a new run
		}
		total := t.totals[j.Kind]
		total.objects += max(0, j.Objects-before.objects)
		total.bytes += max(0, j.Bytes-before.bytes)
		t.totals[j.Kind] = total
		t.seen[key] = seenJob{jobCounts{j.Objects, j.Bytes}, now}
	}
	// After the list: a job still listed, not scraped for an hour, was
	// forgotten first and counted whole again.
	maps.DeleteFunc(t.seen, func(_ jobKey, s seenJob) bool { return now.Sub(s.at) > jobForgotten })
	running := make(map[string]int, len(t.totals))
	for kind := range t.totals {
		running[kind] = 0
	}
	for _, j := range jobs {
		if j.Running {
			running[j.Kind]++
		}
	}
	return maps.Clone(t.totals), running
}

// stateCollector turns the node's state into metrics on each scrape.
type stateCollector struct {
	ctx  context.Context
	node *Node
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeInfoDesc, mapVersionDesc, mapNodesDesc, bucketsVersionDesc,
		capacityDesc, usedDesc, utilizationDesc, capacityErrorsDesc, mountpathStateDesc, jobRunningDesc, jobObjectsDesc, jobBytesDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.node
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(nodeInfoDesc, 1, n.config.ID, string(n.config.Role))
	if m := n.currentMap(); m != nil {
		gauge(mapVersionDesc, float64(m.Version))
		roles := map[string]int{}
		for _, node := range m.Nodes {
			roles[string(node.Role)]++
		}
		for role, count := range roles {
			gauge(mapNodesDesc, float64(count), role)
		}
	}
	gauge(bucketsVersionDesc, float64(n.currentBuckets().Version))
	if n.config.Store != nil {
		capacity, err := n.capacityWithin(c.ctx)
		failed := 0.0
		if err != nil {
			failed = 1
			n.logger.Debug("metrics: capacity", "err", err)
		}
		gauge(capacityErrorsDesc, failed)
		for _, mp := range capacity {
			gauge(capacityDesc, float64(mp.Total), mp.Path, cmp.Or(mp.Filesystem, mp.Path))
			gauge(usedDesc, float64(mp.Used), mp.Path, cmp.Or(mp.Filesystem, mp.Path))
			ratio := 0.0
			if mp.Total > 0 {
				ratio = float64(mp.Used) / float64(mp.Total)
			}
			gauge(utilizationDesc, ratio, mp.Path)
		}
	}
	if n.config.Storage != nil {
		for _, mp := range n.config.Storage.MountpathStatuses() {
			enabled := 0.0
			if mp.State == "enabled" {
				enabled = 1
			}
			gauge(mountpathStateDesc, enabled, mp.Path, mp.State)
		}
	}
	jobs := n.config.JobProgress
	if jobs == nil {
		jobs = func() []api.JobStatus {
			// Not the parts kept from before this start (Jobs.Keep):
			// the counters are of this process.
			return slices.DeleteFunc(n.jobStatuses(), func(j api.JobStatus) bool { return j.Finished > 0 && j.Finished < n.started.UnixNano() })
		}
	}
	totals, running := n.metrics.jobs.add(jobs, time.Now())
	for kind, total := range totals {
		gauge(jobRunningDesc, float64(running[kind]), kind)
		ch <- prometheus.MustNewConstMetric(jobObjectsDesc, prometheus.CounterValue, float64(total.objects), kind)
		ch <- prometheus.MustNewConstMetric(jobBytesDesc, prometheus.CounterValue, float64(total.bytes), kind)
	}
}
