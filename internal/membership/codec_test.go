package membership

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"
)

func TestStateRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := stateGen().Draw(t, "s")
		got, err := DecodeState(s.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(s) {
			t.Fatalf("decoded %v, want %v", got.Records(), s.Records())
		}
	})
}

func TestMetaRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := metaGen().Draw(t, "m")
		got, err := DecodeMeta(m.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(m) {
			t.Fatal("decoded metadata differs")
		}
	})
}

func TestDecodeStateRejects(t *testing.T) {
	var s State
	_ = s.Set(Record{ID: "a", Status: Active, Incarnation: 1})
	_ = s.Set(Record{ID: "b", Status: Left, Incarnation: 2})
	good := s.Encode()
	cases := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{9}, good[1:]...),
		"truncated":     good[:len(good)-1],
		"trailing":      append(bytes.Clone(good), 0),
		"huge count":    {stateVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad status":    {stateVersion, 1, 1, 'a', 0, 0, 0, 0, 7, 1},
		"empty id":      {stateVersion, 1, 0, 0, 0, 0, 0, 1, 1},
		"out of order":  {stateVersion, 2, 1, 'b', 0, 0, 0, 0, 1, 1, 1, 'a', 0, 0, 0, 0, 1, 1},
		"duplicate ids": {stateVersion, 2, 1, 'a', 0, 0, 0, 0, 1, 1, 1, 'a', 0, 0, 0, 0, 1, 2},
	}
	for name, b := range cases {
		if _, err := DecodeState(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
}

func TestDecodeMetaRejects(t *testing.T) {
	var m Meta
	_, _ = m.Write("k", []byte("v"), 1, "n1")
	good := m.Encode()
	cases := map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"unknown flag":   {metaVersion, 1, 1, 'k', 2, 0, 2, 0, 1, 'w'},
		"deleted value":  {metaVersion, 1, 1, 'k', 1, 1, 'v', 2, 0, 1, 'w'},
		"empty writer":   {metaVersion, 1, 1, 'k', 0, 0, 2, 0, 0, 0},
		"logical > 2^32": {metaVersion, 1, 1, 'k', 0, 0, 2, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 'w'},
	}
	for name, b := range cases {
		if _, err := DecodeMeta(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeState(f *testing.F) {
	var s State
	_ = s.Set(Record{ID: "n1", Zone: "z", GossipAddr: "10.0.0.1:7946", GRPCAddr: "10.0.0.1:8087", HTTPAddr: "10.0.0.1:8098", Status: Active, Incarnation: 1 << 60})
	_ = s.Set(Record{ID: "n2", Status: Removed, Incarnation: 3})
	f.Add(s.Encode())
	f.Add(State{}.Encode())
	f.Add([]byte{stateVersion, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeState(b)
		if err != nil {
			return
		}
		again, err := DecodeState(s.Encode())
		if err != nil || !again.Equal(s) {
			t.Fatalf("re-encoding %x does not decode to the same state (err %v)", b, err)
		}
	})
}

func FuzzDecodeMeta(f *testing.F) {
	var m Meta
	_, _ = m.Write("bucket/props/b1", []byte(`{"conflict":"lww"}`), 1700000000000000000, "n1")
	_, _ = m.Delete("bucket/props/b2", -5, "n2")
	f.Add(m.Encode())
	f.Add(Meta{}.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			return
		}
		enc := m.Encode()
		again, err := DecodeMeta(enc)
		if err != nil || !again.Equal(m) {
			t.Fatalf("re-encoding %x does not decode to the same map (err %v)", b, err)
		}
		// Decoded values do not alias the input.
		for i := range b {
			b[i] ^= 0xff
		}
		if !bytes.Equal(m.Encode(), enc) {
			t.Fatal("decoded values changed with the input buffer")
		}
	})
}
