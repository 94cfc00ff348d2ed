package object

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/tutti-kv/tutti/internal/dvv"
	"pgregory.net/rapid"
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
	sampleVV = dvv.VV{{Actor: 7, Counter: 3}, {Actor: 1 << 63, Counter: 1 << 40}}
)

func TestContextRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t, Siblings)
		vv := w.drawContext(t)
		s := EncodeContext(vv, testKey)
		got, err := DecodeContext(s, testKey)
		if err != nil {
			t.Fatalf("DecodeContext(EncodeContext(%v)): %v", vv, err)
		}
		if !got.Equal(vv) {
			t.Fatalf("round trip of %v gave %v", vv, got)
		}
	})
}

func TestEmptyContextIsTheEmptyString(t *testing.T) {
	if s := EncodeContext(nil, testKey); s != "" {
		t.Fatalf("EncodeContext(nil) = %q", s)
	}
	vv, err := DecodeContext("", testKey)
	if err != nil || vv != nil {
		t.Fatalf(`DecodeContext("") = %v, %v`, vv, err)
	}
}

func TestContextRejectsEveryFlippedBit(t *testing.T) {
	raw, err := base64.RawURLEncoding.DecodeString(EncodeContext(sampleVV, testKey))
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(raw) * 8 {
		flipped := []byte(string(raw))
		flipped[i/8] ^= 1 << (i % 8)
		s := base64.RawURLEncoding.EncodeToString(flipped)
		if vv, err := DecodeContext(s, testKey); !errors.Is(err, ErrBadContext) {
			t.Fatalf("bit %d flipped: DecodeContext = %v, %v; want ErrBadContext", i, vv, err)
		}
	}
}

func TestContextRejectsOtherKeysAndMalformedInput(t *testing.T) {
	good := EncodeContext(sampleVV, testKey)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	// resigned builds a correctly signed context around an arbitrary body.
	resigned := func(body []byte) string {
		return base64.RawURLEncoding.EncodeToString(append(body, contextMAC(body, testKey)...))
	}
	body := raw[:len(raw)-contextMACLen]
	for name, s := range map[string]string{
		"other key":     EncodeContext(sampleVV, otherKey),
		"truncated":     good[:len(good)-3],
		"too short":     good[:8],
		"padded":        good + "==",
		"line break":    good[:10] + "\n" + good[10:],
		"not base64":    "!!!!" + good[4:],
		"std alphabet":  strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/",
		"version 2":     resigned(append([]byte{2}, body[1:]...)),
		"trailing":      resigned(append(body[:len(body):len(body)], 0)),
		"bad vector":    resigned([]byte{contextVersion, 2, 5, 1, 4, 1}),
		"overlong":      strings.Repeat("A", base64.RawURLEncoding.EncodedLen(maxContextRawLen)+1),
		"only a header": base64.RawURLEncoding.EncodeToString([]byte{contextVersion}),
	} {
		if vv, err := DecodeContext(s, testKey); !errors.Is(err, ErrBadContext) {
			t.Errorf("%s: DecodeContext(%q) = %v, %v; want ErrBadContext", name, s, vv, err)
		}
	}
	if vv, err := DecodeContext(resigned(body), testKey); err != nil || !vv.Equal(sampleVV) {
		t.Fatalf("resigning the genuine body: %v, %v", vv, err)
	}
}

func FuzzDecodeContext(f *testing.F) {
	f.Add("")
	f.Add(EncodeContext(sampleVV, testKey))
	f.Add(EncodeContext(dvv.VV{{Actor: 1, Counter: 1}}, testKey))
	f.Add("AQ")
	check := func(t *testing.T, s string) {
		vv, err := DecodeContext(s, testKey)
		if err != nil {
			if !errors.Is(err, ErrBadContext) {
				t.Fatalf("error %v does not wrap ErrBadContext", err)
			}
			return
		}
		if err := vv.Validate(); err != nil {
			t.Fatalf("decoded an invalid VV: %v", err)
		}
		if len(vv) > 0 && EncodeContext(vv, testKey) != s {
			t.Fatalf("DecodeContext(%q) re-encodes differently", s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		check(t, s)
		// The fuzzer cannot forge a MAC; sign its bytes to reach the parser
		// behind the check too.
		body := []byte(s)
		check(t, base64.RawURLEncoding.EncodeToString(append(body, contextMAC(body, testKey)...)))
	})
}
