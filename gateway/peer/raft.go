package peer

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/aisgo/aisgo/api"
)

// RaftPath is the intra-cluster route Raft's connections upgrade on.
const RaftPath = "/v1/internal/raft"

// raftProtocol names the upgrade.
const raftProtocol = "aisgo-raft"

// RaftStream carries Raft's connections between gateways over their HTTP
// port: a dial is a signed upgrade request to RaftPath, which the other
// gateway verifies like any intra-cluster request and hands to its stream
// (Handle). Raft's traffic is thus authenticated by the cluster secret.
type RaftStream struct {
	tls    *tls.Config
	auth   *Auth
	node   string
	addr   urlAddr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

var _ hraft.StreamLayer = (*RaftStream)(nil)

// NewRaftStream returns the stream of the gateway node at selfURL; tc
// configures dials to https:// gateways (nil: Go's defaults).
func NewRaftStream(auth *Auth, node, selfURL string, tc *tls.Config) *RaftStream {
	return &RaftStream{tls: tc, auth: auth, node: node, addr: urlAddr(selfURL), conns: make(chan net.Conn), closed: make(chan struct{})}
}

// urlAddr is a gateway's URL as a net.Addr: Raft advertises it as the
// gateway's address.
type urlAddr string

func (a urlAddr) Network() string { return "tcp" }
func (a urlAddr) String() string  { return string(a) }

// Accept returns the next connection another gateway opened.
func (s *RaftStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting.
func (s *RaftStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// Addr returns this gateway's URL.
func (s *RaftStream) Addr() net.Addr { return s.addr }

// Dial opens a connection to the gateway at address (its URL).
func (s *RaftStream) Dial(address hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	u, err := url.Parse(string(address))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("raft: address %q is not a URL", address)
	}
	conn, err := net.DialTimeout("tcp", u.Host, timeout)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		tc := &tls.Config{}
		if s.tls != nil {
			tc = s.tls.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = u.Hostname()
		}
		conn = tls.Client(conn, tc) // the handshake runs on the first write, under the deadline below
	}
	req, err := http.NewRequest(http.MethodGet, string(address)+RaftPath, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", raftProtocol)
	if err := s.auth.Sign(req, s.node); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	// The answer before the upgrade is bounded: whatever answers at the
	// address may send headers without end until the deadline.
	capped := &cappedReader{r: conn, left: maxUpgradeAnswer}
	br := bufio.NewReader(capped)
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		return nil, fmt.Errorf("raft: %s refused the connection: %w", address, api.DecodeError(resp))
	}
	conn.SetDeadline(time.Time{})
	capped.lift()
	return &bufferedConn{Conn: conn, r: br}, nil
}

// maxUpgradeAnswer bounds the answer to a Raft connection's upgrade
// request (a refusal's body included).
const maxUpgradeAnswer = 256 << 10

// cappedReader reads at most left bytes until lifted.
type cappedReader struct {
	r      io.Reader
	left   int64
	lifted bool
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.lifted {
		return c.r.Read(p)
	}
	if c.left <= 0 {
		return 0, fmt.Errorf("raft: the answer to the upgrade request is over %d bytes", maxUpgradeAnswer)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cappedReader) lift() { c.lifted = true }

// Handle takes over an upgrade request (already verified) as a Raft
// connection.
func (s *RaftStream) Handle(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Upgrade") != raftProtocol {
		return fmt.Errorf("%w: want Upgrade: %s", api.ErrBadRequest, raftProtocol)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return errors.New("raft: the connection cannot be taken over")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Time{})
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + raftProtocol + "\r\n\r\n")
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil
	}
	c := &bufferedConn{Conn: conn, r: rw.Reader}
	select {
	case s.conns <- c:
	case <-s.closed:
		conn.Close()
	}
	return nil
}

// bufferedConn reads what a buffered reader already holds first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
