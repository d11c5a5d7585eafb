// Package gatewaytest starts in-process AIS-Go clusters for tests: every
// node on its own httptest server on loopback, with t.TempDir() mountpaths,
// shut down by t.Cleanup.
//
//	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3})
//	client := c.Client()
package gatewaytest
