package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/store"
)

// defaultEndpoint is used when AIS_ENDPOINT is not set.
const defaultEndpoint = "http://localhost:8080"

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, interrupts()...)
	go func() {
		// The first signal (Ctrl-C, a closed terminal) cancels the
		// command; a second ends it at once, a command stuck in a read
		// too, without the part files it was writing.
		sig := <-signals
		cancel(fmt.Errorf("%v", sig))
		<-signals
		removeParts()
		os.Exit(130)
	}()
	err := newRoot().ExecuteContext(ctx)
	signal.Stop(signals)
	cancel(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ais:", oneLine(err))
		os.Exit(1)
	}
}

// interrupts are the signals that cancel a command: a closed terminal's
// too, unless the command was started to outlive it (nohup ignores it).
func interrupts() []os.Signal {
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// oneLine keeps an error message on one line; an untrusted certificate
// gets a hint.
// printable shows a string from the cluster (an object name, an error)
// with its control characters escaped: a name of another user's must not
// move the cursor, recolor or rewrite what the terminal shows.
func printable(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func oneLine(err error) string {
	// The whole chain: what the command was doing (which file of a
	// directory's thousands), then what the node said.
	msg := printable(strings.Join(strings.Fields(err.Error()), " "))
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		msg += " (set " + api.EnvClientCA + "=FILE to the CA of the cluster's certificates, or pass --skip-verify for a self-signed development certificate)"
	}
	return msg
}

// endpoints returns the gateways of AIS_ENDPOINT, a comma-separated list:
// the client uses the first and fails over to the others (and to those
// the cluster map names).
func endpoints() []string {
	var out []string
	for e := range strings.SplitSeq(os.Getenv("AIS_ENDPOINT"), ",") {
		if e = strings.TrimRight(strings.TrimSpace(e), "/"); e != "" {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return []string{defaultEndpoint}
	}
	return out
}

// groupAnnotation marks a group of commands (ais job, ais bucket): the
// RunE refuseUnknownSubcommands gives it makes it runnable, yet it only
// shows help or refuses a word.
const groupAnnotation = "group"

// isGroup reports a command that only holds others: a command with
// subcommands that runs itself too (ais storage) is none.
func isGroup(cmd *cobra.Command) bool {
	return !cmd.Runnable() || cmd.Annotations[groupAnnotation] != ""
}

// usesEndpoint reports a command that talks to the cluster of
// AIS_ENDPOINT: not a group, help or completion, the AuthN service's
// (AIS_AUTHN_URL), Grafana's (the dashboard), a local cluster's start,
// stop or add (its own gateways), one given --dir, or shards generated
// into a local directory.
func usesEndpoint(cmd *cobra.Command) bool {
	path := cmd.CommandPath()
	local, dir := cmd.Flags().Lookup("local"), cmd.Flags().Lookup("dir")
	switch {
	case isGroup(cmd), path == "ais auth" || strings.HasPrefix(path, "ais auth "):
		return false
	case cmd.Name() == "help", strings.HasPrefix(path, "ais completion"), strings.HasPrefix(cmd.Name(), "__complete"):
		return false
	case path == "ais dashboard" || strings.HasPrefix(path, "ais dashboard "):
		return false
	case path == "ais cluster start", path == "ais cluster stop", strings.HasPrefix(path, "ais cluster add-"):
		return false
	case strings.HasPrefix(path, "ais cluster rm-") && dir != nil && dir.Changed:
		return false
	case local != nil && local.Value.String() != "":
		return false
	}
	return true
}

// sendsToken reports a command that sends the kept token: not a login
// (it makes it) nor a logout, help or completion, nor one signed with
// the cluster's secret (--secret-file) instead.
func sendsToken(cmd *cobra.Command) bool {
	path := cmd.CommandPath()
	switch {
	case isGroup(cmd), path == "ais auth login", path == "ais auth logout":
		return false
	case cmd.Name() == "help", cmd.Name() == "completion", strings.HasPrefix(path, "ais completion"), strings.HasPrefix(cmd.Name(), "__complete"):
		return false
	}
	if secret := cmd.Flags().Lookup("secret-file"); secret != nil && secret.Changed {
		return false
	}
	return usesEndpoint(cmd) || strings.HasPrefix(path, "ais auth ")
}

// usesTLS reports a command whose client may reach a node or the AuthN
// service, and so needs the client's TLS configuration: help, completion
// or the dashboard (Grafana's) must not fail on it.
func usesTLS(cmd *cobra.Command) bool {
	path := cmd.CommandPath()
	switch {
	case isGroup(cmd):
		return false
	case strings.HasPrefix(path, "ais auth "):
		return true
	case path == "ais cluster start", path == "ais cluster stop", strings.HasPrefix(path, "ais cluster add-"), strings.HasPrefix(path, "ais cluster rm-"):
		// A local cluster's gateways.
		return true
	}
	return usesEndpoint(cmd)
}

// checkEndpoints refuses an AIS_ENDPOINT entry that is no http(s) URL of
// a host: "127.0.0.1:8080" would fail each request with a parse error,
// or be waited on as a node away.
func checkEndpoints() error {
	for _, e := range endpoints() {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("AIS_ENDPOINT %q: want http://HOST:PORT or https://HOST:PORT (a comma-separated list for several gateways)", e)
		}
	}
	return nil
}

// clientTLS is how every command's client checks an HTTPS cluster's
// certificates: set before a command runs, from --skip-verify and the
// environment (see clientTLSConfig).
var clientTLS *tls.Config

// clientTLSConfig reads AIS_SKIP_VERIFY_CRT, AIS_CLIENT_CA, AIS_CRT and
// AIS_CRT_KEY; --skip-verify overrides the first. An error names the
// variables: the file's name alone does not say where it came from.
func clientTLSConfig(skipVerify bool) (*tls.Config, error) {
	tc, err := api.TLSFromEnv()
	if err != nil {
		return nil, err
	}
	tc.SkipVerify = tc.SkipVerify || skipVerify
	config, err := tc.Config()
	if err != nil {
		var set []string
		for _, name := range []string{api.EnvClientCA, api.EnvClientCert, api.EnvClientKey} {
			if os.Getenv(name) != "" {
				set = append(set, name)
			}
		}
		return nil, fmt.Errorf("%s: %w", strings.Join(set, ", "), err)
	}
	return config, nil
}

func client() *api.Client { return newClient(clientTLS, endpoints()...) }

// newClient returns a client of the gateways, the first in use, that
// checks certificates by tc.
func newClient(tc *tls.Config, gateways ...string) *api.Client {
	return api.NewClientWith(gateways[0], &http.Client{Transport: api.NewTransportTLS(tc)}).AddGateways(gateways[1:]...)
}

// checkCounts refuses a negative count, size or duration given to a
// command (a seed may be any number): -1 would otherwise mean "all",
// "no limit" or the default, each flag its own way.
func checkCounts(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch f.Value.Type() {
		case "int", "int64", "duration":
			if err == nil && f.Name != "seed" && strings.HasPrefix(f.Value.String(), "-") {
				err = fmt.Errorf("--%s %s: cannot be negative", f.Name, f.Value)
			}
		}
	})
	return err
}

