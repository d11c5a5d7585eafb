package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/gateway/peer"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/bodyend"
	"github.com/aisgo/aisgo/internal/hrw"
	"github.com/aisgo/aisgo/internal/idle"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/redact"
	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/shards"
	"github.com/aisgo/aisgo/store"
)

// The internet downloader (AIStore's /v1/download): files at HTTP(S) URLs
// become objects of a bucket. A job is split across the targets by the
// owner of each object name; each target fetches its files a few at a
// time, retrying with backoff, checking the size against Content-Length;
// a file that fails is listed with its cause. A target keeps its part of
// a running job in its work directory and resumes it after a restart
// (objects already stored are skipped).

// jobDownload is the kind of a download job.
const jobDownload = "download"

// Bounds of a download job.
const (
	downloadWorkers  = 4
	downloadAttempts = 3
	// maxDownloadItems bounds the files of one job, maxDownloadLink the
	// length of each link (a presigned URL is some 2 KiB), and
	// maxDownloadLinkBytes the length of them all: every target holds the
	// list.
	// maxOriginHeader bounds the headers of an answer from the
	// internet (net/http allows 10 MiB).
	maxOriginHeader      = 64 << 10
	maxDownloadItems     = 1 << 20
	maxDownloadLink      = 8 << 10
	maxDownloadLinkBytes = 64 << 20
	// maxDownloadErrors and maxDownloadErrorBytes bound the failures a
	// target reports for a job, each field cut at maxDownloadErrorField:
	// every kept job's result is in the target's status, which its peers
	// read up to a bound (past it, the target looks dead).
	maxDownloadErrors     = 1000
	maxDownloadErrorBytes = 64 << 10
	maxDownloadErrorField = 256
)

// downloadItem is one file of a job: where it is and the object it makes.
type downloadItem struct {
	Name string
	URL  string
}

// maxDownloadSubdir bounds a job's subdir: it is part of every name.
const maxDownloadSubdir = 255

// downloadItems expands a job's request into its files: one link, a
// template of links (object names are their last path segment), or a
// list (links, or object name → link). With keep (a target's share), only
// the files whose names it keeps are returned, the rest checked and let
// go, and names are not checked for clashes (the gateway did).
func downloadItems(spec *api.DownloadRequest, keep func(name string) bool) ([]downloadItem, error) {
	subdir := strings.TrimSuffix(spec.Subdir, "/")
	if spec.Subdir != "" {
		if len(subdir) > maxDownloadSubdir {
			return nil, badRequest("download: subdir %.64q... is %d bytes, more than %d", subdir, len(subdir), maxDownloadSubdir)
		}
		if err := store.ValidateName(subdir); err != nil {
			return nil, badRequest("download: subdir %q: %w", spec.Subdir, err)
		}
	}
	var items []downloadItem
	// linkOf is each name's link: two files stored under one name would
	// overwrite each other, in no order.
	var linkOf map[string]string
	if keep == nil {
		linkOf = map[string]string{}
	}
	total, count := 0, 0
	add := func(name, link string) error {
		if len(link) > maxDownloadLink {
			return badRequest("download: link %.64q... is %d bytes, more than %d", link, len(link), maxDownloadLink)
		}
		// A name under a subdir is a string of its own: it counts too.
		if total += len(link) + len(subdir); total > maxDownloadLinkBytes {
			return badRequest("download: the links and names of one job take more than %d bytes", maxDownloadLinkBytes)
		}
		if err := checkLink(link); err != nil {
			return err
		}
		if name == "" {
			// The last segment of the path as sent, then decoded: an
			// escaped '/' is the segment's, not a separator.
			u, _ := url.Parse(link)
			segment := u.EscapedPath()
			segment = segment[strings.LastIndexByte(segment, '/')+1:]
			var err error
			if name, err = url.PathUnescape(segment); err != nil {
				return badRequest("download: the last path segment of %s: %w", redact.Link(link), err)
			}
		}
		if subdir != "" {
			name = subdir + "/" + name
		}
		if err := store.ValidateName(name); err != nil {
			return badRequest("download: object name for %s: %w", redact.Link(link), err)
		}
		if count++; count > maxDownloadItems {
			return badRequest("download: more than %d files in one job", maxDownloadItems)
		}
		if keep != nil {
			if keep(name) {
				items = append(items, downloadItem{Name: name, URL: link})
			}
			return nil
		}
		if other, ok := linkOf[name]; ok {
			return badRequest("download: %s and %s would both be stored as %q (name the objects, or give each file its own last path segment)", redact.Link(other), redact.Link(link), name)
		}
		linkOf[name] = link
		items = append(items, downloadItem{Name: name, URL: link})
		return nil
	}
	switch spec.Type {
	case api.DownloadSingle:
		if spec.Link == "" {
			return nil, badRequest("download single: link is required")
		}
		if err := add(spec.ObjectName, spec.Link); err != nil {
			return nil, err
		}
	case api.DownloadRange:
		t, err := shards.ParseTemplateOf(spec.Template, maxDownloadLink) // (links, longer than names)
		if err != nil {
			return nil, badRequest("download range: template: %w", err)
		}
		if !t.IsRange() {
			return nil, badRequest("download range: template %q has no range (want e.g. https://host/train-{0000..0999}.tar)", spec.Template)
		}
		// Refused before expanding: a million links are a lot of memory.
		if t.Count() > maxDownloadItems {
			return nil, badRequest("download range: template %q names %d files, more than %d in one job", spec.Template, t.Count(), maxDownloadItems)
		}
		if len(spec.Template) > maxDownloadLink || int64(len(spec.Template)+len(subdir))*t.Count() > 2*maxDownloadLinkBytes {
			return nil, badRequest("download range: template %.64q... (%d bytes) for %d files: its links would take more than %d bytes", spec.Template, len(spec.Template), t.Count(), maxDownloadLinkBytes)
		}
		for link := range t.Names() {
			if err := add("", link); err != nil {
				return nil, err
			}
		}
	case api.DownloadMulti:
		for _, link := range spec.Links {
			if err := add("", link); err != nil {
				return nil, err
			}
		}
		for _, name := range slices.Sorted(maps.Keys(spec.Objects)) {
			link := spec.Objects[name]
			if name == link {
				name = "" // from a list of links: named by the link
			}
			if err := add(name, link); err != nil {
				return nil, err
			}
		}
		// Counted before a target's share is taken: a target that owns
		// none of the files has nothing to do, and no error.
		if count == 0 {
			return nil, badRequest("download multi: give objects (name → link) or links")
		}
	default:
		return nil, badRequest("download: type %q is not known (want %s, %s, %s or %s)", spec.Type, api.DownloadSingle, api.DownloadRange, api.DownloadMulti, api.DownloadBackend)
	}
	return items, nil
}

