package authn

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// loginThrottle slows password guessing: after freeFailures failed logins
// of one user from one address, each further attempt waits a delay that
// doubles up to maxLoginDelay. A success clears the count. Keyed by user
// and address, so that a guesser does not lock the user out elsewhere.
//
// An address is also throttled alone, across the users it names (a
// guesser trying a fresh name each time gets each one's free failures),
// and holds a few logins at once, waiting or checked: one client's flood
// must not queue ahead of everyone's logins.
type loginThrottle struct {
	mu       sync.Mutex
	failures map[string]*loginFailures
	// pending are the logins of each address under way; waiting, those
	// waiting for one of them to end.
	pending, waiting map[string]int
}

type loginFailures struct {
	count int
	until time.Time // no attempt before
	last  time.Time
	// decayed is when the count last lost a failure to the decay: it
	// moves by whole intervals, so that failures closer together than
	// one still decay at its rate.
	decayed time.Time
}

const (
	freeFailures = 5
	// freeAddressFailures are the failed logins of one address, of any
	// users, before its attempts wait; its count drops by one each
	// addressDecay, so that the typos of many users behind one NAT do
	// not add up to a lockout.
	freeAddressFailures = 50
	addressDecay        = 30 * time.Second
	// maxAddressLogins are the logins of one address under way at once.
	maxAddressLogins = 4
	maxLoginDelay    = 15 * time.Minute
	maxThrottled     = 10_000 // keys kept; past it the stale ones go
	throttleForget   = time.Hour
)

// throttleKey is a user's key from an address: an IPv6 client's is its
// /64, which one host holds whole (2^64 addresses of 5 free guesses each
// would be no throttle).
func throttleKey(user, remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().Is6() {
		if prefix, err := ip.Prefix(64); err == nil {
			host = prefix.String()
		}
	}
	return user + "\x00" + host
}

// addressKey is an address's own key: no user's (a user's name is never
// empty).
func addressKey(remoteAddr string) string { return throttleKey("", remoteAddr) }

// enter admits a login of an address once it has fewer than
// maxAddressLogins under way, waiting up to wait (or ctx) for one to
// end; leave ends it.
// As many wait as may be under way; more are refused at once.
func (t *loginThrottle) enter(ctx context.Context, address string, wait time.Duration) bool {
	t.mu.Lock()
	if t.pending == nil {
		t.pending, t.waiting = map[string]int{}, map[string]int{}
	}
	if t.pending[address] < maxAddressLogins {
		t.pending[address]++
		t.mu.Unlock()
		return true
	}
	if t.waiting[address] >= maxAddressLogins {
		t.mu.Unlock()
		return false
	}
	t.waiting[address]++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.waiting[address]--; t.waiting[address] <= 0 {
			delete(t.waiting, address)
		}
		t.mu.Unlock()
	}()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
		t.mu.Lock()
		if t.pending[address] < maxAddressLogins {
			t.pending[address]++
			t.mu.Unlock()
			return true
		}
		t.mu.Unlock()
	}
}

func (t *loginThrottle) leave(address string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[address]--; t.pending[address] <= 0 {
		delete(t.pending, address)
	}
}

// wait returns how long the caller must wait before trying (0: now).
func (t *loginThrottle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.failures[key]; f != nil && now.Before(f.until) {
		return f.until.Sub(now)
	}
	return 0
}

// failed counts a failed login of a key that has free failures before
// its attempts wait; decay, when not zero, takes one failure off the
// count for each time it passed since the last.
func (t *loginThrottle) failed(key string, free int, decay time.Duration, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures == nil {
		t.failures = map[string]*loginFailures{}
	}
	if len(t.failures) >= maxThrottled {
		for k, f := range t.failures {
			if now.Sub(f.last) > throttleForget {
				delete(t.failures, k)
			}
		}
	}
	f := t.failures[key]
	if f == nil {
		if len(t.failures) >= maxThrottled {
			// Full of recent failures (a flood of fresh keys): the key
			// with the fewest goes, so that the flood evicts itself and
			// not a key being throttled (which it would set free).
			t.evictFewest()
		}
		f = &loginFailures{}
		t.failures[key] = f
	}
	switch {
	case now.Sub(f.last) > throttleForget:
		f.count, f.decayed = 0, now
	case decay > 0 && !f.decayed.IsZero():
		n := now.Sub(f.decayed) / decay
		f.count = max(0, f.count-int(n))
		f.decayed = f.decayed.Add(n * decay)
	default:
		f.decayed = now
	}
	f.count++
	f.last = now
	if f.count >= free {
		delay := min(time.Second<<min(f.count-free, 20), maxLoginDelay)
		f.until = now.Add(delay)
	}
}

// evictFewest drops the key with the fewest failures, the oldest of
// those; t.mu is held.
func (t *loginThrottle) evictFewest() {
	victim := ""
	var fewest *loginFailures
	for k, f := range t.failures {
		if fewest == nil || f.count < fewest.count || f.count == fewest.count && f.last.Before(fewest.last) {
			victim, fewest = k, f
		}
	}
	delete(t.failures, victim)
}

// succeeded clears a key's failures.
func (t *loginThrottle) succeeded(key string) {
	t.mu.Lock()
	delete(t.failures, key)
	t.mu.Unlock()
}
