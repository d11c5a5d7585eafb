package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/pool"
	"github.com/aisgo/aisgo/shards"
)

// maxKeyFile bounds the file a content key is read from.
const maxKeyFile = 1 << 20

// maxInMemory bounds a file kept in memory: a bigger one always spills,
// so that one file never takes the budget. (A plain tar keeps none.)
const maxInMemory = 4 << 20

// Shard is an open input shard.
type Shard interface {
	io.ReaderAt
	io.Closer
}

// Opener opens input shards by name; errors wrapping ErrMissing mean the
// shard does not exist.
type Opener interface {
	Open(ctx context.Context, name string) (Shard, int64, error)
}

// ErrMissing marks an input shard that does not exist.
var ErrMissing = errors.New("extract: input shard does not exist")

// Input is one shard to extract: its name and its index in the job's
// input list, which becomes the Shard of its records' ids.
type Input struct {
	Name  string
	Index int32
}

// KeyConfig says how a record's key is made.
type KeyConfig struct {
	// Extension, when set, names the file whose content is the key
	// (algorithm kind "content"); otherwise the key is the name of the
	// record's first file.
	Extension string
	Kind      shards.KeyKind
}

// Config configures an extraction.
type Config struct {
	// Format reads the input shards.
	Format formats.Format
	// Concurrency is the number of shards read at once; zero means 4.
	Concurrency int
	// Budget caps contents kept in memory; nil means no cap.
	Budget *Budget
	// SpillDir receives the spill files; it is created and, by
	// Result.Close, removed. Required unless the format has offsets.
	SpillDir string
	// SpillDirs, when set, are more directories (on other disks) the
	// spill files are spread over with SpillDir, one file each in turn;
	// created and removed as SpillDir is.
	SpillDirs []string
	Key       KeyConfig
	// OnDuplicate decides about a second file with the same record and
	// extension in a shard (the later is kept): an error aborts.
	OnDuplicate func(shard string, dup *shards.DuplicateError) error
	// CheckEntry, when set, refuses a member the output format cannot
	// hold (formats.CheckEntry): the job fails as the member is read,
	// not after the sort, when its shard is created.
	CheckEntry func(name string, size int64) error
	// CheckRecord, when set, refuses a record (its kept members together,
	// size the sum of their sizes) the output format cannot hold
	// (formats.CheckRecord), as CheckEntry does a member.
	CheckRecord func(name string, members []string, size int64) error
	// OnMissing decides about an input shard that does not exist: an error
	// aborts, nil skips it.
	OnMissing func(shard string, err error) error
	// OnLinks is told of the links a shard had (count, and the first
	// names), which its records do not get: an error aborts.
	OnLinks func(shard string, count int, names []string) error
	// HeadersOnly reads what records' metadata needs and keeps no
	// contents, for an estimate: a tar's entries are read by their headers
	// (contents skipped by offset), other formats are streamed through
	// and only content keys read. The budget is not used, nothing spills
	// (SpillDir is not needed), and the files' Storage means nothing;
	// their sizes, and in a tar their offsets, are right.
	HeadersOnly bool
}

// Counters report progress while Run works; read them at any time.
type Counters struct {
	Shards       atomic.Int64 // shards extracted
	Records      atomic.Int64
	Bytes        atomic.Int64 // file bytes extracted
	SpilledFiles atomic.Int64
	SpilledBytes atomic.Int64
	Missing      atomic.Int64 // input shards skipped as missing
}

// Result is what an extraction holds: the records, in input order, and
// the spill files their bytes may be in.
type Result struct {
	Records []shards.Record
	Spills  *Spills
}

// Close removes the spill files. Memory of records is the caller's to
// release (see ReleaseMemory).
func (r *Result) Close() error { return r.Spills.Close() }

// Run extracts the inputs.
func Run(ctx context.Context, cfg Config, inputs []Input, opener Opener, counters *Counters) (*Result, error) {
	return RunEach(ctx, cfg, slices.Values(inputs), opener, counters)
}

