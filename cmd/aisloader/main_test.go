package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/benchmarks"
)

// Bad command lines give one line naming the flag, and exit 2, before
// any request is sent.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no bucket", []string{"-numops", "10"}, "-bucket is required"},
		{"other provider", []string{"-bucket", "s3://b", "-numops", "10"}, `provider "s3" is not supported`},
		{"negative size", []string{"-bucket", "b", "-minsize", "-1", "-numops", "10"}, "a size cannot be negative"},
		{"bad size", []string{"-bucket", "b", "-maxsize", "12XB", "-numops", "10"}, `unknown unit "XB"`},
		{"min above max", []string{"-bucket", "b", "-pctput", "100", "-minsize", "4MiB", "-maxsize", "1MiB", "-numops", "10"}, "-minsize 4MiB is larger than -maxsize 1MiB"},
		{"no stop condition", []string{"-bucket", "b", "-pctput", "50"}, "no stop condition: give -duration, -numops, -maxputs or -totalputsize"},
		{"GET-only with a PUT bound", []string{"-bucket", "b", "-totalputsize", "1GiB"}, "give -duration or -numops"},
		{"percent", []string{"-bucket", "b", "-pctput", "120", "-numops", "1"}, "-pctput 120 is not within 0-100"},
		{"negative duration", []string{"-bucket", "b", "-duration", "-5s"}, `"-5s" is negative`},
		{"negative operations", []string{"-bucket", "b", "-numops", "-5"}, "-numops -5: cannot be negative"},
		{"negative PUTs", []string{"-bucket", "b", "-duration", "1m", "-maxputs", "-2"}, "-maxputs -2: cannot be negative"},
		{"bad duration", []string{"-bucket", "b", "-duration", "soon"}, `"soon" is not a duration`},
		{"seconds past a duration", []string{"-bucket", "b", "-duration", "1e10"}, `"1e10" seconds is out of range`},
		{"duration wrapped by its grace", []string{"-bucket", "b", "-duration", "9e9"}, "over the longest a run may be"},
		{"duration past its grace", []string{"-bucket", "b", "-duration", "2562047h"}, "over the longest a run may be"},
		{"sizes spanning every int64", []string{"-bucket", "b", "-pctput", "100", "-numops", "1", "-minsize", "0", "-maxsize", "9223372036854775807"}, "the span is over the largest"},
		{"workers", []string{"-bucket", "b", "-numworkers", "0", "-numops", "1"}, "at least one worker"},
		{"endpoint and ip", []string{"-bucket", "b", "-numops", "1", "-endpoint", "http://h:1", "-ip", "h"}, "exclusive"},
		{"endpoint scheme", []string{"-bucket", "b", "-numops", "1", "-endpoint", "h:1"}, "want http://HOST:PORT"},
		{"unknown flag", []string{"-bucket", "b", "-numops", "1", "-bogus"}, "flag provided but not defined: -bogus"},
		{"arguments", []string{"-bucket", "b", "-numops", "1", "extra"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, "", &stdout, &stderr)
			msg := stderr.String()
			if code != exitBadFlags || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "aisloader: ") {
				t.Fatalf("exit %d, stderr %q; want exit %d and one line with %q", code, msg, exitBadFlags, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		env      string
		endpoint string
		check    func(benchmarks.LoadConfig) bool
	}{
		{"defaults", []string{"-bucket", "ais://b", "-duration", "10"}, "", "http://localhost:8080", func(c benchmarks.LoadConfig) bool {
			return c.Bucket == "b" && c.Duration == 10*time.Second && c.MinSize == 1<<20 && c.MaxSize == 1<<20 &&
				c.Workers == 10 && c.Names == benchmarks.NamesRandom && c.StatsInterval == 10*time.Second && c.Seed != 0
		}},
		{"environment", []string{"-bucket", "b", "-numops", "5"}, "http://10.0.0.1:51080/", "http://10.0.0.1:51080", nil},
		{"ip and port", []string{"-bucket", "b", "-numops", "5", "-ip", "127.0.0.1", "-port", "9000"}, "http://x:1", "http://127.0.0.1:9000", nil},
		{"range and names", []string{"-bucket", "b", "-pctput", "30", "-minsize", "64KiB", "-maxsize", "4MiB", "-totalputsize", "1GiB",
			"-randomname=false", "-readseq", "-seed", "7", "-statsinterval", "500ms", "-subdir", "run1/"}, "", "http://localhost:8080",
			func(c benchmarks.LoadConfig) bool {
				return c.MinSize == 64<<10 && c.MaxSize == 4<<20 && c.TotalPutSize == 1<<30 && c.Names == benchmarks.NamesSequential &&
					c.ReadOrder == benchmarks.ReadSequential && c.Seed == 7 && c.StatsInterval == 500*time.Millisecond && c.Prefix == "run1/"
			}},
		// AIStore's: -subdir is a directory, -json a switch (JSON on stdout,
		// no periodic lines; the report keeps the intervals).
		{"subdir is a directory", []string{"-bucket", "b", "-numops", "1", "-subdir", "run1", "-json", "-statsinterval", "5s"}, "", "http://localhost:8080",
			func(c benchmarks.LoadConfig) bool {
				return c.Prefix == "run1/" && c.StatsInterval == 5*time.Second && c.Progress == nil
			}},
		{"json as AIStore writes it", []string{"-bucket", "b", "-numops", "1", "-json=true", "-duration", "5s"}, "", "http://localhost:8080",
			func(c benchmarks.LoadConfig) bool { return c.Duration == 5*time.Second }},
		{"only maxsize is a fixed size", []string{"-bucket", "b", "-pctput", "100", "-maxsize", "1KiB", "-maxputs", "3"}, "", "http://localhost:8080",
			func(c benchmarks.LoadConfig) bool { return c.MinSize == 1024 && c.MaxSize == 1024 && c.MaxPuts == 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(tc.args, tc.env, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if o.endpoint != tc.endpoint || o.load.Client.Endpoint() != tc.endpoint {
				t.Fatalf("endpoint %q, want %q", o.endpoint, tc.endpoint)
			}
			if tc.check != nil && !tc.check(o.load) {
				t.Fatalf("config %+v", o.load)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-help"}, "", &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "-pctput") {
		t.Fatalf("exit %d, usage %q", code, stdout.String())
	}
	// The defaults shown are the real ones.
	if usage := stdout.String(); strings.Contains(usage, "(default 0B)") || !strings.Contains(usage, "(default 10s)") {
		t.Fatalf("the defaults in the usage: %s", usage)
	}
}
