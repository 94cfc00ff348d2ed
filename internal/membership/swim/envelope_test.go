package swim

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/tutti-kv/tutti/internal/membership"
)

func sampleEnvelope(clusterID string) []byte {
	var st membership.State
	_ = st.Set(membership.Record{ID: "n1", GossipAddr: "10.0.0.1:7946", Status: membership.Active, Incarnation: 42})
	var mt membership.Meta
	_, _ = mt.Write("bucket/b", []byte("props"), 7, "n1")
	return encodeEnvelope(clusterID, st, mt)
}

func TestEnvelopeRoundTrip(t *testing.T) {
	st, mt, err := decodeEnvelope(sampleEnvelope(testCluster), testCluster)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := st.Get("n1"); !ok || r.Incarnation != 42 {
		t.Fatalf("record %+v %v", r, ok)
	}
	if v, ok := mt.Value("bucket/b"); !ok || string(v) != "props" {
		t.Fatalf("metadata %q %v", v, ok)
	}
}

func TestEnvelopeFromOtherClusterRefused(t *testing.T) {
	_, _, err := decodeEnvelope(sampleEnvelope("tutti/q=64/n=3"), testCluster)
	if !errors.Is(err, errOtherCluster) {
		t.Fatalf("got %v, want errOtherCluster", err)
	}
	if err := checkNodeMeta("x", encodeNodeMeta("tutti/q=64/n=3"), testCluster); !errors.Is(err, errOtherCluster) {
		t.Fatalf("node meta of another cluster: got %v", err)
	}
	if err := checkNodeMeta("x", nil, testCluster); !errors.Is(err, errOtherCluster) {
		t.Fatalf("empty node meta: got %v", err)
	}
	if err := checkNodeMeta("x", encodeNodeMeta(testCluster), testCluster); err != nil {
		t.Fatalf("own cluster refused: %v", err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(sampleEnvelope(testCluster))
	f.Add(encodeEnvelope(testCluster, membership.State{}, membership.Meta{}))
	f.Add([]byte{envelopeVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, mt, err := decodeEnvelope(b, testCluster)
		if err != nil {
			return
		}
		st2, mt2, err := decodeEnvelope(encodeEnvelope(testCluster, st, mt), testCluster)
		if err != nil || !st2.Equal(st) || !mt2.Equal(mt) {
			t.Fatalf("re-encoding %x does not decode to the same content (err %v)", b, err)
		}
	})
}

type capture struct {
	levels []slog.Level
	msgs   []string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.levels = append(c.levels, r.Level)
	c.msgs = append(c.msgs, r.Message)
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func TestMemberlistLogLevels(t *testing.T) {
	c := &capture{}
	w := logWriter{slog.New(c)}
	for _, line := range []string{
		"[DEBUG] memberlist: probing\n",
		"[INFO] memberlist: marking n2 as failed\n",
		"[WARN] memberlist: refuting\n",
		"[ERR] memberlist: failed push/pull\n",
		"no tag at all\n",
	} {
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	wantLevels := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelInfo}
	wantMsgs := []string{"probing", "marking n2 as failed", "refuting", "failed push/pull", "no tag at all"}
	for i := range wantLevels {
		if c.levels[i] != wantLevels[i] || c.msgs[i] != wantMsgs[i] {
			t.Errorf("line %d: got %v %q, want %v %q", i, c.levels[i], c.msgs[i], wantLevels[i], wantMsgs[i])
		}
	}
}
