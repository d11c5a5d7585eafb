package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
)

// defaultEndpoint is used when AIS_ENDPOINT is not set.
const defaultEndpoint = "http://localhost:8080"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ais:", oneLine(err))
		os.Exit(1)
	}
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return strings.ReplaceAll(e.Error(), "\n", " ")
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
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

func client() *api.Client {
	gateways := endpoints()
	return api.NewClient(gateways[0]).AddGateways(gateways[1:]...)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "ais",
		Short: "Command-line client of AIS-Go, the object store for AI datasets",
		Long: "ais manages buckets and objects, generates sharded datasets, runs local clusters and dSort jobs.\n" +
			"The cluster endpoint is read from AIS_ENDPOINT (default " + defaultEndpoint + "); a comma-separated list of\n" +
			"gateways lets ais fail over when one is down.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
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
		newRemoteCommand("prefetch", "Fetch objects of a remote bucket into the cluster (a job on every target)",
			func(c *api.Client, cmd *cobra.Command, bucket string, selection api.ListRange) (string, error) {
				return c.Prefetch(cmd.Context(), bucket, selection)
			}),
		newRemoteCommand("evict", "Drop the cluster's cached copies of objects of a remote bucket; the remote keeps them",
			func(c *api.Client, cmd *cobra.Command, bucket string, selection api.ListRange) (string, error) {
				return c.Evict(cmd.Context(), bucket, selection)
			}),
	)
	return root
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
		if scheme != "s3" && scheme != "aws" {
			return "", "", fmt.Errorf("%q: provider %q is not supported (want ais://BUCKET[/OBJECT] or s3://BUCKET[/OBJECT])", s, scheme)
		}
	}
	bucket, object, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket (want ais://BUCKET[/OBJECT])", s)
	}
	if scheme != "" {
		bucket = "s3://" + bucket
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
