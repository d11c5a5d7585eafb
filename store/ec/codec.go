package ec

import (
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/reedsolomon"

	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/store"
)

// Errors of the codec. Callers test with errors.Is.
var (
	ErrUnrecoverable = errors.New("ec: unrecoverable: fewer good slices than data slices")
	// ErrSliceMismatch marks slices that cannot be of the layout and size
	// given: a wrong count or length, a negative size.
	ErrSliceMismatch = errors.New("ec: slices do not match the layout")
)

// SliceError is the failure of one slice's reader or writer, so that the
// caller learns which part (and so which holder) failed.
type SliceError struct {
	Index int
	Err   error
}

func (e *SliceError) Error() string { return fmt.Sprintf("ec: slice %d: %v", e.Index, e.Err) }

func (e *SliceError) Unwrap() error { return e.Err }

// Layout is a Reed-Solomon layout: Data slices and Parity slices.
type Layout struct{ Data, Parity int }

// Validate checks the layout as bucket properties: at least one data and
// one parity slice, at most store.MaxSlices in all. The error wraps
// store.ErrInvalidProps and names the property.
func (l Layout) Validate() error {
	switch {
	case l.Data < 1:
		return fmt.Errorf("%w: ec.data_slices must be at least 1, not %d", store.ErrInvalidProps, l.Data)
	case l.Parity < 1:
		return fmt.Errorf("%w: ec.parity_slices must be at least 1, not %d", store.ErrInvalidProps, l.Parity)
	case l.Data > store.MaxSlices || l.Parity > store.MaxSlices || l.Data+l.Parity > store.MaxSlices:
		return fmt.Errorf("%w: ec.data_slices + ec.parity_slices must be at most %d, not %d + %d",
			store.ErrInvalidProps, store.MaxSlices, l.Data, l.Parity)
	}
	return nil
}

// Slices is the number of slices, data and parity.
func (l Layout) Slices() int { return l.Data + l.Parity }

// SliceSize is the length of every slice of an object of objectSize bytes:
// ceil(objectSize/Data), 0 for an empty object.
func (l Layout) SliceSize(objectSize int64) int64 {
	if objectSize <= 0 || l.Data <= 0 {
		return 0
	}
	return (objectSize-1)/int64(l.Data) + 1
}

// streamChunk is the bytes of one slice that the streaming functions hold
// at a time: they hold one such column of every slice. Large enough that
// the coding runs at full speed, small enough that 8+4 slices take 3 MiB.
const streamChunk = 256 << 10

// Codec encodes and restores objects of one layout; safe for concurrent
// use.
//
// Restore cannot tell a corrupted slice from a good one: given a wrong
// slice it returns wrong bytes. Callers verify every part's checksum
// (store.PartMeta.PartChecksum) before handing it over, and the restored
// object's checksum after.
type Codec struct {
	layout  Layout
	encoder reedsolomon.Encoder
	// chunk is streamChunk except in tests, which make it small to cross
	// many column boundaries with small objects.
	chunk int64
}

// NewCodec returns the codec of a layout.
func NewCodec(l Layout) (*Codec, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	// The classic matrix encoder (total <= 256) works byte by byte, which
	// the column-wise streaming below relies on.
	encoder, err := reedsolomon.New(l.Data, l.Parity)
	if err != nil {
		return nil, fmt.Errorf("ec: layout %d+%d: %w", l.Data, l.Parity, err)
	}
	return &Codec{layout: l, encoder: encoder, chunk: streamChunk}, nil
}

// Layout returns the codec's layout.
func (c *Codec) Layout() Layout { return c.layout }

