package pipeline

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tinylib/msgp/msgp"

	"github.com/aisgo/aisgo/creation"
	"github.com/aisgo/aisgo/shards"
)

// Record metadata and output shard plans travel between nodes as msgpack:
// compact arrays, no field names per record.

func appendKey(b []byte, k shards.Key) []byte {
	b = msgp.AppendUint8(b, uint8(k.Kind))
	switch k.Kind {
	case shards.KeyInt:
		return msgp.AppendInt64(b, k.Int)
	case shards.KeyFloat:
		return msgp.AppendFloat64(b, k.Float)
	}
	return msgp.AppendString(b, k.String)
}

func readKey(b []byte) (shards.Key, []byte, error) {
	kind, b, err := msgp.ReadUint8Bytes(b)
	if err != nil {
		return shards.Key{}, b, err
	}
	k := shards.Key{Kind: shards.KeyKind(kind)}
	switch k.Kind {
	case shards.KeyInt:
		k.Int, b, err = msgp.ReadInt64Bytes(b)
	case shards.KeyFloat:
		k.Float, b, err = msgp.ReadFloat64Bytes(b)
	case shards.KeyString:
		k.String, b, err = msgp.ReadStringBytes(b)
	default:
		err = fmt.Errorf("unknown key kind %d", kind)
	}
	return k, b, err
}

// Wire limits: a decoder refuses more elements than the message could
// hold (each record takes at least minRecordBytes) or than its ceiling,
// before it allocates anything for them.
const (
	minRecordBytes = 7
	minShardBytes  = 8
	// MaxFetchRecords bounds the records one fetch asks a holder for. A
	// creator of this build asks for creation.FetchBatch at most; older
	// ones (before batches) asked for a shard's whole share of a holder,
	// and a rolling upgrade's job keeps taking them.
	MaxFetchRecords = 4 << 20
	// MaxPlanRecords bounds the records of one target's extraction answer
	// or shard plan; MaxPlanBytes their encoding.
	MaxPlanRecords = 64 << 20
	MaxPlanBytes   = 2 << 30
	// maxWireString bounds a name in a record stream: as long as the
	// longest member name extraction takes (archive/tar's 1 MiB), or a
	// job would fail on several targets and pass on one.
	maxWireString = 1<<20 + 1
	// maxWireFileSize bounds a file's size in a frame (no tar entry
	// comes near; sums of it must not overflow).
	maxWireFileSize = 1 << 50
)

// ErrWireLimit marks a message that declares more than a decoder takes.
var ErrWireLimit = errors.New("dsort message is over its limits")

// AppendRecords encodes record metadata.
func AppendRecords(b []byte, records []shards.RecordMeta) []byte {
	return appendRecords(b, records, true)
}

// AppendFetch encodes the records a fetch asks a holder for, as
// AppendRecords without their keys (ReadRecords reads them, keys empty):
// the holder finds records by id, and content keys of up to a megabyte
// each would have a batch pass what a fetch may carry on a cluster of
// some sizes and not others.
func AppendFetch(b []byte, records []shards.RecordMeta) []byte {
	return appendRecords(b, records, false)
}

func appendRecords(b []byte, records []shards.RecordMeta, keys bool) []byte {
	b = msgp.AppendArrayHeader(b, uint32(len(records)))
	for _, r := range records {
		b = msgp.AppendArrayHeader(b, 5)
		b = msgp.AppendInt32(b, r.ID.Shard)
		b = msgp.AppendInt32(b, r.ID.Record)
		if keys {
			b = appendKey(b, r.Key)
		} else {
			b = appendKey(b, shards.Key{})
		}
		b = msgp.AppendInt64(b, r.Size)
		b = msgp.AppendInt32(b, r.Holder)
	}
	return b
}

