package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// Get-batch (AIStore's /v1/ml/moss): a gateway checks the request, and
// with authentication on the caller's read permission on every bucket it
// names, then redirects it (307) to a designated target, the one that
// owns the most of its entries. That target reads its own entries from
// its store and the others from their owners (as a node), a few ahead of
// the one being written, and writes them into one archive in the order
// asked. A streaming answer is the archive as it is made; a buffered one
// is multipart, the results first, and is held in memory up to
// maxBatchBuffered. The redirect's grant binds the body, so a client that
// drops its token on the way cannot change what it asks for.

const (
	// maxBatchBody bounds the request's JSON.
	maxBatchBody = 32 << 20
	// maxBatchBuffered bounds the archive a buffered answer holds, and
	// maxBufferedBatches how many a target holds at once.
	maxBatchBuffered   = 256 << 20
	maxBufferedBatches = 4
	// batchAhead is how many entries are read ahead of the one written.
	batchAhead = 8
)

// batchFormats are the archive formats an answer can take.
var batchFormats = map[string]string{
	"tar": "application/x-tar", "tgz": "application/gzip", "zip": "application/zip",
	"tar.lz4": "application/x-lz4", "tar.zst": "application/zstd",
}

// batchItem is an entry resolved: its bucket and its name in the archive.
type batchItem struct {
	api.BatchEntry
	bucket store.Bucket
	name   string
}

// batchRead is an entry opened for reading, or why it could not be.
type batchRead struct {
	body io.ReadCloser
	size int64
	err  error
}

// batchPath starts the get-batch routes.
const batchPath = "/v1/ml/moss"

func (n *Node) handleGetBatch(w http.ResponseWriter, r *http.Request) {
	if n.currentMap() == nil {
		n.writeError(w, r, fmt.Errorf("%w: node %s is starting", api.ErrUnavailable, n.config.ID))
		return
	}
	body, err := readBatchBody(r)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	req, items, f, err := n.parseBatch(r, body)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	// Read permission on every bucket named (nothing without
	// authentication, or for a node or a gateway's grant).
	checked := map[store.Bucket]bool{}
	for _, item := range items {
		if !checked[item.bucket] {
			checked[item.bucket] = true
			if _, err := n.authorize(r, authn.PermGet, item.bucket.String()); err != nil {
				n.writeError(w, r, err)
				return
			}
		}
	}
	if !n.config.Role.IsTarget() {
		n.redirectBatch(w, r, items, body)
		return
	}
	n.serveBatch(w, r, req, items, f)
}

