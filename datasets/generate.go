package datasets

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/formats"
	"github.com/aisgo/aisgo/shards"
)

// ErrInvalidSpec marks every Spec validation error.
var ErrInvalidSpec = errors.New("datasets: invalid spec")

// Spec describes a synthetic dataset.
type Spec struct {
	// Template names the shards, as "shard-{0000..0099}.tar"; it must be a
	// bounded range (see shards.ParseTemplate). A name without a shard
	// extension gets the Format's.
	Template string
	// Records is the number of records per shard, at least 1.
	Records int
	// RecordSize is the mean size in bytes of each record's main file, the
	// one of the first extension; 0 means empty main files.
	RecordSize int64
	// SizeSpread spreads the sizes of binary files uniformly over
	// RecordSize × [1-SizeSpread, 1+SizeSpread]; 0 means every file is
	// exactly RecordSize bytes. It lies in [0, 1].
	SizeSpread float64
	// Extensions are the files of each record, main file first. ".cls"
	// holds an integer label as text, ".json" small metadata, ".txt" a
	// caption (text of the drawn size when main); any other extension
	// (".jpg", ".png", ...) random bytes of a drawn size. Empty means
	// ".jpg", ".cls".
	Extensions []string
	// Seed seeds every random draw; the same Spec gives the same bytes.
	Seed int64
	// Format is the shard format by extension (".tar", ".tgz", ".zip",
	// ".tar.lz4", ".tar.zst", ".msgpack", ".tfrecord"); empty means the
	// extension of the template's names, or ".tar" if they have none.
	Format string
	// Workers is the number of shards generated at once; 0 means
	// runtime.GOMAXPROCS(0). It never changes the output.
	Workers int
}

// Stats counts what was generated.
type Stats struct {
	Shards       int64
	Records      int64
	Files        int64
	Bytes        int64 // file data, before archiving
	ArchiveBytes int64 // shards as written
}

func (s *Stats) add(o Stats) {
	s.Shards += o.Shards
	s.Records += o.Records
	s.Files += o.Files
	s.Bytes += o.Bytes
	s.ArchiveBytes += o.ArchiveBytes
}

// defaultExtensions are the files of a record when Spec.Extensions is empty.
var defaultExtensions = []string{".jpg", ".cls"}

// plan is a validated Spec, ready to generate.
type plan struct {
	spec       Spec
	template   shards.Template
	format     formats.Format
	suffix     string // appended to template names that lack an extension
	extensions []string
	shardWidth int // digits of the shard index in record names
	indexWidth int // digits of the record index
}

// Validate checks the Spec; every error names the field.
func (s Spec) Validate() error {
	_, err := s.plan()
	return err
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidSpec, field, fmt.Sprintf(format, args...))
}

func (s Spec) plan() (*plan, error) {
	p := &plan{spec: s, extensions: s.Extensions}
	t, err := shards.ParseTemplate(s.Template)
	if err != nil {
		return nil, invalid("Template", "%v", err)
	}
	if !t.IsRange() || !t.Bounded() {
		return nil, invalid("Template", "%q must be a bounded range such as shard-{0000..0099}.tar", s.Template)
	}
	if !t.Unique() {
		// Two shards of one name: the last written would replace the
		// other, its records lost.
		return nil, invalid("Template", "%q names some shards twice (ranges of different widths, such as s-{1..11}{1..11}): pad them, {01..11}", s.Template)
	}
	p.template = t
	switch {
	case s.Records < 1:
		return nil, invalid("Records", "%d: at least 1 record per shard", s.Records)
	case s.RecordSize < 0:
		return nil, invalid("RecordSize", "%d is negative", s.RecordSize)
	case !(s.SizeSpread >= 0 && s.SizeSpread <= 1):
		return nil, invalid("SizeSpread", "%v is not in [0, 1]", s.SizeSpread)
	case s.Workers < 0:
		return nil, invalid("Workers", "%d is negative", s.Workers)
	case s.RecordSize > 1<<40:
		return nil, invalid("RecordSize", "%d is over 1 TiB", s.RecordSize)
	}
	if len(p.extensions) == 0 {
		p.extensions = defaultExtensions
	}
	for i, ext := range p.extensions {
		if len(ext) < 2 || ext[0] != '.' || strings.ContainsAny(ext, "/\x00") {
			return nil, invalid("Extensions", "%q is not an extension such as .jpg", ext)
		}
		if slices.Contains(p.extensions[:i], ext) {
			return nil, invalid("Extensions", "%q appears twice", ext)
		}
	}
	reg := formats.Default()
	first, _ := t.At(0)
	named, hasExt := reg.ByName(first)
	switch {
	case s.Format == "" && hasExt:
		p.format = named
	case s.Format == "":
		p.format, p.suffix = formats.Tar{}, ".tar"
	default:
		f, ok := reg.ByExtension(s.Format)
		if !ok {
			return nil, invalid("Format", "%q is not one of %s", s.Format, strings.Join(reg.Extensions(), ", "))
		}
		if hasExt && named.Name() != f.Name() {
			return nil, invalid("Format", "%q conflicts with the template's extension (%s)", s.Format, named.Name())
		}
		p.format = f
		if !hasExt {
			p.suffix = f.Extensions()[0]
			if strings.HasPrefix(s.Format, ".") {
				p.suffix = s.Format // keep ".tar.gz" if asked
			}
		}
	}
	p.shardWidth = len(strconv.FormatInt(t.Count()-1, 10))
	p.indexWidth = len(strconv.Itoa(s.Records - 1))
	return p, nil
}