// RunEach extracts the inputs as they are yielded, so that a job over
// millions of names never holds them all: memory follows the records
// found, not the names asked for. Records come out in input order.
func RunEach(ctx context.Context, cfg Config, inputs iter.Seq[Input], opener Opener, counters *Counters) (*Result, error) {
	if counters == nil {
		counters = new(Counters)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Budget == nil {
		cfg.Budget = NewBudget(0)
	}
	res := &Result{Spills: &Spills{}}
	workers := make(chan *spillFile, cfg.Concurrency)
	if !cfg.Format.Offsets() && !cfg.HeadersOnly {
		if cfg.SpillDir == "" {
			return nil, errors.New("extract: a spill directory is required for " + cfg.Format.Name())
		}
		dirs := append([]string{cfg.SpillDir}, cfg.SpillDirs...)
		for _, dir := range dirs {
			if err := pathsafe.MkdirAll(filepath.Dir(dir), dir, 0o755); err != nil {
				res.Close()
				return nil, fmt.Errorf("extract: %w", err)
			}
			res.Spills.dirs = append(res.Spills.dirs, dir)
		}
		for i := range cfg.Concurrency {
			s, err := createSpill(dirs[i%len(dirs)], int32(i))
			if err != nil {
				res.Close()
				return nil, err
			}
			res.Spills.files = append(res.Spills.files, s)
			workers <- s
		}
	} else {
		for range cfg.Concurrency {
			workers <- nil
		}
	}
	// Only shards that gave records are kept, with their input order.
	type found struct {
		order   int
		records []shards.Record
	}
	var perShard []found
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	order := 0
	for in := range inputs {
		spill := <-workers
		if gctx.Err() != nil {
			workers <- spill
			break
		}
		position := order
		order++
		g.Go(func() error {
			defer func() { workers <- spill }()
			records, err := extractShard(gctx, cfg, in, opener, spill, counters)
			if err != nil {
				return err
			}
			if len(records) > 0 {
				mu.Lock()
				perShard = append(perShard, found{position, records})
				mu.Unlock()
			}
			return nil
		})
	}
	err := g.Wait()
	slices.SortFunc(perShard, func(a, b found) int { return a.order - b.order })
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if err == nil {
		err = res.Spills.flush()
	}
	total := 0
	for _, f := range perShard {
		total += len(f.records)
	}
	res.Records = make([]shards.Record, 0, total)
	for _, f := range perShard {
		res.Records = append(res.Records, f.records...)
	}
	if err != nil {
		ReleaseMemory(cfg.Budget, res.Records)
		res.Close()
		return nil, err
	}
	return res, nil
}

// ReleaseMemory returns the buffers of in-memory files to the budget and
// the pool.
func ReleaseMemory(b *Budget, records []shards.Record) {
	for i := range records {
		for j := range records[i].Files {
			ReleaseFile(b, &records[i].Files[j])
		}
	}
}

// ReleaseFile returns one in-memory file's buffer; it is safe to call twice.
func ReleaseFile(b *Budget, f *shards.File) {
	if f.Storage != shards.StorageMemory || f.Data == nil {
		return
	}
	if b != nil {
		b.Release(int64(cap(f.Data)))
	}
	pool.Put(f.Data)
	f.Data = nil
}

// WillNeeder is a shard that can be read ahead into the page cache, from
// offset for length bytes (to its end when length is 0).
type WillNeeder interface{ WillNeed(offset, length int64) }

// extractShard reads one shard into records.
func extractShard(ctx context.Context, cfg Config, in Input, opener Opener, spill *spillFile, counters *Counters) ([]shards.Record, error) {
	obj, size, err := opener.Open(ctx, in.Name)
	if err != nil {
		if errors.Is(err, ErrMissing) && cfg.OnMissing != nil {
			if err := cfg.OnMissing(in.Name, err); err != nil {
				return nil, err
			}
			counters.Missing.Add(1)
			return nil, nil
		}
		return nil, fmt.Errorf("open input shard %s: %w", in.Name, err)
	}
	defer obj.Close()
	if w, ok := obj.(WillNeeder); ok && cfg.Format.Offsets() && !cfg.HeadersOnly {
		// Creation reads the entries at random: from the page cache,
		// which the kernel fills now while extraction reads the headers.
		w.WillNeed(0, 0)
	}
	if cfg.Format.Name() == (formats.Zip{}).Name() {
		// A zip's reader holds its central directory (up to half a GiB)
		// until the shard is read: the shards extracted at once share
		// the process's zip memory with the node's archive reads.
		release, err := formats.HoldZip(ctx, obj, size)
		if err != nil {
			return nil, fmt.Errorf("input shard %s: %w", in.Name, err)
		}
		defer release()
	}
	rd, err := cfg.Format.NewReader(contextReaderAt{ctx, obj}, size, in.Name)
	if err != nil {
		return nil, err
	}
	var group shards.Grouper
	var files []shards.File
	var keys []shards.Key // content key by file index, when read
	var keyFound []bool
	// A key file's content that is no key fails the job only if the
	// file is kept: a later duplicate may replace it.
	var keyErrs []error
	buf := pool.Get(pool.CopyBufferSize)
	defer pool.Put(buf)
	release := func() {
		for i := range files {
			ReleaseFile(cfg.Budget, &files[i])
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			release()
			return nil, context.Cause(ctx)
		}
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			release()
			return nil, err
		}
		if !cfg.Budget.Charge(MetadataCost(e.Name)) {
			release()
			return nil, fmt.Errorf("%w: shard %s, at member %d (a name of %d bytes): the records' names take more than the %s a job's memory budget (max_mem_usage) allows them", ErrNamesOverBudget, in.Name, len(files), len(e.Name), shards.FormatSize(cfg.Budget.MetadataLimit()))
		}
		member, err := group.Add(e.Name)
		if err != nil {
			var dup *shards.DuplicateError
			if !errors.As(err, &dup) {
				release()
				return nil, fmt.Errorf("shard %s: %w", in.Name, err)
			}
			if cfg.OnDuplicate != nil {
				if err := cfg.OnDuplicate(in.Name, dup); err != nil {
					release()
					return nil, err
				}
			}
			// Dropped: its bytes are not the job's (counted as it came).
			previous := &files[dup.Previous]
			counters.Bytes.Add(-previous.Size)
			if previous.Storage == shards.StorageSpill {
				counters.SpilledFiles.Add(-1)
				counters.SpilledBytes.Add(-previous.Size)
			}
			ReleaseFile(cfg.Budget, previous)
			// Its name too, unless the record's key is (its first member's).
			if dup.Previous != group.FirstMember(member.Record) {
				cfg.Budget.Uncharge(MetadataCost(previous.Name))
			}
			if k := &keys[dup.Previous]; len(k.String) > 0 {
				cfg.Budget.Uncharge(int64(len(k.String)))
			}
			keys[dup.Previous], keyErrs[dup.Previous] = shards.Key{}, nil
		}
		f := shards.File{Name: e.Name, Size: e.Size}
		isKey := cfg.Key.Extension != "" && member.Ext == cfg.Key.Extension
		var key shards.Key
		var keyErr error
		if cfg.Format.Offsets() {
			// The entry stays where it is: creation copies it from the
			// shard, which the read-ahead above brought into the page
			// cache. A copy in memory would cost first-touch memory for
			// every byte and gain nothing.
			f.Storage, f.Offset, f.RawOffset, f.RawSize = shards.StorageOffset, e.DataOffset, e.HeaderOffset, e.RawSize()
			if e.Rewrite {
				f.RawSize = -1 // copied under a header of its own
			}
			if isKey {
				if key, keyErr, err = readKey(rd, e, cfg.Key.Kind, in.Name); err != nil {
					release()
					return nil, err
				}
			}
		} else if cfg.HeadersOnly {
			// The reader skips what is not read at the next entry.
			if isKey {
				if key, keyErr, err = readKey(rd, e, cfg.Key.Kind, in.Name); err != nil {
					release()
					return nil, err
				}
			}
		} else {
			if err := keepContent(ctx, cfg, rd, e, &f, spill, buf, counters, in.Name); err != nil {
				release()
				return nil, err
			}
			if isKey {
				if key, keyErr, err = keyOf(&f, spill, cfg.Key.Kind, in.Name); err != nil {
					ReleaseFile(cfg.Budget, &f) // not among files yet
					release()
					return nil, err
				}
			}
		}
		// A content key (content_key_type string: up to 1 MiB) is held
		// to the job's end, as the names are.
		if len(key.String) > 0 && !cfg.Budget.Charge(int64(len(key.String))) {
			ReleaseFile(cfg.Budget, &f) // not among files yet
			release()
			return nil, fmt.Errorf("%w: shard %s, at member %d (a key of %d bytes): the records' names and keys take more than the %s a job's memory budget (max_mem_usage) allows them", ErrNamesOverBudget, in.Name, len(files), len(key.String), shards.FormatSize(cfg.Budget.MetadataLimit()))
		}
		files = append(files, f)
		keys = append(keys, key)
		keyFound = append(keyFound, isKey)
		keyErrs = append(keyErrs, keyErr)
		counters.Bytes.Add(e.Size)
	}
	if lr, ok := rd.(formats.LinkReporter); ok && cfg.OnLinks != nil {
		if count, names := lr.Links(); count > 0 {
			if err := cfg.OnLinks(in.Name, count, names); err != nil {
				release()
				return nil, err
			}
		}
	}
	records := make([]shards.Record, 0, group.Records())
	for r := range group.Records() {
		rec := shards.Record{ID: shards.RecordID{Shard: in.Index, Record: int32(r)}, Name: group.RecordName(r)}
		haveKey := false
		for m := range group.Members(r) {
			if group.IsDropped(m.Index) {
				continue
			}
			f := files[m.Index]
			// Kept members only: a duplicate dropped is never written.
			if cfg.CheckEntry != nil {
				if err := cfg.CheckEntry(f.Name, f.Size); err != nil {
					release()
					return nil, fmt.Errorf("shard %s: the output format cannot hold a member: %w", in.Name, err)
				}
			}
			rec.Files = append(rec.Files, f)
			rec.Size += shards.EncodedSize(f.Size)
			if keyFound[m.Index] {
				if err := keyErrs[m.Index]; err != nil {
					release()
					return nil, err
				}
				rec.Key, haveKey = keys[m.Index], true
			}
		}
		if len(rec.Files) == 0 {
			continue
		}
		if cfg.CheckRecord != nil {
			var values int64
			members := make([]string, len(rec.Files))
			for i, f := range rec.Files {
				values += f.Size
				members[i] = f.Name
			}
			if err := cfg.CheckRecord(rec.Name, members, values); err != nil {
				release()
				return nil, fmt.Errorf("shard %s: the output format cannot hold a record: %w", in.Name, err)
			}
		}
		if cfg.Key.Extension == "" {
			// The name of the record's first file, as AIStore keys it,
			// though a duplicate of it later took its place.
			rec.Key = shards.Key{Kind: shards.KeyString, String: files[group.FirstMember(r)].Name}
		} else if !haveKey {
			release()
			return nil, fmt.Errorf("%w: record %q of shard %s has no %s file to take its key from", ErrKeyMissing, rec.Name, in.Name, cfg.Key.Extension)
		}
		records = append(records, rec)
	}
	counters.Records.Add(int64(len(records)))
	counters.Shards.Add(1)
	return records, nil
}

