package dvv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// ErrCorrupt is wrapped by DecodeVV's errors.
var ErrCorrupt = errors.New("dvv: malformed version vector")

// minEncodedDot is the size of the shortest encoded dot: two one-byte
// uvarints.
const minEncodedDot = 2

// AppendVV appends the binary form of v to dst: uvarint(len(v)), then for
// each entry uvarint(actor), uvarint(counter). The form is canonical: a valid
// VV has exactly one encoding.
func AppendVV(dst []byte, v VV) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	for _, d := range v {
		dst = binary.AppendUvarint(dst, d.Actor)
		dst = binary.AppendUvarint(dst, d.Counter)
	}
	return dst
}

// DecodeVV reads a VV written by AppendVV from the front of b and returns it
// with the bytes that follow. It accepts only canonical, valid encodings
// (minimal uvarints, actors strictly increasing, non-zero counters, at most
// MaxActors entries) and checks the entry count against the remaining bytes
// before allocating. An empty VV decodes to nil.
func DecodeVV(b []byte) (VV, []byte, error) {
	n, b, err := readUvarint(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: length: %w", ErrCorrupt, err)
	}
	if n > MaxActors {
		return nil, nil, fmt.Errorf("%w: %d actors, more than %d", ErrCorrupt, n, MaxActors)
	}
	if n > uint64(len(b)/minEncodedDot) {
		return nil, nil, fmt.Errorf("%w: %d actors in %d bytes", ErrCorrupt, n, len(b))
	}
	if n == 0 {
		return nil, b, nil
	}
	v := make(VV, n)
	for i := range v {
		var d Dot
		if d.Actor, b, err = readUvarint(b); err != nil {
			return nil, nil, fmt.Errorf("%w: actor: %w", ErrCorrupt, err)
		}
		if d.Counter, b, err = readUvarint(b); err != nil {
			return nil, nil, fmt.Errorf("%w: counter: %w", ErrCorrupt, err)
		}
		if d.Counter == 0 {
			return nil, nil, fmt.Errorf("%w: zero counter for actor %x", ErrCorrupt, d.Actor)
		}
		if i > 0 && v[i-1].Actor >= d.Actor {
			return nil, nil, fmt.Errorf("%w: actors not strictly increasing", ErrCorrupt)
		}
		v[i] = d
	}
	return v, b, nil
}

// readUvarint reads a minimally encoded uvarint from the front of b and
// returns it with the bytes that follow. Overlong encodings are rejected so
// that every value has one encoding. Callers wrap the error.
func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, nil, errors.New("truncated uvarint")
	case n < 0:
		return 0, nil, errors.New("uvarint overflows 64 bits")
	case n != max(1, (bits.Len64(v)+6)/7):
		return 0, nil, errors.New("uvarint not minimally encoded")
	}
	return v, b[n:], nil
}