// ShardNames returns the names of the shards the Spec generates, in order.
func (s Spec) ShardNames() ([]string, error) {
	p, err := s.plan()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, p.template.Count())
	for name := range p.template.Names() {
		names = append(names, name+p.suffix)
	}
	return names, nil
}

// Aborter is implemented by shard writers that can discard a shard: when a
// shard fails, Generate calls Abort instead of Close.
type Aborter interface {
	Abort() error
}

// Generate writes every shard of the Spec, opening each with open, several
// at once (Spec.Workers). It stops at the first error or when ctx is done,
// and returns what was written until then.
func Generate(ctx context.Context, spec Spec, open func(shardName string) (io.WriteCloser, error)) (Stats, error) {
	p, err := spec.plan()
	if err != nil {
		return Stats{}, err
	}
	workers := spec.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var shardsDone, records, files, bytes, archived atomic.Int64
	g, groupCtx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	var index int64
	for name := range p.template.Names() {
		if groupCtx.Err() != nil {
			break
		}
		i, shardName := index, name+p.suffix
		index++
		g.Go(func() error {
			st, err := p.writeShard(groupCtx, i, shardName, open)
			shardsDone.Add(st.Shards)
			records.Add(st.Records)
			files.Add(st.Files)
			bytes.Add(st.Bytes)
			archived.Add(st.ArchiveBytes)
			return err
		})
	}
	err = g.Wait()
	if err == nil {
		err = context.Cause(ctx)
	}
	return Stats{
		Shards:       shardsDone.Load(),
		Records:      records.Load(),
		Files:        files.Load(),
		Bytes:        bytes.Load(),
		ArchiveBytes: archived.Load(),
	}, err
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeShard generates shard i; its Stats count it only if it completed.
func (p *plan) writeShard(ctx context.Context, i int64, name string, open func(string) (io.WriteCloser, error)) (Stats, error) {
	out, err := open(name)
	if err != nil {
		return Stats{}, fmt.Errorf("generate shard %s: %w", name, err)
	}
	counter := &countingWriter{w: out}
	st, err := p.encodeShard(ctx, i, name, counter)
	if err != nil {
		if a, ok := out.(Aborter); ok {
			a.Abort()
		} else {
			out.Close()
		}
		return Stats{}, fmt.Errorf("generate shard %s: %w", name, err)
	}
	if err := out.Close(); err != nil {
		return Stats{}, fmt.Errorf("generate shard %s: %w", name, err)
	}
	st.Shards, st.ArchiveBytes = 1, counter.n
	return st, nil
}

// shardSeed derives the ChaCha8 seed of a shard from the Spec's seed and
// the shard's name: shard-0100.tar of one run is not shard-0000.tar of
// another, whatever their places in their templates.
func shardSeed(seed int64, name string) [32]byte {
	var s [32]byte
	copy(s[:8], "aisgo-ds")
	binary.LittleEndian.PutUint64(s[8:], uint64(seed))
	h := fnv.New64a()
	h.Write([]byte(name))
	binary.LittleEndian.PutUint64(s[16:], h.Sum64())
	return s
}

// shardID is what a shard's record names carry of it: the runs of digits
// of its name (0107 of shard-0107.tar, its directories' too), so that the
// shards of a template, or of two with other numbers, hold no records of
// one name; its place i in the template when it has none. Two templates
// of the same numbers (train-{0..9}, val-{0..9}) give the same names: a
// job over both sets merges their records, as it would any others'
// records of one name (give them other numbers, or reshard each alone).
func shardID(name string, i int64, width int) string {
	// Each run of digits apart: s1-12 and s11-2 are 1-12 and 11-2.
	runs := strings.FieldsFunc(strings.TrimSuffix(name, path.Ext(name)), func(c rune) bool { return c < '0' || c > '9' })
	if len(runs) == 0 {
		return fmt.Sprintf("%0*d", width, i)
	}
	return strings.Join(runs, "-")
}

// chunkSize is the buffer through which large files are generated and
// written, so memory stays bounded whatever RecordSize is.
const chunkSize = 256 << 10

// encodeShard writes the records of shard i, of that name, to w.
func (p *plan) encodeShard(ctx context.Context, i int64, name string, w io.Writer) (Stats, error) {
	source := rand.NewChaCha8(shardSeed(p.spec.Seed, name))
	id := shardID(name, i, p.shardWidth)
	rng := rand.New(source)
	fw, err := p.format.NewWriter(w)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	buf := make([]byte, chunkSize, chunkSize+16) // room for a word past the chunk
	for r := range p.spec.Records {
		if err := ctx.Err(); err != nil {
			// No end: a shard cut short must not read as a whole one.
			formats.Abort(fw)
			return Stats{}, context.Cause(ctx)
		}
		record := fmt.Sprintf("sample-%s-%0*d", id, p.indexWidth, r)
		label := rng.IntN(1000)
		for k, ext := range p.extensions {
			f := file{name: record + ext, ext: ext, main: k == 0, record: record, shard: i, index: r, label: label}
			n, err := p.writeFile(ctx, fw, rng, source, buf, f)
			if err != nil {
				formats.Abort(fw)
				return Stats{}, err
			}
			st.Files++
			st.Bytes += n
		}
		st.Records++
	}
	if err := fw.Close(); err != nil {
		return Stats{}, err
	}
	return st, nil
}

// drawSize draws a file size around RecordSize.
func (p *plan) drawSize(rng *rand.Rand) int64 {
	mean, spread := p.spec.RecordSize, p.spec.SizeSpread
	if spread == 0 || mean == 0 {
		return mean
	}
	low := int64(float64(mean) * (1 - spread))
	high := int64(float64(mean) * (1 + spread))
	return low + rng.Int64N(high-low+1)
}

var words = []string{
	"a", "photo", "of", "the", "small", "large", "red", "blue", "dog", "cat", "bird", "car",
	"tree", "house", "on", "in", "with", "near", "river", "street", "field", "night", "day",
}

// file is one file of a record.
type file struct {
	name, ext string
	main      bool // the record's first extension
	record    string
	shard     int64
	index     int
	label     int
}

// writeFile writes one file and returns its size. Small files are built
// whole; large ones (binary files, a main ".txt") are generated and written
// through buf, chunk by chunk.
func (p *plan) writeFile(ctx context.Context, fw formats.Writer, rng *rand.Rand, source *rand.ChaCha8, buf []byte, f file) (int64, error) {
	var small []byte
	switch {
	case f.ext == ".cls":
		small = strconv.AppendInt(buf[:0], int64(f.label), 10)
	case f.ext == ".json":
		small = fmt.Appendf(buf[:0], `{"key":%q,"label":%d,"shard":%d,"index":%d,"width":%d,"height":%d}`,
			f.record, f.label, f.shard, f.index, 64+rng.IntN(960), 64+rng.IntN(960))
	case f.ext == ".txt" && !f.main:
		small = appendText(buf[:0], rng, 40+rng.IntN(80))
	}
	if small != nil {
		if err := fw.WriteHeader(&formats.Entry{Name: f.name, Size: int64(len(small))}); err != nil {
			return 0, err
		}
		_, err := fw.Write(small)
		return int64(len(small)), err
	}
	size := p.drawSize(rng)
	if err := fw.WriteHeader(&formats.Entry{Name: f.name, Size: size}); err != nil {
		return 0, err
	}
	for left := size; left > 0; {
		// A large file stops with the job, not at its end.
		if err := ctx.Err(); err != nil {
			return 0, context.Cause(ctx)
		}
		chunk := buf[:min(left, int64(len(buf)))]
		if f.ext == ".txt" {
			chunk = appendText(chunk[:0], rng, len(chunk))
		} else {
			source.Read(chunk) // ChaCha8.Read never fails
		}
		if _, err := fw.Write(chunk); err != nil {
			return 0, err
		}
		left -= int64(len(chunk))
	}
	return size, nil
}

// appendText appends n bytes of words separated by spaces to b.
func appendText(b []byte, rng *rand.Rand, n int) []byte {
	start := len(b)
	for len(b)-start < n {
		b = append(b, words[rng.IntN(len(words))]...)
		b = append(b, ' ')
	}
	return b[:start+n]
}