// checkTimeout accepts a positive duration.
func checkTimeout(field, value string, most time.Duration) error {
	d, err := time.ParseDuration(value)
	if err != nil {
		return badRequest("download: %s %q: %w", field, value, err)
	}
	if d <= 0 {
		return badRequest("download: %s %q must be positive", field, value)
	}
	if d > most {
		return badRequest("download: %s %q is longer than %s, the most a download waits", field, value, most)
	}
	return nil
}

// The bounds of a download's timeouts, and of the download jobs running
// at once in the cluster: a slow origin must not hold the targets'
// workers for ever.
const (
	maxFileTimeout   = 24 * time.Hour
	maxJobTimeout    = 7 * 24 * time.Hour
	maxDownloadsOnce = 32
)

// checkLink accepts http and https URLs with a host.
func checkLink(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return badRequest("download: link %q: %w", link, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return badRequest("download: link %q: the scheme must be http or https, not %q", link, u.Scheme)
	}
	if u.Host == "" {
		return badRequest("download: link %q has no host", link)
	}
	return nil
}

// downloadExpansions bounds the download requests whose names are made
// at once, in a process.
var downloadExpansions = make(chan struct{}, 2)

// handleDownloadStart serves POST /v1/download: the job starts on every
// active target; the answer is {"id": ...}.
func (n *Node) handleDownloadStart(w http.ResponseWriter, r *http.Request) {
	var spec api.DownloadRequest
	err := n.requireGateway()
	if err == nil {
		err = decodeBody(r, &spec)
	}
	var b store.Bucket
	if err == nil {
		err = spec.Bucket.CheckNamespace()
	}
	if err == nil {
		b = store.Bucket{Name: spec.Bucket.Name, Provider: spec.Bucket.Provider}.Normalize()
		err = b.Validate()
		switch {
		case err == nil && b.Provider == store.ProviderHT:
			// Its objects are the origin's, filled by reading through
			// it; a download's write-through would be refused each file.
			err = badRequest("download: %s is an HTTP origin's bucket, filled by reading its objects: download into an ais:// or cloud bucket", b)
		case err == nil:
			// The route asked for PUT on some bucket: this is the one.
			if err = n.authorizeBucket(r, authn.PermPut, b); err == nil {
				_, err = n.requestedBucketProps(b)
			}
		}
	}
	// Before the job's names are made (a template of a million names
	// takes hundreds of MiB), and a few at once. Those being started
	// count: requests at once each saw fewer running, and all started.
	if err == nil {
		defer n.downloadsStarting.Add(-1)
		if starting := int(n.downloadsStarting.Add(1)); starting+n.runningDownloads(r.Context()) > maxDownloadsOnce {
			err = fmt.Errorf("%w: download: %d download jobs are running or starting, the most at once; wait for some, or abort them", api.ErrConflict, maxDownloadsOnce)
		}
	}
	if err == nil && spec.Type == api.DownloadBackend {
		// A remote bucket's objects: the prefetch job, by another name,
		// listed and counted as a download (by its id). Not one of
		// links, which a target resumes: not "download-".
		var id string
		if !b.IsRemote() {
			err = badRequest("download backend: %s is not a remote bucket", b)
		}
		// A prefetch has no timeouts of its own: taken, they would be
		// dropped and the job answered as bounded.
		for _, f := range []struct{ name, value string }{{"timeout", spec.Timeout}, {"job_timeout", spec.JobTimeout}} {
			if err == nil && f.value != "" {
				err = badRequest("download backend: %s is not taken for a remote bucket's objects (a prefetch job: abort it to stop it)", f.name)
			}
		}
		for attempt := 0; err == nil && attempt < 3; attempt++ {
			id, err = n.startClusterJob(r.Context(), peer.JobRequest{ID: newJobID(backendDownload), Kind: jobPrefetch, Bucket: b, Prefix: spec.Prefix})
			if errors.Is(err, pipeline.ErrJobExists) && attempt < 2 {
				err = nil
				continue
			}
			break
		}
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		writeJSON(w, map[string]string{"id": id})
		return
	}
	var items []downloadItem
	if err == nil {
		select {
		case downloadExpansions <- struct{}{}:
			func() {
				defer func() { <-downloadExpansions }()
				items, err = downloadItems(&spec, nil)
			}()
		case <-r.Context().Done():
			err = context.Cause(r.Context())
		}
	}
	// Not a way to fetch from the cluster's own nodes.
	hosts := map[string]bool{}
	for _, item := range items {
		if u, perr := url.Parse(item.URL); perr == nil && !hosts[u.Host] && err == nil {
			hosts[u.Host] = true
			err = n.notClusterNode(linkHostPort(u))
		}
	}
	if err == nil {
		err = checkTimeout("timeout", cmpOr(spec.Timeout, maxFileTimeout.String()), maxFileTimeout)
	}
	if err == nil && spec.JobTimeout != "" {
		err = checkTimeout("job_timeout", spec.JobTimeout, maxJobTimeout)
	}
	var id string
	if err == nil {
		data, _ := json.Marshal(spec)
		id, err = n.startClusterJob(r.Context(), peer.JobRequest{Kind: jobDownload, Bucket: b, Download: data})
	}
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJSON(w, map[string]string{"id": id})
}

