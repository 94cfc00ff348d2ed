package grpcapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/kv/kvtest"
	"github.com/tutti-kv/tutti/internal/metrics"
)

// env is a KV server over a fake service, reached through an in-memory
// connection.
type env struct {
	svc     *kvtest.Service
	metrics *metrics.Metrics
	logs    *bytes.Buffer
	client  tuttipb.KVClient
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{svc: kvtest.New(), logs: &bytes.Buffer{}}
	e.metrics = metrics.New(prometheus.NewRegistry())
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer(ServerOptions(e.svc.LimitsResult)...)
	Register(s, e.svc, e.metrics, WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))))
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///tutti",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.client = tuttipb.NewKVClient(conn)
	return e
}

func (e *env) count(op, outcome string) float64 {
	return testutil.ToFloat64(e.metrics.Requests.WithLabelValues(op, outcome))
}

func codeOf(err error) codes.Code { return status.Code(err) }

var ctx = context.Background()

func TestQuorumEncodingMatchesProto(t *testing.T) {
	pairs := []struct {
		q kv.Quorum
		v tuttipb.QuorumValue
	}{
		{kv.Default, tuttipb.QuorumValue_QUORUM_VALUE_DEFAULT},
		{kv.One, tuttipb.QuorumValue_QUORUM_VALUE_ONE},
		{kv.Majority, tuttipb.QuorumValue_QUORUM_VALUE_QUORUM},
		{kv.All, tuttipb.QuorumValue_QUORUM_VALUE_ALL},
	}
	for _, p := range pairs {
		if int32(p.q) != int32(p.v) {
			t.Errorf("kv %v = %d, proto %v = %d", p.q, int32(p.q), p.v, int32(p.v))
		}
	}
}

