package remote

// StoreFirstSize exposes storeFirstSize to the tests.
const StoreFirstSize = storeFirstSize
