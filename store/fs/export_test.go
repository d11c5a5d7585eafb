package fs

import "github.com/aisgo/aisgo/store"

// MountpathOf exposes mountpathOf: the directory of an object's mountpath.
func (s *Store) MountpathOf(b store.Bucket, name string) string {
	return s.mountpathOf(b, name).path
}

// MountpathsOf exposes mountpathsOf, as directories.
func (s *Store) MountpathsOf(b store.Bucket, name string, n int) []string {
	var out []string
	for _, m := range s.mountpathsOf(b, name, n) {
		out = append(out, m.path)
	}
	return out
}

// NewGroupSyncer exposes the group syncer over a flush function.
func NewGroupSyncer(flush func() error) interface{ Sync() error } { return newGroupSyncer(flush) }