// ReadRecords decodes what AppendRecords wrote, refusing more than
// maxRecords records.
func ReadRecords(b []byte, maxRecords int) ([]shards.RecordMeta, []byte, error) {
	n, b, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return nil, b, err
	}
	if int64(n) > int64(len(b)/minRecordBytes) || int64(n) > int64(maxRecords) {
		return nil, b, fmt.Errorf("%w: %d records declared in %d bytes (at most %d)", ErrWireLimit, n, len(b), min(len(b)/minRecordBytes, maxRecords))
	}
	out := make([]shards.RecordMeta, n)
	for i := range out {
		var fields uint32
		if fields, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
			return nil, b, err
		}
		if fields != 5 {
			return nil, b, fmt.Errorf("record has %d fields, want 5", fields)
		}
		r := &out[i]
		if r.ID.Shard, b, err = msgp.ReadInt32Bytes(b); err != nil {
			return nil, b, err
		}
		if r.ID.Record, b, err = msgp.ReadInt32Bytes(b); err != nil {
			return nil, b, err
		}
		if r.Key, b, err = readKey(b); err != nil {
			return nil, b, err
		}
		if r.Size, b, err = msgp.ReadInt64Bytes(b); err != nil {
			return nil, b, err
		}
		if r.Holder, b, err = msgp.ReadInt32Bytes(b); err != nil {
			return nil, b, err
		}
	}
	return out, b, nil
}

// planSize bounds from above the bytes AppendShards takes for planned,
// and counts their records.
func planSize(planned []shards.OutputShard) (bytes int64, records int) {
	bytes = 5
	for _, s := range planned {
		bytes += 1 + 5 + int64(len(s.Name)) + 5 + 9 + 5
		records += len(s.Records)
		for _, r := range s.Records {
			// Array header, two int32, the key (kind and at most a
			// 9-byte number, or a string with its header), size, holder.
			bytes += 1 + 5 + 5 + 2 + 9 + 5 + int64(len(r.Key.String)) + 9 + 5
		}
	}
	return bytes, records
}

// AppendShards encodes output shard plans.
func AppendShards(b []byte, planned []shards.OutputShard) []byte {
	b = msgp.AppendArrayHeader(b, uint32(len(planned)))
	for _, s := range planned {
		b = msgp.AppendArrayHeader(b, 4)
		b = msgp.AppendString(b, s.Name)
		b = msgp.AppendInt32(b, s.Owner)
		b = msgp.AppendInt64(b, s.Size)
		b = AppendRecords(b, s.Records)
	}
	return b
}

// ReadShards decodes what AppendShards wrote, refusing more than
// maxRecords records in all.
func ReadShards(b []byte, maxRecords int) ([]shards.OutputShard, error) {
	n, b, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return nil, err
	}
	// Each planned shard has a record: no more shards than records may
	// be (a struct each, several times its bytes on the wire).
	if int64(n) > int64(len(b)/minShardBytes) || int64(n) > int64(maxRecords) {
		return nil, fmt.Errorf("%w: %d shards declared in %d bytes (at most %d)", ErrWireLimit, n, len(b), min(len(b)/minShardBytes, maxRecords))
	}
	out := make([]shards.OutputShard, n)
	for i := range out {
		var fields uint32
		if fields, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
			return nil, err
		}
		if fields != 4 {
			return nil, fmt.Errorf("shard has %d fields, want 4", fields)
		}
		s := &out[i]
		if s.Name, b, err = msgp.ReadStringBytes(b); err != nil {
			return nil, err
		}
		if s.Owner, b, err = msgp.ReadInt32Bytes(b); err != nil {
			return nil, err
		}
		if s.Size, b, err = msgp.ReadInt64Bytes(b); err != nil {
			return nil, err
		}
		if s.Records, b, err = ReadRecords(b, maxRecords); err != nil {
			return nil, err
		}
		maxRecords -= len(s.Records)
	}
	return out, nil
}

// A record stream on the wire is a sequence of frames, one per file: a
// msgpack map {n: name, s: size, r: raw, l: raw size, e: last of record}
// followed by the file's bytes (raw size of them for raw files).

func appendFrame(b []byte, f creation.File) []byte {
	b = msgp.AppendMapHeader(b, 5)
	b = msgp.AppendString(b, "n")
	b = msgp.AppendString(b, f.Name)
	b = msgp.AppendString(b, "s")
	b = msgp.AppendInt64(b, f.Size)
	b = msgp.AppendString(b, "r")
	b = msgp.AppendBool(b, f.Raw)
	b = msgp.AppendString(b, "l")
	b = msgp.AppendInt64(b, f.RawSize)
	b = msgp.AppendString(b, "e")
	b = msgp.AppendBool(b, f.Last)
	return b
}

// rangeSender sends the n bytes of the stream's current file to the
// writer straight from where they are stored (sendfile); handled is false
// when it cannot, and the bytes are copied instead.
type rangeSender func(n int64) (handled bool, err error)

