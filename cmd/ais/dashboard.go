package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	gapi "github.com/grafana/grafana-api-golang-client"
	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/benchmarks"
)

func newDashboardCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "The Grafana dashboard of AIS-Go's metrics: throughput, latency, errors, capacity, jobs",
	}
	var (
		grafanaURL, token, user, folder string
		timeout                         time.Duration
	)
	push := &cobra.Command{
		Use:   "push",
		Short: "Create or replace the AIS-Go dashboard in Grafana",
		Long: "push provisions the AIS-Go dashboard through Grafana's HTTP API. The dashboard reads\n" +
			"a Prometheus data source that scrapes /metrics of every node; pick it in the dashboard's\n" +
			"Prometheus variable. --grafana and --token default to GRAFANA_URL and GRAFANA_TOKEN;\n" +
			"with --user NAME:PASSWORD, GRAFANA_TOKEN is not read.",
		Example: "  GRAFANA_TOKEN=glsa_... ais dashboard push --grafana http://localhost:3000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grafanaURL == "" {
				grafanaURL = os.Getenv("GRAFANA_URL")
			}
			if token != "" && user != "" {
				return errors.New("--token and --user given together: give a token or NAME:PASSWORD, not both")
			}
			// Not with --user: the token's Authorization header would
			// replace the password, which Go's client then leaves out.
			if token == "" && user == "" {
				token = os.Getenv("GRAFANA_TOKEN")
			}
			if grafanaURL == "" {
				return errors.New("give the Grafana URL with --grafana or GRAFANA_URL")
			}
			if token == "" && user == "" {
				return errors.New("give a Grafana service account token with --token or GRAFANA_TOKEN, or --user NAME:PASSWORD")
			}
			saved, err := pushDashboard(cmd.Context(), grafanaURL, token, user, folder, timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed dashboard %s, version %d: %s/d/%s/%s\n",
				saved.UID, saved.Version, strings.TrimRight(grafanaURL, "/"), saved.UID, saved.Slug)
			return nil
		},
	}
	push.Flags().StringVar(&grafanaURL, "grafana", "", "Grafana `URL`, e.g. http://localhost:3000")
	push.Flags().StringVar(&token, "token", "", "Grafana service account `token` (or API key; visible in the process list: prefer GRAFANA_TOKEN)")
	push.Flags().StringVar(&user, "user", "", "basic authentication instead of a token, `NAME:PASSWORD` (visible in the process list)")
	push.Flags().StringVar(&folder, "folder", "", "`UID` of the Grafana folder to put the dashboard in (default General)")
	push.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "bound on the request to Grafana")
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the dashboard's JSON model, to import it by hand",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(benchmarks.GrafanaDashboard())
			return err
		},
	}
	cmd.AddCommand(push, show)
	return cmd
}

// pushDashboard saves the dashboard, replacing an earlier version.
func pushDashboard(ctx context.Context, grafanaURL, token, user, folder string, timeout time.Duration) (*gapi.DashboardSaveResponse, error) {
	var model map[string]any
	if err := json.Unmarshal(benchmarks.GrafanaDashboard(), &model); err != nil {
		return nil, fmt.Errorf("dashboard model: %w", err)
	}
	cfg := gapi.Config{
		APIKey: token,
		Client: &http.Client{Timeout: timeout, Transport: contextTransport{ctx: ctx, base: http.DefaultTransport}},
	}
	if user != "" {
		name, password, ok := strings.Cut(user, ":")
		if !ok {
			return nil, fmt.Errorf("--user %q: want NAME:PASSWORD", user)
		}
		cfg.BasicAuth = url.UserPassword(name, password)
	}
	client, err := gapi.New(grafanaURL, cfg)
	if err != nil {
		return nil, fmt.Errorf("grafana %s: %w", grafanaURL, err)
	}
	saved, err := client.NewDashboard(gapi.Dashboard{
		Model:     model,
		FolderUID: folder,
		Overwrite: true,
		Message:   "ais dashboard push",
	})
	if err != nil {
		return nil, fmt.Errorf("push dashboard to %s: %w", grafanaURL, err)
	}
	return saved, nil
}

// contextTransport gives requests the command's context, which the
// Grafana client does not take, so that Ctrl-C cancels them.
type contextTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t contextTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}
