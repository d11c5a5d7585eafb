package remote

import "github.com/aisgo/aisgo/store"

// StoreFirstSize exposes storeFirstSize to the tests.
const StoreFirstSize = storeFirstSize

// Stamp is a stamp of now from the store's source, as the node stamps
// its clients' writes and deletes.
func (s *Store) Stamp() store.Stamp { return s.fetchStamp() }
