package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/shards"
)

type localFile struct {
	path, name string
	size       int64
}

func newPutCommand() *cobra.Command {
	var workers int
	var progress bool
	var archPath, archMime string
	cmd := &cobra.Command{
		Use:   "put FILE|DIR|- ais://BUCKET[/NAME]",
		Short: "Put a file, a directory (recursively, in parallel) or stdin into a bucket",
		Long: "Put a file as ais://BUCKET/NAME (NAME defaults to the file's base name; a NAME ending in '/' is a prefix).\n" +
			"A directory is put recursively, in parallel, each file named PREFIX + its path inside the directory;\n" +
			"a symbolic link to a file is followed (the file it points to is put, wherever it is, under the link's name),\n" +
			"one to a directory is skipped.\n" +
			"'-' reads stdin and needs a NAME.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, name, err := parseURI(args[1])
			if err != nil {
				return err
			}
			if archMime != "" && archPath == "" {
				return errors.New("--archmime names the format of the shard --archpath puts a file into: give --archpath")
			}
			c := client()
			ctx := cmd.Context()
			if args[0] == "-" {
				if archPath != "" {
					// Sent as an object, stdin would replace the whole shard.
					return errors.New("--archpath puts a regular file into a shard (its size is sent first), not stdin")
				}
				if name == "" || strings.HasSuffix(name, "/") {
					return errors.New("putting stdin needs an object name: ais://BUCKET/NAME")
				}
				meta, err := c.Put(ctx, bucket, name, os.Stdin, api.PutOptions{Size: -1})
				if err != nil {
					return err
				}
				fmt.Printf("put %s/%s (%d bytes)\n", uri(bucket), name, meta.Size)
				return nil
			}
			if archPath != "" {
				return putIntoShard(ctx, c, args[0], bucket, name, archPath, archMime)
			}
			if workers < 1 || workers > 1024 {
				return fmt.Errorf("--workers %d: want 1 to 1024", workers)
			}
			files, skipped, err := collect(args[0], name)
			if err != nil {
				return err
			}
			if skipped > 0 {
				fmt.Fprintf(os.Stderr, "skipping %d entries of %s that are not regular files (symlinked directories, pipes, devices, sockets)\n", skipped, args[0])
			}
			if len(files) == 0 {
				return fmt.Errorf("%s has no files to put", args[0])
			}
			var total int64
			for _, f := range files {
				total += max(f.size, 0)
			}
			start := time.Now()
			bars := newBars(ctx, progress)
			bar := bytesBar(bars, "put", total)
			var count, streamed atomic.Int64
			// One file that fails does not stop the others: each failure
			// is told at the end (Ctrl-C stops them all).
			var failedMu sync.Mutex
			var failed []error
			fail := func(err error) {
				failedMu.Lock()
				failed = append(failed, err)
				failedMu.Unlock()
			}
			var g errgroup.Group
			g.SetLimit(max(workers, 1))
			for _, f := range files {
				g.Go(func() error {
					if ctx.Err() != nil {
						return nil
					}
					file, err := os.Open(f.path)
					if err != nil {
						fail(err)
						return nil
					}
					defer file.Close()
					var body io.Reader = file
					counted := &barReader{file: file, bar: bar}
					if f.size >= 0 {
						body = counted // a stream is not in the total
					}
					meta, err := c.Put(ctx, bucket, f.name, body, api.PutOptions{Size: f.size})
					if err != nil {
						fail(fmt.Errorf("put %s as %s/%s: %w", f.path, uri(bucket), f.name, err))
						return nil
					}
					if f.size < 0 {
						streamed.Add(meta.Size)
					} else {
						bar.IncrInt64(f.size - counted.read)
					}
					count.Add(1)
					return nil
				})
			}
			g.Wait()
			if len(failed) > 0 || ctx.Err() != nil {
				bar.Abort(false)
			} else {
				bar.SetTotal(-1, true) // complete however little it counted (an empty file, a stream)
			}
			bars.Wait()
			if err := context.Cause(ctx); err != nil {
				return fmt.Errorf("put %d of %d files into %s before it was stopped: %w", count.Load(), len(files), uri(bucket), err)
			}
			if len(failed) > 0 {
				const told = 20
				for _, err := range failed[:min(len(failed), told)] {
					fmt.Fprintln(os.Stderr, oneLine(err))
				}
				if len(failed) > told {
					fmt.Fprintf(os.Stderr, "... and %d more\n", len(failed)-told)
				}
				return fmt.Errorf("%d of %d files not put into %s (%d put)", len(failed), len(files), uri(bucket), count.Load())
			}
			total += streamed.Load()
			elapsed := time.Since(start)
			fmt.Printf("put %d objects (%s) into %s in %s (%.1f MiB/s)\n", count.Load(), shards.FormatSize(total), uri(bucket),
				elapsed.Round(time.Millisecond), float64(total)/(1<<20)/elapsed.Seconds())
			return nil
		},
	}
	cmd.Flags().IntVar(&workers, "workers", 16, "parallel uploads")
	cmd.Flags().BoolVar(&progress, "progress", false, "draw the progress bar even when stderr is not a terminal")
	cmd.Flags().StringVar(&archPath, "archpath", "", "put FILE as this file of the shard ais://BUCKET/NAME (replacing one of the same name; the shard is created if missing)")
	cmd.Flags().StringVar(&archMime, "archmime", "", "with --archpath: the shard's format (.tar, .tgz, .zip, ...) when its name does not tell")
	return cmd
}

