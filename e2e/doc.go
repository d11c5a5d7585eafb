// Package e2e holds the end-to-end tests: real aisnode processes on
// loopback, driven through the ais CLI and the Go client, killed with
// SIGKILL and restarted. They build the binaries once per run and need no
// network beyond 127.0.0.1. Run them with `go test -tags e2e ./e2e/`
// (make test does).
package e2e
