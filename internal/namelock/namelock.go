package namelock

import "sync"

// Locks is a lock per name; the zero value is ready.
type Locks struct {
	mu    sync.Mutex
	names map[string]*entry
}

// entry is a name's lock and how many hold or wait for it.
type entry struct {
	sync.Mutex
	users int
}

// Lock waits for name's lock and returns its unlock.
func (l *Locks) Lock(name string) (unlock func()) {
	l.mu.Lock()
	if l.names == nil {
		l.names = map[string]*entry{}
	}
	e := l.names[name]
	if e == nil {
		e = &entry{}
		l.names[name] = e
	}
	e.users++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.names, name)
		}
		l.mu.Unlock()
	}
}

// Len is how many names are held or waited for.
func (l *Locks) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.names)
}
