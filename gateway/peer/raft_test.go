package peer

import (
	"bufio"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// Whatever answers at a gateway's address cannot make a Raft dial buffer
// headers without end: the answer before the upgrade is bounded.
func TestRaftDialBoundsTheUpgradeAnswer(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	var sent atomic.Int64
	const endless = 64 << 20
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		go func() { // the request, read and dropped
			r := bufio.NewReader(conn)
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
			}
		}()
		if _, err := conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n")); err != nil {
			return
		}
		line := []byte("X-Filler: " + strings.Repeat("a", 4000) + "\r\n")
		for sent.Load() < endless {
			n, err := conn.Write(line)
			if err != nil {
				return
			}
			sent.Add(int64(n))
		}
	}()
	stream := NewRaftStream(NewAuth(NewSecret(), Options{}), "g1", "http://127.0.0.1:1", nil)
	conn, err := stream.Dial(hraft.ServerAddress("http://"+listener.Addr().String()), 30*time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("a dial answered with headers without end succeeded")
	}
	if got := sent.Load(); got >= endless {
		t.Fatalf("the dial read the whole endless answer (%d bytes)", got)
	}
	if !strings.Contains(err.Error(), "over") {
		t.Fatalf("the dial's error: %v, want the bound named", err)
	}
}
