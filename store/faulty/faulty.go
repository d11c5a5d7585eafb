package faulty

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/aisgo/aisgo/store"
)

// Op names an operation a fault applies to.
type Op string

// Operations faults can target.
const (
	OpPut    Op = "put"
	OpOpen   Op = "open"
	OpRead   Op = "read"
	OpDelete Op = "delete"
)

// Fault describes one injected failure.
type Fault struct {
	Op Op
	// Prefix limits the fault to object names with this prefix.
	Prefix string
	// After is how many bytes pass before Err, for OpPut and OpRead.
	After int64
	// Err is returned; a syscall.Errno is classified by the store as it
	// would be coming from the disk (ENOSPC, EIO).
	Err error
	// Times is how many operations fail; 0 means every one.
	Times int
}

// Store is a store.Store with injectable faults.
type Store struct {
	store.Store
	mu struct {
		sync.Mutex
		faults []*Fault
	}
}

var _ store.Store = (*Store)(nil)

// Wrap returns inner with no faults injected yet.
func Wrap(inner store.Store) *Store { return &Store{Store: inner} }

// Inject adds a fault.
func (s *Store) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.faults = append(s.mu.faults, &f)
}

// Clear removes every fault.
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.faults = nil
}

// take returns the fault for op and name, counting it down.
func (s *Store) take(op Op, name string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.mu.faults {
		if f.Op != op || !strings.HasPrefix(name, f.Prefix) {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.mu.faults = append(s.mu.faults[:i], s.mu.faults[i+1:]...)
			}
		}
		c := *f
		return &c
	}
	return nil
}

// Put fails after f.After bytes when a put fault matches.
func (s *Store) Put(ctx context.Context, b store.Bucket, name string, r io.Reader, opts store.PutOptions) (store.ObjectMeta, error) {
	if f := s.take(OpPut, name); f != nil {
		r = &failingReader{r: r, left: f.After, err: f.Err}
	}
	return s.Store.Put(ctx, b, name, r, opts)
}

// Delete fails, changing nothing, when a delete fault matches.
func (s *Store) Delete(ctx context.Context, b store.Bucket, name string, opts store.DeleteOptions) error {
	if f := s.take(OpDelete, name); f != nil {
		return fmt.Errorf("delete %s/%s: %w", b, name, f.Err)
	}
	return s.Store.Delete(ctx, b, name, opts)
}

// Open fails, or returns an object whose reads fail, when a fault matches.
func (s *Store) Open(ctx context.Context, b store.Bucket, name string, opts store.OpenOptions) (store.Object, error) {
	if f := s.take(OpOpen, name); f != nil {
		return nil, fmt.Errorf("open %s/%s: %w", b, name, f.Err)
	}
	obj, err := s.Store.Open(ctx, b, name, opts)
	if err != nil {
		return nil, err
	}
	if f := s.take(OpRead, name); f != nil {
		return &failingObject{Object: obj, r: failingReader{r: obj, left: f.After, err: f.Err}}, nil
	}
	return obj, nil
}

// failingReader passes left bytes, then returns err.
type failingReader struct {
	r    io.Reader
	left int64
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

type failingObject struct {
	store.Object
	r failingReader
}

func (o *failingObject) Read(p []byte) (int, error) { return o.r.Read(p) }

// WriteTo goes through Read so the fault is seen.
func (o *failingObject) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, struct{ io.Reader }{&o.r})
}

// ReadAt fails once the offset passes the fault's byte count.
func (o *failingObject) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > o.r.left {
		return 0, o.r.err
	}
	return o.Object.ReadAt(p, off)
}
