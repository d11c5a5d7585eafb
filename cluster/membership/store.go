package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/store"
)

// MetaStore persists what a node must remember across restarts: the
// cluster map and the bucket metadata it last took.
type MetaStore interface {
	// LoadMap returns the saved map, or nil when there is none.
	LoadMap() (*cluster.Map, error)
	SaveMap(m *cluster.Map) error
	// LoadBuckets returns the saved bucket metadata; ok is false when
	// there is none.
	LoadBuckets() (md store.BucketMetadata, ok bool, err error)
	SaveBuckets(md store.BucketMetadata) error
	// LoadControl returns the saved rest of a gateway's snapshot (zero
	// when there is none); SaveControl replaces it.
	LoadControl() (ControlState, error)
	SaveControl(cs ControlState) error
}

// ControlState is what a gateway saves of its snapshot besides the map
// and the buckets: a gateway whose Raft log is lost seeds a new log from
// all of it, and does not forget revoked tokens or the cluster config.
type ControlState struct {
	Config *ClusterConfig `json:"config,omitempty"`
	Tokens *RevokedTokens `json:"tokens,omitempty"`
	S3Keys *S3Keys        `json:"s3_keys,omitempty"`
}

// FileStore keeps the map and bucket metadata as JSON files in a
// directory, each replaced atomically and durably (internal/atomicfile):
// a crash leaves the old file or the new, never an empty one.
type FileStore struct {
	dir string
	mu  sync.Mutex
}

var _ MetaStore = (*FileStore)(nil)

// NewFileStore returns a store in dir, creating the directory.
func NewFileStore(dir string) (*FileStore, error) {
	// The metadata holds S3 keys: the node's alone (a directory of an
	// older version is narrowed).
	if err := pathsafe.MkdirAll(dir, dir, 0o700); err != nil {
		return nil, fmt.Errorf("metadata directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("metadata directory: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

func (f *FileStore) load(name string, v any) (bool, error) {
	data, err := os.ReadFile(filepath.Join(f.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", filepath.Join(f.dir, name), err)
	}
	return true, nil
}

func (f *FileStore) save(name string, v any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(f.dir, name), data, 0o600)
}

// LoadMap reads smap.json and validates it.
func (f *FileStore) LoadMap() (*cluster.Map, error) {
	m := new(cluster.Map)
	ok, err := f.load("smap.json", m)
	if !ok || err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(f.dir, "smap.json"), err)
	}
	return m, nil
}

// SaveMap writes smap.json.
func (f *FileStore) SaveMap(m *cluster.Map) error { return f.save("smap.json", m) }

// LoadBuckets reads bmd.json and validates it.
func (f *FileStore) LoadBuckets() (store.BucketMetadata, bool, error) {
	var md store.BucketMetadata
	ok, err := f.load("bmd.json", &md)
	if ok && err == nil {
		if err := md.Validate(); err != nil {
			return md, false, fmt.Errorf("%s: %w", filepath.Join(f.dir, "bmd.json"), err)
		}
	}
	return md, ok, err
}

// SaveBuckets writes bmd.json.
func (f *FileStore) SaveBuckets(md store.BucketMetadata) error { return f.save("bmd.json", md) }

// LoadControl reads control.json and validates it.
func (f *FileStore) LoadControl() (ControlState, error) {
	var cs ControlState
	if _, err := f.load("control.json", &cs); err != nil {
		return ControlState{}, err
	}
	if err := cs.Validate(); err != nil {
		return ControlState{}, fmt.Errorf("%s: %w", filepath.Join(f.dir, "control.json"), err)
	}
	return cs, nil
}

// SaveControl writes control.json (S3 secrets: the node's alone).
func (f *FileStore) SaveControl(cs ControlState) error { return f.save("control.json", cs) }

// Validate checks what a seed takes from saved state, as the changes
// that made it would have.
func (cs ControlState) Validate() error {
	if cs.Config != nil {
		if err := cs.Config.withDefaults().Validate(); err != nil {
			return err
		}
	}
	if cs.Tokens != nil && (len(cs.Tokens.Tokens) > MaxRevokedTokens || len(cs.Tokens.Keys) > MaxRevokedTokens) {
		return fmt.Errorf("%w (%d)", ErrTooManyRevoked, MaxRevokedTokens)
	}
	if cs.S3Keys != nil && len(cs.S3Keys.Keys) > MaxS3Keys {
		return fmt.Errorf("%w: %d S3 keys, more than %d", ErrUnknownChange, len(cs.S3Keys.Keys), MaxS3Keys)
	}
	return nil
}

// cloneControl copies a saved state into a snapshot's fields.
func cloneControl(cs ControlState) (*ClusterConfig, *RevokedTokens, *S3Keys) {
	var config *ClusterConfig
	if cs.Config != nil {
		c := *cs.Config
		config = &c
	}
	tokens := cs.Tokens.clone()
	var keys *S3Keys
	if cs.S3Keys != nil {
		keys = &S3Keys{Version: cs.S3Keys.Version, Keys: maps.Clone(cs.S3Keys.Keys)}
	}
	return config, tokens, keys
}