// minSendfile is the smallest file worth a flush and a sendfile of its
// own; smaller ones are copied with the frames around them.
const minSendfile = 32 << 10

// writeStream copies a stream to w as frames; send, when set, may send
// big files' bytes itself.
func writeStream(w io.Writer, s creation.Stream, send rangeSender) error {
	bw := streamWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		streamWriters.Put(bw)
	}()
	header := make([]byte, 0, 256)
	for {
		f, err := s.Next()
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
		header = appendFrame(header[:0], f)
		if _, err := bw.Write(header); err != nil {
			return err
		}
		n := payloadSize(f)
		if send != nil && n >= minSendfile {
			if err := bw.Flush(); err != nil {
				return err
			}
			handled, err := send(n)
			if err != nil {
				return err
			}
			if handled {
				continue
			}
		}
		// Through bw's own buffer (its ReadFrom): no copy buffer of
		// the stream's.
		copied, err := bw.ReadFrom(io.LimitReader(s, n))
		if err != nil {
			return err
		}
		if copied != n {
			return fmt.Errorf("file %s: %d of %d bytes", f.Name, copied, n)
		}
	}
}

// frameReader reads a stream of frames as a creation.Stream.
type frameReader struct {
	body io.ReadCloser
	r    *msgp.Reader
	left int64 // bytes of the current file not yet read
}

var _ creation.Stream = (*frameReader)(nil)

// streamReadBuffer is the read buffer of a record stream: small, so that
// reads of a file's bytes bigger than it go from the connection straight
// into the shard being built, with no copy through the buffer.
const streamReadBuffer = 16 << 10

// Stream buffers are pooled: a job opens a stream per output shard and
// holder, and fresh buffers cost first-touch memory each time. Each
// stream open holds its own, on up to (targets-1) x builds streams a
// holder serves at once: 128 KiB, not more.
var (
	streamWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 128<<10) }}
	streamReaders = sync.Pool{New: func() any { return msgp.NewReaderSize(nil, streamReadBuffer) }}
)

func newFrameReader(body io.ReadCloser) *frameReader {
	r := streamReaders.Get().(*msgp.Reader)
	r.Reset(body)
	r.SetMaxStringLength(maxWireString)
	r.SetMaxElements(16)
	return &frameReader{body: body, r: r}
}

func (f *frameReader) Next() (creation.File, error) {
	if f.left > 0 {
		if _, err := io.CopyN(io.Discard, f.r, f.left); err != nil {
			return creation.File{}, err
		}
		f.left = 0
	}
	n, err := f.r.ReadMapHeader()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return creation.File{}, io.EOF
		}
		return creation.File{}, fmt.Errorf("record stream: %w", err)
	}
	if n > 16 {
		return creation.File{}, fmt.Errorf("record stream: %w: a frame of %d fields", ErrWireLimit, n)
	}
	var file creation.File
	for range n {
		key, err := f.r.ReadString()
		if err != nil {
			return file, fmt.Errorf("record stream: %w", err)
		}
		switch key {
		case "n":
			file.Name, err = f.r.ReadString()
		case "s":
			file.Size, err = f.r.ReadInt64()
		case "r":
			file.Raw, err = f.r.ReadBool()
		case "l":
			file.RawSize, err = f.r.ReadInt64()
		case "e":
			file.Last, err = f.r.ReadBool()
		default:
			err = f.r.Skip()
		}
		if err != nil {
			return file, fmt.Errorf("record stream: %w", err)
		}
	}
	if file.Size < 0 || file.RawSize < 0 || file.Size > maxWireFileSize {
		return file, fmt.Errorf("record stream: %w: file %s has size %d", ErrWireLimit, file.Name, file.Size)
	}
	// A raw entry is one header block and the file's bytes, padded
	// (entries with more header blocks are rewritten, not sent raw): a
	// holder's stream cannot hide more in it.
	if file.Raw && file.RawSize != shards.EncodedSize(file.Size) {
		return file, fmt.Errorf("record stream: %w: raw entry %s of %d bytes holds %d bytes of data", ErrWireLimit, file.Name, file.RawSize, file.Size)
	}
	f.left = file.Size
	if file.Raw {
		f.left = file.RawSize
	}
	return file, nil
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	if err == io.EOF && f.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (f *frameReader) Close() error {
	if f.r != nil {
		f.r.Reset(nil)
		streamReaders.Put(f.r)
		f.r = nil
	}
	return f.body.Close()
}
