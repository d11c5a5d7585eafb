package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aisgo/aisgo/store"
)

// Append adds a piece to an object being written in pieces (AIStore's
// APPEND): the first call has no handle, each later one the handle the
// call before returned. Nothing is visible until Flush. size is the
// piece's length, or -1 when unknown (as is 0 with a body that does not
// tell its length).
func (c *Client) Append(ctx context.Context, bucket, name, handle string, body io.Reader, size int64) (string, error) {
	q := url.Values{QueryAppendType: {AppendTypeAppend}}
	if handle != "" {
		q.Set(QueryAppendHandle, handle)
	}
	if body == nil {
		body, size = strings.NewReader(""), 0
	}
	size = bodySize(body, size)
	resp, err := c.do(ctx, request{method: http.MethodPut, path: objectPath(bucket, name), query: q, body: body, size: size, bucket: bucket, object: name})
	if err != nil {
		return "", err
	}
	defer drain(resp)
	return resp.Header.Get(HeaderAppendHandle), nil
}

// Flush stores the pieces appended with handle as the object. A
// checksum, when set, is verified against the whole before it is stored.
// The meta returned has the object's checksum and version (Head tells
// its size).
func (c *Client) Flush(ctx context.Context, bucket, name, handle string, checksum store.Checksum) (store.ObjectMeta, error) {
	q := url.Values{QueryAppendType: {AppendTypeFlush}, QueryAppendHandle: {handle}}
	h := http.Header{}
	if checksum.Value != "" { // without a type too: the node refuses it
		h.Set(HeaderChecksumType, checksum.Type)
		h.Set(HeaderChecksumValue, checksum.Value)
	}
	// Patient: the target copies the whole appended object before it
	// answers (a 5-minute bound cut it, and the copy with it, for ever).
	resp, err := c.do(ctx, request{method: http.MethodPut, path: objectPath(bucket, name), query: q, header: h, body: strings.NewReader(""), size: 0, bucket: bucket, object: name, patient: true})
	if err != nil {
		return store.ObjectMeta{}, err
	}
	defer drain(resp)
	return metaFromHeaders(name, resp.Header), nil
}