// putIntoShard puts one local file as a file of a shard object.
func putIntoShard(ctx context.Context, c *api.Client, src string, bucket, name, archPath, archMime string) error {
	if name == "" || strings.HasSuffix(name, "/") {
		return errors.New("--archpath needs the shard's name: ais://BUCKET/SHARD")
	}
	file, err := os.Open(src)
	if err != nil {
		return err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("--archpath puts one regular file; %s is not", src)
	}
	var body io.Reader = file
	if info.Size() == 0 {
		// A body of unknown length would go chunked, which a PUT into a
		// shard refuses: an empty member is an empty body of length 0.
		body = bytes.NewReader(nil)
	}
	if _, err := c.Put(ctx, bucket, name, body, api.PutOptions{Size: info.Size(), ArchPath: archPath, ArchMime: archMime}); err != nil {
		return err
	}
	fmt.Printf("put %s as %s in %s/%s (%d bytes)\n", src, archPath, uri(bucket), name, info.Size())
	return nil
}

// collect lists what to put: one file, or every regular file under a
// directory (a symlinked file is followed, a symlinked directory is not:
// no loops), with their object names. A single file that is not regular
// (a pipe, /dev/stdin, <(cmd)) is put as a stream, of size -1. skipped
// counts the entries of a directory that are not put.
func collect(src, name string) (files []localFile, skipped int, err error) {
	info, err := os.Stat(src)
	if err != nil {
		return nil, 0, err
	}
	if !info.IsDir() {
		if name == "" || strings.HasSuffix(name, "/") {
			name += filepath.Base(src)
		}
		size := info.Size()
		if !info.Mode().IsRegular() {
			size = -1 // its length is known once it is read
		}
		return []localFile{{path: src, name: name, size: size}}, 0, nil
	}
	prefix := name
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	// A symlink to a directory is walked as the directory (WalkDir would
	// see one link and nothing under it).
	root, err := filepath.EvalSymlinks(src)
	if err != nil {
		return nil, 0, err
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var fi fs.FileInfo
		if d.Type()&fs.ModeSymlink != 0 {
			fi, err = os.Stat(p)
			dangling := errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG)
			if err != nil && !dangling {
				// Not one to skip quietly (a link into a directory this
				// user cannot read): the put would be short of it.
				return err
			}
			if err != nil || !fi.Mode().IsRegular() {
				skipped++ // dangling, or a directory, a device, a pipe
				return nil
			}
		} else if !d.Type().IsRegular() {
			skipped++
			return nil
		} else if fi, err = d.Info(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, localFile{path: p, name: prefix + filepath.ToSlash(rel), size: fi.Size()})
		return nil
	})
	return files, skipped, err
}

