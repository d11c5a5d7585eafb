package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/store"
)

// maxControlBody bounds the body of control requests.
const maxControlBody = 8 << 20

// objectPrefix starts the path of every object request.
const objectPrefix = "/v1/objects/"

// methods dispatches a route by method and answers others with a JSON 405.
type methods map[string]http.HandlerFunc

// route is one entry of the node's route table. An intra route serves
// other nodes only: a request without a valid cluster signature gets 401.
type route struct {
	pattern string
	methods methods
	intra   bool
}

// routeTable lists every route the node serves, but /v1/objects/ (see
// routes).
func (n *Node) routeTable() []route {
	return []route{
		{pattern: "/v1/health", methods: methods{http.MethodGet: n.handleHealth}},
		{pattern: "/v1/buckets", methods: methods{http.MethodGet: n.handleListBuckets}},
		{pattern: "/v1/buckets/{bucket}", methods: methods{
			http.MethodGet:    n.metrics.observe(opList, n.handleListObjects),
			http.MethodPost:   n.handleBucketAction,
			http.MethodDelete: n.handleDestroyBucket,
			http.MethodHead:   n.handleBucketProps,
			http.MethodPatch:  n.handleSetProps,
		}},
		{pattern: "/v1/cluster", methods: methods{http.MethodGet: n.handleClusterGet, http.MethodPut: n.handleClusterAction}},
		{pattern: "/v1/sort", methods: methods{http.MethodPost: n.handleDsortStart, http.MethodGet: n.handleDsortGet, http.MethodDelete: n.handleDsortRemove}},
		{pattern: "/v1/sort/abort", methods: methods{http.MethodDelete: n.handleDsortAbort}},
		{pattern: "/metrics", methods: methods{http.MethodGet: n.handleMetrics}},

		{pattern: "/v1/metasync", intra: true, methods: methods{http.MethodPut: n.handleMetasync}},
		{pattern: "/v1/internal/cluster", intra: true, methods: methods{http.MethodPut: n.handleMembership}},
		{pattern: "/v1/internal/list/{bucket}", intra: true, methods: methods{http.MethodGet: n.handleLocalList}},
		{pattern: "/v1/internal/status", intra: true, methods: methods{http.MethodGet: n.handleLocalStatus}},
		{pattern: "/v1/internal/receive", intra: true, methods: methods{http.MethodPost: n.handleReceive}},
		{pattern: "/v1/internal/remove/{bucket}", intra: true, methods: methods{http.MethodPost: n.handleRemoveObjects}},
		{pattern: "/v1/internal/objects/{bucket}/{object...}", intra: true, methods: methods{http.MethodGet: n.handleLocalObject, http.MethodHead: n.handleLocalObject}},
		{pattern: "/v1/sort/init", intra: true, methods: methods{http.MethodPost: n.handleDsortInit}},
		{pattern: "/v1/sort/extract/{id}", intra: true, methods: methods{http.MethodPost: n.handleDsortExtract}},
		{pattern: "/v1/sort/create/{id}", intra: true, methods: methods{http.MethodPost: n.handleDsortCreate}},
		{pattern: "/v1/sort/finish/{id}", intra: true, methods: methods{http.MethodPost: n.handleDsortFinish}},
		{pattern: "/v1/sort/abort/{id}", intra: true, methods: methods{http.MethodDelete: n.handleDsortTargetAbort}},
		{pattern: "/v1/sort/remove/{id}", intra: true, methods: methods{http.MethodDelete: n.handleDsortTargetRemove}},
		{pattern: "/v1/sort/stats", intra: true, methods: methods{http.MethodGet: n.handleDsortStats}},
		{pattern: "/v1/sort/stats/{id}", intra: true, methods: methods{http.MethodGet: n.handleDsortStats}},
		{pattern: "/v1/sort/records/{id}", intra: true, methods: methods{http.MethodPost: n.handleDsortRecords}},
	}
}

