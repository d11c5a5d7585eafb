package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/benchmarks"
	"github.com/aisgo/aisgo/shards"
)

// defaultEndpoint is used without -endpoint, -ip, -port or AIS_ENDPOINT.
const defaultEndpoint = "http://localhost:8080"

// Exit statuses.
const (
	exitFailed      = 1 // the run failed, or had more errors than allowed
	exitBadFlags    = 2
	exitInterrupted = 130 // a third interrupt, as shells report SIGINT
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	cleanupCtx, stopCleanup := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 3)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		fmt.Fprintln(os.Stderr, "aisloader: interrupted; stopping (with -cleanup, deleting what the run put: interrupt again to leave it)")
		cancel(errInterrupted)
		<-signals
		// The report still comes: the cleanup stops, the measurement stays.
		fmt.Fprintln(os.Stderr, "aisloader: interrupted again; objects not yet deleted stay (a third interrupt exits at once)")
		stopCleanup()
		<-signals
		os.Exit(exitInterrupted)
	}()
	os.Exit(runWithCleanup(ctx, cleanupCtx, os.Args[1:], os.Getenv("AIS_ENDPOINT"), os.Stdout, os.Stderr))
}

var errInterrupted = errors.New("interrupted")

// options are the parsed command line.
type options struct {
	endpoint string
	load     benchmarks.LoadConfig
	jsonPath string
	json     bool
}

// seconds is a duration flag that also takes a plain number of seconds,
// as AIStore's aisloader does.
type seconds struct{ d *time.Duration }

func (s seconds) String() string {
	if s.d == nil {
		return "0s"
	}
	return s.d.String()
}

func (s seconds) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		// Checked as a float: past int64's nanoseconds the conversion
		// wraps (9e9 read as a negative duration).
		if n < 0 || math.IsNaN(n) || n*float64(time.Second) >= math.MaxInt64 {
			return fmt.Errorf("%q seconds is out of range (up to %d)", v, int64(math.MaxInt64/time.Second))
		}
		*s.d = time.Duration(n * float64(time.Second))
	} else if *s.d, err = time.ParseDuration(v); err != nil {
		return fmt.Errorf("%q is not a duration such as 30s, 5m or 10", v)
	}
	if *s.d < 0 {
		return fmt.Errorf("%q is negative", v)
	}
	return nil
}

// size is a size flag in IEC units (64KiB, 4MiB, 1GiB).
type size struct {
	n   *int64
	set bool
}

func (s *size) String() string {
	if s.n == nil {
		return shards.FormatSize(0) // as the zero value's, or -help prints a "(default 0B)"
	}
	return shards.FormatSize(*s.n)
}

func (s *size) Set(v string) error {
	if strings.HasPrefix(strings.TrimSpace(v), "-") {
		return fmt.Errorf("%q: a size cannot be negative", v)
	}
	n, err := shards.ParseSize(v)
	if err != nil {
		return err
	}
	*s.n, s.set = n, true
	return nil
}

