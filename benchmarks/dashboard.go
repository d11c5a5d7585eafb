package benchmarks

import (
	_ "embed"
	"slices"
)

// grafanaDashboard is the Grafana dashboard model of the metrics every
// node serves at /metrics; `ais dashboard push` provisions it.
//
//go:embed grafana/ais-dashboard.json
var grafanaDashboard []byte

// GrafanaDashboardUID identifies the dashboard in Grafana, so that a push
// replaces the earlier version.
const GrafanaDashboardUID = "aisgo-overview"

// GrafanaDashboard returns the dashboard model as JSON.
func GrafanaDashboard() []byte { return slices.Clone(grafanaDashboard) }
