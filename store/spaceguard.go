package store

import (
	"context"
	"io"
)

// SpaceCheckBytes is how much of a body is stored between checks of the
// capacity (see GuardSpace).
const SpaceCheckBytes = 64 << 20

// GuardSpace returns body failing its reads once check fails, checked
// every SpaceCheckBytes read: a body of unknown or untrue length (a cold
// GET, a download) stops at the watermark rather than fill the disks.
func GuardSpace(ctx context.Context, body io.Reader, check func(context.Context) error) io.Reader {
	return &spaceGuard{ctx: ctx, body: body, check: check, left: SpaceCheckBytes}
}

// spaceGuard fails a body's read once the capacity check fails.
type spaceGuard struct {
	ctx   context.Context
	body  io.Reader
	check func(context.Context) error
	left  int64
}

func (g *spaceGuard) Read(p []byte) (int, error) {
	if g.left <= 0 {
		if err := g.check(g.ctx); err != nil {
			return 0, err
		}
		g.left = SpaceCheckBytes
	}
	n, err := g.body.Read(p)
	g.left -= int64(n)
	return n, err
}