// backendDownload names the ids of the downloads of a remote bucket's
// objects (prefetch jobs).
const backendDownload = "remotedl" // (a job id's kind is cut to 8 bytes)

// isDownload reports a download job: of links, or of a remote bucket's
// objects.
func isDownload(j api.JobStatus) bool {
	return j.Kind == jobDownload || j.Kind == jobPrefetch && strings.HasPrefix(j.ID, backendDownload+"-")
}

// runningDownloads counts the download jobs running on any target.
func (n *Node) runningDownloads(ctx context.Context) int {
	running := map[string]bool{}
	for _, node := range n.status(ctx).Nodes {
		for _, j := range node.Jobs {
			if isDownload(j) && j.Running {
				running[j.ID] = true
			}
		}
	}
	return len(running)
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// downloadResult is one target's account of its part of a job.
type downloadResult struct {
	Total      int                  `json:"total"`
	Downloaded int                  `json:"downloaded"`
	Skipped    int                  `json:"skipped"`
	Errors     []api.DownloadFailed `json:"errors,omitempty"`
	Failed     int                  `json:"failed,omitempty"` // listed in Errors or not
}

// download runs this target's part of a job: the files whose objects it
// owns.
// Only this target's share of the items is kept (startJob made it): the
// job's whole list is the gateway's to hold.
func (n *Node) download(ctx context.Context, id string, b store.Bucket, created int64, raw json.RawMessage, spec api.DownloadRequest, items []downloadItem, targets []string, p *store.Progress) (any, error) {
	timeout, _ := time.ParseDuration(cmpOr(spec.Timeout, maxFileTimeout.String()))
	// A job resumed after a restart finds its file: what it stored
	// before is done. A new job fetches every file, stored or not (the
	// origin may have changed it).
	resumed := false
	saved := savedDownload{ID: id, Bucket: b, Request: raw, Targets: targets, Created: created}
	if pipeline.ValidateJobID(id) == nil {
		if data, err := os.ReadFile(n.downloadFile(id)); err == nil {
			resumed = true
			var before savedDownload
			if json.Unmarshal(data, &before) == nil {
				saved.Deadline = before.Deadline
			}
		}
	}
	if jobTimeout, err := time.ParseDuration(spec.JobTimeout); err == nil && jobTimeout > 0 {
		// From the job's start: a restart does not give it another.
		if saved.Deadline == 0 {
			saved.Deadline = time.Now().Add(jobTimeout).UnixNano()
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, time.Unix(0, saved.Deadline), fmt.Errorf("the download job timed out after %s (job_timeout)", jobTimeout))
		defer cancel()
	}
	// (A share of no file has nothing to resume.)
	if err := n.saveDownload(saved); err != nil && len(items) > 0 {
		// Not started without it: a restart would forget the part, and
		// the job's status take it for one that ended before. Its files
		// count as failed, and an older journal (this part resumed) goes:
		// it must not start at a later restart.
		n.forgetDownload(id)
		err = fmt.Errorf("download job %s: its journal for a restart cannot be kept on target %s (%w): its part is not started", id, n.config.ID, err)
		return downloadResult{Total: len(items), Failed: len(items)}, err // (the error is the part's)
	}
	var mu sync.Mutex
	res := downloadResult{Total: len(items)}
	errorBytes := 0
	// What failed or was skipped so far is shown while the job runs (at
	// most every second: a job of many failures marshals its errors
	// again each time); Total is the progress's, not counted twice.
	var shown time.Time
	changed := false
	publish := func() { // under mu
		changed, shown = false, time.Now()
		live := res
		live.Total = 0
		if data, err := json.Marshal(live); err == nil && p != nil {
			p.Live.Store(&data)
		}
	}
	show := func() { // under mu
		if changed = true; time.Since(shown) >= time.Second {
			publish()
		}
	}
	stopShowing, showed := make(chan struct{}), make(chan struct{})
	go func() { // what changed within a second of the last shown
		defer close(showed)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopShowing:
				return
			case <-tick.C:
			}
			mu.Lock()
			if changed {
				publish()
			}
			mu.Unlock()
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(downloadWorkers)
	for _, item := range items {
		if gctx.Err() != nil {
			break // aborted: the files left are not tried (counted below)
		}
		g.Go(func() error {
			if resumed && n.downloaded(gctx, b, item.Name, id) {
				mu.Lock()
				res.Skipped++
				show()
				mu.Unlock()
				return nil
			}
			size, err := n.downloadOne(gctx, b, item, id, timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if gctx.Err() != nil {
					return context.Cause(gctx)
				}
				res.Failed++
				if len(res.Errors) < maxDownloadErrors && errorBytes < maxDownloadErrorBytes {
					link := redact.Link(item.URL)
					message := n.redact(strings.ReplaceAll(err.Error(), item.URL, link)) // the link first: hidden as <data>, it would not be found
					failed := api.DownloadFailed{Name: clip(item.Name, maxDownloadErrorField), Link: clip(link, maxDownloadErrorField), Error: clip(message, maxDownloadErrorField)}
					// As the status carries it: JSON escapes '<' in six bytes.
					encoded, _ := json.Marshal(failed)
					errorBytes += len(encoded)
					res.Errors = append(res.Errors, failed)
				}
				show()
				return nil
			}
			res.Downloaded++
			p.Objects.Add(1)
			p.Bytes.Add(size)
			return nil
		})
	}
	err := g.Wait()
	close(stopShowing)
	<-showed // res is this goroutine's alone from here
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx) // aborted or timed out before its files
	}
	// Ended, failed or aborted: not to be resumed. A target that died or
	// was stopped mid-job finds the file again when it starts.
	if !errors.Is(context.Cause(ctx), pipeline.ErrShuttingDown) {
		n.forgetDownload(id)
	}
	slices.SortFunc(res.Errors, func(a, b api.DownloadFailed) int { return strings.Compare(a.Name, b.Name) })
	if left := res.Failed - len(res.Errors); left > 0 {
		res.Errors = append(res.Errors, api.DownloadFailed{Error: fmt.Sprintf("%s: %d %s", n.config.ID, left, moreFilesFailed)})
	}
	// The files a timeout or an abort left (cut, or not tried) are of
	// the total, as failed: "downloaded 600 of 604" hid 400 of them. A
	// shutdown's are not: the target resumes them when it starts.
	if left := res.Total - res.Downloaded - res.Skipped - res.Failed; left > 0 && err != nil && !errors.Is(context.Cause(ctx), pipeline.ErrShuttingDown) {
		res.Failed += left
		res.Errors = append(res.Errors, api.DownloadFailed{Error: fmt.Sprintf("%s: %d files not downloaded: %s", n.config.ID, left, n.redact(err.Error()))})
	}
	return res, err
}