// Encode splits data into Data slices, the last zero-padded, and computes
// Parity slices. Slice i holds bytes [i*S, (i+1)*S) of data, S being
// SliceSize. The slices share one new allocation (data is copied, not
// kept); an empty object gives empty slices.
func (c *Codec) Encode(data []byte) ([][]byte, error) {
	total := c.layout.Slices()
	slices := make([][]byte, total)
	size := c.layout.SliceSize(int64(len(data)))
	if size == 0 {
		for i := range slices {
			slices[i] = []byte{}
		}
		return slices, nil
	}
	buf := make([]byte, int64(total)*size)
	copy(buf, data)
	for i := range slices {
		start := int64(i) * size
		slices[i] = buf[start : start+size : start+size]
	}
	if err := c.encoder.Encode(slices); err != nil {
		return nil, fmt.Errorf("ec: encode %d bytes: %w", len(data), err)
	}
	return slices, nil
}

// EncodeShared is Encode without the copy: the data slices that data
// fills whole are data itself, and only the padded last one and the
// parity slices take memory, from a pool. data must not change, and the
// slices must not be used, after release.
func (c *Codec) EncodeShared(data []byte) (slices [][]byte, release func(), err error) {
	total := c.layout.Slices()
	size := c.layout.SliceSize(int64(len(data)))
	slices = make([][]byte, total)
	if size == 0 {
		for i := range slices {
			slices[i] = []byte{}
		}
		return slices, func() {}, nil
	}
	whole := int64(len(data)) / size
	extra := pool.Get(int((int64(total) - whole) * size))
	rest := copy(extra, data[whole*size:])
	// Pooled memory is not zeroed: the padding must be.
	clear(extra[rest : (int64(c.layout.Data)-whole)*size])
	for i := range slices {
		start := int64(i) * size
		if int64(i) < whole {
			slices[i] = data[start : start+size : start+size]
			continue
		}
		start -= whole * size
		slices[i] = extra[start : start+size : start+size]
	}
	if err := c.encoder.Encode(slices); err != nil {
		pool.Put(extra)
		return nil, nil, fmt.Errorf("ec: encode %d bytes: %w", len(data), err)
	}
	return slices, func() { pool.Put(extra) }, nil
}

// Restore rebuilds the object of size bytes from its slices, indexed by
// slice number, nil (or empty) where missing. At least Data slices must be
// present, else the error wraps ErrUnrecoverable. Present slices must be
// SliceSize(size) long. The slices are not modified. Restore never returns
// wrong bytes for consistent slices, but cannot detect a corrupted one
// (see Codec).
func (c *Codec) Restore(slices [][]byte, size int64) ([]byte, error) {
	if err := c.check(len(slices), size); err != nil {
		return nil, err
	}
	sliceSize := c.layout.SliceSize(size)
	if sliceSize == 0 {
		return []byte{}, nil // nothing to restore, whatever is present
	}
	present := 0
	for i, s := range slices {
		switch int64(len(s)) {
		case 0:
		case sliceSize:
			present++
		default:
			return nil, fmt.Errorf("%w: slice %d has %d bytes, want %d for %d bytes in %d data slices",
				ErrSliceMismatch, i, len(s), sliceSize, size, c.layout.Data)
		}
	}
	if present < c.layout.Data {
		return nil, fmt.Errorf("%w: %d of %d slices, need %d", ErrUnrecoverable, present, len(slices), c.layout.Data)
	}
	// The data slices are put, or rebuilt, in place in the result.
	out := make([]byte, int64(c.layout.Data)*sliceSize)
	shards := make([][]byte, len(slices))
	complete := true
	for i := range c.layout.Data {
		start := int64(i) * sliceSize
		if len(slices[i]) == 0 {
			shards[i] = out[start:start:(start + sliceSize)]
			complete = false
			continue
		}
		shards[i] = out[start : start+sliceSize]
		copy(shards[i], slices[i])
	}
	if !complete {
		for i := c.layout.Data; i < len(slices); i++ {
			if len(slices[i]) > 0 {
				shards[i] = slices[i]
			}
		}
		if err := c.reconstruct(shards); err != nil {
			return nil, err
		}
		for i := range c.layout.Data {
			// Rebuilt in out already; copy in case the encoder ever
			// allocates instead.
			start := int64(i) * sliceSize
			if &shards[i][0] != &out[start] {
				copy(out[start:start+sliceSize], shards[i])
			}
		}
	}
	return out[:size], nil
}

