package cli

import (
	"context"
	"net"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/internal/api/grpcapi"
	"github.com/tutti-kv/tutti/internal/api/httpapi"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/kv/kvtest"
	"github.com/tutti-kv/tutti/internal/metrics"
)

// fakeCluster is kvtest's cluster served for real: n1's gRPC (the ring)
// and HTTP APIs over a fake with anti-entropy, n2 down, n3's HTTP API over
// a fake without anti-entropy, and n4 alive but unreachable.
type fakeCluster struct {
	n1       *kvtest.AntiEntropy
	grpcAddr string // n1's
	httpAddr string // n1's
}

// startFakeCluster starts the fake cluster; configure, when not nil,
// changes n1's fake before anything is served.
func startFakeCluster(t *testing.T, configure func(n1 *kvtest.AntiEntropy)) *fakeCluster {
	t.Helper()
	n1 := kvtest.NewAntiEntropy()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n1HTTP := newHTTPServer(n1)
	n3HTTP := newHTTPServer(kvtest.New())
	members := n1.ClusterResult.Members
	members[0].GRPCAddr, members[0].HTTPAddr = lis.Addr().String(), n1HTTP.Listener.Addr().String()
	members[2].HTTPAddr = n3HTTP.Listener.Addr().String()
	n1.ClusterResult.Members = append(members, kv.Member{ID: "n4", Zone: "d", Alive: true,
		GRPCAddr: "127.0.0.1:1", HTTPAddr: closedAddr(t)})
	if configure != nil {
		configure(n1)
	}
	for _, srv := range []*httptest.Server{n1HTTP, n3HTTP} {
		srv.Start()
		t.Cleanup(srv.Close)
	}
	s := grpc.NewServer()
	grpcapi.Register(s, n1, metrics.New(prometheus.NewRegistry()))
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return &fakeCluster{n1: n1, grpcAddr: lis.Addr().String(), httpAddr: members[0].HTTPAddr}
}

