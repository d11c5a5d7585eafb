package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// getArchived streams one member of a tar, tgz, zip (or other known)
// shard, reading only what it takes to find the member.
func (n *Node) getArchived(w http.ResponseWriter, r *http.Request, obj store.Object, name, member string) {
	member = path.Clean(member)
	f, ok := n.formats.ByName(name)
	if !ok {
		head := make([]byte, 1024)
		k, _ := obj.ReadAt(head, 0)
		if f, ok = n.formats.Detect(head[:k]); !ok {
			n.writeError(w, r, badRequest("archpath: %s is not a known archive (want one of %v)", name, n.formats.Extensions()))
			return
		}
	}
	rd, err := f.NewReader(obj, obj.Meta().Size, name)
	if err != nil {
		n.writeError(w, r, shardError(err))
		return
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			n.writeError(w, r, fmt.Errorf("%w: %q is not in %s", store.ErrNotFound, member, name))
			return
		}
		if err != nil {
			n.writeError(w, r, shardError(err))
			return
		}
		if e.Name != member {
			continue
		}
		w.Header().Set("Content-Length", strconv.FormatInt(e.Size, 10))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		buf := pool.Get(pool.CopyBufferSize)
		defer pool.Put(buf)
		if _, err := io.CopyBuffer(w, io.LimitReader(rd, e.Size), buf); err != nil {
			n.logger.Debug("archpath: copy interrupted", "object", name, "member", member, "err", err)
		}
		return
	}
}

// shardError marks a malformed shard as a bad request: the object cannot
// be read as the archive it claims to be.
func shardError(err error) error {
	if errors.Is(err, formats.ErrCorrupt) {
		return fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	}
	return err
}
