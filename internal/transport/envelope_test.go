package transport

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

func fieldNames(m proto.Message) []string {
	var names []string
	fields := m.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		names = append(names, string(fields.Get(i).Name()))
	}
	return names
}

// The envelopes copy fields by name; a field added to the protocol must be
// added to them too, or it would silently vanish in transit. (Members of
// the body oneof travel with the body.)
func TestEnvelopesKnowEveryField(t *testing.T) {
	for _, tc := range []struct {
		msg  proto.Message
		want []string
	}{
		{&tuttipb.PeerRequest{}, []string{"id", "from", "deadline_unix_nano", "read", "write", "coordinate", "aae"}},
		{&tuttipb.PeerResponse{}, []string{"id", "error", "code", "read", "write", "coordinate", "aae"}},
	} {
		if got := fieldNames(tc.msg); !slices.Equal(got, tc.want) {
			t.Errorf("%s has fields %v; the envelope copies %v: update envelope.go",
				tc.msg.ProtoReflect().Descriptor().FullName(), got, tc.want)
		}
	}
}

func TestEnvelopesCopyAllButTheirOwnFields(t *testing.T) {
	req := writeRequest("k", []byte("v"))
	req.Id, req.DeadlineUnixNano = 1, 2
	env := requestEnvelope(req, 9, 10)
	want := proto.Clone(req).(*tuttipb.PeerRequest)
	want.Id, want.DeadlineUnixNano = 9, 10
	if !proto.Equal(env, want) {
		t.Fatalf("request envelope %v, want %v", env, want)
	}

	resp := &tuttipb.PeerResponse{Id: 1, Error: "e", Code: tuttipb.ErrorCode_ERROR_CODE_NOT_REPLICA,
		Body: &tuttipb.PeerResponse_Write{Write: &tuttipb.ReplicaWriteResult{Durable: true}}}
	renv := responseEnvelope(resp, 9)
	wantResp := proto.Clone(resp).(*tuttipb.PeerResponse)
	wantResp.Id = 9
	if !proto.Equal(renv, wantResp) {
		t.Fatalf("response envelope %v, want %v", renv, wantResp)
	}
}

func TestEffectiveDeadlineTakesTheEarlier(t *testing.T) {
	at := func(ns int64) time.Time { return time.Unix(0, ns) }
	for _, tc := range []struct {
		requested int64
		ctx       time.Time
		hasCtx    bool
		want      int64
	}{
		{0, time.Time{}, false, 0},
		{50, time.Time{}, false, 50},
		{0, at(70), true, 70},
		{50, at(70), true, 50},
		{90, at(70), true, 70},
	} {
		if got := effectiveDeadline(tc.requested, tc.ctx, tc.hasCtx); got != tc.want {
			t.Errorf("effectiveDeadline(%d, %v, %v) = %d, want %d", tc.requested, tc.ctx, tc.hasCtx, got, tc.want)
		}
	}
}
