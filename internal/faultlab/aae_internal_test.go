package faultlab

import "testing"

// TestRingPartition pins Ring.Partition to docs/ring.md's test vectors.
func TestRingPartition(t *testing.T) {
	r := Ring{Owners: make([][]int, 256), bits: 8}
	for _, tc := range []struct {
		bucket, key string
		want        int
	}{{"", "", 233}, {"users", "alice", 168}, {"ab", "c", 169}, {"a", "bc", 137}} {
		if got := r.Partition(tc.bucket, tc.key); got != tc.want {
			t.Errorf("Partition(%q, %q) = %d, want %d", tc.bucket, tc.key, got, tc.want)
		}
	}
	if got := (Ring{Owners: make([][]int, 1)}).Partition("users", "alice"); got != 0 {
		t.Errorf("with one partition, Partition = %d", got)
	}
}

func TestSumMetric(t *testing.T) {
	text := []byte(`# HELP tutti_hints_dropped_total Hints this node could not keep.
# TYPE tutti_hints_dropped_total counter
tutti_hints_dropped_total{reason="bound"} 7
tutti_hints_dropped_total{reason="store_error",x="a}b"} 2.5
tutti_hints_dropped_total_other 100
tutti_hints_stored_total 3 1700000000000
`)
	for name, want := range map[string]float64{"tutti_hints_dropped_total": 9.5, "tutti_hints_stored_total": 3, "tutti_absent": 0} {
		got, err := sumMetric(text, name)
		if err != nil || got != want {
			t.Errorf("sumMetric(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := sumMetric([]byte("m{a=\"b\"} x\n"), "m"); err == nil {
		t.Error("a malformed value is not an error")
	}
}
