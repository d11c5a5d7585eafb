package gateway

import (
	"net/http"
	"strings"

	"github.com/tinylib/msgp/msgp"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/internal/pool"
)

// A list page in AIStore's msgpack encoding, for the clients that ask for
// it (its Python SDK decodes nothing else): a map of UUID,
// ContinuationToken, Entries and Flags; each entry a map of short keys,
// empty values left out as AIStore leaves them.

// contentMsgpack is the media type of msgpack.
const contentMsgpack = "application/msgpack"

// acceptsMsgpack reports whether a request asks for msgpack.
func acceptsMsgpack(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), contentMsgpack)
}

// writeMsgpack sends a list page as msgpack.
func writeMsgpack(w http.ResponseWriter, page *api.ListPage) {
	buf := pool.Get(64 << 10)
	defer pool.Put(buf)
	out := appendListPage(buf[:0], page)
	w.Header().Set("Content-Type", contentMsgpack)
	w.Write(out)
}

// appendListPage appends the msgpack encoding of a page.
func appendListPage(b []byte, page *api.ListPage) []byte {
	b = msgp.AppendMapHeader(b, 4)
	b = msgp.AppendString(b, "UUID")
	b = msgp.AppendString(b, page.UUID)
	b = msgp.AppendString(b, "ContinuationToken")
	b = msgp.AppendString(b, page.ContinuationToken)
	b = msgp.AppendString(b, "Entries")
	b = msgp.AppendArrayHeader(b, uint32(len(page.Entries)))
	for i := range page.Entries {
		b = appendListEntry(b, &page.Entries[i])
	}
	b = msgp.AppendString(b, "Flags")
	return msgp.AppendUint32(b, page.Flags)
}

// appendListEntry appends one entry: n, cs, a, v, t, s, c, f.
func appendListEntry(b []byte, e *api.ListEntry) []byte {
	fields := uint32(1)
	for _, set := range []bool{e.Checksum != "", e.Atime != "", e.Version != "", e.Location != "", e.Size != 0, e.Copies != 0, e.Flags != 0} {
		if set {
			fields++
		}
	}
	b = msgp.AppendMapHeader(b, fields)
	b = msgp.AppendString(b, "n")
	b = msgp.AppendString(b, e.Name)
	for _, kv := range [...]struct{ key, value string }{{"cs", e.Checksum}, {"a", e.Atime}, {"v", e.Version}, {"t", e.Location}} {
		if kv.value != "" {
			b = msgp.AppendString(b, kv.key)
			b = msgp.AppendString(b, kv.value)
		}
	}
	if e.Size != 0 {
		b = msgp.AppendString(b, "s")
		b = msgp.AppendInt64(b, e.Size)
	}
	if e.Copies != 0 {
		b = msgp.AppendString(b, "c")
		b = msgp.AppendInt16(b, e.Copies)
	}
	if e.Flags != 0 {
		b = msgp.AppendString(b, "f")
		b = msgp.AppendUint16(b, e.Flags)
	}
	return b
}
