// Package pathsafe is the one place where identifiers that become paths
// are checked, and where removals, renames and directory creation are
// confined to a root.
//
// Every bucket name, job id and node id passes Segment; every object name
// passes Name. Every RemoveAll, Rename and MkdirAll of a node's data goes
// through the functions here, which refuse a path that is not inside the
// root the caller names: a name that slipped past validation fails loudly
// instead of touching a host directory.
//
// Usage:
//
//	if err := pathsafe.Segment("job id", id); err != nil { ... }
//	err := pathsafe.RemoveAll(workDir, filepath.Join(workDir, "dsort-"+id))
package pathsafe