func TestPutPassesEverythingToService(t *testing.T) {
	e := newEnv(t)
	resp, err := e.client.Put(ctx, &tuttipb.PutRequest{
		Bucket: []byte("users"), Key: []byte("a/\x00b"), Value: []byte("v"), ContentType: "text/plain",
		Context: "ctx-old", W: 2, Dw: int32(tuttipb.QuorumValue_QUORUM_VALUE_ONE), Pw: int32(kv.Zero), TimeoutMs: 1500,
		IdempotencyKey: "write-7",
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetContext() != "ctx-put" {
		t.Errorf("context %q", resp.GetContext())
	}
	got := e.svc.Puts[0]
	want := kv.PutRequest{Bucket: []byte("users"), Key: []byte("a/\x00b"), Value: []byte("v"), ContentType: "text/plain",
		Context: "ctx-old", Options: kv.Options{W: 2, DW: kv.One, PW: kv.Zero, Timeout: 1500 * time.Millisecond}}
	if string(got.Bucket) != string(want.Bucket) || string(got.Key) != string(want.Key) || string(got.Value) != "v" ||
		got.ContentType != want.ContentType || got.Context != want.Context || got.Options != want.Options ||
		got.WriteID != "write-7" {
		t.Errorf("service got %+v, want %+v", got, want)
	}
	if e.count(metrics.OpPut, metrics.OutcomeOK) != 1 {
		t.Error("put/ok not counted")
	}
}

func TestPutDefaultsContentType(t *testing.T) {
	e := newEnv(t)
	if _, err := e.client.Put(ctx, &tuttipb.PutRequest{Bucket: []byte("b"), Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if got := e.svc.Puts[0]; got.ContentType != "application/octet-stream" || got.Options != (kv.Options{}) {
		t.Errorf("service got %+v", got)
	}
}

func TestPutValueAtLimitPasses(t *testing.T) {
	e := newEnv(t)
	value := make([]byte, e.svc.LimitsResult.MaxValueBytes) // over gRPC's default 4 MiB
	if _, err := e.client.Put(ctx, &tuttipb.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: value}); err != nil {
		t.Fatalf("value at the limit: %v", err)
	}
	_, err := e.client.Put(ctx, &tuttipb.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: append(value, 0)})
	if codeOf(err) != codes.ResourceExhausted {
		t.Fatalf("value over the limit: %v, want ResourceExhausted", err)
	}
	if len(e.svc.Puts) != 1 {
		t.Errorf("service got %d puts, want 1", len(e.svc.Puts))
	}
	if e.count(metrics.OpPut, metrics.OutcomeTooLarge) != 1 {
		t.Error("put/too_large not counted")
	}
}

func TestGet(t *testing.T) {
	e := newEnv(t)
	t1 := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	e.svc.GetResult = &kv.GetResult{Found: true, Context: "ctx-m", Siblings: []kv.Sibling{
		{Value: []byte("a"), ContentType: "text/plain", LastModified: t1},
		{Value: []byte("b")},
	}}
	resp, err := e.client.Get(ctx, &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k"),
		R: int32(tuttipb.QuorumValue_QUORUM_VALUE_ALL), Pr: 1, TimeoutMs: 20})
	if err != nil {
		t.Fatal(err)
	}
	want := &tuttipb.GetResponse{Found: true, Context: "ctx-m", Siblings: []*tuttipb.Sibling{
		{Value: []byte("a"), ContentType: "text/plain", LastModifiedUnixNano: t1.UnixNano()},
		{Value: []byte("b"), ContentType: "application/octet-stream"},
	}}
	if !proto.Equal(resp, want) {
		t.Errorf("got %v, want %v", resp, want)
	}
	if got := e.svc.Gets[0].Options; got != (kv.Options{R: kv.All, PR: 1, Timeout: 20 * time.Millisecond}) {
		t.Errorf("options %+v", got)
	}
	if e.count(metrics.OpGet, metrics.OutcomeOK) != 1 {
		t.Error("get/ok not counted")
	}
}

func TestGetDeletedAndAbsent(t *testing.T) {
	e := newEnv(t)
	e.svc.GetResult = &kv.GetResult{Deleted: true, Context: "ctx-tomb"}
	resp, err := e.client.Get(ctx, &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetFound() || !resp.GetDeleted() || resp.GetContext() != "ctx-tomb" {
		t.Errorf("deleted: %v", resp)
	}
	e.svc.GetResult = &kv.GetResult{}
	resp, err = e.client.Get(ctx, &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k")})
	if err != nil || resp.GetFound() || resp.GetDeleted() {
		t.Errorf("absent: %v, %v", resp, err)
	}
	if e.count(metrics.OpGet, metrics.OutcomeNotFound) != 2 {
		t.Error("get/not_found not counted")
	}
	e.svc.GetResult = &kv.GetResult{Found: true}
	if _, err := e.client.Get(ctx, &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k")}); codeOf(err) != codes.Internal {
		t.Errorf("found without versions: %v, want Internal", err)
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	resp, err := e.client.Delete(ctx, &tuttipb.DeleteRequest{Bucket: []byte("b"), Key: []byte("k"), Context: "c1",
		W: int32(tuttipb.QuorumValue_QUORUM_VALUE_QUORUM), Dw: 2, Pw: 1, TimeoutMs: 100})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetContext() != "ctx-del" {
		t.Errorf("context %q", resp.GetContext())
	}
	got := e.svc.Deletes[0]
	if string(got.Bucket) != "b" || string(got.Key) != "k" || got.Context != "c1" ||
		got.Options != (kv.Options{W: kv.Majority, DW: 2, PW: 1, Timeout: 100 * time.Millisecond}) {
		t.Errorf("service got %+v", got)
	}
}

func TestRejectedRequestsDoNotReachService(t *testing.T) {
	lim := kv.DefaultLimits()
	long := func(n int) []byte { return bytes.Repeat([]byte("x"), n+1) }
	b, k := []byte("b"), []byte("k")
	cases := []struct {
		name string
		call func(tuttipb.KVClient) error
		code codes.Code
	}{
		{"put empty bucket", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Key: k})
			return err
		}, codes.InvalidArgument},
		{"put empty key", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Bucket: b})
			return err
		}, codes.InvalidArgument},
		{"put long bucket", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Bucket: long(lim.MaxBucketBytes), Key: k})
			return err
		}, codes.InvalidArgument},
		{"put long key", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Bucket: b, Key: long(lim.MaxKeyBytes)})
			return err
		}, codes.InvalidArgument},
		{"put w over N", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Bucket: b, Key: k, W: 4})
			return err
		}, codes.InvalidArgument},
		{"put w zero", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Bucket: b, Key: k, W: int32(kv.Zero)})
			return err
		}, codes.InvalidArgument},
		{"put unknown quorum", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Bucket: b, Key: k, Dw: -5})
			return err
		}, codes.InvalidArgument},
		{"put negative timeout", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Bucket: b, Key: k, TimeoutMs: -1})
			return err
		}, codes.InvalidArgument},
		{"put timeout over max", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Bucket: b, Key: k, TimeoutMs: MaxRequestTimeout.Milliseconds() + 1})
			return err
		}, codes.InvalidArgument},
		{"put bad content type", func(c tuttipb.KVClient) error {
			_, err := c.Put(ctx, &tuttipb.PutRequest{Bucket: b, Key: k, ContentType: "text/"})
			return err
		}, codes.InvalidArgument},
		{"delete pw over N", func(c tuttipb.KVClient) error {
			_, err := c.Delete(ctx, &tuttipb.DeleteRequest{Bucket: b, Key: k, Pw: 9})
			return err
		}, codes.InvalidArgument},
		{"delete empty key", func(c tuttipb.KVClient) error {
			_, err := c.Delete(ctx, &tuttipb.DeleteRequest{Bucket: b})
			return err
		}, codes.InvalidArgument},
		{"get r zero", func(c tuttipb.KVClient) error {
			_, err := c.Get(ctx, &tuttipb.GetRequest{Bucket: b, Key: k, R: int32(kv.Zero)})
			return err
		}, codes.InvalidArgument},
		{"get long key", func(c tuttipb.KVClient) error {
			_, err := c.Get(ctx, &tuttipb.GetRequest{Bucket: b, Key: long(lim.MaxKeyBytes)})
			return err
		}, codes.InvalidArgument},
		{"get pr unknown", func(c tuttipb.KVClient) error {
			_, err := c.Get(ctx, &tuttipb.GetRequest{Bucket: b, Key: k, Pr: -100})
			return err
		}, codes.InvalidArgument},
		{"props empty bucket", func(c tuttipb.KVClient) error {
			_, err := c.GetBucketProps(ctx, &tuttipb.GetBucketPropsRequest{})
			return err
		}, codes.InvalidArgument},
		{"set props long bucket", func(c tuttipb.KVClient) error {
			_, err := c.SetBucketProps(ctx, &tuttipb.SetBucketPropsRequest{Bucket: long(lim.MaxBucketBytes), Props: &tuttipb.BucketProps{Conflict: "lww", R: 1, W: 1}})
			return err
		}, codes.InvalidArgument},
		{"set props missing", func(c tuttipb.KVClient) error {
			_, err := c.SetBucketProps(ctx, &tuttipb.SetBucketPropsRequest{Bucket: b})
			return err
		}, codes.InvalidArgument},
		{"set props bad conflict", func(c tuttipb.KVClient) error {
			_, err := c.SetBucketProps(ctx, &tuttipb.SetBucketPropsRequest{Bucket: b, Props: &tuttipb.BucketProps{Conflict: "newest", R: 1, W: 1}})
			return err
		}, codes.InvalidArgument},
		{"set props r zero", func(c tuttipb.KVClient) error {
			_, err := c.SetBucketProps(ctx, &tuttipb.SetBucketPropsRequest{Bucket: b, Props: &tuttipb.BucketProps{Conflict: "lww", W: 1}})
			return err
		}, codes.InvalidArgument},
		{"set props w over N", func(c tuttipb.KVClient) error {
			_, err := c.SetBucketProps(ctx, &tuttipb.SetBucketPropsRequest{Bucket: b, Props: &tuttipb.BucketProps{Conflict: "lww", R: 1, W: 4}})
			return err
		}, codes.InvalidArgument},
		{"set props unknown quorum", func(c tuttipb.KVClient) error {
			_, err := c.SetBucketProps(ctx, &tuttipb.SetBucketPropsRequest{Bucket: b, Props: &tuttipb.BucketProps{Conflict: "lww", R: 1, W: 1, Dw: -9}})
			return err
		}, codes.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			err := c.call(e.client)
			if codeOf(err) != c.code {
				t.Fatalf("got %v, want %v", err, c.code)
			}
			if n := e.svc.DataCalls(); n != 0 {
				t.Errorf("service called %d times", n)
			}
		})
	}
}