// parse reads the command line; env is AIS_ENDPOINT.
func parse(args []string, env string, usage io.Writer) (options, error) {
	var o options
	cfg := &o.load
	flags := flag.NewFlagSet("aisloader", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.Usage = func() {
		flags.SetOutput(usage)
		fmt.Fprintf(usage, "Usage: aisloader -bucket ais://BUCKET [flags]\n\n"+
			"Generates PUT and GET load on an AIS-Go cluster and reports ops/s, MiB/s and latency percentiles.\n"+
			"A stop condition is required: -duration, -numops, -maxputs or -totalputsize.\n\nFlags:\n")
		flags.PrintDefaults()
	}
	endpoint := flags.String("endpoint", "", "cluster `URL`, or gateways' URLs comma-separated (default AIS_ENDPOINT, else "+defaultEndpoint+")")
	ip := flags.String("ip", "", "gateway IP address or host name (with -port; instead of -endpoint)")
	port := flags.Int("port", 0, "gateway port (with -ip; default 8080)")
	bucket := flags.String("bucket", "", "ais bucket to load, ais://NAME or NAME; it must exist")
	flags.IntVar(&cfg.PutPercent, "pctput", 0, "percentage of PUTs, 0-100; the rest are GETs of listed and written objects")
	minSize := &size{n: &cfg.MinSize}
	maxSize := &size{n: &cfg.MaxSize}
	flags.Var(minSize, "minsize", "minimum object `size` of PUTs, e.g. 64KiB (default 1MiB, or -maxsize)")
	flags.Var(maxSize, "maxsize", "maximum object `size` of PUTs, e.g. 4MiB (default -minsize)")
	flags.IntVar(&cfg.Workers, "numworkers", 10, "workers running operations in parallel")
	flags.Var(seconds{&cfg.Duration}, "duration", "stop after this `duration` (30s, 5m, or seconds): no operation starts past it, one under way is cut a tenth of it (5s at least) later")
	flags.Int64Var(&cfg.MaxOps, "numops", 0, "stop after this many operations, PUTs and GETs")
	flags.Int64Var(&cfg.MaxPuts, "maxputs", 0, "stop after this many PUTs")
	flags.Var(&size{n: &cfg.TotalPutSize}, "totalputsize", "stop once PUTs reach this `size`, e.g. 10GiB")
	seed := flags.Uint64("seed", 0, "random seed of sizes, names and choices (0: from the clock; the report shows it)")
	randomName := flags.Bool("randomname", true, "PUT objects under 32 random hex characters; false: sequential numbers")
	readSequential := flags.Bool("readseq", false, "GET objects in name order, round and round, instead of at random")
	flags.StringVar(&cfg.Prefix, "subdir", "", "virtual directory: PUTs go under SUBDIR/, GETs read the objects listed there")
	flags.BoolVar(&cfg.VerifyChecksum, "verifyhash", false, "make targets verify checksums on GET")
	cfg.StatsInterval = 10 * time.Second // before the flag: -help shows it
	flags.Var(seconds{&cfg.StatsInterval}, "statsinterval", "print stats every `interval` (30s, or seconds); 0 disables")
	flags.BoolVar(&o.json, "json", false, "print the report as JSON on stdout, in place of the summary (AIStore's -json)")
	flags.StringVar(&o.jsonPath, "json-out", "", "also write the whole report as JSON to `file`")
	flags.Int64Var(&cfg.MaxErrors, "maxerrors", 0, "errors allowed before the run stops and exits 1; negative: never stop")
	flags.BoolVar(&cfg.Cleanup, "cleanup", false, "delete every object the run put, at the end (after an interrupt too; interrupt again to skip)")
	if err := flags.Parse(args); err != nil {
		return o, err
	}
	// A directory, as AIStore's: -subdir run1 puts run1/..., not run1000...
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if flags.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	var err error
	if o.endpoint, err = resolveEndpoint(*endpoint, *ip, *port, env); err != nil {
		return o, err
	}
	if cfg.Bucket, err = parseBucket(*bucket); err != nil {
		return o, err
	}
	switch {
	case !minSize.set && !maxSize.set:
		cfg.MinSize, cfg.MaxSize = shards.MiB, shards.MiB
	case !minSize.set:
		cfg.MinSize = cfg.MaxSize
	case !maxSize.set:
		cfg.MaxSize = cfg.MinSize
	}
	if cfg.Workers <= 0 {
		return o, fmt.Errorf("-numworkers %d: at least one worker is needed", cfg.Workers)
	}
	for _, count := range []struct {
		flag  string
		value int64
	}{{"-numops", cfg.MaxOps}, {"-maxputs", cfg.MaxPuts}} {
		if count.value < 0 {
			return o, fmt.Errorf("%s %d: cannot be negative", count.flag, count.value)
		}
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	cfg.Seed = *seed
	if !*randomName {
		cfg.Names = benchmarks.NamesSequential
	}
	if *readSequential {
		cfg.ReadOrder = benchmarks.ReadSequential
	}
	gateways := strings.Split(o.endpoint, ",")
	// An https cluster's certificates are checked as the CLI checks them
	// (AIS_CLIENT_CA, AIS_SKIP_VERIFY_CRT); the token is AIS_AUTHN_TOKEN's.
	tlsEnv, err := api.TLSFromEnv()
	if err != nil {
		return o, flagError(err)
	}
	tc, err := tlsEnv.Config()
	if err != nil {
		return o, flagError(err)
	}
	cfg.Client = api.NewClientWith(gateways[0], &http.Client{Transport: api.NewTransportTLS(tc)}).AddGateways(gateways[1:]...)
	if err := cfg.Validate(); err != nil {
		return o, flagError(err)
	}
	return o, nil
}

// flagError names the flags of a config error.
func flagError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "load: ")
	for _, r := range []struct{ field, flag string }{
		{"PUT percent", "-pctput"}, {"min size", "-minsize"}, {"max size", "-maxsize"},
		{"no stop condition; give a duration, a number of operations, of PUTs, or a total PUT size", "no stop condition: give -duration, -numops, -maxputs or -totalputsize"},
		{"give a duration or a number of operations", "give -duration or -numops"},
	} {
		msg = strings.Replace(msg, r.field, r.flag, 1)
	}
	return errors.New(msg)
}

