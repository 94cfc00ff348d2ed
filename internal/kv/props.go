package kv

import "fmt"

// Conflict policies.
const (
	// Siblings keeps every concurrent version for the application to merge.
	Siblings = "siblings"
	// LWW keeps the version with the latest hybrid-logical-clock time and
	// drops concurrent ones (counted by a metric): a data-loss mode by design.
	LWW = "lww"
)

// Props are a bucket's properties: conflict policy, default quorums, and
// whether quorums are sloppy.
type Props struct {
	Conflict string `json:"conflict"`
	R        Quorum `json:"r"`
	W        Quorum `json:"w"`
	DW       Quorum `json:"dw"`
	PR       Quorum `json:"pr"`
	PW       Quorum `json:"pw"`
	// Sloppy lets a substitute stand in for an unreachable owner, keeping
	// a hint it hands off later (Dynamo section 4.6); pr and pw still count
	// only owners.
	Sloppy bool `json:"sloppy"`
}

// DefaultProps are the properties of a bucket nobody configured, as in
// Riak and the Dynamo paper: quorum reads and writes, one durable replica.
func DefaultProps() Props {
	return Props{Conflict: Siblings, R: Majority, W: Majority, DW: One, PR: Zero, PW: Zero, Sloppy: true}
}

// Validate checks p against a replication factor n.
func (p Props) Validate(n int) error {
	if p.Conflict != Siblings && p.Conflict != LWW {
		return fmt.Errorf("conflict must be %q or %q, not %q", Siblings, LWW, p.Conflict)
	}
	for _, f := range []struct {
		name string
		q    Quorum
	}{{"r", p.R}, {"w", p.W}, {"dw", p.DW}, {"pr", p.PR}, {"pw", p.PW}} {
		if f.q == Default {
			return fmt.Errorf("%s must be set", f.name)
		}
		if _, err := f.q.Resolve(n, Default); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if r, _ := p.R.Resolve(n, Default); r < 1 {
		return fmt.Errorf("r must be at least 1")
	}
	if w, _ := p.W.Resolve(n, Default); w < 1 {
		return fmt.Errorf("w must be at least 1")
	}
	return nil
}
