package benchmarks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/aisgo/aisgo/authn"
)

// The auth suite measures what user authentication costs: GETs of
// 100 KiB objects on a cluster that checks a token on every request,
// beside the same cluster without. Through the gateway's redirects the
// gateway verifies the token and signs a grant the target checks; routed
// by the client's map, the target verifies the token (cached after the
// first). The aim is 0.9 or better.

func authSuite() Suite {
	return Suite{
		Name:        "auth",
		Doc:         "GET of 100 KiB objects with user authentication on, beside the same cluster with it off",
		DefaultSize: 512 << 20,
		Run:         runAuth,
	}
}

const authObjectSize = 100 << 10

func authName(route string, on bool) string {
	if on {
		return fmt.Sprintf("GET %s, %s, auth on", sizeName(authObjectSize), route)
	}
	return fmt.Sprintf("GET %s, %s, auth off", sizeName(authObjectSize), route)
}

func runAuth(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("auth", cfg.Logger)
	routes := []string{"gateway redirects", "client routes to targets"}
	if cfg.Aisnode == "" {
		for _, route := range routes {
			for _, on := range []bool{false, true} {
				rec.skip(authName(route, on), "", "no aisnode binary (build it with 'make build', or pass -aisnode)")
			}
		}
		return rec.results, nil
	}
	n := max(int64(64), cfg.Size/authObjectSize)
	src := randomBytes(4 << 20)
	for _, on := range []bool{false, true} {
		c, err := startAuthCluster(ctx, filepath.Join(cfg.Dir, fmt.Sprintf("auth-%v", on)), cfg.Aisnode, on)
		if err != nil {
			return rec.results, err
		}
		err = authRun(ctx, rec, c, routes, on, src, n)
		c.stop()
		if err != nil {
			return rec.results, err
		}
	}
	return rec.results, nil
}

// startAuthCluster starts 1 gateway and 2 targets, with user
// authentication on (an HS256 secret, an admin token for the clients) or
// off.
func startAuthCluster(ctx context.Context, dir, aisnode string, on bool) (*localCluster, error) {
	c := &localCluster{dir: dir, aisnode: aisnode}
	if err := c.withSecret(); err != nil {
		return nil, err
	}
	if on {
		keyFile := filepath.Join(dir, "authn-secret")
		text := authn.NewSecret()
		if err := os.WriteFile(keyFile, []byte(text), 0o600); err != nil {
			return nil, err
		}
		keys, err := authn.NewSecretKeys([]byte(text))
		if err != nil {
			return nil, err
		}
		now := time.Now()
		c.token, err = keys.Sign(&authn.Claims{Grants: authn.Grants{Perm: authn.Admin}, RegisteredClaims: jwt.RegisteredClaims{
			Subject: "bench", ID: authn.NewTokenID(), IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}})
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, "-auth-key", keyFile)
	}
	if err := c.start(ctx, 1, 2); err != nil {
		return nil, err
	}
	return c, nil
}

func authRun(ctx context.Context, rec *recorder, c *localCluster, routes []string, on bool, src []byte, n int64) error {
	client := c.client()
	if err := client.CreateBucket(ctx, benchBucket, nil); err != nil {
		return err
	}
	if err := apiPut(ctx, client, "a/", src, n, authObjectSize, httpWorkers); err != nil {
		return err
	}
	for _, route := range routes {
		reader := c.client()
		if route == routes[0] {
			reader.UseRedirects()
		}
		f := figure{name: authName(route, on), bytes: n * authObjectSize, ops: n, repeat: true,
			note: fmt.Sprintf("1 gateway and 2 targets (aisnode processes), %d workers, warm page cache", httpWorkers)}
		if on {
			f.baseline = authName(route, false)
			f.note += "; an HS256 token on every request"
		}
		if err := rec.measureWith(ctx, f, func() error { return apiGet(ctx, reader, "a/", n, authObjectSize, httpWorkers) }, c); err != nil {
			return err
		}
	}
	return nil
}