func newRoot() *cobra.Command {
	var skipVerify bool
	root := &cobra.Command{
		Use:   "ais",
		Short: "Command-line client of AIS-Go, the object store for AI datasets",
		Long: "ais manages buckets and objects, generates sharded datasets, runs local clusters and dSort jobs.\n" +
			"The cluster endpoint is read from AIS_ENDPOINT (default " + defaultEndpoint + "); a comma-separated list of\n" +
			"gateways lets ais fail over when one is down.\n\n" +
			"An https:// endpoint's certificates are checked against the system's CAs, or those of the PEM file\n" +
			"AIS_CLIENT_CA names; --skip-verify (or AIS_SKIP_VERIFY_CRT=true) accepts any certificate, for\n" +
			"self-signed development certificates only. AIS_CRT and AIS_CRT_KEY name a client certificate and key\n" +
			"for clusters that verify clients.",
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCounts(cmd); err != nil {
				return err
			}
			if usesEndpoint(cmd) {
				if err := checkEndpoints(); err != nil {
					return err
				}
			}
			if sendsToken(cmd) {
				if err := api.CheckTokenFile(); err != nil {
					return err
				}
			}
			clientTLS = nil
			if !usesTLS(cmd) {
				return nil
			}
			tc, err := clientTLSConfig(skipVerify)
			if err != nil {
				return err
			}
			clientTLS = tc
			return nil
		},
	}
	root.PersistentFlags().BoolVar(&skipVerify, "skip-verify", false,
		"do not verify the cluster's TLS certificates (self-signed development certificates only; also AIS_SKIP_VERIFY_CRT=true)")
	root.AddCommand(
		newBucketCommand(),
		newPutCommand(),
		newGetCommand(),
		newListCommand(),
		newRemoveCommand(),
		newObjectCommand(),
		newArchiveCommand(),
		newClusterCommand(),
		newConfigCommand(),
		newDsortCommand(),
		newStorageCommand(),
		newJobCommand(),
		newDashboardCommand(),
		newDownloadCommand(),
		newAuthCommand(),
		newMLCommand(),
		newRemoteCommand("prefetch", "Fetch objects of a remote bucket into the cluster (a job on every target)",
			func(c *api.Client, cmd *cobra.Command, bucket string, selection api.ListRange) (string, error) {
				return c.Prefetch(cmd.Context(), bucket, selection)
			}),
		newRemoteCommand("evict", "Drop the cluster's cached copies of objects of a remote bucket; the remote keeps them",
			func(c *api.Client, cmd *cobra.Command, bucket string, selection api.ListRange) (string, error) {
				if len(selection.ObjNames) == 0 && selection.Template == "" {
					// An evict of everything drops the bucket's props too:
					// not what an evict with no names should do by default.
					return "", fmt.Errorf("evict: name what to drop (an object, --template or --prefix)")
				}
				return c.Evict(cmd.Context(), bucket, selection)
			}),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every group of commands (ais job, ais
// bucket, ...) fail on a word that is none of its commands: cobra shows
// the group's help and exits 0 there, and a script (a preStop hook's
// "ais cluster maintenence start") would go on as if it had run.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[groupAnnotation] = "true"
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
			msg += "; did you mean " + strings.Join(suggestions, " or ") + "?"
		}
		return fmt.Errorf("%s (see %s --help)", msg, cmd.CommandPath())
	}
}

