package peer

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/internal/selfsigned"
)

// TestSignedOverTLS: a node's client given a TLS transport reaches a peer
// that serves HTTPS and verifies client certificates, and its requests
// still verify as signed; without the peer's CA it fails on the
// certificate.
func TestSignedOverTLS(t *testing.T) {
	cert, key, err := selfsigned.Write(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := api.LoadKeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := api.LoadCertPool(cert)
	if err != nil {
		t.Fatal(err)
	}
	auth := NewAuth(NewSecret(), Options{})
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		node, err := auth.Verify(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"node": node})
	}))
	server.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	server.StartTLS()
	defer server.Close()

	c := NewClient(ClientConfig{Auth: auth, Node: "t1", Transport: api.NewTransportTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}})})
	var out map[string]string
	if err := c.Call(t.Context(), http.MethodGet, server.URL+"/v1/internal/x", nil, &out); err != nil || out["node"] != "t1" {
		t.Fatalf("signed call over TLS: %v %v", out, err)
	}
	plain := NewClient(ClientConfig{Auth: auth, Node: "t1"})
	if err := plain.Call(t.Context(), http.MethodGet, server.URL+"/v1/internal/x", nil, nil); err == nil {
		t.Fatal("a client without the peer's CA got through")
	}
}
