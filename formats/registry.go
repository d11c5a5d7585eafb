package formats

import (
	"fmt"
	"strings"
)

// Registry finds formats by extension, shard name and magic bytes. The zero
// value is an empty registry ready for Register. A Registry is not safe for
// concurrent Register; lookups may run concurrently once it is filled.
type Registry struct {
	formats []Format          // in registration order, which Detect follows
	byExt   map[string]Format // lower-case extension with its leading dot
}

// Default returns a new registry holding tar, tgz, zip, tar.lz4, tar.zst,
// msgpack and tfrecord.
func Default() *Registry {
	r := &Registry{}
	r.Register(Tar{})
	r.Register(TarGzip{})
	r.Register(Zip{})
	r.Register(TarLZ4{})
	r.Register(TarZstd{})
	r.Register(Msgpack{})
	r.Register(TFRecord{})
	return r
}

// Register adds a format. It panics if one of its extensions is already
// registered, or if it has none.
func (r *Registry) Register(f Format) {
	exts := f.Extensions()
	if len(exts) == 0 {
		panic(fmt.Sprintf("formats: format %q has no extension", f.Name()))
	}
	for _, ext := range exts {
		key := normalizeExtension(ext)
		if _, dup := r.byExt[key]; dup {
			panic(fmt.Sprintf("formats: extension %q registered twice", ext))
		}
	}
	if r.byExt == nil {
		r.byExt = make(map[string]Format)
	}
	for _, ext := range exts {
		r.byExt[normalizeExtension(ext)] = f
	}
	r.formats = append(r.formats, f)
}

// normalizeExtension lower-cases an extension and gives it a leading dot:
// "tgz", ".TGZ" and ".tgz" are one key.
func normalizeExtension(ext string) string {
	ext = strings.ToLower(ext)
	if !strings.HasPrefix(ext, ".") {
		ext = "." + ext
	}
	return ext
}

// ByExtension returns the format of an extension such as ".tgz"; the leading
// dot is optional and case is ignored ("tgz", "tar.gz" and ".TAR" work).
func (r *Registry) ByExtension(ext string) (Format, bool) {
	if ext == "" || ext == "." {
		return nil, false
	}
	f, ok := r.byExt[normalizeExtension(ext)]
	return f, ok
}

// ByName returns the format of a shard name by its suffix, the longest
// registered extension winning (".tar.gz" before ".gz"); case is ignored.
func (r *Registry) ByName(shardName string) (Format, bool) {
	ext := r.extensionOf(shardName)
	if ext == "" {
		return nil, false
	}
	return r.byExt[ext], true
}

// extensionOf returns the longest registered extension that ends name, in
// its normalized form, or "".
func (r *Registry) extensionOf(name string) string {
	lower := strings.ToLower(name)
	best := ""
	for ext := range r.byExt {
		if len(ext) > len(best) && len(ext) < len(lower) && strings.HasSuffix(lower, ext) {
			best = ext
		}
	}
	return best
}

// ExtensionOf returns the longest registered extension that ends name,
// spelled as name spells it (".TAR.GZ" stays so), or "".
func (r *Registry) ExtensionOf(name string) string {
	ext := r.extensionOf(name)
	if ext == "" || len(ext) > len(name) {
		return ""
	}
	if tail := name[len(name)-len(ext):]; strings.EqualFold(tail, ext) {
		return tail
	}
	return ext // (a letter that lowercases to another length)
}

// HasExtension reports whether name ends in a registered extension and has
// something before it.
func (r *Registry) HasExtension(name string) bool { return r.extensionOf(name) != "" }

// Detect returns the first registered format whose magic bytes head carries;
// head should hold the shard's first 512 bytes or more (tar's magic sits at
// byte 257).
func (r *Registry) Detect(head []byte) (Format, bool) {
	for _, f := range r.formats {
		if f.Match(head) {
			return f, true
		}
	}
	return nil, false
}

// Extensions returns every registered extension, format by format in
// registration order, each format's canonical extension first.
func (r *Registry) Extensions() []string {
	var exts []string
	for _, f := range r.formats {
		exts = append(exts, f.Extensions()...)
	}
	return exts
}

// Formats returns the registered formats in registration order.
func (r *Registry) Formats() []Format { return append([]Format(nil), r.formats...) }