// buildVersion names the build (ais --version): the module's version and
// the commit it was built from, as the Go toolchain recorded them.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	version, commit, modified := info.Main.Version, "", ""
	for _, setting := range info.Settings {
		switch setting.Key {
		case "vcs.revision":
			commit = setting.Value[:min(12, len(setting.Value))]
		case "vcs.modified":
			if setting.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if commit != "" {
		version += " (commit " + commit + modified + ")"
	}
	return version + ", " + info.GoVersion
}

// printJSON writes v indented to stdout.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseURI splits "ais://bucket/object" into bucket and object. The
// "ais://" scheme may be left out.
//
// A remote bucket keeps its scheme ("s3://bucket"): the client passes it
// on as the bucket's provider.
func parseURI(s string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(s, "ais://")
	scheme := ""
	if !ok && strings.Contains(s, "://") {
		scheme, rest, _ = strings.Cut(s, "://")
		switch scheme {
		case "s3", "aws":
			scheme = "s3"
		case store.ProviderHT: // an HTTP origin's bucket (the reverse proxy's)
		default:
			return "", "", fmt.Errorf("%q: provider %q is not supported (want ais://BUCKET[/OBJECT], s3://BUCKET[/OBJECT] or ht://BUCKET[/OBJECT])", s, scheme)
		}
	}
	if strings.HasPrefix(rest, "@") {
		// AIStore's namespace (ais://@uuid#ns/BUCKET): only the global
		// one (@#, as scripts written for AIStore spell it) is here.
		ns, after, _ := strings.Cut(rest, "/")
		if ns != "@#" && ns != "@" {
			return "", "", fmt.Errorf("%q: namespace %q is not supported (only the global one, ais://@#/BUCKET or ais://BUCKET)", s, ns)
		}
		rest = after
	}
	bucket, object, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket (want ais://BUCKET[/OBJECT])", s)
	}
	// Checked here: "." or ".." in a request's path would reach another
	// route (the bucket list) than the bucket's.
	if err := (store.Bucket{Name: bucket}).Validate(); err != nil {
		return "", "", fmt.Errorf("%q: %w", s, err)
	}
	if scheme != "" {
		bucket = scheme + "://" + bucket
	}
	return bucket, object, nil
}

// bucketArg reads a command's ais://BUCKET argument, refusing an object.
func bucketArg(arg, command string) (string, error) {
	bucket, obj, err := parseURI(arg)
	if err != nil {
		return "", err
	}
	if obj != "" {
		return "", fmt.Errorf("%q: %s takes a bucket, not an object", arg, command)
	}
	return bucket, nil
}

// uri names a bucket as the user wrote it: "ais://name", or the remote
// bucket's own "s3://name".
func uri(bucket string) string {
	if strings.Contains(bucket, "://") {
		return bucket
	}
	return "ais://" + bucket
}
