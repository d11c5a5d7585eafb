package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
)

// The test binary runs main when asked to, so that the tests below drive
// the real process: its signals, its output and its exit status.
func TestMain(m *testing.M) {
	if os.Getenv("AISLOADER_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// startLoader runs aisloader as a process against endpoint and returns it
// once its first progress line shows that it is loading.
func startLoader(t *testing.T, endpoint string, args ...string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "AISLOADER_TEST_MAIN=1", "AIS_ENDPOINT="+endpoint)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if strings.Contains(lines.Text(), "PUT") {
			go func() {
				for lines.Scan() {
				}
			}()
			return cmd, &stderr
		}
	}
	t.Fatalf("aisloader ended before loading: %s", stderr.String())
	return nil, nil
}

// Ctrl-C stops the run and -cleanup still deletes what it put.
func TestInterruptCleansUp(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Embedded: true, NoSync: true})
	if err := c.Client().CreateBucket(t.Context(), "cut", nil); err != nil {
		t.Fatal(err)
	}
	cmd, stderr := startLoader(t, c.Primary().URL(), "-bucket", "ais://cut", "-pctput", "100", "-minsize", "4KiB", "-maxsize", "4KiB",
		"-duration", "1m", "-cleanup", "-statsinterval", "100ms")
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailed {
		t.Fatalf("interrupted aisloader: %v, want exit status %d; stderr: %s", err, exitFailed, stderr)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("stderr does not say the run was interrupted: %s", stderr)
	}
	page, err := c.Client().ListObjects(t.Context(), "cut", api.ListObjectsMessage{})
	if err != nil || len(page.Entries) != 0 {
		t.Fatalf("after the interrupted run the bucket lists %d objects, %v", len(page.Entries), err)
	}
}