// clip cuts s to at most n bytes, on a rune's start.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// downloadShare tells the files this target fetches: those HRW gives it
// among the targets the job started on, so that a target joining or
// leaving meanwhile does not take files from every target's share (the
// owner by this target's map, for a job started without them).
func (n *Node) downloadShare(b store.Bucket, targets []string) func(name string) bool {
	if len(targets) == 0 {
		return func(name string) bool { return n.owns(b, name) }
	}
	digests := make([]uint64, len(targets))
	for i, id := range targets {
		digests[i] = hrw.Digest(id)
	}
	return func(name string) bool {
		i := hrw.Pick(digests, hrw.Digest(cluster.Uname(b.Provider, b.Name, name)))
		return i >= 0 && targets[i] == n.config.ID
	}
}

// customDownload is the custom metadata key of the download job that
// stored an object.
const customDownload = "download.job"

// downloaded reports whether job stored a file's object already, here or
// on its owner: an object stored before the job (an older copy of the
// file) is fetched again.
func (n *Node) downloaded(ctx context.Context, b store.Bucket, name, job string) bool {
	if n.owns(b, name) {
		meta, err := n.local.Head(ctx, b, name)
		return err == nil && meta.Custom[customDownload] == job
	}
	if b.IsRemote() {
		return false // a HEAD answers from the remote for what is not cached
	}
	meta, err := n.clusterClient().Head(ctx, b.String(), name)
	return err == nil && meta.Custom[customDownload] == job
}

// putDownloaded stores a fetched file, marked with its job: here when
// this target owns its name, else on the owner (the map changed since the
// job started).
func (n *Node) putDownloaded(ctx context.Context, b store.Bucket, name, job string, body io.Reader, size int64, sum store.Checksum) (store.ObjectMeta, error) {
	custom := map[string]string{customDownload: job}
	if n.owns(b, name) {
		return n.putOwned(ctx, b, name, body, store.PutOptions{Size: size, Custom: custom, Checksum: sum})
	}
	// (The owner's PUT holds its own watermark.)
	return n.clusterClient().Put(ctx, b.String(), name, body, api.PutOptions{Size: size, Custom: custom, Checksum: sum})
}

// originMD5 is the MD5 an origin gives of its body (Content-MD5, or
// Google's x-goog-hash md5=), both base64: the bytes stored are checked
// against it. None when absent or malformed.
func originMD5(h http.Header) store.Checksum {
	// Content-MD5 first, then Google's md5= (one line of several fields,
	// or a line per field, as its XML API sends): the first that decodes
	// (a malformed one, a hex MD5 a CDN sends, does not hide the other).
	candidates := h.Values("Content-MD5")
	for _, line := range h.Values("X-Goog-Hash") {
		for _, field := range strings.Split(line, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(field), "md5="); ok {
				candidates = append(candidates, v)
			}
		}
	}
	for _, encoded := range candidates {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
		if err == nil && len(raw) == md5.Size {
			return store.Checksum{Type: store.ChecksumMD5, Value: hex.EncodeToString(raw)}
		}
	}
	return store.Checksum{}
}

// clusterClient is the native API of the cluster, as this node reaches
// its peers: shared, so that its map is fetched once, not per request.
func (n *Node) clusterClient() *api.Client {
	// Signed by the node (its transport), with no person's token from
	// the environment of the account that runs it.
	n.clusterOnce.Do(func() { n.cluster = api.NewClientWith(n.config.URL, n.peer.HTTP()).SetToken("") })
	return n.cluster
}

// clientsClient is clusterClient for requests made for a client: marked
// so (headerForClient), the node that serves them counts them as the
// client's, not as the node's own (a job's).
func (n *Node) clientsClient() *api.Client {
	n.forClientsOnce.Do(func() {
		signed := n.peer.HTTP()
		marked := &http.Client{Transport: forClient{signed.Transport}, Timeout: signed.Timeout, CheckRedirect: signed.CheckRedirect, Jar: signed.Jar}
		n.forClients = api.NewClientWith(n.config.URL, marked).SetToken("")
	})
	return n.forClients
}

// headerForClient marks a node's request made for a client (the reverse
// proxy's read, the console's relayed download): the metrics count it
// where it is served.
const headerForClient = "Ais-For-Client"

// forClient marks each request with headerForClient.
type forClient struct{ base http.RoundTripper }

func (t forClient) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(headerForClient, "true")
	return t.base.RoundTrip(req)
}

// downloadIdle is how long a download waits for the next bytes of a
// body before it gives up on the attempt: a file takes as long as its
// bytes take (up to its job's timeout), an origin that stalls does not.
var downloadIdle = 2 * time.Minute // a variable for the tests