func (n *Node) routes() {
	mux := http.NewServeMux()
	dispatch := func(m methods, w http.ResponseWriter, r *http.Request) {
		h, ok := m[r.Method]
		if !ok {
			allowed := make([]string, 0, len(m))
			for k := range m {
				allowed = append(allowed, k)
			}
			slices.Sort(allowed)
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			n.writeErrorStatus(w, r, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
			return
		}
		h(w, r)
	}
	for _, rt := range n.routeTable() {
		if rt.intra {
			mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
				if _, err := n.auth.Verify(r); err != nil {
					n.writeError(w, r, fmt.Errorf("%w: %s %s is an intra-cluster route: %w", api.ErrUnauthorized, r.Method, r.URL.Path, err))
					return
				}
				dispatch(rt.methods, w, r)
			})
			continue
		}
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { dispatch(rt.methods, w, r) })
	}
	object := methods{
		http.MethodGet:    n.handleObject,
		http.MethodHead:   n.handleObject,
		http.MethodPut:    n.handleObject,
		http.MethodDelete: n.handleObject,
	}
	// Object names are taken from the raw path: the mux would clean
	// "a/../b" into another name and redirect there.
	n.objectRoute = func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, objectPrefix)
		bucket, name, _ := strings.Cut(rest, "/")
		r.SetPathValue("bucket", bucket)
		r.SetPathValue("object", name)
		dispatch(object, w, r)
	}
	n.objectRoute = n.metrics.observeObject(n.objectRoute)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n.writeErrorStatus(w, r, http.StatusNotFound, fmt.Errorf("no such route: %s %s", r.Method, r.URL.Path))
	})
	n.mux = mux
}

// sender returns the node that signed a request; it is authenticated only
// inside an intra route.
func sender(r *http.Request) string { return r.Header.Get(peer.HeaderNode) }

// Handler returns the node's HTTP handler.
func (n *Node) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderNodeID, n.config.ID)
		if r.Body != nil && r.Body != http.NoBody && n.config.BodyTimeout > 0 {
			r.Body = newPacedBody(w, r.Body, n.config.BodyTimeout, n.config.BodyMinRate)
		}
		if strings.HasPrefix(r.URL.Path, objectPrefix) {
			n.objectRoute(w, r)
			return
		}
		n.mux.ServeHTTP(w, r)
	})
}

// writeErrorStatus sends an error with an explicit status.
func (n *Node) writeErrorStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	n.writeError(w, r, &api.Error{Status: status, Kind: api.KindBadRequest, Message: err.Error(), Node: n.config.ID})
}

// readBody reads a bounded control body.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxControlBody))
	if err != nil {
		return nil, badRequest("read request body: %v", err)
	}
	return data, nil
}

// decodeBody decodes a JSON body; an empty body leaves v unchanged.
func decodeBody(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil || len(data) == 0 {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return badRequest("malformed JSON body: %v", err)
	}
	return nil
}

// bucketOf reads and checks the bucket of a request.
func bucketOf(r *http.Request) (store.Bucket, error) {
	b := store.Bucket{Name: r.PathValue("bucket"), Provider: r.URL.Query().Get(api.QueryProvider)}.Normalize()
	if err := b.Validate(); err != nil {
		return b, err
	}
	return b, nil
}

func (n *Node) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !n.ready.Load() {
		n.writeError(w, r, fmt.Errorf("%w: node %s is starting", api.ErrUnavailable, n.config.ID))
		return
	}
	writeJSON(w, api.Health{Status: "ok", NodeID: n.config.ID, Role: string(n.config.Role), MapVersion: n.currentMap().Version})
}

// Values of ?what= on GET /v1/cluster.
const (
	whatMap     = "smap"
	whatBuckets = "bmd"
	whatStatus  = "status"
)

func (n *Node) handleClusterGet(w http.ResponseWriter, r *http.Request) {
	if !n.ready.Load() {
		n.writeError(w, r, fmt.Errorf("%w: node %s is starting", api.ErrUnavailable, n.config.ID))
		return
	}
	switch what := r.URL.Query().Get(api.QueryWhat); what {
	case whatMap, "":
		writeJSON(w, n.currentMap())
	case whatBuckets:
		writeJSON(w, n.currentBuckets())
	case whatStatus:
		writeJSON(w, n.status(r.Context()))
	default:
		n.writeError(w, r, badRequest("what=%q is not known (want smap, bmd or status)", what))
	}
}