func resolveEndpoint(endpoint, ip string, port int, env string) (string, error) {
	switch {
	case endpoint != "" && (ip != "" || port != 0):
		return "", errors.New("-endpoint and -ip/-port are exclusive: give one")
	case endpoint != "":
	case ip != "" || port != 0:
		if port == 0 {
			port = 8080
		}
		if port < 0 || port > 65535 {
			return "", fmt.Errorf("-port %d is out of range", port)
		}
		if ip == "" {
			ip = "localhost"
		}
		endpoint = "http://" + net.JoinHostPort(ip, strconv.Itoa(port))
	case env != "":
		endpoint = env
	default:
		endpoint = defaultEndpoint
	}
	// A comma-separated list names several gateways: the client fails
	// over between them.
	var gateways []string
	for e := range strings.SplitSeq(endpoint, ",") {
		e = strings.TrimRight(strings.TrimSpace(e), "/")
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			return "", fmt.Errorf("endpoint %q: want http://HOST:PORT (or several, comma-separated)", e)
		}
		gateways = append(gateways, e)
	}
	return strings.Join(gateways, ","), nil
}

// parseBucket reads "ais://NAME" or "NAME".
func parseBucket(s string) (string, error) {
	if s == "" {
		return "", errors.New("-bucket is required, e.g. -bucket ais://b")
	}
	name, ok := strings.CutPrefix(s, "ais://")
	if !ok && strings.Contains(s, "://") {
		scheme, _, _ := strings.Cut(s, "://")
		return "", fmt.Errorf("-bucket %s: provider %q is not supported (want ais://NAME)", s, scheme)
	}
	name = strings.TrimSuffix(name, "/")
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("-bucket %s: want ais://NAME", s)
	}
	return name, nil
}

// run is the program; it returns the exit status.
func run(ctx context.Context, args []string, env string, stdout, stderr io.Writer) int {
	return runWithCleanup(ctx, nil, args, env, stdout, stderr)
}

// runWithCleanup is run whose cleanup cleanupCtx bounds (nil: none does).
func runWithCleanup(ctx, cleanupCtx context.Context, args []string, env string, stdout, stderr io.Writer) int {
	o, err := parse(args, env, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "aisloader: %s (see -help)\n", oneLine(err))
		return exitBadFlags
	}
	cfg := o.load
	cfg.CleanupContext = cleanupCtx
	kinds := []string{"PUT", "GET"}
	switch cfg.PutPercent {
	case 100:
		kinds = kinds[:1]
	case 0:
		kinds = kinds[1:]
	}
	// With -json, stdout is the JSON report alone (for jq): the banner
	// goes to stderr.
	banner := stdout
	if o.json {
		banner = stderr
	}
	fmt.Fprintf(banner, "aisloader: %s ais://%s, %d%% PUT, %d workers, sizes %s-%s, seed %d\n",
		o.endpoint, cfg.Bucket, cfg.PutPercent, cfg.Workers, shards.FormatSize(cfg.MinSize), shards.FormatSize(cfg.MaxSize), cfg.Seed)
	// With -json, stdout is the JSON report alone: the intervals are
	// in it, not printed.
	if cfg.StatsInterval > 0 && !o.json {
		header := true
		cfg.Progress = func(interval, _ benchmarks.LoadStats) {
			if header {
				benchmarks.WriteStatsHeader(stdout)
				header = false
			}
			benchmarks.WriteStats(stdout, interval, kinds...)
		}
	}
	report, err := benchmarks.Load(ctx, cfg)
	if report == nil {
		fmt.Fprintf(stderr, "aisloader: %s\n", oneLine(err))
		return exitFailed
	}
	if o.json {
		data, jerr := report.JSON()
		if jerr != nil {
			fmt.Fprintf(stderr, "aisloader: %s\n", oneLine(jerr))
			return exitFailed
		}
		stdout.Write(data)
	} else {
		report.WriteSummary(stdout)
	}
	if o.jsonPath != "" {
		if werr := report.WriteJSON(o.jsonPath); werr != nil {
			fmt.Fprintf(stderr, "aisloader: %s\n", oneLine(werr))
			return exitFailed
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "aisloader: %s\n", oneLine(err))
		return exitFailed
	}
	if report.Delete.Errors > 0 {
		// Asked to leave nothing, it left objects: whatever -maxerrors
		// allowed the load itself.
		fmt.Fprintf(stderr, "aisloader: cleanup: %d deletions failed; those objects stay in ais://%s\n", report.Delete.Errors, cfg.Bucket)
		return exitFailed
	}
	if report.Delete.Cut > 0 {
		fmt.Fprintf(stderr, "aisloader: cleanup stopped: %d deletions not made (or cut); those objects may stay in ais://%s\n", report.Delete.Cut, cfg.Bucket)
	}
	return 0
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