// downloadOne fetches one file into its object, retrying with backoff.
func (n *Node) downloadOne(ctx context.Context, b store.Bucket, item downloadItem, job string, timeout time.Duration) (int64, error) {
	// One limit for the file over its attempts: the job's timeout bounds
	// each file, not each try of it.
	timedOut := fmt.Errorf("timed out after %s", timeout)
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, timedOut)
	defer cancel()
	var last error
	for attempt := range downloadAttempts {
		if attempt > 0 {
			wait := time.Duration(attempt*attempt) * 200 * time.Millisecond
			var later *originBusy
			if errors.As(last, &later) && later.after > wait {
				wait = later.after
			}
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				if context.Cause(ctx) == timedOut {
					return 0, fmt.Errorf("%w, the most one file may take (the request's timeout), tried %d time(s): the last failed: %w", timedOut, attempt, last)
				}
				return 0, context.Cause(ctx)
			case <-timer.C:
			}
		}
		size, err, retry := n.fetchOnce(ctx, b, item, job, timeout, timedOut)
		if err == nil {
			return size, nil
		}
		last = err
		if !retry || context.Cause(ctx) == timedOut {
			break
		}
	}
	return 0, last
}

// maxRetryAfter bounds the wait an origin may ask for with Retry-After:
// a file is tried again within it, or fails naming the origin's answer.
var maxRetryAfter = time.Minute // a variable for the tests

// originBusy is an origin's 429 or 503, with the wait its Retry-After
// asks for before the next attempt (0: none given).
type originBusy struct {
	err   error
	after time.Duration
}

func (e *originBusy) Error() string { return e.err.Error() }
func (e *originBusy) Unwrap() error { return e.err }

// originRetryAfter reads a Retry-After header: seconds or an HTTP date, at
// most maxRetryAfter; 0 when absent or unreadable.
func originRetryAfter(header string, now time.Time) time.Duration {
	header = strings.TrimSpace(header)
	if header == "" {
		return 0
	}
	var wait time.Duration
	if seconds, err := strconv.ParseInt(header, 10, 64); err == nil {
		if seconds <= 0 {
			return 0
		}
		wait = time.Duration(min(seconds, int64(maxRetryAfter/time.Second)+1)) * time.Second
	} else if at, err := http.ParseTime(header); err == nil {
		wait = at.Sub(now)
	}
	return max(0, min(wait, maxRetryAfter))
}

// fetchOnce is one attempt: a 4xx is final, anything else may be retried.
// ctx ends with timedOut as its cause at the file's timeout.
func (n *Node) fetchOnce(ctx context.Context, b store.Bucket, item downloadItem, job string, timeout time.Duration, timedOut error) (int64, error, bool) {
	// Past out_of_space nothing more is fetched (and not retried): of
	// this target's disks when it stores the file, not when its owner
	// (another, since the map changed) does, which has room maybe.
	checkSpace := func(ctx context.Context) error {
		if !n.owns(b, item.Name) {
			return nil
		}
		return n.checkSpace(ctx)
	}
	if err := checkSpace(ctx); err != nil {
		return 0, err, false
	}
	stalled := fmt.Errorf("%s sent nothing for %s", item.URL, downloadIdle)
	ctx, watch := idle.Watch(ctx, downloadIdle, stalled)
	defer watch.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, item.URL, nil)
	if err != nil {
		return 0, err, false
	}
	resp, err := n.downloads.Do(req)
	if err != nil {
		if context.Cause(ctx) == stalled {
			return 0, stalled, true
		}
		if context.Cause(ctx) == timedOut {
			return 0, timedOut, false
		}
		// Its URL as net/http wrote it (the password masked, the query
		// kept): the status shows the link without either. A destination
		// the egress policy refuses is refused again: not tried again.
		return 0, redact.Error(err, item.URL), !errors.Is(err, api.ErrForbidden)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("%s answered %s", item.URL, resp.Status)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			return 0, &originBusy{err: err, after: originRetryAfter(resp.Header.Get("Retry-After"), time.Now())}, true
		}
		return 0, err, resp.StatusCode >= 500
	}
	// A length that cannot fit fails the file at once (not retried), as
	// a client's PUT does: streamed, it would fill the disks to
	// out_of_space, the LRU evicting the cache for it, before failing.
	if n.owns(b, item.Name) {
		if err := n.checkSpaceFor(ctx, resp.ContentLength); err != nil {
			return 0, fmt.Errorf("%s announced %d bytes: %w", redact.Link(item.URL), resp.ContentLength, err), false
		}
	}
	// An origin's length may be missing or untrue: the watermark holds
	// while the body streams in, as for a cold GET.
	// The origin's MD5 is of the bytes it sends, which are stored as sent,
	// unless they were unpacked on the way: by this client (it asked for
	// gzip itself), or by the origin (Google's decompressive transcoding
	// hashes the object as stored, packed).
	var sum store.Checksum
	stored := resp.Header.Get("X-Goog-Stored-Content-Encoding")
	if !resp.Uncompressed && (stored == "" || stored == "identity" || resp.Header.Get("Content-Encoding") != "") {
		sum = originMD5(resp.Header)
	}
	var body io.Reader = resp.Body
	if bodyend.CloseDelimited(resp) {
		// Cut mid-way, it would read as a whole, short file.
		body = bodyend.Checked(resp.Body, func(size int64) error { return n.wholeAt(ctx, item.URL, size) })
	}
	meta, err := n.putDownloaded(ctx, b, item.Name, job, store.GuardSpace(ctx, watch.Reader(body), checkSpace), resp.ContentLength, sum)
	if err != nil {
		if context.Cause(ctx) == stalled {
			return 0, stalled, true
		}
		if context.Cause(ctx) == timedOut {
			// Its bytes were coming: fetched again from byte 0 under the
			// same limit, they would take as long again.
			return 0, fmt.Errorf("timed out after %s, the most one file may take (the request's timeout): the file was still coming", timeout), false
		}
		if errors.Is(err, store.ErrSizeMismatch) {
			return 0, fmt.Errorf("%s sent another size than its Content-Length: %w", item.URL, err), true
		}
		if errors.Is(err, store.ErrBadChecksum) {
			return 0, fmt.Errorf("%s sent bytes that do not match the MD5 it gave: %w", item.URL, err), true
		}
		// What fails the same way again is not fetched again: a full
		// disk, and what the store or the remote refuses (a name that
		// conflicts, a bucket gone, a remote forbidding the write).
		return 0, err, statusOf(err) >= 500 && !errors.Is(err, store.ErrNoSpace)
	}
	return meta.Size, nil, false
}

