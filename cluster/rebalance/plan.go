package rebalance

import (
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// Item is an object or a tombstone a target holds.
type Item struct {
	Bucket store.Bucket
	// Created is when the bucket the item is of was made, as the sender
	// knows it (0: not told): a receiver whose bucket of the name was
	// made later (the sender's destroyed since) refuses it.
	Created   store.Int64String
	Meta      store.ObjectMeta
	Tombstone bool
}

// Move sends an item to the target that owns it.
type Move struct {
	Item
	To cluster.Node
}

// Plan returns the moves of the items node self holds under map next:
// every item that another active target owns goes to it. A node that owns
// nothing under next (in maintenance, leaving, or not a target) moves
// everything. Plan is pure.
func Plan(next *cluster.Map, self string, items []Item) ([]Move, error) {
	var moves []Move
	for _, it := range items {
		b := it.Bucket.Normalize()
		owner, err := next.Owner(cluster.Uname(b.Provider, b.Name, it.Meta.Name))
		if err != nil {
			return nil, err
		}
		if owner.ID != self {
			moves = append(moves, Move{Item: it, To: owner})
		}
	}
	return moves, nil
}
