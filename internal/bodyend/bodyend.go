package bodyend

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// CloseDelimited reports whether resp's body ends only with its
// connection's close (HTTP/2 frames its end; a length or chunks tell a
// body cut short).
func CloseDelimited(resp *http.Response) bool {
	return resp.ProtoMajor == 1 && resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && !resp.Uncompressed
}

// Checked is body with check called at its end with the bytes read: an
// error of check is the read's, in place of io.EOF.
func Checked(body io.ReadCloser, check func(n int64) error) io.ReadCloser {
	return &checked{ReadCloser: body, check: check}
}

type checked struct {
	io.ReadCloser
	n     int64
	check func(n int64) error
	err   error // check's verdict, once given
	done  bool
}

func (c *checked) Read(p []byte) (int, error) {
	if c.done {
		return 0, c.err
	}
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.done, c.err = true, io.EOF
		if cerr := c.check(c.n); cerr != nil {
			c.err = cerr
		}
		return n, c.err
	}
	return n, err
}

// RangeTotal is the object's whole size a ranged answer tells in its
// Content-Range ("bytes 0-0/11", or "bytes */11" with a 416).
func RangeTotal(resp *http.Response) (int64, bool) {
	_, total, ok := strings.Cut(resp.Header.Get("Content-Range"), "/")
	n, err := strconv.ParseInt(total, 10, 64)
	return n, ok && err == nil && n >= 0
}
