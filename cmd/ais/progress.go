package main

import (
	"context"
	"io"
	"os"

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
	var out io.Writer = io.Discard
	if force || isTerminal(os.Stderr) {
		out = os.Stderr
	}
	return mpb.NewWithContext(ctx, mpb.WithOutput(out), mpb.WithWidth(36))
}

// bytesBar counts bytes, with rate and ETA.
func bytesBar(p *mpb.Progress, name string, total int64) *mpb.Bar {
	return p.New(total, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: 16, C: decor.DindentRight}), decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 22})),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), " % .1f", decor.WC{W: 14}), decor.Name("  ETA "), decor.AverageETA(decor.ET_STYLE_GO)),
	)
}

// countBar counts items, with rate and ETA.
func countBar(p *mpb.Progress, name string, total int64) *mpb.Bar {
	return p.New(total, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: 16, C: decor.DindentRight}), decor.CountersNoUnit("%d / %d", decor.WC{W: 22})),
		mpb.AppendDecorators(decor.AverageSpeed(nil, " %.0f/s", decor.WC{W: 14}), decor.Name("  ETA "), decor.AverageETA(decor.ET_STYLE_GO)),
	)
}