// wholeAt asks an origin whose answer ended with its connection whether
// the size bytes read are all of the file: a GET of the range past them
// answers 416 with the file's size in its Content-Range (a 206 has bytes
// past them), or all of it with its length. An origin that tells no size, or refuses to (a
// 4xx: a link good for one GET), is taken at its word, as any HTTP client
// would; one that does not answer, or fails (5xx), fails the attempt.
func (n *Node) wholeAt(ctx context.Context, link string, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", size))
	resp, err := n.downloads.Do(req)
	if err != nil {
		return fmt.Errorf("%s: its answer ended with the connection, and asking its size to tell whether it is whole failed: %w", redact.Link(link), redact.Error(err, link))
	}
	resp.Body.Close()
	total, known := int64(-1), false
	switch resp.StatusCode {
	case http.StatusPartialContent:
		// Bytes past those read: the file was cut (whatever total the
		// answer tells, "*" or none).
		if total, known = bodyend.RangeTotal(resp); !known {
			return fmt.Errorf("%s: its answer ended with the connection after %d bytes; it has more", redact.Link(link), size)
		}
	case http.StatusRequestedRangeNotSatisfiable:
		total, known = bodyend.RangeTotal(resp)
	case http.StatusOK:
		total, known = resp.ContentLength, resp.ContentLength >= 0
	default:
		busy := resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && !busy {
			return nil // refused to tell
		}
		return fmt.Errorf("%s: its answer ended with the connection, and asked its size to tell whether it is whole it answered %s", redact.Link(link), resp.Status)
	}
	if known && total != size {
		return fmt.Errorf("%s: its answer ended with the connection after %d bytes of %d", redact.Link(link), size, total)
	}
	return nil
}

// A target's running download jobs, kept in its work directory.

func (n *Node) downloadFile(id string) string {
	return filepath.Join(n.workDir(), "download-"+id+".json")
}

type savedDownload struct {
	ID      string          `json:"id"`
	Bucket  store.Bucket    `json:"bucket"`
	Request json.RawMessage `json:"request"`
	Targets []string        `json:"targets,omitempty"`
	// Deadline is when job_timeout ends the job (Unix nanoseconds; 0:
	// none), kept across restarts.
	Deadline int64 `json:"deadline,omitempty"`
	// Created is the bucket's creation the job was started for: resumed,
	// it writes into no bucket made again under the name.
	Created int64 `json:"created,omitempty"`
}

func (n *Node) saveDownload(saved savedDownload) error {
	if err := pipeline.ValidateJobID(saved.ID); err != nil {
		return err
	}
	data, _ := json.Marshal(saved)
	// The work directory of now may be new (it moved with the mountpaths).
	if dir := n.workDir(); pathsafe.MkdirAll(dir, dir, 0o755) != nil {
		return fmt.Errorf("download job %s: work directory %s cannot be made", saved.ID, dir)
	}
	// Whole or not at all: a file a crash left empty is dropped at the
	// restart, and this target's share with it. Its links may carry
	// secrets: 0600.
	return atomicfile.Write(n.downloadFile(saved.ID), data, 0o600)
}

func (n *Node) forgetDownload(id string) {
	if pipeline.ValidateJobID(id) != nil {
		return
	}
	// Where it was saved: the work directory may have moved since.
	for _, dir := range n.workDirs() {
		pathsafe.Remove(dir, filepath.Join(dir, "download-"+id+".json"))
	}
}

// resumeDownloads starts again the download jobs this target ran when it
// stopped.
func (n *Node) resumeDownloads(ctx context.Context) {
	// The work directory follows the first mountpath enabled: a job saved
	// where it was before is resumed too, and its file there goes (the
	// job saves itself in the work directory of now).
	dirs := n.workDirs()
	var status *api.ClusterStatus // asked once, if a job is saved
	for _, dir := range dirs {
		// A save cut by a crash leaves its temporary file (all the job's
		// links, maybe signed ones): nothing reads it.
		temps, _ := filepath.Glob(filepath.Join(dir, "download-*.json.*"))
		for _, temp := range temps {
			if atomicfile.IsTemp(temp) {
				pathsafe.Remove(dir, temp)
			}
		}
		paths, _ := filepath.Glob(filepath.Join(dir, "download-*.json"))
		for _, path := range paths {
			data, err := os.ReadFile(path)
			var saved savedDownload
			if err == nil {
				err = json.Unmarshal(data, &saved)
			}
			if err == nil {
				if status == nil {
					s := n.status(ctx)
					status = &s
				}
				if by := abortedOn(status, saved.ID, n.config.ID); by != "" {
					// Aborted while this target was away (removed from
					// the cluster, or stopping): not to come back.
					pathsafe.Remove(dir, path)
					n.logger.Info("download job not resumed: it was aborted meanwhile", "job", saved.ID, "target", by)
					continue
				}
			}
			if _, serr := n.jobs.Status(saved.ID); err == nil && dir != dirs[0] && serr == nil {
				// Resumed from the work directory of now already (its
				// file was in both: a crash between a copy and this
				// removal): this one goes, that one stays.
				pathsafe.Remove(dir, path)
				continue
			}
			copied := false
			if err == nil && dir != dirs[0] {
				// Kept where the job looks for it: there, it is resumed
				// (what it stored is done), not started anew.
				err = n.saveDownload(saved)
				copied = err == nil
			}
			if err == nil {
				_, err = n.startJob(ctx, peer.JobRequest{ID: saved.ID, Kind: jobDownload, Bucket: saved.Bucket, BucketCreated: saved.Created, Download: saved.Request, Targets: saved.Targets})
			}
			if err != nil || dir != dirs[0] {
				pathsafe.Remove(dir, path)
			}
			if err != nil && copied {
				// Not resumed: its copy would be, at a later restart
				// (into a bucket made again under the name, maybe).
				n.forgetDownload(saved.ID)
			}
			if err != nil {
				n.logger.Warn("resume a download job", "file", path, "err", err)
				continue
			}
			n.logger.Info("download job resumed", "job", saved.ID)
		}
	}
}

