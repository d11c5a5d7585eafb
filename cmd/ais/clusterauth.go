package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/internal/atomicfile"
)

// roleAuthn is aisnode's role of the AuthN service.
const roleAuthn = "authn"

// authnAdmin is the first admin of a local cluster's AuthN service, logged
// in.
type authnAdmin struct {
	url, name, token string
	// loginHint is the login the start prints: it reads the password
	// from where it is, never shows it.
	loginHint string
	client    *http.Client
}

// startAuthn starts the local AuthN service (unless it runs), waits for
// it, and logs the first admin in. The admin comes from
// AIS_AUTHN_SU_NAME and AIS_AUTHN_SU_PASS; without them it is "admin"
// with a password generated once and kept in DIR/authn/admin-password.
func (c *localCluster) startAuthn(ctx context.Context, tc *tls.Config, onExit func(error)) (*authnAdmin, error) {
	if c.AuthKey == "" {
		return nil, errors.New("the cluster has an AuthN service but no auth key")
	}
	if _, err := os.Stat(c.AuthKey); err != nil {
		// Whole or not at all: a key cut short by a crash would be taken
		// for one at the next start.
		if err := atomicfile.Write(c.AuthKey, []byte(authn.NewSecret()+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("auth key: %w", err)
		}
	}
	if err := os.MkdirAll(c.AuthN.Dir, 0o700); err != nil {
		return nil, err
	}
	admin := &authnAdmin{url: fmt.Sprintf("%s://127.0.0.1:%d", c.scheme(), c.AuthN.Port), name: os.Getenv("AIS_AUTHN_SU_NAME"),
		client: &http.Client{Transport: api.NewTransportTLS(tc), Timeout: 30 * time.Second}}
	password := os.Getenv("AIS_AUTHN_SU_PASS")
	if admin.name == "" {
		admin.name = "admin"
	}
	// The login shown reads the password, never shows it: the output of
	// a start lands in CI logs, and a -p argument in the process list.
	admin.loginHint = fmt.Sprintf(`ais auth login %s --password-stdin <<< "$AIS_AUTHN_SU_PASS"`, admin.name)
	// The service takes its first admin at its first start only: after,
	// the admin is the one it keeps (its state file).
	_, err := os.Stat(filepath.Join(c.AuthN.Dir, "authn.json"))
	started := err == nil
	if password == "" {
		kept := filepath.Join(c.AuthN.Dir, "admin-password")
		if data, err := os.ReadFile(kept); err == nil {
			password = strings.TrimSpace(string(data))
		} else if started {
			return nil, fmt.Errorf("the AuthN service in %s keeps the admin of its first start, given then by AIS_AUTHN_SU_NAME and AIS_AUTHN_SU_PASS: set them as then", c.AuthN.Dir)
		} else {
			var b [12]byte
			rand.Read(b[:])
			password = hex.EncodeToString(b[:])
			if err := atomicfile.Write(kept, []byte(password+"\n"), 0o600); err != nil {
				return nil, err
			}
		}
		admin.loginHint = fmt.Sprintf("ais auth login %s --password-stdin < %s", admin.name, kept)
	}
	if !c.AuthN.running() {
		// The service reads its first admin from its environment (its
		// alone: the nodes launched later do not get the password).
		c.authnEnv = []string{"AIS_AUTHN_SU_NAME=" + admin.name, "AIS_AUTHN_SU_PASS=" + password}
		if err := c.launch(c.AuthN, "", onExit); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := admin.login(ctx, password)
		if err == nil {
			return admin, nil
		}
		if e := (*authnError)(nil); errors.As(err, &e) && e.Status == http.StatusUnauthorized && started {
			return nil, fmt.Errorf("the AuthN service refused the admin %q: it keeps the admin of its first start (set AIS_AUTHN_SU_NAME and AIS_AUTHN_SU_PASS as then; `ais cluster stop --dir` stops what runs): %w", admin.name, err)
		}
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the AuthN service did not start (see %s): %w", filepath.Join(c.AuthN.Dir, "node.log"), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// login gets the admin's token.
func (a *authnAdmin) login(ctx context.Context, password string) error {
	var out authn.TokenMsg
	if err := a.call(ctx, http.MethodPost, "/v1/users/"+a.name, map[string]string{"password": password}, &out); err != nil {
		return err
	}
	a.token = out.Token
	return nil
}

// register tells the service about the cluster, so that revoked tokens
// reach its gateways.
func (a *authnAdmin) register(ctx context.Context, client *api.Client, gateways []string) error {
	smap, err := client.Map(ctx)
	if err != nil {
		return err
	}
	return a.call(ctx, http.MethodPost, "/v1/clusters", authn.Cluster{ID: smap.UUID, Alias: "local", URLs: gateways}, nil)
}

func (a *authnAdmin) call(ctx context.Context, method, path string, in, out any) error {
	return authnDo(ctx, a.client, a.url, a.token, method, path, in, out)
}
