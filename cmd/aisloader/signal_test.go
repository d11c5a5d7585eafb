package main

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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

// A second Ctrl-C cuts the PUTs -cleanup let finish: one a stalled
// target holds ends, and the report comes (it waited for a third, which
// exits with no report).
func TestSecondInterruptCutsStalledPuts(t *testing.T) {
	putSeen := make(chan struct{}, 1)
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead && r.URL.Path == "/v1/buckets/cut":
			w.Header().Set(api.HeaderBucketProps, "{}")
		case r.Method == http.MethodGet && r.URL.Path == "/v1/buckets/cut":
			io.WriteString(w, `{"entries":[]}`)
		case r.Method == http.MethodPut:
			io.Copy(io.Discard, r.Body) // (then the server sees the client go)
			select {
			case putSeen <- struct{}{}:
			default:
			}
			<-r.Context().Done() // a target that never answers
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(stalled.Close) // after the process is killed (cleanups run last first)
	cmd := exec.Command(os.Args[0], "-bucket", "ais://cut", "-pctput", "100", "-minsize", "4KiB", "-maxsize", "4KiB", "-numops", "4", "-numworkers", "1", "-cleanup", "-statsinterval", "0")
	cmd.Env = append(os.Environ(), "AISLOADER_TEST_MAIN=1", "AIS_ENDPOINT="+stalled.URL)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	<-putSeen
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond) // (each in its turn)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitFailed || !strings.Contains(stdout.String(), "PUT") {
			t.Fatalf("aisloader after a second interrupt: %v (want exit %d), report:\n%s\nstderr: %s", err, exitFailed, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("aisloader still waits for a stalled PUT after a second interrupt; stderr: %s", stderr.String())
	}
}

// Deletions the cleanup could not make fail the run, whatever errors
// -maxerrors allowed the load: asked to leave nothing, it left objects.
func TestFailedCleanupFailsTheRun(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead && r.URL.Path == "/v1/buckets/b":
			w.Header().Set(api.HeaderBucketProps, "{}")
		case r.Method == http.MethodGet && r.URL.Path == "/v1/buckets/b":
			io.WriteString(w, `{"entries":[]}`)
		case r.Method == http.MethodPut:
			io.Copy(io.Discard, r.Body)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"status":403,"message":"not yours"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer server.Close()
	cmd := exec.Command(os.Args[0], "-bucket", "ais://b", "-pctput", "100", "-minsize", "10", "-maxsize", "10", "-numops", "3", "-cleanup", "-maxerrors", "-1", "-statsinterval", "0")
	cmd.Env = append(os.Environ(), "AISLOADER_TEST_MAIN=1", "AIS_ENDPOINT="+server.URL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailed || !strings.Contains(stderr.String(), "3 deletions failed") {
		t.Fatalf("a run whose cleanup failed: %v (want exit %d); stderr: %s", err, exitFailed, stderr.String())
	}
}