// abortedOn names a node other than self whose status has job id
// aborted, or "".
func abortedOn(status *api.ClusterStatus, id, self string) string {
	for _, node := range status.Nodes {
		for _, j := range node.Jobs {
			if node.ID != self && j.ID == id && j.Aborted {
				return node.ID
			}
		}
	}
	return ""
}

// handleDownloadGet serves GET /v1/download?id=: the job's progress and
// failures summed over the targets; without an id, the download jobs.
func (n *Node) handleDownloadGet(w http.ResponseWriter, r *http.Request) {
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	id, err := downloadIDOf(r)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if id == "" {
		// Every job from one asking of the nodes (not one per job): those
		// whose bucket the caller may list.
		out := []api.DownloadStatus{}
		seen := map[string]bool{}
		nodes := n.status(r.Context()).Nodes
		for _, node := range nodes {
			for _, j := range node.Jobs {
				if isDownload(j) && !seen[j.ID] {
					seen[j.ID] = true
					if _, err := n.authorize(r, authn.PermList, j.Bucket); err != nil {
						continue
					}
					if s, err := n.sumDownload(nodes, j.ID); err == nil {
						out = append(out, listedDownload(s))
					}
				}
			}
		}
		writeJSON(w, out)
		return
	}
	nodes, err := n.authorizeDownload(r, authn.PermList, id)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	s, err := n.sumDownload(nodes, id)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJSON(w, s)
}

// moreFilesFailed ends a target's count of its failed files not listed.
const moreFilesFailed = "more files failed, not listed"

// listedErrors is how many of a job's failed files the list of every
// job shows: each job's whole list, from every target, is its status's.
const listedErrors = 10

// listedDownload is a job as the list of every job shows it: its counts,
// its first failed files with how many more failed, and the errors of
// the job itself (a target that did not answer: its counts are not in).
func listedDownload(s api.DownloadStatus) api.DownloadStatus {
	var files, notes []api.DownloadFailed
	for _, e := range s.Errors {
		switch {
		case e.Name != "" || e.Link != "":
			files = append(files, e)
		case !strings.HasSuffix(e.Error, moreFilesFailed):
			notes = append(notes, e) // (a target's count of the unlisted is replaced by the job's)
		}
	}
	files = files[:min(len(files), listedErrors)]
	s.Errors = append(files, notes...)
	if left := s.Failed - len(files); left > 0 {
		s.Errors = append(s.Errors, api.DownloadFailed{Error: fmt.Sprintf("%d more files failed: see the job's status (?id=%s)", left, s.ID)})
	}
	return s
}

// authorizeDownload checks need on a download (or prefetch) job's bucket,
// as the nodes report it (on the cluster for a job none reports), and
// returns their statuses.
func (n *Node) authorizeDownload(r *http.Request, need authn.Perm, id string) ([]api.NodeStatus, error) {
	if err := pipeline.ValidateJobID(id); err != nil {
		return nil, badRequest("%w", err)
	}
	nodes := n.status(r.Context()).Nodes
	bucket := ""
	for _, node := range nodes {
		for _, j := range node.Jobs {
			if j.ID == id && (j.Kind == jobDownload || j.Kind == jobPrefetch) && j.Bucket != "" {
				bucket = j.Bucket
			}
		}
	}
	_, err := n.authorize(r, need, bucket)
	return nodes, err
}

// downloadIDOf is the job a status, abort or remove request names: by
// ?id=, or by AIStore's JSON body {"id": ...}.
func downloadIDOf(r *http.Request) (string, error) {
	if id := r.URL.Query().Get(api.QueryDownloadID); id != "" || r.Body == nil || r.ContentLength == 0 {
		return id, nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 64<<10))
	if err != nil {
		return "", badRequest("download request body: %w", err)
	}
	var body struct {
		ID string `json:"id"`
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &body); err != nil {
			return "", badRequest("download request body: %w", err)
		}
	}
	return body.ID, nil
}

