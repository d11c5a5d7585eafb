package ec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/store"
)

// savedState is what Options.StateFile keeps: the deletes of parts and
// the objects to protect that are tried again, so that a restart of this
// target does not forget them (a holder down for hours would come back
// with the parts of a deleted object, and bring it back).
type savedState struct {
	Drops    []savedDrop    `json:"drops,omitempty"`
	Protects []savedProtect `json:"protects,omitempty"`
}

type savedDrop struct {
	Bucket store.Bucket `json:"bucket"`
	Name   string       `json:"name"`
	Stamp  store.Stamp  `json:"stamp"`
	Which  partsOf      `json:"which"`
	Node   cluster.Node `json:"node"`
	Until  int64        `json:"until"` // Unix nanoseconds
}

type savedProtect struct {
	Bucket store.Bucket `json:"bucket"`
	Name   string       `json:"name"`
	Until  int64        `json:"until"`
}

// saveDelay gathers the changes of a moment (a bucket emptied while a
// holder is down) into one save.
var saveDelay = 200 * time.Millisecond

func dropKey(node cluster.Node, b store.Bucket, name string, stamp store.Stamp, which partsOf) string {
	key := node.ID + "\x00" + b.Normalize().String() + "\x00" + name
	if which == oneWrite {
		// Apart from the name's ranged delete, which need not cover it.
		key += "\x00" + stamp.String()
	}
	return key
}

func protectKey(b store.Bucket, name string) string {
	return b.Normalize().String() + "\x00" + name
}

// saveSoonLocked saves the kept deletes and protects shortly (dropMu
// held).
func (s *Store) saveSoonLocked() {
	if s.opts.StateFile == "" || s.saveScheduled || s.isClosed() {
		return // (Close saves what is kept then)
	}
	s.saveScheduled = true
	s.saveWait.Add(1)
	time.AfterFunc(saveDelay, func() {
		defer s.saveWait.Done()
		s.saveState()
	})
}

// saveState writes the kept deletes and protects to the state file, or
// removes it when none is kept.
func (s *Store) saveState() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.dropMu.Lock()
	s.saveScheduled = false
	var state savedState
	for _, d := range s.drops {
		state.Drops = append(state.Drops, savedDrop{Bucket: d.bucket, Name: d.name, Stamp: d.stamp, Which: d.which, Node: d.node, Until: d.until.UnixNano()})
	}
	for _, p := range s.protects {
		state.Protects = append(state.Protects, savedProtect{Bucket: p.bucket, Name: p.name, Until: p.until.UnixNano()})
	}
	s.dropMu.Unlock()
	if len(state.Drops) == 0 && len(state.Protects) == 0 {
		if err := os.Remove(s.opts.StateFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logger.Warn("remove the kept deletes of parts", "file", s.opts.StateFile, "err", err)
		}
		return
	}
	data, err := json.Marshal(state)
	if err == nil {
		err = atomicfile.Write(s.opts.StateFile, data, 0o600)
	}
	if err != nil {
		s.logger.Warn("save the kept deletes of parts: a restart now forgets them", "file", s.opts.StateFile, "err", err)
	}
}

// Resume takes the deletes of parts and the objects to protect the state
// file kept (the last run's), and tries them again, with ctx's values
// (not its end: until Close). A node calls it once started.
func (s *Store) Resume(ctx context.Context) error {
	if s.opts.StateFile == "" {
		return nil
	}
	data, err := os.ReadFile(s.opts.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ec: the kept deletes of parts: %w", err)
	}
	var state savedState
	if err := json.Unmarshal(data, &state); err != nil {
		return fmt.Errorf("ec: the kept deletes of parts in %s: %w", s.opts.StateFile, err)
	}
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	if s.drops == nil {
		s.drops = map[string]pendingDrop{}
	}
	if s.protects == nil {
		s.protects = map[string]pendingProtect{}
	}
	for _, d := range state.Drops {
		if len(s.drops) >= maxPendingDrops {
			break
		}
		// The node's own file, checked all the same: its names become
		// paths.
		if d.Bucket.Validate() != nil || store.ValidateName(d.Name) != nil || d.Node.ID == "" || d.Which != upTo && d.Which != oneWrite {
			continue
		}
		key := dropKey(d.Node, d.Bucket, d.Name, d.Stamp, d.Which)
		if _, ok := s.drops[key]; !ok {
			// Its whole time again from now: extended while its holder
			// was offline, it was not saved for that alone (and this
			// target was down meanwhile).
			until := time.Unix(0, max(d.Until, time.Now().Add(dropRetryFor).UnixNano()))
			s.drops[key] = pendingDrop{bucket: d.Bucket, name: d.Name, stamp: d.Stamp, which: d.Which, node: d.Node, until: until}
		}
	}
	for _, p := range state.Protects {
		if len(s.protects) >= maxPendingDrops {
			break
		}
		if p.Bucket.Validate() != nil || store.ValidateName(p.Name) != nil {
			continue
		}
		if key := protectKey(p.Bucket, p.Name); s.protects[key] == (pendingProtect{}) {
			// Its whole time again from now, as a delete's: the holders
			// were away while this target was (its first try would end
			// it otherwise).
			until := time.Unix(0, max(p.Until, time.Now().Add(dropRetryFor).UnixNano()))
			s.protects[key] = pendingProtect{bucket: p.Bucket, name: p.Name, until: until}
		}
	}
	if len(s.drops) > 0 || len(s.protects) > 0 {
		s.logger.Info("deletes of parts and objects to protect kept by the last run are tried again", "deletes", len(s.drops), "protects", len(s.protects))
		s.startRetriesLocked(ctx)
	}
	return nil
}
