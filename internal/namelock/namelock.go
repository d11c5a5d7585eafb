package namelock

import (
	"context"
	"sync"
)

// Locks is a lock per name; the zero value is ready.
type Locks struct {
	mu    sync.Mutex
	names map[string]*entry
}

// entry is a name's lock (a token in held) and how many hold or wait
// for it.
type entry struct {
	held  chan struct{}
	users int
}

// Lock waits for name's lock and returns its unlock.
func (l *Locks) Lock(name string) (unlock func()) {
	unlock, _ = l.lock(nil, name) // (a nil channel is never ready)
	return unlock
}

// LockContext waits for name's lock until ctx ends, and returns its
// unlock, or the context's cause.
func (l *Locks) LockContext(ctx context.Context, name string) (unlock func(), err error) {
	unlock, ok := l.lock(ctx.Done(), name)
	if !ok {
		return nil, context.Cause(ctx)
	}
	return unlock, nil
}

// lock waits for name's lock until done, and reports whether it has it.
func (l *Locks) lock(done <-chan struct{}, name string) (unlock func(), ok bool) {
	l.mu.Lock()
	if l.names == nil {
		l.names = map[string]*entry{}
	}
	e := l.names[name]
	if e == nil {
		e = &entry{held: make(chan struct{}, 1)}
		l.names[name] = e
	}
	e.users++
	l.mu.Unlock()
	leave := func() {
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.names, name)
		}
		l.mu.Unlock()
	}
	select {
	case e.held <- struct{}{}:
	case <-done:
		leave()
		return nil, false
	}
	return func() {
		<-e.held
		leave()
	}, true
}

// Users is how many hold or wait for name's lock.
func (l *Locks) Users(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.names[name]; e != nil {
		return e.users
	}
	return 0
}

// Len is how many names are held or waited for.
func (l *Locks) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.names)
}
