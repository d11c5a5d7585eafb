package gatewaytest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are the families of one scrape of a node's /metrics, by name.
type Metrics map[string]*dto.MetricFamily

// Scrape reads a node's /metrics in the Prometheus text format.
func Scrape(t testing.TB, nodeURL string) Metrics {
	t.Helper()
	m, err := ScrapeContext(t.Context(), nodeURL)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ScrapeContext is Scrape for callers without a testing.TB.
func ScrapeContext(ctx context.Context, nodeURL string) (Metrics, error) {
	return ScrapeWithToken(ctx, nodeURL, "")
}

// ScrapeWithToken is ScrapeContext with a user's token (authentication on).
func ScrapeWithToken(ctx context.Context, nodeURL, token string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, nodeURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", nodeURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %s", nodeURL, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", nodeURL, err)
	}
	return Metrics(families), nil
}

// Value sums the samples of a counter, gauge or untyped metric whose
// labels include the given name, value pairs; for a histogram it sums the
// observation counts. A missing metric is 0.
func (m Metrics) Value(name string, labels ...string) float64 {
	family, ok := m[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, metric := range family.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		switch {
		case metric.Counter != nil:
			sum += metric.Counter.GetValue()
		case metric.Gauge != nil:
			sum += metric.Gauge.GetValue()
		case metric.Untyped != nil:
			sum += metric.Untyped.GetValue()
		case metric.Histogram != nil:
			sum += float64(metric.Histogram.GetSampleCount())
		}
	}
	return sum
}

func hasLabels(metric *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range metric.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Metric sums a metric over every running member of the cluster.
func (c *Cluster) Metric(name string, labels ...string) float64 {
	c.t.Helper()
	var sum float64
	for _, m := range c.Members() {
		sum += Scrape(c.t, m.URL()).Value(name, labels...)
	}
	return sum
}
