package rebalance

import "time"

// AppendFrame exposes appendFrame: an item's header as a sender writes it.
func AppendFrame(b []byte, it Item) []byte { return appendFrame(b, it) }

// RetryDelay exposes retryDelay: the wait before a failed run's retry.
func RetryDelay(attempt int) time.Duration { return retryDelay(attempt) }
