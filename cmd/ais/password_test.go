package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// lockedBuffer is a buffer the prompt writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func passwordCommand(stdin *os.File, flags ...string) (*cobra.Command, *passwordFlags, *lockedBuffer) {
	var p passwordFlags
	cmd := &cobra.Command{Use: "t", RunE: func(*cobra.Command, []string) error { return nil }}
	p.add(cmd)
	cmd.SetArgs(flags)
	if stdin != nil {
		cmd.SetIn(stdin)
	}
	stderr := &lockedBuffer{}
	cmd.SetErr(stderr)
	return cmd, &p, stderr
}

func TestPasswordFromStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fmt.Fprint(w, "s3cret pass\nnext line\n")
	w.Close()
	cmd, p, _ := passwordCommand(r, "--password-stdin")
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	got, err := p.get(cmd)
	if err != nil || got != "s3cret pass" {
		t.Fatalf("got %q, %v; want the first line", got, err)
	}
}

func TestPasswordRefusals(t *testing.T) {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-p", "x", "--password-stdin"}, "give one"},
		{nil, "a password is required"}, // /dev/null is no terminal to ask on
		{[]string{"--password-stdin"}, "empty password"},
	} {
		cmd, p, _ := passwordCommand(devNull, c.flags...)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.get(cmd); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error with %q", c.flags, err, c.want)
		}
	}
	long, err := os.CreateTemp(t.TempDir(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	long.WriteString(strings.Repeat("x", maxPasswordLine+10))
	long.Seek(0, 0)
	cmd, p, _ := passwordCommand(long, "--password-stdin")
	cmd.Execute()
	if _, err := p.get(cmd); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("an endless line: got %v", err)
	}
}

// TestPasswordPromptDoesNotEcho types a password on a pseudo-terminal:
// it is read, not echoed, and echo is back on afterwards.
func TestPasswordPromptDoesNotEcho(t *testing.T) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	cmd, p, stderr := passwordCommand(tty)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		password string
		err      error
	}
	done := make(chan result, 1)
	go func() {
		pw, err := p.get(cmd)
		done <- result{pw, err}
	}()
	// Typed once echo is off (the prompt says so).
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "Password:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := master.WriteString("typed-secret\n"); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the prompt did not return after a line was typed")
	}
	if res.err != nil || res.password != "typed-secret" {
		t.Fatalf("got %q, %v", res.password, res.err)
	}
	// What the terminal shows: no echo of the password.
	unix.SetNonblock(int(master.Fd()), true)
	master.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	shown := make([]byte, 256)
	k, _ := master.Read(shown)
	if strings.Contains(string(shown[:k]), "typed-secret") {
		t.Fatalf("the password was echoed: %q", shown[:k])
	}
	termios, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if termios.Lflag&unix.ECHO == 0 {
		t.Fatal("echo is still off after the prompt")
	}
	// Ctrl-C at the prompt (the root's context canceled): the command
	// ends, with echo back on.
	ctx, cancel := context.WithCancel(cmd.Context())
	cmd.SetContext(ctx)
	go func() {
		pw, err := p.get(cmd)
		done <- result{pw, err}
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a canceled prompt did not return")
	}
	if res.err == nil {
		t.Fatalf("a canceled prompt gave %q", res.password)
	}
	if termios, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err != nil || termios.Lflag&unix.ECHO == 0 {
		t.Fatalf("echo is off after a canceled prompt (%v)", err)
	}
}
