package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/aisgo/aisgo/store"
)

// GetBatch is AIStore's get-batch (GET /v1/ml/moss[/BUCKET] with a JSON
// body): many objects, or files of shards, returned as one archive in the
// order they were asked for. The shapes are AIStore's (apc.MossReq,
// MossIn, MossOut, MossResp).

// BatchMissingDir holds the entries of what was not found, with
// ContinueOnErr: "__404__/BUCKET/OBJECT", empty.
const BatchMissingDir = "__404__"

// MaxBatchEntries is the most entries a get-batch request may have.
const MaxBatchEntries = 100_000

// Parts of a buffered get-batch answer (multipart/form-data).
const (
	BatchMetadataPart = "metadata"
	BatchArchivePart  = "archive"
)

// BatchEntry is one object, or one file of a shard object, to get.
type BatchEntry struct {
	ObjName string `json:"objname"`
	// Bucket and Provider override the request's bucket.
	Bucket   string `json:"bucket,omitempty"`
	Provider string `json:"provider,omitempty"`
	// Uname (AIStore's fully qualified name) is not taken: name the
	// bucket and provider.
	Uname string `json:"uname,omitempty"`
	// ArchPath is a file of the shard object to return instead of it.
	ArchPath string `json:"archpath,omitempty"`
	// Opaque comes back as is in the entry's BatchResult.
	Opaque []byte `json:"opaque,omitempty"`
	// Start and Length select a byte range of an object (not of a file of
	// a shard); Length 0 means to the end.
	Start  int64 `json:"start,omitempty"`
	Length int64 `json:"length,omitempty"`
	// IfChecksum (an AIS-Go addition) reads the entry only if its object's
	// checksum is this one (an object without one, a remote object not
	// cached, is read): a range taken from a shard's index fails the
	// request once the shard is rewritten, rather than read another
	// shard's bytes at the same offsets (ErrPreconditionFailed before a
	// streamed archive starts, a cut archive after).
	IfChecksum *store.Checksum `json:"if_checksum,omitempty"`
}

// BatchRequest asks for entries.
type BatchRequest struct {
	// Mime is the archive's format: ".tar" (the default), ".tgz",
	// ".zip", ".tar.lz4" or ".tar.zst".
	Mime string       `json:"mime,omitempty"`
	In   []BatchEntry `json:"in"`
	// ContinueOnErr returns what is missing as an empty file under
	// BatchMissingDir (and its error in the result) instead of failing.
	ContinueOnErr bool `json:"coer,omitempty"`
	// OnlyObjName names the archive's files OBJECT[/ARCHPATH] instead of
	// BUCKET/OBJECT[/ARCHPATH].
	OnlyObjName bool `json:"onob"`
	// Streaming sends the archive as it is made, without the results;
	// otherwise the answer is multipart: the results, then the archive.
	Streaming bool `json:"strm"`
	// Colocation is AIStore's placement hint; accepted and not needed.
	Colocation int `json:"coloc,omitempty"`
}

// BatchResult describes one entry of the archive, in the request's order.
type BatchResult struct {
	ObjName  string `json:"objname"`
	ArchPath string `json:"archpath,omitempty"`
	Bucket   string `json:"bucket"`
	Provider string `json:"provider"`
	ErrMsg   string `json:"err_msg,omitempty"`
	Opaque   []byte `json:"opaque,omitempty"`
	Size     int64  `json:"size"`
}

// BatchResponse is the metadata of a buffered get-batch.
type BatchResponse struct {
	UUID string        `json:"uuid"`
	Out  []BatchResult `json:"out"`
}

// GetBatch gets the entries of req as one archive written to w. bucket is
// the default of entries that name none ("" for none); it may carry its
// provider ("s3://b"). A streaming request returns no results.
func (c *Client) GetBatch(ctx context.Context, bucket string, req BatchRequest, w io.Writer) (BatchResponse, error) {
	path := "/v1/ml/moss"
	if bucket != "" {
		path += "/" + url.PathEscape(bucket)
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: path, bodyJSON: req})
	if err != nil {
		return BatchResponse{}, err
	}
	defer drain(resp) // (to its end: the connection is used again)
	if req.Streaming {
		if _, err := io.Copy(w, resp.Body); err != nil {
			return BatchResponse{}, fmt.Errorf("get-batch: the archive: %w", err)
		}
		return BatchResponse{}, nil
	}
	mediaType, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") {
		return BatchResponse{}, fmt.Errorf("get-batch: want a multipart answer, got %q", resp.Header.Get("Content-Type"))
	}
	parts := multipart.NewReader(resp.Body, params["boundary"])
	var out BatchResponse
	for _, want := range []string{BatchMetadataPart, BatchArchivePart} {
		part, err := parts.NextPart()
		if err != nil {
			return out, fmt.Errorf("get-batch: part %q: %w", want, err)
		}
		if part.FormName() != want {
			return out, fmt.Errorf("get-batch: part %q where %q was expected", part.FormName(), want)
		}
		if want == BatchMetadataPart {
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, io.LimitReader(part, maxBatchMetadata)); err != nil {
				return out, err
			}
			if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
				return out, fmt.Errorf("get-batch: metadata: %w", err)
			}
			continue
		}
		if _, err := io.Copy(w, part); err != nil {
			return out, fmt.Errorf("get-batch: the archive: %w", err)
		}
	}
	return out, nil
}

// maxBatchMetadata bounds the metadata part a client reads.
const maxBatchMetadata = 256 << 20

// BatchEntryName is an entry's name in the archive, as AIStore names it.
func BatchEntryName(b store.Bucket, e BatchEntry, onlyObjName bool) string {
	name := e.ObjName
	if !onlyObjName {
		name = b.Name + "/" + name
	}
	if e.ArchPath != "" {
		name += "/" + e.ArchPath
	}
	return name
}
