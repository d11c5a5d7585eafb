package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newBars returns a progress container drawing on stderr when it is a
// terminal (or when forced), and drawing nothing otherwise.
func newBars(ctx context.Context, force bool) *mpb.Progress {
	options := []mpb.ContainerOption{mpb.WithWidth(36), mpb.WithOutput(io.Discard)}
	switch {
	case isTerminal(os.Stderr):
		options = append(options, mpb.WithOutput(os.Stderr))
	case force:
		// mpb draws nothing on other output unless told to: a log (a
		// CI job's) gets a frame a second, not one every 150 ms, and
		// lines as wide as a terminal's (the width is the line's there).
		options = append(options, mpb.WithOutput(os.Stderr), mpb.WithAutoRefresh(), mpb.WithRefreshRate(time.Second), mpb.WithWidth(100))
	}
	return mpb.NewWithContext(ctx, options...)
}

// bytesBar counts bytes, with rate and ETA.
func bytesBar(p *mpb.Progress, name string, total int64) *mpb.Bar {
	return p.New(total, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: 16, C: decor.DindentRight}), decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 22})),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), " % .1f", decor.WC{W: 14}), decor.Name("  ETA "), decor.AverageETA(decor.ET_STYLE_GO)),
	)
}

// tallyBar counts items whose total is unknown (a job's): a spinner
// with the count and the rate, no ETA.
func tallyBar(p *mpb.Progress, name string) *mpb.Bar {
	return p.New(0, mpb.SpinnerStyle(),
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: 16, C: decor.DindentRight}), decor.CurrentNoUnit("%d", decor.WC{W: 12})),
		mpb.AppendDecorators(decor.AverageSpeed(nil, " %.0f/s", decor.WC{W: 14})),
	)
}

// countBar counts items, with rate and ETA.
func countBar(p *mpb.Progress, name string, total int64) *mpb.Bar {
	return p.New(total, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: 16, C: decor.DindentRight}), decor.CountersNoUnit("%d / %d", decor.WC{W: 22})),
		mpb.AppendDecorators(decor.AverageSpeed(nil, " %.0f/s", decor.WC{W: 14}), decor.Name("  ETA "), decor.AverageETA(decor.ET_STYLE_GO)),
	)
}

// barReader moves a bar as its file is read, and back as it is rewound (a
// PUT sent again after a redirect): a big file's progress shows as it
// goes, not all at once at its end.
type barReader struct {
	file *os.File
	bar  *mpb.Bar
	read int64 // what the bar counts of this file
}

func (r *barReader) Read(p []byte) (int, error) {
	n, err := r.file.Read(p)
	if n > 0 {
		r.bar.IncrInt64(int64(n))
		r.read += int64(n)
	}
	return n, err
}

func (r *barReader) Seek(offset int64, whence int) (int64, error) {
	at, err := r.file.Seek(offset, whence)
	if err == nil && at != r.read {
		r.bar.IncrInt64(at - r.read)
		r.read = at
	}
	return at, err
}