func TestErrorsMapToCodes(t *testing.T) {
	cases := []struct {
		err     error
		code    codes.Code
		message string
		outcome string
	}{
		{kv.Errorf(kv.BadRequest, "malformed context"), codes.InvalidArgument, "malformed context", metrics.OutcomeBadRequest},
		{kv.Errorf(kv.NameTooLong, "long"), codes.InvalidArgument, "long", metrics.OutcomeNameTooLong},
		{kv.Errorf(kv.TooLarge, "big"), codes.ResourceExhausted, "big", metrics.OutcomeTooLarge},
		{kv.QuorumError("w unmet", 2, 1), codes.Unavailable, "w unmet (needed 2, answered 1)", metrics.OutcomeUnavailable},
		{kv.Errorf(kv.Unavailable, "no replica reachable"), codes.Unavailable, "no replica reachable", metrics.OutcomeUnavailable},
		{kv.Errorf(kv.NotFound, "gone"), codes.NotFound, "gone", metrics.OutcomeNotFound},
		{kv.Errorf(kv.Internal, "secret path"), codes.Internal, "internal error", metrics.OutcomeError},
		{errors.New("boom"), codes.Internal, "internal error", metrics.OutcomeError},
		{context.DeadlineExceeded, codes.DeadlineExceeded, "timeout", metrics.OutcomeTimeout},
		{context.Canceled, codes.Canceled, "canceled", metrics.OutcomeCanceled},
	}
	for _, c := range cases {
		e := newEnv(t)
		e.svc.Err = c.err
		_, err := e.client.Delete(ctx, &tuttipb.DeleteRequest{Bucket: []byte("b"), Key: []byte("k")})
		st, _ := status.FromError(err)
		if st.Code() != c.code || st.Message() != c.message {
			t.Errorf("%v answered %v %q, want %v %q", c.err, st.Code(), st.Message(), c.code, c.message)
		}
		if e.count(metrics.OpDelete, c.outcome) != 1 {
			t.Errorf("%v: delete/%s not counted", c.err, c.outcome)
		}
	}
}