// serveBatch writes the archive of a checked request.
func (n *Node) serveBatch(w http.ResponseWriter, r *http.Request, req api.BatchRequest, items []batchItem, f formats.Format) {
	started := time.Now()
	result, throttled := "failed", false
	// Entries count once sent: a buffered answer that overflows, and is
	// asked again as a stream, must not count its entries twice.
	var sent batchCounts
	defer func() {
		n.metrics.batches.WithLabelValues(result).Inc()
		if !throttled { // not served at all: its time says nothing
			n.metrics.batchDuration.Observe(time.Since(started).Seconds())
		}
		n.metrics.batchEntries.WithLabelValues("found").Add(float64(sent.found))
		n.metrics.batchEntries.WithLabelValues("missing").Add(float64(sent.missing))
		n.metrics.batchBytes.Add(float64(sent.bytes))
	}()
	raw := make([]byte, 8)
	rand.Read(raw)
	resp := api.BatchResponse{UUID: "gb-" + hex.EncodeToString(raw), Out: make([]api.BatchResult, len(items))}
	if !req.Streaming {
		// Buffered answers are held in memory: a few at a time, taken
		// before any entry is opened.
		select {
		case n.batchState().buffered <- struct{}{}:
			defer func() { <-n.batchState().buffered }()
		default:
			throttled = true
			w.Header().Set("Retry-After", "1")
			n.writeError(w, r, fmt.Errorf("%w: get-batch: target %s holds %d buffered answers already: send again, or ask with \"strm\": true", api.ErrUnavailable, n.config.ID, maxBufferedBatches))
			return
		}
	}
	reads := n.readAhead(r.Context(), items)
	defer reads.Close()
	if req.Streaming {
		sw := &startWriter{w: w, start: func() {
			w.Header().Set("Content-Type", batchFormats[f.Name()])
			w.WriteHeader(http.StatusOK)
		}}
		err := n.writeBatch(sw, f, req, items, reads, &resp, &sent)
		if err != nil {
			if !sw.started {
				n.writeError(w, r, err)
				return
			}
			// The status is sent: the client must not take a cut archive
			// for a whole one.
			n.logger.Warn("get-batch: cut short", "id", resp.UUID, "err", err)
			panic(http.ErrAbortHandler)
		}
		result = "ok"
		return
	}
	archive := &limitedBuffer{limit: maxBatchBuffered}
	defer archive.Release()
	var buffered batchCounts
	if err := n.writeBatch(archive, f, req, items, reads, &resp, &buffered); err != nil {
		n.writeError(w, r, err)
		return
	}
	// A client that stops reading a buffered answer is cut as a slow body
	// is (BodyTimeout, then BodyMinRate): it held one of the few slots,
	// and the answer's memory, for as long as the kernel kept trying. (A
	// stream holds no slot: a loader may pause reading it between steps.)
	if n.config.BodyTimeout > 0 {
		w = newStallWriter(w, n.config.BodyTimeout, n.config.BodyMinRate)
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", mw.FormDataContentType())
	w.WriteHeader(http.StatusOK)
	meta, _ := mw.CreateFormField(api.BatchMetadataPart)
	json.NewEncoder(meta).Encode(resp)
	part, _ := mw.CreatePart(textproto.MIMEHeader{
		"Content-Disposition": {fmt.Sprintf(`form-data; name=%q; filename="%s%s"`, api.BatchArchivePart, resp.UUID, f.Extensions()[0])},
		"Content-Type":        {batchFormats[f.Name()]},
	})
	_, err := archive.WriteTo(part)
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		// The status is sent: cut, not taken for a whole answer.
		n.logger.Warn("get-batch: answer cut short", "id", resp.UUID, "err", err)
		panic(http.ErrAbortHandler)
	}
	result, sent = "ok", buffered
}

// batchCounts are the entries of a get-batch answer, found or missing,
// and the bytes of those found.
type batchCounts struct {
	found, missing int
	bytes          int64
}

// maxCompressedFiles bounds the files a request reads of compressed
// shards (tgz, zip, ...), of all of them together: without offsets, each
// costs a scan of its shard up to it.
const maxCompressedFiles = 1024