// EncodeStream is Encode for objects too large to hold in memory: the
// object is read from r (size bytes, e.g. a file) and slice i is written to
// out[i]; a nil writer discards its slice. The slices are byte for byte
// those of Encode. Memory use is one column of every slice (see
// streamChunk).
//
// A failed writer is written no more, the others go on, and the error
// joins a *SliceError for each failed slice: the slices of the other
// writers are complete. A read error stops everything.
func (c *Codec) EncodeStream(r io.ReaderAt, size int64, out []io.Writer) error {
	if err := c.check(len(out), size); err != nil {
		return err
	}
	sliceSize := c.layout.SliceSize(size)
	if sliceSize == 0 {
		return nil
	}
	chunk := min(c.chunk, sliceSize)
	shards, column := c.columns(chunk)
	failed := make([]error, len(out))
	writers := 0
	for _, w := range out {
		if w != nil {
			writers++
		}
	}
	// Column by column: the coding works on each byte position alone,
	// so parity of a column is that column of Encode's parity.
	for offset := int64(0); offset < sliceSize; offset += chunk {
		n := min(chunk, sliceSize-offset)
		for i := range c.layout.Data {
			column[i] = shards[i][:n]
			start := int64(i)*sliceSize + offset
			valid := max(0, min(n, size-start))
			if valid > 0 {
				read, err := r.ReadAt(column[i][:valid], start)
				if int64(read) < valid {
					if err == nil {
						err = io.ErrUnexpectedEOF
					}
					return fmt.Errorf("ec: read the object at %d: %w", start, err)
				}
			}
			clear(column[i][valid:]) // the padding of the last slices
		}
		for i := c.layout.Data; i < len(column); i++ {
			column[i] = shards[i][:n]
		}
		if err := c.encoder.Encode(column); err != nil {
			return fmt.Errorf("ec: encode at %d of each slice: %w", offset, err)
		}
		for i, w := range out {
			if w == nil || failed[i] != nil {
				continue
			}
			if _, err := w.Write(column[i]); err != nil {
				failed[i] = &SliceError{Index: i, Err: err}
				if writers--; writers == 0 {
					return errors.Join(failed...) // nobody left to write to
				}
			}
		}
	}
	return errors.Join(failed...)
}