// ErrNamesOverBudget: the records' names and metadata, which stay in
// memory for the whole job, pass its memory budget.
var ErrNamesOverBudget = errors.New("extract: names over the memory budget")

// ErrKeyMissing: a record lacks the file its content key comes from.
var ErrKeyMissing = errors.New("extract: key is missing")

// keepContent copies a file's data into memory if the budget allows, or
// to the spill file.
func keepContent(ctx context.Context, cfg Config, rd io.Reader, e *formats.Entry, f *shards.File, spill *spillFile, buf []byte, counters *Counters, shard string) error {
	if e.Size <= maxInMemory && cfg.Budget.Reserve(int64(pool.Capacity(int(e.Size)))) {
		data := pool.Get(int(e.Size))
		if _, err := io.ReadFull(rd, data); err != nil {
			cfg.Budget.Release(int64(cap(data)))
			pool.Put(data)
			return fmt.Errorf("read %s of shard %s: %w", e.Name, shard, err)
		}
		f.Storage, f.Data = shards.StorageMemory, data
		return nil
	}
	// A spilled file may be gigabytes: an abort stops it midway.
	off, err := spill.append(contextReader{ctx, rd}, e.Size, buf)
	if err != nil {
		return fmt.Errorf("spill %s of shard %s: %w", e.Name, shard, err)
	}
	f.Storage, f.Offset, f.Spill = shards.StorageSpill, off, spill.index
	counters.SpilledFiles.Add(1)
	counters.SpilledBytes.Add(e.Size)
	return nil
}

