package httpapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tutti-kv/tutti/internal/kv/kvtest"
	"github.com/tutti-kv/tutti/internal/metrics"
)

// TestSlowClientsAreCutOff runs the real server with short timeouts: a
// client that never finishes its headers, and one that never finishes its
// body, are both disconnected, while a well-behaved client is served
// throughout.
func TestSlowClientsAreCutOff(t *testing.T) {
	reg := prometheus.NewRegistry()
	svc := kvtest.New()
	srv := NewServer("127.0.0.1:0", New(svc, metrics.New(reg), reg, nil))
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	srv.ReadTimeout = 400 * time.Millisecond
	l, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addr := l.Addr().String()

	slow := func(partial string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, partial); err != nil {
			t.Fatal(err)
		}
		return c
	}
	headerDribbler := slow("GET /healthz HTTP/1.1\r\nHost: x\r\n")
	bodyDribbler := slow("PUT /v1/buckets/b/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")

	// A normal client is served while the slow ones hang on.
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz beside slow clients: %v %v", resp, err)
	}
	resp.Body.Close()

	for name, c := range map[string]net.Conn{"headers": headerDribbler, "body": bodyDribbler} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		// The server must end the connection (EOF or reset, after at most
		// an error answer), not wait forever.
		rest, err := io.ReadAll(bufio.NewReader(c))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("slow %s: the server kept the connection open", name)
		}
		if strings.Contains(string(rest), " 204 ") || strings.Contains(string(rest), " 200 ") {
			t.Errorf("slow %s: the request succeeded: %q", name, rest)
		}
	}
	if n := svc.Writes(); n != 0 {
		t.Fatalf("the unfinished PUT wrote %d times", n)
	}
}
