package object

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/tutti-kv/tutti/internal/dvv"
)

// The causal context a client receives with a read and sends back with a
// write is a version vector, made opaque and tamper-evident:
//
//	base64url without padding of:
//	byte      context version (1)
//	vv        dvv.AppendVV form
//	16 bytes  HMAC-SHA256 of the bytes above under the cluster's context key, truncated
//
// The MAC stops clients from forging a context that covers versions they
// never read, which would let a write silently erase them. The empty VV is
// the empty string, which is also what "no context" means.
const (
	contextVersion = 1
	contextMACLen  = 16
	// maxContextRawLen bounds a decoded context: version, count, MaxActors
	// dots of two 10-byte uvarints, MAC.
	maxContextRawLen = 1 + 2 + dvv.MaxActors*20 + contextMACLen
)

// ErrBadContext is wrapped by DecodeContext's errors: the context is
// malformed, truncated, of an unknown version or not signed with the key.
var ErrBadContext = errors.New("object: bad causal context")

// EncodeContext returns the opaque, signed form of vv for clients; key is
// the cluster's secret context key.
func EncodeContext(vv dvv.VV, key []byte) string {
	if len(vv) == 0 {
		return ""
	}
	b := make([]byte, 0, 1+len(vv)*12+contextMACLen)
	b = append(b, contextVersion)
	b = dvv.AppendVV(b, vv)
	b = append(b, contextMAC(b, key)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeContext verifies and parses a context made by EncodeContext with the
// same key. The empty string is the empty VV.
func DecodeContext(s string, key []byte) (dvv.VV, error) {
	if s == "" {
		return nil, nil
	}
	enc := base64.RawURLEncoding.Strict()
	if len(s) > enc.EncodedLen(maxContextRawLen) {
		return nil, fmt.Errorf("%w: %d characters is too long", ErrBadContext, len(s))
	}
	raw, err := enc.DecodeString(s)
	// The decoder skips line breaks; a canonical context has none.
	if err != nil || enc.EncodedLen(len(raw)) != len(s) {
		return nil, fmt.Errorf("%w: not base64url", ErrBadContext)
	}
	if len(raw) < 1+contextMACLen {
		return nil, fmt.Errorf("%w: truncated", ErrBadContext)
	}
	if raw[0] != contextVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrBadContext, raw[0])
	}
	body, mac := raw[:len(raw)-contextMACLen], raw[len(raw)-contextMACLen:]
	if !hmac.Equal(mac, contextMAC(body, key)) {
		return nil, fmt.Errorf("%w: signature does not match", ErrBadContext)
	}
	vv, rest, err := dvv.DecodeVV(body[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadContext, err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadContext, len(rest))
	}
	return vv, nil
}

func contextMAC(body, key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)[:contextMACLen]
}
