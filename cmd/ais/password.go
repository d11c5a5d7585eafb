package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// passwordFlags are the ways a command takes a password: -p (seen by
// anyone who lists processes), --password-stdin, or a prompt without
// echo when stdin is a terminal.
type passwordFlags struct {
	value string
	stdin bool
}

func (p *passwordFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&p.value, "password", "p", "", "the password (visible to other users in the process list; prefer --password-stdin or the prompt)")
	cmd.Flags().BoolVar(&p.stdin, "password-stdin", false, "read the password from the first line of stdin")
}

// maxPasswordLine bounds what is read from stdin for a password.
const maxPasswordLine = 4 << 10

// get returns the password from the flag, stdin, or a prompt.
func (p *passwordFlags) get(cmd *cobra.Command) (string, error) {
	switch {
	case p.value != "" && p.stdin:
		return "", errors.New("-p and --password-stdin: give one")
	case p.value != "":
		return p.value, nil
	case p.stdin:
		return readPasswordLine(cmd.InOrStdin())
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !hasTermios(in) {
		return "", errors.New("a password is required: --password-stdin, -p PASSWORD, or run on a terminal to be asked")
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
	password, err := readPasswordNoEcho(cmd.Context(), in)
	fmt.Fprintln(cmd.ErrOrStderr())
	return password, err
}

func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxPasswordLine+1), maxPasswordLine+1).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	if len(line) > maxPasswordLine {
		return "", fmt.Errorf("the password on stdin is longer than %d bytes", maxPasswordLine)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("--password-stdin: stdin gave an empty password")
	}
	return password, nil
}

// hasTermios reports whether f is a terminal (/dev/null, a character
// device too, is not).
func hasTermios(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readPasswordNoEcho reads a line from a terminal with echo off, and
// turns echo back on however the read ends (Ctrl-C cancels ctx: the read
// is left behind, the terminal is not).
func readPasswordNoEcho(ctx context.Context, f *os.File) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	type line struct {
		password string
		err      error
	}
	read := make(chan line, 1)
	go func() {
		password, err := readPasswordLine(f)
		read <- line{password, err}
	}()
	select {
	case l := <-read:
		return l.password, l.err
	case <-ctx.Done():
		return "", fmt.Errorf("password prompt: %w", context.Cause(ctx))
	}
}