// newHTTPServer returns an unstarted server of svc's HTTP API.
func newHTTPServer(svc kv.Service) *httptest.Server {
	reg := prometheus.NewRegistry()
	return httptest.NewUnstartedServer(httpapi.New(svc, metrics.New(reg), reg, nil))
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestRepairEveryPartition(t *testing.T) {
	c := startFakeCluster(t, nil)
	out, errOut, code := run(t, "", "repair", "--endpoints", c.grpcAddr)
	if code != 0 {
		t.Fatalf("code %d, stderr %q, out %q", code, errOut, out)
	}
	want := `repairing 4 partitions of n1 at ` + c.httpAddr + ` with its peer replicas
partition peer         outcome   segments   pulled   pushed  error
0         n3           equal            0        0        0
1         n3           equal            0        0        0
2         n3           equal            0        0        0
3         n3           equal            0        0        0
total: 4 exchanges of 4 partitions: 4 equal, 0 repaired, 0 not ready, 0 failed; 0 segments differed, 0 objects pulled, 0 pushed
`
	if out != want {
		t.Errorf("out:\n%s\nwant:\n%s", out, want)
	}
	if calls := c.n1.RepairCalls(); !reflect.DeepEqual(calls, []int{0, 1, 2, 3}) {
		t.Errorf("Repair called with %v, want [0 1 2 3]", calls)
	}
	// An endpoint that does not answer is skipped, as status does.
	out, errOut, code = run(t, "", "repair", "--endpoints", closedAddr(t)+","+c.grpcAddr, "--partition", "1")
	if code != 0 || !strings.Contains(out, "repairing 1 partition of n1 at "+c.httpAddr) {
		t.Errorf("second endpoint: code %d, out %q, stderr %q", code, out, errOut)
	}
}

func TestRepairOnePartitionWithFailures(t *testing.T) {
	c := startFakeCluster(t, func(n1 *kvtest.AntiEntropy) {
		n1.RepairResults[2] = &kv.RepairResult{Exchanges: []kv.RepairExchange{
			{Partition: 2, Peer: "n3", Outcome: "repaired", Segments: 3, Pulled: 5, Pushed: 1},
			{Partition: 2, Peer: "n2", Outcome: "failed", Error: "n2: connection refused"},
		}}
	})
	out, errOut, code := run(t, "", "repair", "--endpoints", c.grpcAddr, "--partition", "2")
	if code != 1 || errOut != "tutti: 1 of 2 exchanges failed\n" {
		t.Errorf("code %d, stderr %q; want 1 and the failure count", code, errOut)
	}
	want := `repairing 1 partition of n1 at ` + c.httpAddr + ` with its peer replicas
partition peer         outcome   segments   pulled   pushed  error
2         n3           repaired         3        5        1
2         n2           failed           0        0        0  n2: connection refused
total: 2 exchanges of 1 partition: 0 equal, 1 repaired, 0 not ready, 1 failed; 3 segments differed, 5 objects pulled, 1 pushed
`
	if out != want {
		t.Errorf("out:\n%s\nwant:\n%s", out, want)
	}
	if calls := c.n1.RepairCalls(); !reflect.DeepEqual(calls, []int{2}) {
		t.Errorf("Repair called with %v, want [2]", calls)
	}
}

func TestRepairPartitionErrors(t *testing.T) {
	// A refused partition is a failed line, and the next ones still run.
	c := startFakeCluster(t, func(n1 *kvtest.AntiEntropy) {
		n1.RepairResults[1] = &kv.RepairResult{}
		delete(n1.RepairResults, 2)
	})
	out, errOut, code := run(t, "", "repair", "--http", c.httpAddr)
	if code != 1 || errOut != "tutti: 1 of 3 exchanges failed\n" {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
	for _, line := range []string{
		"1         -            none             -        -        -  no peer replica to exchange with\n",
		"2         -            failed           -        -        -  node n1 does not own partition 2 (HTTP 400)\n",
		"3         n3           equal            0        0        0\n",
		"total: 3 exchanges of 4 partitions: 2 equal, 0 repaired, 0 not ready, 1 failed;",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("out lacks %q:\n%s", line, out)
		}
	}
	if !strings.HasPrefix(out, "repairing 4 partitions of n1 at "+c.httpAddr) {
		t.Errorf("with --http the node's id comes from its status: %q", out)
	}
	c = startFakeCluster(t, func(n1 *kvtest.AntiEntropy) { n1.RepairErr = kv.Errorf(kv.Unavailable, "no peer alive") })
	out, _, code = run(t, "", "repair", "--http", c.httpAddr, "--partition", "0")
	if code != 1 || !strings.Contains(out, "0         -            failed           -        -        -  no peer alive (HTTP 503)\n") {
		t.Errorf("unavailable: code %d, out %q", code, out)
	}
}

func TestRepairCommandErrors(t *testing.T) {
	c := startFakeCluster(t, nil)
	n3HTTP := c.n1.ClusterResult.Members[2].HTTPAddr
	cases := []struct {
		args   []string
		reason string
	}{
		{[]string{"--endpoints", c.grpcAddr, "--partition", "-1"}, "--partition -1"},
		{[]string{"--endpoints", c.grpcAddr, "--partition", "x"}, "invalid argument"},
		{[]string{"--endpoints", ""}, "no endpoints"},
		{[]string{"--endpoints", closedAddr(t), "--timeout", "2s"}, "connection refused"},
		{[]string{"--http", n3HTTP}, "anti-entropy is not available on this node (HTTP 404)"},
		{[]string{"--http", n3HTTP, "--partition", "1"}, "anti-entropy is not available on this node (HTTP 404)"},
		{[]string{"--http", closedAddr(t)}, "connection refused"},
		{[]string{"--http", closedAddr(t), "--partition", "1"}, "connection refused"},
		{[]string{"--endpoints", c.grpcAddr, "extra"}, "unknown command"},
	}
	for _, tc := range cases {
		out, errOut, code := run(t, "", append([]string{"repair"}, tc.args...)...)
		if code == 0 || !strings.HasPrefix(errOut, "tutti: ") || !strings.Contains(errOut, tc.reason) {
			t.Errorf("%v: code %d, stderr %q, out %q; want a failure saying %q", tc.args, code, errOut, out, tc.reason)
		}
		if strings.Count(out, "\n") > 2 {
			t.Errorf("%v: went on after a fatal error: %q", tc.args, out)
		}
	}
}

func TestRepairEndpointNotInRing(t *testing.T) {
	c := startFakeCluster(t, func(n1 *kvtest.AntiEntropy) { n1.ClusterResult.Members[0].GRPCAddr = "10.0.0.1:8081" })
	_, errOut, code := run(t, "", "repair", "--endpoints", c.grpcAddr)
	if code != 1 || !strings.Contains(errOut, "has the gRPC address "+c.grpcAddr+": give the node's HTTP address with --http") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
	if calls := c.n1.RepairCalls(); len(calls) != 0 {
		t.Errorf("Repair called with %v", calls)
	}
}

func TestMemberAt(t *testing.T) {
	ring := &tuttipb.RingResponse{Members: []*tuttipb.RingMember{
		{Id: "a", GrpcAddr: "127.0.0.1:9701"},
		{Id: "b", GrpcAddr: "127.0.0.1:9702"},
		{Id: "c", GrpcAddr: "[::]:9703"},
		{Id: "d", GrpcAddr: "0.0.0.0:9704"},
		{Id: "e", GrpcAddr: ":9704"},
	}}
	for endpoint, want := range map[string]string{
		"127.0.0.1:9702":  "b",
		"localhost:9701":  "a",
		"10.1.2.3:9703":   "c",
		"[::1]:9703":      "c",
		"127.0.0.1:9704":  "", // d and e
		"127.0.0.1:9799":  "",
		"127.0.0.1":       "",
		"192.0.2.12:9701": "",
	} {
		m, err := memberAt(context.Background(), ring, endpoint)
		switch {
		case want == "" && err == nil:
			t.Errorf("%s: found %s, want an error", endpoint, m.Id)
		case want != "" && err != nil:
			t.Errorf("%s: %v, want %s", endpoint, err, want)
		case want != "" && m.Id != want:
			t.Errorf("%s: found %s, want %s", endpoint, m.Id, want)
		}
	}
}

func TestHTTPAddrOf(t *testing.T) {
	cases := []struct {
		grpc, http, fallback, want string
	}{
		{"10.0.0.1:9701", "10.0.0.1:8701", "x:1", "10.0.0.1:8701"},
		{"10.0.0.1:9701", "0.0.0.0:8701", "x:1", "10.0.0.1:8701"},
		{"[::]:9701", "[::]:8701", "node1.example:9701", "node1.example:8701"},
		{":9701", ":8701", "[fd00::1]:9701", "[fd00::1]:8701"},
		{":9701", ":8701", ":9701", ":8701"},
	}
	for _, c := range cases {
		got, err := httpAddrOf(&tuttipb.RingMember{Id: "a", GrpcAddr: c.grpc, HttpAddr: c.http}, c.fallback)
		if err != nil || got != c.want {
			t.Errorf("%+v: %q, %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "no-port"} {
		if _, err := httpAddrOf(&tuttipb.RingMember{Id: "a", HttpAddr: bad}, "h:1"); err == nil {
			t.Errorf("HTTP address %q accepted", bad)
		}
	}
}

func TestStatusShowsAntiEntropy(t *testing.T) {
	c := startFakeCluster(t, nil)
	out, errOut, code := run(t, "", "status", "--endpoints", c.grpcAddr)
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	rows := map[string][]string{}
	var header []string
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) > 0 && fields[0] == "node" {
			header = fields
		}
		if len(fields) > 0 && len(fields[0]) == 2 && fields[0][0] == 'n' {
			rows[fields[0]] = fields
		}
	}
	if want := []string{"node", "alive", "zone", "partitions", "hints", "held", "oldest", "exchange", "trees", "grpc", "http"}; !reflect.DeepEqual(header, want) {
		t.Errorf("header %q, want %q\n%s", header, want, out)
	}
	// The AAE columns are the 6th to 8th fields: oldest exchange (one or
	// two words), then trees.
	for id, want := range map[string]string{
		"n1": "never (42s) 4/4", // n2 never exchanged with it
		"n2": "- -",             // down: not asked
		"n3": "n/a n/a",         // no anti-entropy
		"n4": "- -",             // unreachable
	} {
		fields := rows[id]
		if len(fields) < 8 {
			t.Errorf("no row for %s:\n%s", id, out)
			continue
		}
		got := strings.Join(fields[5:len(fields)-2], " ")
		if got != want {
			t.Errorf("%s: anti-entropy %q, want %q\n%s", id, got, want, out)
		}
	}
	// Once every pair has been compared, the age alone.
	c = startFakeCluster(t, func(n1 *kvtest.AntiEntropy) {
		st := &n1.StatusResult
		for i, p := range st.Partitions {
			st.Partitions[i].Peers = slices.DeleteFunc(p.Peers, func(p kv.AAEPeer) bool { return p.LastExchange == nil })
		}
		st.OldestUnexchangedSeconds, st.TreesBuilt = 3725, 3
	})
	out, _, _ = run(t, "", "status", "--endpoints", c.grpcAddr)
	if !strings.Contains(out, " 1h02m            3/4 ") {
		t.Errorf("all compared: want 1h02m and 3/4 in\n%s", out)
	}
}

func TestAAECellOf(t *testing.T) {
	never := kvtest.NewAntiEntropy().StatusResult
	if got := aaeCellOf(&never); got != (aaeCell{"never (42s)", "4/4"}) {
		t.Errorf("never: %+v", got)
	}
	paused := kvtest.NewAntiEntropy().StatusResult
	paused.Paused = true
	if got := aaeCellOf(&paused); got != (aaeCell{"never (42s), paused", "4/4"}) {
		t.Errorf("paused: %+v", got)
	}
	none := kv.AAEStatus{}
	if got := aaeCellOf(&none); got != (aaeCell{"no peers", "0/0"}) {
		t.Errorf("no partitions: %+v", got)
	}
}

func TestFormatAge(t *testing.T) {
	for secs, want := range map[float64]string{
		-1: "0s", 0: "0s", 0.4: "0s", 0.6: "1s", 12: "12s", 59.4: "59s", 59.6: "1m00s", 245: "4m05s",
		3599: "59m59s", 3600: "1h00m", 11220: "3h07m", 86400: "1d00h", 190800: "2d05h",
	} {
		if got := formatAge(secs); got != want {
			t.Errorf("formatAge(%v) = %q, want %q", secs, got, want)
		}
	}
}
