package benchmarks_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/benchmarks"
	"github.com/aisgo/aisgo/gateway"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
)

// Every metric the dashboard queries is one the nodes serve, and every
// panel has a query: a renamed metric breaks this test, not the dashboard.
func TestGrafanaDashboardQueriesServedMetrics(t *testing.T) {
	var model struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(benchmarks.GrafanaDashboard(), &model); err != nil {
		t.Fatal(err)
	}
	if model.UID != benchmarks.GrafanaDashboardUID || model.Title == "" {
		t.Fatalf("uid %q, title %q", model.UID, model.Title)
	}
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 1, NoSync: true, Configure: func(cfg *gateway.Config) {
		cfg.JobProgress = func() []api.JobStatus { return []api.JobStatus{{ID: "r1", Kind: "rebalance", Running: true}} }
	}})
	// Errors appear once one happened.
	if _, err := c.Client().Head(t.Context(), "nosuch", "o"); err == nil {
		t.Fatal("HEAD in a missing bucket succeeded")
	}
	served := map[string]bool{}
	for _, m := range c.Members() {
		for name := range gatewaytest.Scrape(t, m.URL()) {
			served[name] = true
		}
	}
	metricName := regexp.MustCompile(`\b(ais|go|process)_[a-z_]+\b`)
	seen := map[string]bool{}
	for _, p := range model.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			for _, name := range metricName.FindAllString(target.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(name, suffix); ok && served[base] {
						name = base
					}
				}
				seen[name] = true
				if !served[name] {
					t.Errorf("panel %q queries %s, which no node serves", p.Title, name)
				}
			}
		}
	}
	for _, name := range []string{"ais_get_bytes_total", "ais_request_duration_seconds", "ais_mountpath_utilization_ratio", "ais_job_running"} {
		if !seen[name] {
			t.Errorf("the dashboard has no panel on %s", name)
		}
	}
}