// readBatchBody reads a get-batch request's body, at most maxBatchBody,
// and leaves it readable again.
func readBatchBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBatchBody))
	if err != nil {
		return nil, badRequest("get-batch: read the request (at most %d MiB): %v", maxBatchBody>>20, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// batchGrantPath is what a get-batch grant signs: the path and the
// body's SHA-256 (hex), which the redirect names in queryBodyHash.
func batchGrantPath(r *http.Request, bodyHash string) string {
	return r.URL.EscapedPath() + "\n" + bodyHash
}

// queryBodyHash names a redirected get-batch's body by its SHA-256: the
// target checks the grant before it reads a byte of the body (32 MiB
// from anyone who sends a grant, checked after, would be memory for the
// asking), then checks the body against it.
const queryBodyHash = "ahash"

func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// guardBatch is guard for get-batch: with authentication on, a request
// that a gateway redirected with a grant for its body, or that a node
// signed, is served as the node's; any other needs the route's
// permission, and then (handleGetBatch) read permission on each bucket
// its body names.
func (n *Node) guardBatch(need access, h http.HandlerFunc) http.HandlerFunc {
	if n.verifier == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		// A body is read only once its grant, which binds its hash, or
		// the caller's token or signature, is checked.
		if hash := r.URL.Query().Get(queryBodyHash); n.config.Role.IsTarget() && hash != "" && n.checkGrantFor(r, batchGrantPath(r, hash)) {
			body, err := readBatchBody(r)
			if err == nil && bodyHash(body) != hash {
				err = fmt.Errorf("%w: get-batch: the body is not the one its grant was given for", api.ErrUnauthorized)
			}
			if err != nil {
				n.writeError(w, r, err)
				return
			}
			h(w, asNode(r))
			return
		}
		n.guardGranted(w, r, need, func(r *http.Request) (*http.Request, bool) { return r, false }, h)
	}
}

// redirectBatch sends a checked request to its designated target: the
// active target that owns the most of its entries.
func (n *Node) redirectBatch(w http.ResponseWriter, r *http.Request, items []batchItem, body []byte) {
	smap := n.currentMap()
	owned := map[string]int{}
	for _, item := range items {
		if owner, err := smap.Owner(cluster.Uname(item.bucket.Provider, item.bucket.Name, item.ObjName)); err == nil {
			owned[owner.ID]++
		}
	}
	targets := smap.ActiveTargets()
	if len(targets) == 0 {
		n.writeError(w, r, fmt.Errorf("%w: get-batch: no target is active", api.ErrUnavailable))
		return
	}
	// Of the targets that own the most, one at random: uniform data
	// spreads the batches.
	best := targets[mathrand.IntN(len(targets))]
	for _, i := range mathrand.Perm(len(targets)) {
		if owned[targets[i].ID] > owned[best.ID] {
			best = targets[i]
		}
	}
	q := r.URL.Query()
	q.Set(api.QueryProxyID, n.config.ID)
	q.Set(api.QueryRedirectTime, strconv.FormatInt(timeNow(), 10))
	q.Set(api.QueryMapVersion, strconv.FormatInt(smap.Version, 10))
	if n.verifier != nil {
		hash := bodyHash(body)
		q.Set(queryBodyHash, hash)
		q.Set(queryGrant, n.grant(r, batchGrantPath(r, hash), callerOf(r)))
	}
	w.Header().Set("Location", best.URL+r.URL.EscapedPath()+"?"+q.Encode())
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// parseBatch reads and checks a request: every entry names a valid
// bucket and object, and the format is an archive's.
func (n *Node) parseBatch(r *http.Request, body []byte) (api.BatchRequest, []batchItem, formats.Format, error) {
	var decoded struct {
		api.BatchRequest
		In batchEntries `json:"in"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&decoded); err != nil {
		if errors.Is(err, errTooManyEntries) {
			return api.BatchRequest{}, nil, nil, badRequest("get-batch: more than %d entries, at most %d a request", api.MaxBatchEntries, api.MaxBatchEntries)
		}
		return api.BatchRequest{}, nil, nil, badRequest("get-batch: the body is not a request (a JSON object with \"in\", at most %d MiB): %v", maxBatchBody>>20, err)
	}
	req := decoded.BatchRequest
	req.In = decoded.In
	if len(req.In) == 0 {
		return req, nil, nil, badRequest("get-batch: \"in\" lists no entry")
	}
	mimeType := req.Mime
	if mimeType == "" {
		mimeType = ".tar"
	}
	f, ok := n.formats.ByExtension(mimeType)
	if !ok || batchFormats[f.Name()] == "" {
		return req, nil, nil, badRequest("get-batch: mime %q is not an archive format (want .tar, .tgz, .zip, .tar.lz4 or .tar.zst)", req.Mime)
	}
	var defaultBucket *store.Bucket
	if name := r.PathValue("bucket"); name != "" {
		b, err := bucketOf(r)
		if err != nil {
			return req, nil, nil, err
		}
		defaultBucket = &b
	}
	items := make([]batchItem, len(req.In))
	// Each file of a compressed shard is a scan from the shard's start.
	scans := 0 // files of compressed shards
	for i, e := range req.In {
		item := batchItem{BatchEntry: e}
		switch {
		case e.Uname != "":
			return req, nil, nil, badRequest("get-batch: entry %d: uname is not taken: name the bucket and provider", i)
		case e.Bucket != "":
			item.bucket = store.Bucket{Name: e.Bucket, Provider: e.Provider}
		case defaultBucket != nil:
			item.bucket = *defaultBucket
			if e.Provider != "" {
				item.bucket.Provider = e.Provider
			}
		default:
			return req, nil, nil, badRequest("get-batch: entry %d (%q) names no bucket, and the request none", i, e.ObjName)
		}
		item.bucket = item.bucket.Normalize()
		if err := item.bucket.Validate(); err != nil {
			return req, nil, nil, fmt.Errorf("get-batch: entry %d: %w", i, err)
		}
		if err := store.ValidateName(e.ObjName); err != nil {
			return req, nil, nil, fmt.Errorf("get-batch: entry %d: %w", i, err)
		}
		if e.ArchPath != "" {
			if err := pathsafe.Name(e.ArchPath); err != nil {
				return req, nil, nil, badRequest("get-batch: entry %d: archpath: %v", i, err)
			}
			// A name without a known extension is read as its content
			// tells: maybe compressed, so counted.
			if sf, ok := n.formats.ByName(e.ObjName); !ok || !sf.Offsets() {
				if scans++; scans > maxCompressedFiles {
					return req, nil, nil, badRequest("get-batch: more than %d files of compressed shards (or shards whose names do not tell their format; %s is one), each read from its shard's start: ask for whole shards, or keep such shards as .tar", maxCompressedFiles, e.ObjName)
				}
			}
		}
		switch {
		case e.Start < 0 || e.Length < 0:
			return req, nil, nil, badRequest("get-batch: entry %d: start %d and length %d must not be negative", i, e.Start, e.Length)
		case e.ArchPath != "" && (e.Start > 0 || e.Length > 0):
			return req, nil, nil, badRequest("get-batch: entry %d: a range of a file of a shard is not taken", i)
		case e.IfChecksum != nil && (e.IfChecksum.Type == "" || e.IfChecksum.Value == "" || len(e.IfChecksum.Type)+len(e.IfChecksum.Value) > maxIfChecksum):
			return req, nil, nil, badRequest("get-batch: entry %d: if_checksum needs a type and a value (%d bytes at most)", i, maxIfChecksum)
		case e.IfChecksum != nil && strings.EqualFold(e.IfChecksum.Type, store.ChecksumETag) && strings.ContainsFunc(e.IfChecksum.Value, notInETag):
			return req, nil, nil, badRequest("get-batch: entry %d: if_checksum of type %s: %q is no ETag (printable, no quote, backslash, comma or space)", i, store.ChecksumETag, e.IfChecksum.Value)
		}
		item.name = api.BatchEntryName(item.bucket, e, req.OnlyObjName)
		// Refused before anything is sent: the writer would fail the
		// batch midway (a name the store takes, c:x or a\..\b, is not
		// a member's).
		if err := formats.CheckName(item.name); err != nil {
			return req, nil, nil, badRequest("get-batch: entry %d: %q cannot be a member's name (absolute or climbing out as Windows reads it): %v", i, item.name, err)
		}
		items[i] = item
	}
	return req, items, f, nil
}

// aheadReader opens a batch's entries in order, batchAhead at most
// beyond the one taken.
type aheadReader struct {
	ctx     context.Context
	cancel  context.CancelFunc
	results []chan batchRead // a ring of batchAhead
	slots   chan struct{}
	next    int
	// started counts the entries opened; read once done is closed.
	started int
	done    chan struct{}
}

func (n *Node) readAhead(ctx context.Context, items []batchItem) *aheadReader {
	ctx, cancel := context.WithCancel(ctx)
	// A ring: at most batchAhead entries are opened and not taken (the
	// slots), so entry i's place is free once entry i-batchAhead is taken.
	a := &aheadReader{ctx: ctx, cancel: cancel, results: make([]chan batchRead, batchAhead),
		slots: make(chan struct{}, batchAhead), done: make(chan struct{})}
	for i := range a.results {
		a.results[i] = make(chan batchRead, 1)
	}
	go func() {
		defer close(a.done)
		for i, item := range items {
			select {
			case a.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			a.started = i + 1
			go func() {
				body, size, err := n.openEntry(ctx, item)
				a.results[i%batchAhead] <- batchRead{body: body, size: size, err: err}
			}()
		}
	}()
	return a
}

// Next returns the next entry, opened or with why it could not be.
func (a *aheadReader) Next() batchRead {
	var r batchRead
	select {
	case r = <-a.results[a.next%batchAhead]:
	case <-a.done:
		if a.next >= a.started {
			return batchRead{err: fmt.Errorf("get-batch: %w", context.Cause(a.ctx))}
		}
		r = <-a.results[a.next%batchAhead]
	}
	a.next++
	<-a.slots
	return r
}

// Close stops opening entries and closes those opened and not taken.
func (a *aheadReader) Close() {
	a.cancel()
	<-a.done
	for ; a.next < a.started; a.next++ {
		if r := <-a.results[a.next%batchAhead]; r.body != nil {
			r.body.Close()
		}
	}
}

// writeRead writes an opened entry into an archive under its name, and
// closes it.
func writeRead(aw formats.Writer, item batchItem, read batchRead, buf []byte) error {
	defer read.body.Close()
	if read.size < 0 {
		return fmt.Errorf("%s/%s: its size is unknown", item.bucket, item.ObjName)
	}
	if err := aw.WriteHeader(&formats.Entry{Name: item.name, Size: read.size}); err != nil {
		return err
	}
	copied, err := io.CopyBuffer(aw, io.LimitReader(read.body, read.size), buf)
	if err == nil && copied != read.size {
		err = fmt.Errorf("%w: %s/%s: %d bytes of %d", store.ErrSizeMismatch, item.bucket, item.ObjName, copied, read.size)
	}
	return err
}

// writeBatch writes the entries as they come into one archive, filling
// in the results.
func (n *Node) writeBatch(w io.Writer, f formats.Format, req api.BatchRequest, items []batchItem, reads *aheadReader, resp *api.BatchResponse, counts *batchCounts) error {
	return writeArchiveWith(w, f, func(aw formats.Writer, buf []byte) error {
		for i, item := range items {
			read := reads.Next()
			out := &resp.Out[i]
			*out = api.BatchResult{ObjName: item.ObjName, ArchPath: item.ArchPath, Bucket: item.bucket.Name, Provider: item.bucket.Provider, Opaque: item.Opaque}
			if read.err != nil {
				// Only what is missing may be skipped; any other failure
				// (a refused token, a target down) fails the request.
				if !req.ContinueOnErr || !errors.Is(read.err, store.ErrNotFound) {
					return fmt.Errorf("get-batch: entry %d (%s/%s): %w", i, item.bucket, item.name, read.err)
				}
				out.ErrMsg = read.err.Error()
				counts.missing++
				if err := aw.WriteHeader(&formats.Entry{Name: api.BatchMissingDir + "/" + item.name}); err != nil {
					return err
				}
				continue
			}
			if err := writeRead(aw, item, read, buf); err != nil {
				return fmt.Errorf("get-batch: entry %d: %w", i, err)
			}
			out.Size = read.size
			counts.found++
			counts.bytes += read.size
		}
		return nil
	})
}

// openEntry opens an entry for reading: from this target's store when it
// owns the object and has it, else from its owner (or wherever the
// object is while a rebalance moves it) through the native API, signed
// as this node.
func (n *Node) openEntry(ctx context.Context, item batchItem) (io.ReadCloser, int64, error) {
	body, size, meta, err := n.openEntryMeta(ctx, item)
	if err != nil || item.IfChecksum == nil || byETag(item) {
		return body, size, err // (an ETag is checked as the object opens)
	}
	sum := meta.Checksum
	if sum.IsEmpty() {
		// Read from its owner, the answer may not tell (a file of a
		// shard, a remote object streamed as it is fetched): asked.
		head, herr := n.batchState().client.Head(ctx, item.bucket.String(), item.ObjName)
		if herr != nil {
			body.Close()
			return nil, 0, herr
		}
		sum = head.Checksum
	}
	// An object without a checksum (a remote one not cached) cannot tell:
	// it is read.
	if !sum.IsEmpty() && !(strings.EqualFold(sum.Type, item.IfChecksum.Type) && strings.EqualFold(sum.Value, item.IfChecksum.Value)) {
		body.Close()
		return nil, 0, fmt.Errorf("%w: %s/%s has checksum %s:%s, the entry asks for %s:%s (the object was written since)", store.ErrPreconditionFailed,
			item.bucket, item.ObjName, sum.Type, sum.Value, item.IfChecksum.Type, item.IfChecksum.Value)
	}
	return body, size, nil
}

// byETag reports an entry whose if_checksum is an ETag (of an object
// without a checksum, as its shard's index keeps it).
func byETag(item batchItem) bool {
	return item.IfChecksum != nil && strings.EqualFold(item.IfChecksum.Type, store.ChecksumETag)
}

// notInETag reports a character an ETag sent on as If-Match cannot have.
func notInETag(r rune) bool { return r <= ' ' || r >= 0x7f || r == '"' || r == '\\' || r == ',' }

// maxIfChecksum bounds an entry's if_checksum (a SHA-512 in hex is 128).
const maxIfChecksum = 256

// openEntryMeta is openEntry, with the metadata of the entry's object.
func (n *Node) openEntryMeta(ctx context.Context, item batchItem) (io.ReadCloser, int64, store.ObjectMeta, error) {
	owner, err := n.currentMap().Owner(cluster.Uname(item.bucket.Provider, item.bucket.Name, item.ObjName))
	// While this target catches up, its copy may be older than one written
	// elsewhere meanwhile: the native API serves the newest, as a GET.
	if err == nil && owner.ID == n.config.ID && !n.catchingUp() {
		obj, err := n.config.Store.Open(ctx, item.bucket, item.ObjName, store.OpenOptions{})
		if err == nil {
			meta := obj.Meta()
			if etag := store.ETagOf(meta); byETag(item) && !strings.EqualFold(etag, item.IfChecksum.Value) {
				obj.Close()
				return nil, 0, meta, fmt.Errorf("%w: %s/%s has ETag %s, the entry asks for %s (the object was written since)", store.ErrPreconditionFailed,
					item.bucket, item.ObjName, etag, item.IfChecksum.Value)
			}
			body, size, err := n.openInObject(ctx, obj, item)
			return body, size, meta, err
		}
		// (Moved while it was fetched from its remote: its owner now has
		// it, or fetches it.)
		if !errors.Is(err, store.ErrNotFound) && n.owns(item.bucket, item.ObjName) {
			return nil, 0, store.ObjectMeta{}, err
		}
	}
	opts := api.GetOptions{ArchPath: item.ArchPath, Offset: item.Start, Length: item.Length}
	if byETag(item) {
		opts.IfMatch = item.IfChecksum.Value
	}
	body, meta, err := n.batchState().client.Get(ctx, item.bucket.String(), item.ObjName, opts)
	if errors.Is(err, api.ErrPreconditionFailed) && byETag(item) {
		return nil, 0, store.ObjectMeta{}, fmt.Errorf("%w: %s/%s has not ETag %s the entry asks for (the object was written since)", store.ErrPreconditionFailed,
			item.bucket, item.ObjName, item.IfChecksum.Value)
	}
	if errors.Is(err, api.ErrRange) && item.Start == 0 {
		// Only an empty object has no byte 0: an empty entry, as read
		// here (openInObject).
		opts.Length = 0
		body, meta, err = n.batchState().client.Get(ctx, item.bucket.String(), item.ObjName, opts)
		if err == nil && meta.Size != 0 {
			// Written meanwhile: not the whole of it for a range.
			body.Close()
			return nil, 0, store.ObjectMeta{}, fmt.Errorf("%w: %s/%s changed while it was read (%d bytes now): ask again", api.ErrRange, item.bucket, item.ObjName, meta.Size)
		}
	}
	return body, meta.Size, meta, err
}

// openInObject returns what an entry reads of an open object: the whole,
// a range, or a file of the shard.
func (n *Node) openInObject(ctx context.Context, obj store.Object, item batchItem) (io.ReadCloser, int64, error) {
	size := obj.Meta().Size
	switch {
	case item.ArchPath != "":
		f, err := n.archiveFormat(obj, item.ObjName, "")
		if err == nil {
			var data io.Reader
			if data, size, err = n.openMember(ctx, f, item.bucket, obj, item.ObjName, item.ArchPath); err == nil {
				return readCloser{data, obj}, size, nil
			}
		}
		obj.Close()
		return nil, 0, shardError(err)
	case item.Start > 0 || item.Length > 0:
		length := item.Length
		if length == 0 || length > size-item.Start {
			length = size - item.Start
		}
		if item.Start >= size && size > 0 || length < 0 {
			obj.Close()
			return nil, 0, fmt.Errorf("%w: start %d of %s/%s (%d bytes)", api.ErrRange, item.Start, item.bucket, item.ObjName, size)
		}
		if _, err := obj.Seek(item.Start, io.SeekStart); err != nil {
			obj.Close()
			return nil, 0, err
		}
		return readCloser{io.LimitReader(obj, length), obj}, length, nil
	}
	return obj, size, nil
}

// readCloser reads from one and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// batchShared is what a target's get-batch requests share.
type batchShared struct {
	// client reads entries from other targets, signed as this node.
	client *api.Client
	// buffered holds a token for each buffered answer being made.
	buffered chan struct{}
}

func (n *Node) batchState() *batchShared {
	n.batchOnce.Do(func() {
		n.batch = &batchShared{
			client:   n.clusterClient(),
			buffered: make(chan struct{}, maxBufferedBatches),
		}
	})
	return n.batch
}

// startWriter calls start before its first write: the status waits for
// the first byte, so a request that fails before it still gets an error.
type startWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.start()
	}
	return s.w.Write(p)
}

// limitedBuffer holds a buffered answer, up to limit bytes.
// Its bytes are in pooled chunks: it holds what it was written, rounded
// up to a chunk, never a doubled slice and its copy.
type limitedBuffer struct {
	chunks [][]byte
	size   int
	limit  int
}

const bufferChunk = 1 << 20

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.size+len(p) > b.limit {
		return 0, badRequest("get-batch: the archive passes %d MiB, the most a buffered answer holds: ask with \"strm\": true", b.limit>>20)
	}
	written := len(p)
	for len(p) > 0 {
		last := len(b.chunks) - 1
		if last < 0 || len(b.chunks[last]) == bufferChunk {
			b.chunks = append(b.chunks, pool.Get(bufferChunk)[:0])
			last++
		}
		n := copy(b.chunks[last][len(b.chunks[last]):bufferChunk], p)
		b.chunks[last] = b.chunks[last][:len(b.chunks[last])+n]
		p = p[n:]
	}
	b.size += written
	return written, nil
}

// WriteTo writes the bytes held.
func (b *limitedBuffer) WriteTo(w io.Writer) (int64, error) {
	var written int64
	for _, c := range b.chunks {
		n, err := w.Write(c)
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// Release gives the chunks back to the pool.
func (b *limitedBuffer) Release() {
	for _, c := range b.chunks {
		pool.Put(c)
	}
	b.chunks, b.size = nil, 0
}

// errTooManyEntries is a request of more than api.MaxBatchEntries entries.
var errTooManyEntries = errors.New("too many entries")

// batchEntries decodes a request's entries counting them: one that lists
// too many is refused before it is all decoded (a 32 MiB body of "{},"
// would be a hundred times that in entries).
type batchEntries []api.BatchEntry

func (e *batchEntries) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*e = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if token, err := dec.Token(); err != nil || token != json.Delim('[') {
		return errors.New("\"in\" is not an array")
	}
	var entries []api.BatchEntry
	for dec.More() {
		if len(entries) == api.MaxBatchEntries {
			return errTooManyEntries
		}
		var entry api.BatchEntry
		if err := dec.Decode(&entry); err != nil {
			return err
		}
		entries = append(entries, entry)
	}
	*e = entries
	return nil
}