// writeLocalFile writes a file by fill beside dest and renames it over
// dest: a failed download leaves no partial file. The file gets the mode
// of the one it replaces, else 0666 less the umask, as any tool makes it
// (not CreateTemp's 0600).
// writtenInPlace reports a destination writeLocalFile writes where it is
// (a descriptor, a device, a pipe): what reached it stays there.
func writtenInPlace(dest string) bool {
	if _, ok := openDescriptor(dest); ok {
		return true
	}
	fi, err := os.Stat(dest)
	return err == nil && !fi.Mode().IsRegular() && !fi.IsDir()
}

// unchangedNote is said of dest after a failed write into it.
func unchangedNote(dest string) string {
	if writtenInPlace(dest) {
		return "" // the bytes before the failure went out
	}
	return " (left as it was)"
}

func writeLocalFile(dest string, fill func(io.Writer) error) error {
	// A descriptor this process holds (/dev/stdout, /dev/fd/3): written
	// where it is (a pipe, the middle of a file the shell redirected to),
	// as the shell's own redirection would be.
	if fd, ok := openDescriptor(dest); ok {
		// Through a copy of it, closed here (a file of the descriptor
		// itself would close it when collected).
		copied, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			return fmt.Errorf("%s: %w", dest, errno)
		}
		f := os.NewFile(copied, dest)
		err := fill(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	// A device or a pipe, at the end of any links (/dev/null, a FIFO):
	// written itself, a file renamed over it would replace it.
	if fi, err := os.Stat(dest); err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
		f, err := os.OpenFile(dest, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = fill(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	// A symbolic link is written through, as cp and curl -o do: the file
	// it points to is replaced, the link stays a link.
	real, err := followLinks(dest)
	if err != nil {
		return err
	}
	dest = real
	// Before the bytes come (a get-batch asks for them in fill): a
	// directory there would take none.
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory: name the file to write", dest)
	}
	// A file its owner made read-only is not replaced behind its back
	// (the rename needs only the directory's permission).
	if fi, err := os.Stat(dest); err == nil && fi.Mode().IsRegular() && syscall.Access(dest, 2 /* W_OK */) != nil {
		return fmt.Errorf("%s is not writable: remove it or change its mode first", dest)
	}
	// The part file has the mode of the file it replaces from the start:
	// a private one's new bytes are not readable by others meanwhile.
	mode := os.FileMode(0o666)
	if fi, err := os.Stat(dest); err == nil && fi.Mode().IsRegular() {
		mode = fi.Mode().Perm()
	}
	tmp, err := createPart(dest, mode)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", dest, err)
	}
	err = fill(tmp)
	if fi, serr := os.Stat(dest); err == nil && serr == nil && fi.Mode().IsRegular() {
		err = tmp.Chmod(fi.Mode().Perm())
	}
	if err == nil {
		// Durable before it replaces the old file: a crash must leave
		// one or the other whole, not an empty file of the new name.
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	parts.Delete(tmp.Name())
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	// Replaced now: a directory that cannot be synced (one not readable)
	// is told, not a failure that says the old file stayed.
	if serr := atomicfile.SyncDir(filepath.Dir(dest)); serr != nil {
		fmt.Fprintf(os.Stderr, "ais: wrote %s, but its directory could not be synced (a crash may lose the new name): %v\n", dest, serr)
	}
	return nil
}

// replacesFile reports whether writeLocalFile would replace a regular
// file at dest (a device, a descriptor or a pipe is written in place).
func replacesFile(dest string) bool {
	if _, ok := openDescriptor(dest); ok {
		return false
	}
	fi, err := os.Stat(dest)
	return err == nil && fi.Mode().IsRegular()
}

// openDescriptor returns the descriptor of this process a path names:
// /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N or this process's
// /proc/PID/fd/N (what a shell's >(...) hands over). Only one this
// process was handed (not close-on-exec, as all it opens itself are: a
// connection, the runtime's own) is taken.
func openDescriptor(path string) (int, bool) {
	switch path {
	case "/dev/stdout":
		return 1, true
	case "/dev/stderr":
		return 2, true
	}
	rest, ok := strings.CutPrefix(path, "/dev/fd/")
	if !ok {
		rest, ok = strings.CutPrefix(path, "/proc/self/fd/")
	}
	if !ok {
		rest, ok = strings.CutPrefix(path, "/proc/"+strconv.Itoa(os.Getpid())+"/fd/")
	}
	fd, err := strconv.Atoi(rest)
	if !ok || err != nil || fd < 0 || strconv.Itoa(fd) != rest {
		return 0, false
	}
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if errno != 0 || flags&syscall.FD_CLOEXEC != 0 {
		return 0, false // not open here, or not handed over: the path is what it names
	}
	return fd, true
}

// followLinks resolves dest's chain of links, link by link, each under
// mayFollow: the kernel would check every link of the chain, a rename
// over its end none. A path that is no link is dest itself.
func followLinks(dest string) (string, error) {
	for hops := 0; ; hops++ {
		fi, err := os.Lstat(dest)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return dest, nil
		}
		if hops == 40 {
			return "", fmt.Errorf("%s: too many links", dest)
		}
		if err := mayFollow(dest, fi); err != nil {
			return "", err
		}
		target, err := os.Readlink(dest)
		if err != nil {
			return "", err
		}
		// Where the kernel takes it: ".." after a directory that is a
		// link is that directory's parent (Join would drop both by the
		// text), and the directories' links are followed under its rule.
		raw := target
		if !filepath.IsAbs(target) {
			raw = dest[:strings.LastIndex(dest, string(filepath.Separator))+1] + target
		}
		i := strings.LastIndex(raw, string(filepath.Separator))
		dir, err := kernelDir(cmp.Or(raw[:i+1], "."))
		if err != nil {
			return "", err
		}
		dest = filepath.Join(dir, raw[i+1:])
	}
}

// kernelDir is a directory's path as the kernel resolves it (opened, and
// named by /proc), without links or "..".
func kernelDir(dir string) (string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil {
		return real, nil
	}
	return filepath.EvalSymlinks(dir) // no /proc
}

// mayFollow applies the kernel's rule for links in shared directories
// (fs.protected_symlinks), which a rename over the link's target would
// bypass: a link in a sticky, world-writable directory (/tmp) is
// followed only when it is the user's own or the directory owner's,
// else another user's link would have the user replace any of its
// files.
func mayFollow(link string, fi os.FileInfo) error {
	dir, err := os.Stat(filepath.Dir(link))
	if err != nil {
		return err
	}
	linkStat, ok1 := fi.Sys().(*syscall.Stat_t)
	dirStat, ok2 := dir.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 || followAllowed(dir.Mode(), dirStat.Uid, linkStat.Uid, uint32(os.Geteuid())) {
		return nil
	}
	return fmt.Errorf("%s is another user's link in a shared directory (%s): not followed; name another file", link, filepath.Dir(link))
}

// followAllowed is the rule of mayFollow: a directory's mode and owner, a
// link's owner, and the user's id.
func followAllowed(dirMode os.FileMode, dirOwner, linkOwner, user uint32) bool {
	shared := dirMode&os.ModeSticky != 0 && dirMode.Perm()&0o002 != 0
	return !shared || linkOwner == user || linkOwner == dirOwner
}

// createPart makes a new file beside dest with mode (0666 for a new
// file), which the kernel narrows by the umask. Its name keeps at most
// 200 bytes of dest's, so that it fits the 255 of a file name whatever
// dest's is.
func createPart(dest string, mode os.FileMode) (*os.File, error) {
	base := filepath.Base(dest)
	if len(base) > 200 {
		base = strings.ToValidUTF8(base[:200], "")
	}
	part, err := atomicfile.CreateUnique(filepath.Dir(dest), "."+base+".part-", mode)
	if err == nil {
		parts.Store(part.Name(), true)
	}
	return part, err
}

// parts are the part files being written: a second interrupt, which ends
// the command at once, removes them (removeParts).
var parts sync.Map

// removeParts removes the part files being written.
func removeParts() {
	parts.Range(func(name, _ any) bool {
		os.Remove(name.(string))
		parts.Delete(name)
		return true
	})
}

func newGetCommand() *cobra.Command {
	var opts api.GetOptions
	var offset, length string
	cmd := &cobra.Command{
		Use:   "get ais://BUCKET/OBJECT [FILE|-]",
		Short: "Get an object into a file (default: its base name) or stdout ('-')",
		Long: "Get an object into a file (default: its base name, in the current directory) or stdout ('-').\n" +
			"The object is written beside the file and renamed over it once whole: a file there is replaced\n" +
			"(the command says so), and a failed download leaves it as it was.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, name, err := parseURI(args[0])
			if err != nil {
				return err
			}
			if name == "" {
				return fmt.Errorf("%q names no object", args[0])
			}
			for flag, value := range map[string]string{"--offset": offset, "--length": length} {
				if strings.HasPrefix(strings.TrimSpace(value), "-") {
					return fmt.Errorf("%s %s: cannot be negative (want a first byte and a count of 0 or more)", flag, value)
				}
			}
			// Flags the target reads only beside others are not ignored.
			if opts.ArchMime != "" && opts.ArchPath == "" && opts.ArchRegex == "" {
				return errors.New("--archmime names the format of the shard --archpath or --archregx reads from: give one of them")
			}
			if opts.ArchMode != "" && opts.ArchRegex == "" {
				return errors.New("--archmode says how --archregx matches: give --archregx")
			}
			base := path.Base(name)
			if opts.ArchPath != "" {
				base = path.Base(opts.ArchPath)
			}
			if opts.ArchRegex != "" {
				base = path.Base(name) + ".selected.tar"
			}
			dest := base
			if len(args) == 2 {
				dest = args[1]
				// Into a directory, as cp does: under the object's base name.
				if info, err := os.Stat(dest); err == nil && info.IsDir() {
					dest = filepath.Join(dest, base)
				}
			}
			if base == "." || base == ".." || base == "/" {
				if len(args) < 2 || dest != args[1] {
					return fmt.Errorf("%q: its base name %q is no file name; name the file to write", args[0], base)
				}
			}
			// Before the bytes come: a directory there would take none.
			if info, err := os.Stat(dest); err == nil && info.IsDir() && (len(args) < 2 || args[1] != "-") {
				return fmt.Errorf("%s is a directory: name the file to write", dest)
			}
			if opts.Offset, err = shards.ParseSize(offset); err != nil {
				return fmt.Errorf("--offset %q: %w", offset, err)
			}
			if opts.Length, err = shards.ParseSize(length); err != nil {
				return fmt.Errorf("--length %q: %w", length, err)
			}
			r, _, err := client().Get(cmd.Context(), bucket, name, opts)
			if err != nil {
				return err
			}
			defer r.Close()
			// Standard output when named so, not for an object whose base
			// name is "-".
			if len(args) == 2 && args[1] == "-" {
				if _, err = io.Copy(os.Stdout, r); err != nil {
					return fmt.Errorf("get %s/%s to standard output: %w", uri(bucket), name, err)
				}
				return nil
			}
			var n int64
			existed := replacesFile(dest)
			err = writeLocalFile(dest, func(w io.Writer) (err error) {
				n, err = io.Copy(w, r)
				return err
			})
			if err != nil {
				// Which of a script's many gets, and that the file there
				// (if any) is as it was.
				return fmt.Errorf("get %s/%s into %s%s: %w", uri(bucket), name, dest, unchangedNote(dest), err)
			}
			replaced := ""
			if existed {
				replaced = ", replacing the file that was there" // as cp does, but said
			}
			fmt.Fprintf(os.Stderr, "got %s/%s -> %s (%d bytes%s)\n", uri(bucket), name, dest, n, replaced)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.ArchPath, "archpath", "", "read one file of a shard (tar, tgz, zip, tar.lz4, tar.zst; KEY.EXT of a msgpack or tfrecord record)")
	cmd.Flags().StringVar(&opts.ArchRegex, "archregx", "", "read the files of a shard that match, as a tar (see --archmode)")
	cmd.Flags().StringVar(&opts.ArchMode, "archmode", "", "how --archregx matches a file name: regexp (default), prefix, suffix, substr, wdskey (the record name)")
	cmd.Flags().StringVar(&opts.ArchMime, "archmime", "", "the shard's format (.tar, .tgz, .zip, ...) when its name does not tell")
	cmd.Flags().BoolVar(&opts.Validate, "validate", false, "have the target verify the checksum before sending")
	cmd.Flags().BoolVar(&opts.Latest, "latest", false, "of a remote bucket: fetch the object again if the remote has a newer version")
	cmd.Flags().StringVar(&offset, "offset", "", "first byte to read (bytes, or with a unit: 4KiB, 1MB)")
	cmd.Flags().StringVar(&length, "length", "", "bytes to read (with a unit or not; 0 or none: to the end)")
	return cmd
}

func newListCommand() *cobra.Command {
	var prefix, props string
	var asJSON, cached bool
	var limit int
	cmd := &cobra.Command{
		Use:   "ls [ais://BUCKET | s3://BUCKET]",
		Short: "List the objects of a bucket (or, with no argument, the buckets)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client()
			if len(args) == 0 {
				for _, flag := range []string{"prefix", "limit", "props", "cached"} {
					if cmd.Flags().Changed(flag) {
						return fmt.Errorf("--%s lists objects: name the bucket (ais ls ais://BUCKET --%s ...)", flag, flag)
					}
				}
				return listBuckets(cmd.Context(), asJSON)
			}
			bucket, objPrefix, err := parseURI(args[0])
			if err != nil {
				return err
			}
			if prefix != "" && objPrefix != "" && prefix != objPrefix {
				return fmt.Errorf("two prefixes: %q in %s and --prefix %q: give one", objPrefix, args[0], prefix)
			}
			if prefix == "" {
				prefix = objPrefix
			}
			msg := api.ListObjectsMessage{Prefix: prefix, Props: props}
			if cached {
				msg.Flags |= api.ListCached
			}
			remote := strings.Contains(bucket, "://")
			// Printed as the pages come: a bucket of millions of objects
			// is not held in memory, and its first names show at once.
			out := newListingPrinter(os.Stdout, asJSON, remote, props)
			listed := 0
			var incomplete error
			for e, err := range c.ListAll(cmd.Context(), bucket, msg) {
				if errors.Is(err, api.ErrIncompleteListing) {
					// A target that did not answer holds objects the
					// listing cannot show: what the others hold is
					// printed, and the exit status says it is not all
					// (a script acting on the list must not take it for
					// whole).
					incomplete = cmp.Or(incomplete, err)
					continue
				}
				if err != nil {
					out.fail() // a JSON array cut short is left open: a parser sees it
					return err
				}
				out.add(e)
				if listed++; limit > 0 && listed >= limit {
					break
				}
			}
			if err := out.close(); err != nil {
				return err
			}
			return incomplete
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "list only names with this prefix")
	cmd.Flags().StringVar(&props, "props", "name,size", "properties to show: name,size,checksum,version,atime")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many objects (0: all)")
	cmd.Flags().BoolVar(&cached, "cached", false, "of a remote bucket, list only what the cluster has cached")
	return cmd
}

// listingPrinter prints a listing's entries as they come, as a JSON
// array or as a table (flushed every listingChunk rows: its columns are
// aligned within a chunk).
type listingPrinter struct {
	out              io.Writer
	w                *tabwriter.Writer
	asJSON           bool
	remote, withMeta bool
	n                int
}

const listingChunk = 1000

func newListingPrinter(out io.Writer, asJSON, remote bool, props string) *listingPrinter {
	p := &listingPrinter{out: out, asJSON: asJSON, remote: remote,
		withMeta: strings.Contains(props, "checksum") || strings.Contains(props, "version") || strings.Contains(props, "atime")}
	if asJSON {
		return p
	}
	p.w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	return p
}

// header starts the table, once something is listed or the listing ends.
func (p *listingPrinter) header() {
	switch {
	case p.remote && p.withMeta:
		fmt.Fprintln(p.w, "NAME\tSIZE\tCACHED\tCHECKSUM\tVERSION\tATIME")
	case p.remote:
		fmt.Fprintln(p.w, "NAME\tSIZE\tCACHED")
	case p.withMeta:
		fmt.Fprintln(p.w, "NAME\tSIZE\tCHECKSUM\tVERSION\tATIME")
	default:
		fmt.Fprintln(p.w, "NAME\tSIZE")
	}
}

func (p *listingPrinter) add(e api.ListEntry) {
	defer func() { p.n++ }()
	if p.asJSON {
		data, _ := json.MarshalIndent(e, "  ", "  ")
		sep := ",\n  "
		if p.n == 0 {
			sep = "[\n  "
		}
		fmt.Fprintf(p.out, "%s%s", sep, data)
		return
	}
	if p.n == 0 {
		p.header()
	}
	switch {
	case p.remote && p.withMeta:
		fmt.Fprintf(p.w, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(e.Name), shards.FormatSize(e.Size), yesNo(e.Flags&api.EntryPresent != 0), e.Checksum, printable(e.Version), e.Atime)
	case p.remote:
		fmt.Fprintf(p.w, "%s\t%s\t%s\n", printable(e.Name), shards.FormatSize(e.Size), yesNo(e.Flags&api.EntryPresent != 0))
	case p.withMeta:
		fmt.Fprintf(p.w, "%s\t%s\t%s\t%s\t%s\n", printable(e.Name), shards.FormatSize(e.Size), e.Checksum, printable(e.Version), e.Atime)
	default:
		fmt.Fprintf(p.w, "%s\t%s\n", printable(e.Name), shards.FormatSize(e.Size))
	}
	if (p.n+1)%listingChunk == 0 {
		p.w.Flush()
	}
}

// fail ends a listing that failed: nothing if nothing was listed (not an
// empty bucket's "[]"), the table's rows so far, a JSON array left open.
func (p *listingPrinter) fail() {
	if p.n > 0 && !p.asJSON {
		p.w.Flush()
	}
}

// close ends the listing: the JSON array's end, the table's last rows.
func (p *listingPrinter) close() error {
	if p.asJSON {
		if p.n == 0 {
			_, err := fmt.Fprint(p.out, "[]\n")
			return err
		}
		_, err := fmt.Fprint(p.out, "\n]\n")
		return err
	}
	if p.n == 0 {
		p.header() // an empty bucket: the header alone, as before
	}
	return p.w.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newRemoveCommand() *cobra.Command {
	var template, prefix string
	var noWait bool
	cmd := &cobra.Command{
		Use:   "rm ais://BUCKET/OBJECT... | rm ais://BUCKET --template T | --prefix P",
		Short: "Remove objects: by name, or many by template or prefix (a job on every target)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if template != "" || prefix != "" {
				if len(args) != 1 {
					return fmt.Errorf("with --template or --prefix, give one ais://BUCKET")
				}
				return removeSelected(cmd, args[0], template, prefix, noWait)
			}
			if noWait {
				// Objects by name go one by one, no job: nothing to wait for.
				return fmt.Errorf("--no-wait is for a removal by --template or --prefix (a job); objects by name are removed as the command runs")
			}
			type target struct{ bucket, name string }
			var targets []target
			for _, a := range args { // every name checked before any is removed
				bucket, name, err := parseURI(a)
				if err != nil {
					return err
				}
				if name == "" {
					return fmt.Errorf("%q names no object (use 'ais bucket rm' to remove a bucket)", a)
				}
				targets = append(targets, target{bucket, name})
			}
			c := client()
			failed := 0
			for _, o := range targets {
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				if err := c.Delete(cmd.Context(), o.bucket, o.name); err != nil {
					if len(targets) == 1 {
						return err
					}
					// The others are still removed; each failure told.
					fmt.Fprintln(cmd.ErrOrStderr(), oneLine(err))
					failed++
					continue
				}
				fmt.Printf("removed %s/%s\n", uri(o.bucket), o.name)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d objects not removed", failed, len(targets))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&template, "template", "", "remove the names of a template, e.g. 'shard-{0000..0099}.tar'")
	cmd.Flags().StringVar(&prefix, "prefix", "", "remove every name with this prefix")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "with --template or --prefix: print the job id and return")
	return cmd
}

func newObjectCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "object", Short: "Object metadata and where an object is kept"}
	var asJSON bool
	head := &cobra.Command{
		Use:   "head ais://BUCKET/OBJECT",
		Short: "Show an object's size, checksum, version and access time",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, name, err := parseURI(args[0])
			if err != nil {
				return err
			}
			if name == "" {
				return fmt.Errorf("%q names no object (want ais://BUCKET/OBJECT)", args[0])
			}
			meta, err := client().Head(cmd.Context(), bucket, name)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(meta)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "name\t%s\nsize\t%d\nchecksum\t%s\nversion\t%s\natime\t%s\n", printable(meta.Name), meta.Size, meta.Checksum, printable(meta.Version), meta.Atime.Format(time.RFC3339))
			for k, v := range meta.Custom {
				fmt.Fprintf(w, "custom.%s\t%s\n", printable(k), printable(v))
			}
			return w.Flush()
		},
	}
	head.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show := &cobra.Command{
		Use:   "show ais://BUCKET/OBJECT",
		Short: "Show where an object is kept: its copies on the owner's mountpaths and its parts on other targets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, name, err := parseURI(args[0])
			if err != nil {
				return err
			}
			if name == "" {
				return fmt.Errorf("%q names no object (want ais://BUCKET/OBJECT)", args[0])
			}
			loc, err := client().ObjectLocation(cmd.Context(), bucket, name)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(loc)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TARGET\tKIND\tWHERE\tSIZE\tVERSION")
			for _, c := range loc.Copies {
				kind := "copy"
				if !c.Current {
					kind = "stale copy"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", loc.Target, kind, c.Mountpath, c.Size, printable(c.Version))
			}
			for _, p := range loc.Parts {
				kind := fmt.Sprintf("slice %d of %d+%d", p.Index, p.Data, p.Parity)
				if p.Replica {
					kind = fmt.Sprintf("replica %d", p.Index)
				}
				fmt.Fprintf(w, "%s\t%s\t-\t%d\t%s\n", p.Target, kind, p.Size, printable(p.Version))
			}
			for _, e := range loc.Errors {
				fmt.Fprintf(w, "%s\tunreachable\t-\t-\t-\n", printable(e))
			}
			return w.Flush()
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(head, show)
	return cmd
}
