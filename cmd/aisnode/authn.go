package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/internal/atomicfile"
)

// roleAuthn runs the AuthN service instead of a cluster node.
const roleAuthn = "authn"

// Environment of authentication (AIStore's names).
const (
	envAuthnSecret    = "AIS_AUTHN_SECRET_KEY"
	envAuthnAdminName = "AIS_AUTHN_SU_NAME"
	envAuthnAdminPass = "AIS_AUTHN_SU_PASS"
)

// authKeys returns the keys of -auth-key (a secret or a PEM RSA key) or
// of $AIS_AUTHN_SECRET_KEY; nil when neither is given. The AuthN service
// that has none makes a secret and keeps it in DATA/authn-secret, for the
// nodes to be given.
func authKeys(cfg config) (*authn.Keys, error) {
	if cfg.AuthKey != "" {
		return authn.LoadKeys(cfg.AuthKey)
	}
	// Trimmed as a key file is: a secret written with a newline (openssl
	// rand -hex 32 > key) signs the same from either.
	if text := strings.TrimSpace(os.Getenv(envAuthnSecret)); text != "" {
		keys, err := authn.NewSecretKeys([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", envAuthnSecret, err)
		}
		return keys, nil
	}
	if cfg.Role != roleAuthn {
		return nil, nil
	}
	kept := filepath.Join(cfg.Data, "authn-secret")
	if _, err := os.Stat(kept); err == nil {
		return authn.LoadKeys(kept)
	}
	// Users and tokens kept, and no key: they were signed with one given
	// before (-auth-key, $AIS_AUTHN_SECRET_KEY). A new secret would sign
	// tokens every node refuses, and leave the old ones unrevocable.
	if _, err := os.Stat(filepath.Join(cfg.Data, "authn.json")); err == nil {
		return nil, fmt.Errorf("the AuthN service's state in %s was signed with a key given then: give it again (-auth-key or $%s); a new one would sign tokens the nodes refuse", cfg.Data, envAuthnSecret)
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, err
	}
	// Whole or not at all: one a crash left empty would keep the service
	// from starting.
	if err := atomicfile.Write(kept, []byte(authn.NewSecret()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("authn secret: %w", err)
	}
	return authn.LoadKeys(kept)
}

// runAuthn serves the AuthN service until ctx ends.
func runAuthn(ctx context.Context, cfg config, logger *slog.Logger, serverTLS, clientTLS *tls.Config) error {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return err
	}
	// Two services on one state file would each write over the other's
	// users and keys.
	locks, _, err := lockDirs(logger, cfg.Data)
	if err != nil {
		return err
	}
	defer locks.Close()
	sweepTemps(logger, cfg.Data)
	keys, err := authKeys(cfg)
	if err != nil {
		return err
	}
	service, err := authn.NewService(authn.Config{
		Keys:          keys,
		StateFile:     filepath.Join(cfg.Data, "authn.json"),
		AdminName:     os.Getenv(envAuthnAdminName),
		AdminPassword: os.Getenv(envAuthnAdminPass),
		TokenTTL:      cfg.TokenTTL,
		// Revocations go to the clusters' gateways, trusted as nodes trust
		// each other (-tls-ca).
		Client: &http.Client{Transport: api.NewTransportTLS(clientTLS), Timeout: 10 * time.Second},
		Logger: logger,
	})
	if err != nil {
		return err
	}
	go service.Run(ctx)
	listener, err := listen(cfg.Host, cfg.Port, serverTLS)
	if err != nil {
		return err
	}
	server := authnServer(service.Handler(), logger)
	logger.Info("AuthN service listening", "addr", listener.Addr().String(), "url", cfg.URL, "algorithm", keys.Algorithm(), "state", filepath.Join(cfg.Data, "authn.json"))
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return server.Shutdown(shutdown)
}

// authnServer serves the AuthN service. Its requests are small (a login,
// a user, a key): the whole of one is read within a minute, so that a
// body sent a byte at a time holds no connection for long.
func authnServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 5 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
}
