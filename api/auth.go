package api

import (
	"context"
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
	data, err := os.ReadFile(path)
	if err != nil || len(data) > 64<<10 {
		return ""
	}
	return strings.TrimSpace(string(data))
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
