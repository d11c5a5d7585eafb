package api_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/internal/selfsigned"
)

// newTLSGateway serves a healthy gateway over HTTPS with a self-signed
// certificate for 127.0.0.1 and returns it with the certificate's files.
func newTLSGateway(t *testing.T, clientAuth tls.ClientAuthType) (srv *httptest.Server, cert, key string) {
	return newTLSServer(t, func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(api.Health{}) }, clientAuth)
}

// newTLSServer serves handler over HTTPS with a self-signed certificate
// for 127.0.0.1 and returns it with the certificate's files.
func newTLSServer(t *testing.T, handler http.HandlerFunc, clientAuth tls.ClientAuthType) (srv *httptest.Server, cert, key string) {
	t.Helper()
	cert, key, err := selfsigned.Write(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := api.LoadKeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewUnstartedServer(handler)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: clientAuth}
	if clientAuth == tls.RequireAndVerifyClientCert {
		if srv.TLS.ClientCAs, err = api.LoadCertPool(cert); err != nil {
			t.Fatal(err)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, cert, key
}

func health(t *testing.T, endpoint string, tc api.TLSConfig) error {
	t.Helper()
	config, err := tc.Config()
	if err != nil {
		t.Fatal(err)
	}
	c := api.NewClientWith(endpoint, &http.Client{Transport: api.NewTransportTLS(config)})
	defer c.CloseIdleConnections()
	_, err = c.Health(t.Context())
	return err
}

func TestTLSTrust(t *testing.T) {
	srv, cert, _ := newTLSGateway(t, tls.NoClientCert)
	if err := health(t, srv.URL, api.TLSConfig{CAFile: cert}); err != nil {
		t.Fatalf("trusting the certificate: %v", err)
	}
	if err := health(t, srv.URL, api.TLSConfig{SkipVerify: true}); err != nil {
		t.Fatalf("skipping verification: %v", err)
	}
	err := health(t, srv.URL, api.TLSConfig{})
	if err == nil || !strings.Contains(err.Error(), "certificate is not trusted") || errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("the system's CAs accepted a self-signed certificate, or the error is unclear: %v", err)
	}
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &verify) {
		t.Fatalf("the error does not carry the verification error: %v", err)
	}
	// A CA file of another certificate does not do either.
	other, _, err := selfsigned.Write(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := health(t, srv.URL, api.TLSConfig{CAFile: other}); err == nil {
		t.Fatal("another CA was accepted")
	}
	// A plain HTTP client of an HTTPS endpoint is refused.
	if err := health(t, strings.Replace(srv.URL, "https://", "http://", 1), api.TLSConfig{}); err == nil {
		t.Fatal("plain HTTP to an HTTPS port succeeded")
	}
}

// A server that verifies clients takes the client certificate of
// CertFile and KeyFile, and refuses a client without one.
func TestTLSClientCertificate(t *testing.T) {
	srv, cert, key := newTLSGateway(t, tls.RequireAndVerifyClientCert)
	if err := health(t, srv.URL, api.TLSConfig{CAFile: cert, CertFile: cert, KeyFile: key}); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if err := health(t, srv.URL, api.TLSConfig{CAFile: cert}); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
}

// A key pair's Leaf is there whatever GODEBUG says: the node reads its
// certificate's names and dates from it at start.
func TestLoadKeyPairParsesTheLeaf(t *testing.T) {
	cert, key, err := selfsigned.Write(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GODEBUG", "x509keypairleaf=0")
	pair, err := api.LoadKeyPair(cert, key)
	if err != nil || pair.Leaf == nil || pair.Leaf.Subject.CommonName != "aisgo test node" {
		t.Fatalf("leaf %v, %v", pair.Leaf, err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := selfsigned.Write(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	_, otherKey, err := selfsigned.Write(otherDir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not PEM\n"), 0o644)
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		config api.TLSConfig
		want   string // in the error
	}{
		{api.TLSConfig{CAFile: missing}, missing},
		{api.TLSConfig{CAFile: junk}, junk},
		{api.TLSConfig{CertFile: cert}, "one is missing"},
		{api.TLSConfig{KeyFile: key}, "one is missing"},
		{api.TLSConfig{CertFile: junk, KeyFile: key}, junk},
		{api.TLSConfig{CertFile: missing, KeyFile: key}, missing},
		{api.TLSConfig{CertFile: cert, KeyFile: junk}, junk},
		{api.TLSConfig{CertFile: cert, KeyFile: otherKey}, otherKey},
	} {
		_, err := tc.config.Config()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error naming %q", tc.config, err, tc.want)
		}
	}
	config, err := api.TLSConfig{CAFile: cert, CertFile: cert, KeyFile: key}.Config()
	if err != nil || config.MinVersion < tls.VersionTLS12 || config.RootCAs == nil || len(config.Certificates) != 1 || config.InsecureSkipVerify {
		t.Fatalf("config %+v: %v", config, err)
	}
}

func TestTLSFromEnv(t *testing.T) {
	t.Setenv(api.EnvSkipVerify, "true")
	t.Setenv(api.EnvClientCA, "/ca.pem")
	t.Setenv(api.EnvClientCert, "/crt.pem")
	t.Setenv(api.EnvClientKey, "/key.pem")
	tc, err := api.TLSFromEnv()
	if err != nil || tc != (api.TLSConfig{SkipVerify: true, CAFile: "/ca.pem", CertFile: "/crt.pem", KeyFile: "/key.pem"}) {
		t.Fatalf("from the environment: %+v %v", tc, err)
	}
	t.Setenv(api.EnvSkipVerify, "yes please")
	if _, err := api.TLSFromEnv(); err == nil || !strings.Contains(err.Error(), api.EnvSkipVerify) {
		t.Fatalf("a bad %s: %v", api.EnvSkipVerify, err)
	}
}

// A client given an https endpoint never sends a request (its token, its
// body) to a node's plain http URL: not to the owner by its map, not to
// a gateway the map names, not by a redirect (whose refusal does not
// print the redirect's query, which may hold a grant).
func TestHTTPSClientKeepsOffPlainHTTPNodes(t *testing.T) {
	var plain atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer target.Close()
	gateway, cert, _ := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/cluster" {
			json.NewEncoder(w).Encode(cluster.Map{Version: 1, Primary: "g1", Nodes: []cluster.Node{
				{ID: "g1", Role: cluster.RoleGateway, URL: "https://" + r.Host, State: cluster.StateActive},
				{ID: "g2", Role: cluster.RoleGateway, URL: target.URL, State: cluster.StateActive},
				{ID: "t1", Role: cluster.RoleTarget, URL: target.URL, State: cluster.StateActive},
			}})
			return
		}
		http.Redirect(w, r, target.URL+r.URL.Path+"?agrant=secret-grant", http.StatusTemporaryRedirect)
	}, tls.NoClientCert)
	config, err := api.TLSConfig{CAFile: cert}.Config()
	if err != nil {
		t.Fatal(err)
	}
	c := api.NewClientWith(gateway.URL, &http.Client{Transport: api.NewTransportTLS(config)}).SetToken("a-token")
	defer c.CloseIdleConnections()
	_, err = c.Put(t.Context(), "b", "o", strings.NewReader("secret"), api.PutOptions{Size: 6})
	if err == nil || !strings.Contains(err.Error(), "refused a redirect from https to http://") || strings.Contains(err.Error(), "secret-grant") {
		t.Fatalf("a PUT whose owner and redirect are plain http: %v", err)
	}
	if n := plain.Load(); n != 0 {
		t.Fatalf("%d requests reached a plain http node", n)
	}
	// Nor to a node the caller names by its URL (from a cluster status),
	// nor to a gateway added by hand.
	if _, err := c.NodeHealth(t.Context(), target.URL); err == nil || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("a health check of a plain http node: %v", err)
	}
	c.AddGateways(target.URL)
	if n := plain.Load(); n != 0 {
		t.Fatalf("%d requests reached a plain http node", n)
	}
	for _, g := range c.Gateways() {
		if !strings.HasPrefix(g, "https://") {
			t.Fatalf("the client learned a plain http gateway: %v", c.Gateways())
		}
	}
}

// A gateway that takes the connection and never finishes the TLS
// handshake (a frozen process) had no request: a POST goes on to the next
// gateway rather than being reported as perhaps applied.
func TestHandshakeThatHangsIsNotSent(t *testing.T) {
	frozen, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	go func() {
		var held []net.Conn
		for {
			conn, err := frozen.Accept()
			if err != nil {
				for _, conn := range held {
					conn.Close()
				}
				return
			}
			held = append(held, conn)
		}
	}()
	var calls atomic.Int64
	live, cert, _ := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusOK)
	}, tls.NoClientCert)
	config, err := api.TLSConfig{CAFile: cert}.Config()
	if err != nil {
		t.Fatal(err)
	}
	c := api.NewClientWith("https://"+frozen.Addr().String(), &http.Client{Transport: api.NewTransportTLS(config)}).AddGateways(live.URL).SetGatewayTimeout(200 * time.Millisecond)
	defer c.CloseIdleConnections()
	if err := c.CreateBucket(t.Context(), "b", nil); err != nil {
		t.Fatalf("a POST whose first gateway never finished the handshake: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the live gateway had %d requests, want 1", n)
	}
}
