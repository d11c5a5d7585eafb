// Package rebalance moves objects to the targets that own them when the
// cluster map changes, and keeps deletes deleted while it does.
//
// It is split as the rest of the control plane is:
//   - Plan is pure: from a map and what a target holds (objects and
//     tombstones, as the previous map placed them) to the moves, each to
//     its owner under the new map.
//   - Run executes a plan over a Store and a Sender: it streams batches of
//     objects (many per request) to each owner and, once the owner has
//     acknowledged them, removes the local copy it sent, never a newer
//     one written since. A copy the owner refuses (a name conflict) is
//     reported and skipped; it never fails the others.
//   - Receive stores what a batch carries, each object only if it is
//     newer than what the owner has (store.Stamp): a target that comes
//     back with old copies never undoes a write or a delete made while it
//     was away.
//   - Manager runs one rebalance at a time per target, retries a failed
//     one, keeps a short history for the job list, and collects
//     tombstones once no target that may hold older copies is missing.
//
// The frame stream of a batch is a sequence of msgpack maps, each followed
// by the object's bytes; every count and length read from it is bounded.
package rebalance
