package object

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
)

// The causal context a client receives with a read and sends back with a
// write says which versions the client saw (a version vector) and the
// latest modification time among them. The time lets the coordinator stamp
// the write later than everything it replaces even when its own copy
// lacks some of those versions, so that last-write-wins order never
// contradicts causality.
//
// Clients get it opaque and tamper-evident:
//
//	base64url without padding of:
//	byte      context version (2)
//	causal    AppendCausal form: dvv.AppendVV, then the time's wall (zig-zag
//	          varint) and logical counter (uvarint)
//	16 bytes  HMAC-SHA256 of the bytes above under the cluster's context key, truncated
//
// The MAC stops clients from forging a context that covers versions they
// never read, which would let a write silently erase them. The empty
// context is the empty string, which is also what "no context" means.
// Version 1 contexts (no time) are still accepted, with a zero time.
const (
	contextVersion   = 2
	contextVersionV1 = 1
	contextMACLen    = 16
	// maxContextRawLen bounds a decoded context: version, count, MaxActors
	// dots of two 10-byte uvarints, the time, MAC.
	maxContextRawLen = 1 + 2 + dvv.MaxActors*20 + 15 + contextMACLen
)

// Causal is what a causal context means: the versions it covers and the
// latest modification time among them.
type Causal struct {
	VV     dvv.VV
	Latest hlc.Timestamp
}

// CausalOf is the context a client gets for o: o's version vector and its
// newest version's time.
func CausalOf(o *Object) Causal {
	if o == nil {
		return Causal{}
	}
	c := Causal{VV: o.Context}
	for _, e := range o.Entries {
		if c.Latest.Less(e.Value.Modified) {
			c.Latest = e.Value.Modified
		}
	}
	return c
}

// AppendCausal appends the unsigned binary form of c to dst, as nodes pass
// it to each other.
func AppendCausal(dst []byte, c Causal) []byte {
	dst = dvv.AppendVV(dst, c.VV)
	dst = binary.AppendVarint(dst, c.Latest.Wall)
	return binary.AppendUvarint(dst, uint64(c.Latest.Logical))
}

// DecodeCausal decodes what AppendCausal wrote, which must fill b.
func DecodeCausal(b []byte) (Causal, error) {
	vv, rest, err := dvv.DecodeVV(b)
	if err != nil {
		return Causal{}, err
	}
	d := decoder{b: rest}
	c := Causal{VV: vv, Latest: hlc.Timestamp{Wall: d.varint("wall"), Logical: d.uint32("logical")}}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return c, d.err
}

// ErrBadContext is wrapped by DecodeContext's errors: the context is
// malformed, truncated, of an unknown version or not signed with the key.
var ErrBadContext = errors.New("object: bad causal context")

// EncodeContext returns the opaque, signed form of c for clients; key is
// the cluster's secret context key.
func EncodeContext(c Causal, key []byte) string {
	if len(c.VV) == 0 {
		return ""
	}
	b := make([]byte, 0, 1+len(c.VV)*12+15+contextMACLen)
	b = append(b, contextVersion)
	b = AppendCausal(b, c)
	b = append(b, contextMAC(b, key)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeContext verifies and parses a context made by EncodeContext with the
// same key. The empty string is the empty context.
func DecodeContext(s string, key []byte) (Causal, error) {
	if s == "" {
		return Causal{}, nil
	}
	enc := base64.RawURLEncoding.Strict()
	if len(s) > enc.EncodedLen(maxContextRawLen) {
		return Causal{}, fmt.Errorf("%w: %d characters is too long", ErrBadContext, len(s))
	}
	raw, err := enc.DecodeString(s)
	// The decoder skips line breaks; a canonical context has none.
	if err != nil || enc.EncodedLen(len(raw)) != len(s) {
		return Causal{}, fmt.Errorf("%w: not base64url", ErrBadContext)
	}
	if len(raw) < 1+contextMACLen {
		return Causal{}, fmt.Errorf("%w: truncated", ErrBadContext)
	}
	if raw[0] != contextVersion && raw[0] != contextVersionV1 {
		return Causal{}, fmt.Errorf("%w: unknown version %d", ErrBadContext, raw[0])
	}
	body, mac := raw[:len(raw)-contextMACLen], raw[len(raw)-contextMACLen:]
	if !hmac.Equal(mac, contextMAC(body, key)) {
		return Causal{}, fmt.Errorf("%w: signature does not match", ErrBadContext)
	}
	if raw[0] == contextVersionV1 {
		vv, rest, err := dvv.DecodeVV(body[1:])
		if err == nil && len(rest) > 0 {
			err = fmt.Errorf("%d trailing bytes", len(rest))
		}
		if err != nil {
			return Causal{}, fmt.Errorf("%w: %w", ErrBadContext, err)
		}
		return Causal{VV: vv}, nil
	}
	c, err := DecodeCausal(body[1:])
	if err != nil {
		return Causal{}, fmt.Errorf("%w: %w", ErrBadContext, err)
	}
	return c, nil
}

func contextMAC(body, key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)[:contextMACLen]
}