// RestoreStream is Restore for objects too large to hold in memory: it
// reads the slices from their readers (nil where missing) and writes the
// object's size bytes to w at their offsets, column by column, holding one
// column of every slice (see streamChunk). It reads Data slices, the data
// slices first, and only those: when one fails part way, another present
// slice is read instead from that point on (the bytes before are skipped).
// Fewer than Data slices in all is ErrUnrecoverable, joined with the
// readers' errors.
//
// The output is random access because the object is slice after slice
// while a rebuilt slice comes a column at a time: with an io.Writer, one
// missing data slice would force holding the others whole. On error, w
// holds part of the object. As with Restore, a corrupted slice gives wrong
// bytes, including a reader that checks its checksum only at its end:
// verify the restored object's checksum.
func (c *Codec) RestoreStream(slices []io.Reader, size int64, w io.WriterAt) error {
	if err := c.check(len(slices), size); err != nil {
		return err
	}
	sliceSize := c.layout.SliceSize(size)
	if sliceSize == 0 {
		return nil
	}
	var active, spares []int
	for i, r := range slices {
		switch {
		case r == nil:
		case len(active) < c.layout.Data:
			active = append(active, i)
		default:
			spares = append(spares, i)
		}
	}
	if len(active) < c.layout.Data {
		return fmt.Errorf("%w: %d of %d slices, need %d", ErrUnrecoverable, len(active), len(slices), c.layout.Data)
	}
	chunk := min(c.chunk, sliceSize)
	shards, column := c.columns(chunk)
	consumed := make([]int64, len(slices)) // bytes read from each reader
	var causes []error
	for offset := int64(0); offset < sliceSize; offset += chunk {
		n := min(chunk, sliceSize-offset)
		for i := range column {
			column[i] = shards[i][:0] // missing: rebuilt into its buffer
		}
		complete := true
		for k := range active {
			for {
				i := active[k]
				read, err := io.ReadFull(slices[i], shards[i][:n])
				consumed[i] += int64(read)
				if err == nil {
					column[i] = shards[i][:n]
					complete = complete && i < c.layout.Data
					break
				}
				causes = append(causes, &SliceError{Index: i, Err: err})
				next, ok := c.nextSpare(slices, &spares, consumed, offset, &causes)
				if !ok {
					return errors.Join(append([]error{fmt.Errorf("%w: slices failed at %d of %d bytes", ErrUnrecoverable, offset, sliceSize)}, causes...)...)
				}
				active[k] = next
			}
		}
		if !complete {
			if err := c.reconstruct(column); err != nil {
				return err
			}
		}
		for i := range c.layout.Data {
			start := int64(i)*sliceSize + offset
			valid := max(0, min(n, size-start))
			if valid == 0 {
				break // the rest is padding
			}
			if _, err := w.WriteAt(column[i][:valid], start); err != nil {
				return fmt.Errorf("ec: write the object at %d: %w", start, err)
			}
		}
	}
	return nil
}

// nextSpare takes the first spare reader that can be brought to offset,
// skipping what it has before; readers that fail on the way are added to
// causes.
func (c *Codec) nextSpare(slices []io.Reader, spares *[]int, consumed []int64, offset int64, causes *[]error) (int, bool) {
	for len(*spares) > 0 {
		i := (*spares)[0]
		*spares = (*spares)[1:]
		skipped, err := io.CopyN(io.Discard, slices[i], offset-consumed[i])
		consumed[i] += skipped
		if err != nil {
			*causes = append(*causes, &SliceError{Index: i, Err: err})
			continue
		}
		return i, true
	}
	return 0, false
}

// check validates the arguments every function of the codec takes.
func (c *Codec) check(slices int, size int64) error {
	if slices != c.layout.Slices() {
		return fmt.Errorf("%w: %d slices, want %d+%d", ErrSliceMismatch, slices, c.layout.Data, c.layout.Parity)
	}
	if size < 0 {
		return fmt.Errorf("%w: object size %d is negative", ErrSliceMismatch, size)
	}
	return nil
}

// StreamMemory is the bytes EncodeStream and RestoreStream hold for an
// object of size: one column of every slice.
func (c *Codec) StreamMemory(size int64) int64 {
	return int64(c.layout.Slices()) * min(c.chunk, c.layout.SliceSize(size))
}

// columns returns a buffer of chunk bytes per slice, from one allocation,
// and the column that points into it.
func (c *Codec) columns(chunk int64) (shards, column [][]byte) {
	total := c.layout.Slices()
	buf := make([]byte, int64(total)*chunk)
	shards = make([][]byte, total)
	for i := range shards {
		shards[i] = buf[int64(i)*chunk : int64(i+1)*chunk : int64(i+1)*chunk]
	}
	return shards, make([][]byte, total)
}

// reconstruct rebuilds the missing data slices in place.
func (c *Codec) reconstruct(shards [][]byte) error {
	err := c.encoder.ReconstructData(shards)
	if errors.Is(err, reedsolomon.ErrTooFewShards) {
		return fmt.Errorf("%w: %w", ErrUnrecoverable, err)
	}
	if err != nil {
		return fmt.Errorf("ec: reconstruct: %w", err)
	}
	return nil
}
