package check

import (
	"fmt"
	"slices"
)

// Copy is one replica's stored copy of a key after the liveness phase,
// named by a digest of its versions ("" when the replica has no copy).
type Copy struct {
	Node   string
	Digest string
}

// Converged checks that every replica of each key holds the same object:
// copies maps a key to the copies of all its replicas. The caller chooses
// which keys must have converged.
func Converged(copies map[string][]Copy) []Violation {
	var vs []Violation
	keys := make([]string, 0, len(copies))
	for k := range copies {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cs := copies[k]
		for _, c := range cs[1:] {
			if c.Digest != cs[0].Digest {
				vs = append(vs, Violation{CheckConverged, k, -1, fmt.Sprintf(
					"replicas differ: %s holds %s, %s holds %s", cs[0].Node, show(cs[0].Digest), c.Node, show(c.Digest))})
			}
		}
	}
	return sortViolations(vs)
}

func show(digest string) string {
	if digest == "" {
		return "nothing"
	}
	return digest
}
