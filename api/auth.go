package api

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Where the CLI and clients find a user's token (AIStore's names).
const (
	// EnvToken holds a token.
	EnvToken = "AIS_AUTHN_TOKEN"
	// EnvTokenFile names a file that holds one.
	EnvTokenFile = "AIS_AUTHN_TOKEN_FILE"
)

// DefaultTokenFile is where `ais auth login` keeps the token:
// ~/.config/ais/cli/auth.token.
func DefaultTokenFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "ais", "cli", "auth.token")
}

// TokenFromEnv returns the token of AIS_AUTHN_TOKEN, else of the file
// AIS_AUTHN_TOKEN_FILE names, else of the default token file; "" when
// there is none.
func TokenFromEnv() string {
	if t := strings.TrimSpace(os.Getenv(EnvToken)); t != "" {
		return t
	}
	path := os.Getenv(EnvTokenFile)
	if path == "" {
		path = DefaultTokenFile()
	}
	if path == "" {
		return ""
	}
	data, err := readTokenFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// readTokenFile reads a token file of at most maxTokenFile bytes: a
// regular file only, looked at before it is opened (a FIFO's open would
// block every client made, or take a pipe's data meant for an upload).
func readTokenFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err == nil && len(data) > maxTokenFile {
		err = fmt.Errorf("%s has more than a token (%d bytes at most)", path, maxTokenFile)
	}
	return data, err
}

// maxTokenFile bounds the token file TokenFromEnv reads.
const maxTokenFile = 64 << 10

// CheckTokenFile tells why the file AIS_AUTHN_TOKEN_FILE names cannot
// give a token (TokenFromEnv then sends none, and the cluster's 401 does
// not say why); nil when AIS_AUTHN_TOKEN is set or the variable is not.
func CheckTokenFile() error {
	path := os.Getenv(EnvTokenFile)
	if strings.TrimSpace(os.Getenv(EnvToken)) != "" || path == "" {
		return nil
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w (log in with `ais auth login`, or unset it)", EnvTokenFile, err)
	case info.IsDir():
		return fmt.Errorf("%s: %s is a directory, not a token file", EnvTokenFile, path)
	case !info.Mode().IsRegular():
		return fmt.Errorf("%s: %s is not a regular file (a pipe or a device): a token file is read at every client's start", EnvTokenFile, path)
	case info.Size() > maxTokenFile:
		return fmt.Errorf("%s: %s has %d bytes, more than a token (%d at most)", EnvTokenFile, path, info.Size(), maxTokenFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", EnvTokenFile, err)
	}
	return f.Close()
}

// tokenKey carries a per-request token in a context.
type tokenKey struct{}

// WithToken returns a context whose requests carry token instead of the
// client's own (a gateway acting for a user).
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// tokenOf returns the context's token, or the client's.
func (c *Client) tokenOf(ctx context.Context) string {
	if t, ok := ctx.Value(tokenKey{}).(string); ok {
		return t
	}
	if t := c.token.Load(); t != nil {
		return *t
	}
	return ""
}

// SetToken makes every request carry the token (Authorization: Bearer);
// "" sends none.
func (c *Client) SetToken(token string) *Client {
	c.token.Store(&token)
	return c
}
