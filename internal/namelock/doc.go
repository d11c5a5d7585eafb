// Package namelock serializes work on a name (an object, a shard) among
// the goroutines of a process, holding state only for the names in use.
package namelock