func TestQuorumErrorHasDetail(t *testing.T) {
	e := newEnv(t)
	e.svc.Err = kv.QuorumError("r unmet", 3, 0)
	_, err := e.client.Get(ctx, &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k")})
	st, _ := status.FromError(err)
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil {
		t.Fatalf("no ErrorInfo in %v", st.Details())
	}
	if info.Reason != ReasonQuorum || info.Domain != ErrorDomain || info.Metadata["needed"] != "3" || info.Metadata["answered"] != "0" {
		t.Errorf("detail %v", info)
	}
}

func TestEveryUnavailableHasDetail(t *testing.T) {
	// A client tells a node's Unavailable from a dead connection's by it.
	e := newEnv(t)
	e.svc.Err = kv.Errorf(kv.Unavailable, "no replica reachable")
	_, err := e.client.Get(ctx, &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k")})
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok && i.Reason == ReasonUnavailable && i.Domain == ErrorDomain {
			return
		}
	}
	t.Fatalf("no ErrorInfo %s in %v", ReasonUnavailable, st.Details())
}

func TestIdempotencyKeyLimit(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Delete(ctx, &tuttipb.DeleteRequest{Bucket: []byte("b"), Key: []byte("k"), IdempotencyKey: strings.Repeat("k", 65)})
	if status.Code(err) != codes.InvalidArgument || len(e.svc.Deletes) != 0 {
		t.Fatalf("over-long key: %v, %d deletes reached the service", err, len(e.svc.Deletes))
	}
	if _, err := e.client.Delete(ctx, &tuttipb.DeleteRequest{Bucket: []byte("b"), Key: []byte("k"), IdempotencyKey: "d1"}); err != nil {
		t.Fatal(err)
	}
	if got := e.svc.Deletes[0].WriteID; got != "d1" {
		t.Fatalf("service got write id %q, want d1", got)
	}
}

func TestInternalErrorIsLogged(t *testing.T) {
	e := newEnv(t)
	e.svc.Err = errors.New("disk on fire")
	_, _ = e.client.Put(ctx, &tuttipb.PutRequest{Bucket: []byte("b"), Key: []byte("k")})
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Errorf("not logged: %s", e.logs)
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	e := newEnv(t)
	e.svc.PanicWith = "kaboom"
	_, err := e.client.Get(ctx, &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k")})
	if st, _ := status.FromError(err); st.Code() != codes.Internal || strings.Contains(st.Message(), "kaboom") {
		t.Fatalf("got %v, want Internal without the panic value", err)
	}
	if !strings.Contains(e.logs.String(), "kaboom") || !strings.Contains(e.logs.String(), "stack") {
		t.Errorf("panic not logged with its stack: %s", e.logs)
	}
	if testutil.ToFloat64(e.metrics.Panics.WithLabelValues("grpc")) != 1 || e.count(metrics.OpGet, metrics.OutcomeError) != 1 {
		t.Error("panic not counted")
	}
	e.svc.PanicWith = nil
	if _, err := e.client.Ring(ctx, &tuttipb.RingRequest{}); err != nil {
		t.Errorf("server broken after a panic: %v", err)
	}
}

func TestClientDeadlineReachesService(t *testing.T) {
	e := newEnv(t)
	e.svc.BlockUntilDone = true
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := e.client.Get(cctx, &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k")})
	if codeOf(err) != codes.DeadlineExceeded {
		t.Errorf("got %v, want DeadlineExceeded", err)
	}
	select {
	case err := <-e.svc.Canceled:
		if err == nil {
			t.Error("service context not done")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("service never saw the deadline")
	}
}

func TestRing(t *testing.T) {
	e := newEnv(t)
	e.svc.ClusterResult.Owners[3] = []string{"n1", "n9", "n2"} // n9 is not a member
	resp, err := e.client.Ring(ctx, &tuttipb.RingRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPartitions() != 4 || resp.GetN() != 3 || resp.GetVersion() != 9 || len(resp.GetOwners()) != 4 {
		t.Fatalf("ring %v", resp)
	}
	members := resp.GetMembers()
	if len(members) != 4 {
		t.Fatalf("members %v, want the 3 members and n9", members)
	}
	if m := members[1]; m.GetId() != "n2" || m.GetAlive() || m.GetGrpcAddr() != "10.0.0.2:8081" || m.GetHttpAddr() != "10.0.0.2:8080" || m.GetZone() != "b" {
		t.Errorf("member 1 = %v", m)
	}
	if !members[0].GetAlive() || members[3].GetId() != "n9" || members[3].GetAlive() {
		t.Errorf("members %v", members)
	}
	for p, want := range e.svc.ClusterResult.Owners {
		owners := resp.GetOwners()[p].GetOwners()
		if len(owners) != len(want) {
			t.Fatalf("partition %d owners %v, want %v", p, owners, want)
		}
		for i, idx := range owners {
			if got := members[idx].GetId(); got != want[i] {
				t.Errorf("partition %d owner %d = %s, want %s", p, i, got, want[i])
			}
		}
	}
	if e.count(metrics.OpCluster, metrics.OutcomeOK) != 1 {
		t.Error("cluster/ok not counted")
	}
}

func TestBucketProps(t *testing.T) {
	e := newEnv(t)
	e.svc.PropsResult = kv.Props{Conflict: kv.LWW, R: 2, W: kv.All, DW: kv.Zero, PR: kv.One, PW: kv.Majority}
	got, err := e.client.GetBucketProps(ctx, &tuttipb.GetBucketPropsRequest{Bucket: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	want := &tuttipb.BucketProps{Conflict: "lww", R: 2, W: -3, Dw: 0, Pr: -1, Pw: -2, Sloppy: proto.Bool(false)}
	if !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	set := &tuttipb.BucketProps{Conflict: "siblings", R: -2, W: 3, Dw: 0, Pr: int32(kv.Zero), Pw: 1}
	got, err = e.client.SetBucketProps(ctx, &tuttipb.SetBucketPropsRequest{Bucket: []byte("b"), Props: set})
	if err != nil {
		t.Fatal(err)
	}
	// An unset sloppy means the default, on.
	wantProps := kv.Props{Conflict: kv.Siblings, R: kv.Majority, W: 3, DW: kv.Zero, PR: kv.Zero, PW: 1, Sloppy: true}
	if len(e.svc.SetPropsCalls) != 1 || string(e.svc.SetPropsCalls[0].Bucket) != "b" || e.svc.SetPropsCalls[0].Props != wantProps {
		t.Fatalf("SetProps calls %+v, want %+v", e.svc.SetPropsCalls, wantProps)
	}
	if want := (&tuttipb.BucketProps{Conflict: "siblings", R: -2, W: 3, Pw: 1, Sloppy: proto.Bool(true)}); !proto.Equal(got, want) {
		t.Errorf("answer %v, want %v", got, want)
	}
	set.Sloppy = proto.Bool(false)
	if _, err := e.client.SetBucketProps(ctx, &tuttipb.SetBucketPropsRequest{Bucket: []byte("b"), Props: set}); err != nil || e.svc.SetPropsCalls[1].Props.Sloppy {
		t.Fatalf("sloppy=false was not passed on: %v, %+v", err, e.svc.SetPropsCalls)
	}
	if e.count(metrics.OpProps, metrics.OutcomeOK) != 3 {
		t.Error("props/ok not counted")
	}
	e.svc.Err = kv.Errorf(kv.NotFound, "no such bucket")
	if _, err := e.client.GetBucketProps(ctx, &tuttipb.GetBucketPropsRequest{Bucket: []byte("b")}); codeOf(err) != codes.NotFound {
		t.Errorf("got %v, want NotFound", err)
	}
}

func TestRegisterWithoutLoggerDiscardsLogs(t *testing.T) {
	svc := kvtest.New()
	svc.PanicWith = "kaboom"
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	Register(s, svc, metrics.New(prometheus.NewRegistry()))
	go func() { _ = s.Serve(lis) }()
	defer s.Stop()
	conn, err := grpc.NewClient("passthrough:///tutti",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = tuttipb.NewKVClient(conn).Get(ctx, &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k")})
	if codeOf(err) != codes.Internal {
		t.Errorf("got %v, want Internal", err)
	}
}