// sumDownload sums a job over the nodes' states.
func (n *Node) sumDownload(nodes []api.NodeStatus, id string) (api.DownloadStatus, error) {
	s := api.DownloadStatus{ID: id, Errors: []api.DownloadFailed{}}
	failed := 0 // files, listed in Errors or not
	found := false
	jobTargets := map[string]bool{}
	reported := map[string]bool{} // targets that answered with their part
	// When the first part started and the last ended: a target that
	// restarted in between and has no record of the job lost its part.
	var started, ended int64
	prefetch := false
	for _, node := range nodes {
		for _, j := range node.Jobs {
			if j.ID != id || j.Kind != jobDownload && j.Kind != jobPrefetch {
				continue
			}
			for _, t := range j.Targets {
				jobTargets[t] = true
			}
			if j.Started != 0 && (started == 0 || j.Started < started) {
				started = j.Started
			}
			ended = max(ended, j.Finished)
			prefetch = prefetch || j.Kind == jobPrefetch
			found = true
			reported[node.ID] = true
			s.Running = s.Running || j.Running
			s.Aborted = s.Aborted || j.Aborted
			s.Finished += int(j.Objects)
			s.Bytes += j.Bytes
			if j.Error != "" && !j.Aborted {
				s.Errors = append(s.Errors, api.DownloadFailed{Error: node.ID + ": " + j.Error})
			}
			var res downloadResult
			if j.Running {
				s.Total += int(j.Total) // told at the part's end otherwise
			}
			if j.Kind == jobPrefetch {
				res = prefetchCounts(j.Result)
			} else if json.Unmarshal(j.Result, &res) != nil {
				res = downloadResult{}
			}
			s.Total += res.Total
			s.Skipped += res.Skipped
			s.Errors = append(s.Errors, res.Errors...)
			failed += max(res.Failed, len(res.Errors))
		}
	}
	if !found {
		return s, fmt.Errorf("%w: download %s", api.ErrJobNotFound, id)
	}
	s.Total = max(s.Total, s.Finished+s.Skipped+failed) // a backend download counts as it goes
	s.Failed = failed
	s.Done = !s.Running
	// A target of the job that does not answer may have fetched its
	// files or not: they are not counted, the errors say so, and the job
	// is not done (the target resumes its part when it is back). One
	// that answers without the job (restarted after its part ended) or
	// has left the cluster took its part's counts along.
	answered := map[string]bool{}
	for _, node := range nodes {
		answered[node.ID] = true
		switch {
		case !jobTargets[node.ID] || reported[node.ID]:
		case node.Error != "":
			s.Done = false
			s.Errors = append(s.Errors, api.DownloadFailed{Error: fmt.Sprintf("target %s did not answer, its part of the job is not counted: %s", node.ID, n.redact(node.Error))})
		case node.Starting:
			// Its part may be one it resumes once started.
			s.Done = false
			s.Errors = append(s.Errors, api.DownloadFailed{Error: fmt.Sprintf("target %s is starting: its part of the job is not counted yet", node.ID)})
		case prefetch && node.Started > started && (s.Running || node.Started < ended || keptBefore(node, jobPrefetch, started)):
			// Restarted while the job ran: a backend download is not
			// resumed (a download is, from its journal, and lists the
			// job again: one that does not ended its part before). One
			// that keeps its ended parts lists a part done.
			s.Errors = append(s.Errors, api.DownloadFailed{Error: fmt.Sprintf("target %s restarted while the job ran and has no record of it: its part of the job is lost", node.ID)})
		default:
			s.Errors = append(s.Errors, api.DownloadFailed{Error: fmt.Sprintf("target %s has no record of the job (it restarted after its part ended): its part is not counted", node.ID)})
		}
	}
	for _, t := range slices.Sorted(maps.Keys(jobTargets)) {
		if !answered[t] {
			s.Errors = append(s.Errors, api.DownloadFailed{Error: fmt.Sprintf("target %s has left the cluster: its part of the job is not counted", t)})
		}
	}
	return s, nil
}

// keptBefore reports a node that keeps its ended parts of jobs of a kind
// across restarts since before a job started (pipeline.Jobs.Keep): one
// such part it does not list was cut by a restart.
func keptBefore(node api.NodeStatus, kind string, started int64) bool {
	since := node.KeptSince(kind)
	return since > 0 && started > since
}

// prefetchCounts reads a backend download's part (a prefetch's result)
// as a download's: what was cached already is skipped, as a file stored
// before is; a listed object gone or unnamable here failed.
func prefetchCounts(result json.RawMessage) downloadResult {
	var counts struct{ Fetched, Cached, Skipped, Failed int }
	if json.Unmarshal(result, &counts) != nil {
		return downloadResult{}
	}
	return downloadResult{Total: counts.Fetched + counts.Cached + counts.Skipped + counts.Failed,
		Downloaded: counts.Fetched, Skipped: counts.Cached, Failed: counts.Skipped + counts.Failed}
}

// handleDownloadRemove serves DELETE /v1/download/remove?id=: an ended
// job leaves the list (AIStore's remove); a running one is refused.
func (n *Node) handleDownloadRemove(w http.ResponseWriter, r *http.Request) {
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	id, err := downloadIDOf(r)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	nodes, err := n.authorizeDownload(r, authn.PermPut, id)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if err := n.downloadPartOffline(r.Context(), id, "remove", nodes); err != nil {
		n.writeError(w, r, err) // the offline part is unknown: not summed
		return
	}
	if s, err := n.sumDownload(nodes, id); err != nil {
		n.writeError(w, r, err)
		return
	} else if !s.Done {
		// Running, or a part not told (a target that did not answer
		// when asked): not taken from under it.
		n.writeError(w, r, fmt.Errorf("%w: download %s is running (or a target with a part of it did not answer): abort it first, or retry", api.ErrConflict, id))
		return
	}
	if err := n.removeClusterJob(r.Context(), id); err != nil {
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleDownloadAbort serves DELETE /v1/download/abort?id=.
func (n *Node) handleDownloadAbort(w http.ResponseWriter, r *http.Request) {
	if err := n.requireGateway(); err != nil {
		n.writeError(w, r, err)
		return
	}
	// Only a download (or prefetch) job: stopping any other takes ADMIN
	// (PUT /v1/cluster), where this route takes PUT.
	id, err := downloadIDOf(r)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	nodes, err := n.authorizeDownload(r, authn.PermPut, id)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	if err := n.downloadPartOffline(r.Context(), id, "abort", nodes); err != nil {
		n.writeError(w, r, err) // the offline part is unknown: not summed
		return
	}
	if _, err := n.sumDownload(nodes, id); err != nil {
		n.writeError(w, r, err)
		return
	}
	if err := n.stopClusterJob(r.Context(), id); err != nil {
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
