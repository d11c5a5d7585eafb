package rebalance

// AppendFrame exposes appendFrame: an item's header as a sender writes it.
func AppendFrame(b []byte, it Item) []byte { return appendFrame(b, it) }
