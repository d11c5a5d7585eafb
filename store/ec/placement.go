package ec

import (
	"errors"
	"fmt"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// ErrNoHolders: no active target besides the owner, so no part can be
// kept apart from the object.
var ErrNoHolders = errors.New("ec: no active target other than the owner to hold parts")

// Holders returns the targets that keep an object's parts, one per part:
// the active targets other than the owner, in HRW order of the object's
// uname, part i going to the i-th of them, and round robin (i modulo their
// number) when there are fewer targets than parts, so that every part
// still has a place. Like ownership, it follows only active targets: a
// target offline, in maintenance or leaving holds nothing under the map.
// By the HRW property, a target ranked below the owner and the holders
// changes nothing by joining or leaving; a holder leaving moves the parts
// ranked after it up by one. It returns nil when parts <= 0, and
// ErrNoHolders when no active target but the owner exists.
func Holders(m *cluster.Map, b store.Bucket, name string, parts int) ([]cluster.Node, error) {
	if parts <= 0 {
		return nil, nil
	}
	b = b.Normalize()
	// The top parts+1 are the owner and the holders: a target ranked
	// lower changes nothing.
	ranked := m.Owners(cluster.Uname(b.Provider, b.Name, name), parts+1)
	if len(ranked) < 2 {
		return nil, fmt.Errorf("%w: %d active targets for %s/%s", ErrNoHolders, len(ranked), b, name)
	}
	others := ranked[1:]
	holders := make([]cluster.Node, parts)
	for i := range holders {
		holders[i] = others[i%len(others)]
	}
	return holders, nil
}