// contextReader ends a copy once its context is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

// readKey reads the current entry's content as a key.
func readKey(rd io.Reader, e *formats.Entry, kind shards.KeyKind, shard string) (key shards.Key, keyErr, err error) {
	if e.Size > maxKeyFile {
		// The reader skips it at the next entry.
		return shards.Key{}, fmt.Errorf("key file %s of shard %s is %d bytes, more than %d", e.Name, shard, e.Size, maxKeyFile), nil
	}
	data := make([]byte, e.Size)
	if _, err := io.ReadFull(rd, data); err != nil {
		return shards.Key{}, nil, fmt.Errorf("read key file %s of shard %s: %w", e.Name, shard, err)
	}
	return parseKey(kind, data, e.Name, shard)
}

// parseKey parses a key file's content; what is no key is keyErr.
func parseKey(kind shards.KeyKind, data []byte, file, shard string) (key shards.Key, keyErr, err error) {
	key, keyErr = shards.ParseKey(kind, data)
	if keyErr != nil {
		return key, fmt.Errorf("key file %s of shard %s: %w", file, shard, keyErr), nil
	}
	return key, nil, nil
}

// keyOf parses a kept file's content as a key.
func keyOf(f *shards.File, spill *spillFile, kind shards.KeyKind, shard string) (key shards.Key, keyErr, err error) {
	if f.Size > maxKeyFile {
		return shards.Key{}, fmt.Errorf("key file %s of shard %s is %d bytes, more than %d", f.Name, shard, f.Size, maxKeyFile), nil
	}
	var data []byte
	if f.Storage == shards.StorageMemory {
		data = f.Data[f.Offset : f.Offset+f.Size]
	}
	if f.Storage == shards.StorageSpill {
		if err := spill.writer.Flush(); err != nil {
			return shards.Key{}, nil, err
		}
		data = make([]byte, f.Size)
		if _, err := spill.file.ReadAt(data, f.Offset); err != nil {
			return shards.Key{}, nil, fmt.Errorf("read key file %s back: %w", f.Name, err)
		}
	}
	return parseKey(kind, data, f.Name, shard)
}

// contextReaderAt fails its reads once ctx ends: a shard's reader parses
// on between the entries it returns (a compressed run of directories it
// skips, the drain after a tar's end), where a check between entries
// would not stop it.
type contextReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c contextReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.ReadAt(p, off)
}
