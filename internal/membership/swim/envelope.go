package swim

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tutti-kv/tutti/internal/membership"
)

// Gossip payloads, both full-state exchanges and broadcasts, share one
// envelope so that every message names its cluster:
//
//	version 1 | uvarint len + ClusterID | uvarint len + State encoding | Meta encoding
//
// NodeMeta, attached by memberlist to a node's alive messages, is
//
//	version 1 | ClusterID
const (
	envelopeVersion = 1
	nodeMetaVersion = 1
)

// errOtherCluster reports a peer or message from a cluster with another
// ClusterID.
var errOtherCluster = errors.New("swim: peer belongs to another cluster")

func encodeEnvelope(clusterID string, s membership.State, m membership.Meta) []byte {
	state := s.Encode()
	b := []byte{envelopeVersion}
	b = binary.AppendUvarint(b, uint64(len(clusterID)))
	b = append(b, clusterID...)
	b = binary.AppendUvarint(b, uint64(len(state)))
	b = append(b, state...)
	return append(b, m.Encode()...)
}

// decodeEnvelope parses an envelope, refusing one from another cluster
// before looking at its content.
func decodeEnvelope(b []byte, clusterID string) (membership.State, membership.Meta, error) {
	if len(b) == 0 || b[0] != envelopeVersion {
		return membership.State{}, membership.Meta{}, fmt.Errorf("swim: unknown envelope version")
	}
	b = b[1:]
	id, b, err := lengthPrefixed(b, MaxClusterIDBytes)
	if err != nil {
		return membership.State{}, membership.Meta{}, fmt.Errorf("swim: envelope cluster id: %w", err)
	}
	if string(id) != clusterID {
		return membership.State{}, membership.Meta{}, fmt.Errorf("%w: message from cluster %q", errOtherCluster, id)
	}
	stateBytes, b, err := lengthPrefixed(b, len(b))
	if err != nil {
		return membership.State{}, membership.Meta{}, fmt.Errorf("swim: envelope state: %w", err)
	}
	s, err := membership.DecodeState(stateBytes)
	if err != nil {
		return membership.State{}, membership.Meta{}, fmt.Errorf("swim: envelope: %w", err)
	}
	m, err := membership.DecodeMeta(b)
	if err != nil {
		return membership.State{}, membership.Meta{}, fmt.Errorf("swim: envelope: %w", err)
	}
	return s, m, nil
}

func lengthPrefixed(b []byte, max int) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	switch {
	case k <= 0:
		return nil, nil, errors.New("bad length")
	case n > uint64(max) || n > uint64(len(b)-k):
		return nil, nil, fmt.Errorf("length %d out of range", n)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

func encodeNodeMeta(clusterID string) []byte {
	return append([]byte{nodeMetaVersion}, clusterID...)
}

// checkNodeMeta refuses a peer whose node metadata names another cluster.
func checkNodeMeta(node string, meta []byte, clusterID string) error {
	if len(meta) == 0 || meta[0] != nodeMetaVersion {
		return fmt.Errorf("%w: node %q is not a Tutti node of a known version", errOtherCluster, node)
	}
	if other := string(meta[1:]); other != clusterID {
		return fmt.Errorf("%w: node %q is in cluster %q, this node in %q", errOtherCluster, node, other, clusterID)
	}
	return nil
}
