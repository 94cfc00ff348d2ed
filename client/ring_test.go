package client

import (
	"fmt"
	"testing"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/client/clienttest"
)

// The nodes place keys with the same formula; these vectors pin it, so that
// a change on either side shows up as a failing test rather than as every
// request taking an extra hop.
func TestPartitionVectors(t *testing.T) {
	for _, v := range []struct {
		bucket, key string
		partitions  int
		want        int
	}{
		{"users", "alice", 256, 168}, // xxhash64 = 0xa8596404ac3ba6ca
		{"users", "alice", 8, 5},
		{"", "", 256, 233}, // xxhash64("\x00") = 0xe934a84adb052768
		{"ab", "c", 256, 169},
		{"a", "bc", 256, 137}, // the length prefix keeps it apart from ("ab", "c")
		{"users", "alice", 1, 0},
	} {
		view := ringFor(t, v.partitions)
		if got := partitionOf(v.bucket, v.key, view.shift); got != v.want {
			t.Errorf("partition of (%q, %q) among %d = %d, want %d", v.bucket, v.key, v.partitions, got, v.want)
		}
	}
}

func TestPartitionMatchesFakeCluster(t *testing.T) {
	for _, partitions := range []int{1, 2, 64, 1024} {
		view := ringFor(t, partitions)
		for i := 0; i < 500; i++ {
			b, k := fmt.Sprintf("b%d", i%7), fmt.Sprintf("key-%d", i)
			if got, want := partitionOf(b, k, view.shift), clienttest.Partition(b, k, partitions); got != want {
				t.Fatalf("partition of (%q, %q) among %d = %d, fake says %d", b, k, partitions, got, want)
			}
		}
	}
}

func ringFor(t *testing.T, partitions int) *ringView {
	t.Helper()
	resp := &tuttipb.RingResponse{Partitions: int32(partitions), Members: []*tuttipb.RingMember{{Id: "a", GrpcAddr: "a:1", Alive: true}}}
	for p := 0; p < partitions; p++ {
		resp.Owners = append(resp.Owners, &tuttipb.RingPartition{Owners: []int32{0}})
	}
	view, err := newRingView(resp)
	if err != nil {
		t.Fatal(err)
	}
	return view
}

func TestRingViewRejectsBadRings(t *testing.T) {
	member := []*tuttipb.RingMember{{Id: "a", GrpcAddr: "a:1"}}
	for name, resp := range map[string]*tuttipb.RingResponse{
		"not a power of two": {Partitions: 3, Members: member, Owners: make([]*tuttipb.RingPartition, 3)},
		"zero partitions":    {Partitions: 0, Members: member},
		"owners missing":     {Partitions: 2, Members: member, Owners: []*tuttipb.RingPartition{{}}},
		"owner out of range": {Partitions: 1, Members: member, Owners: []*tuttipb.RingPartition{{Owners: []int32{1}}}},
	} {
		if _, err := newRingView(resp); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRouteOrder(t *testing.T) {
	// Five members; the key's partition is owned by 3 (down) and 1 and 4.
	resp := &tuttipb.RingResponse{Partitions: 1, Owners: []*tuttipb.RingPartition{{Owners: []int32{3, 1, 4}}}}
	for i := 0; i < 5; i++ {
		resp.Members = append(resp.Members, &tuttipb.RingMember{Id: fmt.Sprint(i), GrpcAddr: fmt.Sprintf("n%d:1", i), Alive: i != 3 && i != 2})
	}
	view, err := newRingView(resp)
	if err != nil {
		t.Fatal(err)
	}
	firsts := map[string]int{}
	for seed := 0; seed < 200; seed++ {
		rng := fakeRand(seed)
		got := view.route("b", "k", rng)
		if len(got) != 5 {
			t.Fatalf("route = %v, want all 5 members", got)
		}
		firsts[got[0]]++
		if !(isOneOf(got[0], "n1:1", "n4:1") && isOneOf(got[1], "n1:1", "n4:1") && got[2] == "n0:1" && isOneOf(got[3], "n3:1", "n2:1")) {
			t.Fatalf("route = %v: want live owners, live others, then down members", got)
		}
	}
	if firsts["n1:1"] < 50 || firsts["n4:1"] < 50 {
		t.Errorf("first choice spread %v: want both live owners chosen often", firsts)
	}
}

func fakeRand(seed int) func(int) int {
	state := uint64(seed)*0x9e3779b97f4a7c15 + 1
	return func(n int) int {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		return int(state % uint64(n))
	}
}

func isOneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

func TestQuorumParseAndString(t *testing.T) {
	for _, q := range []Quorum{BucketDefault, One, QuorumMajority, All, Count(0), Count(1), Count(5)} {
		got, err := ParseQuorum(q.String())
		if err != nil || got != q {
			t.Errorf("ParseQuorum(%q) = %v, %v; want %v", q.String(), got, err, q)
		}
	}
	if Count(0) == BucketDefault {
		t.Error("Count(0) must differ from BucketDefault")
	}
	for _, bad := range []string{"-1", "most", "1.5"} {
		if _, err := ParseQuorum(bad); err == nil {
			t.Errorf("ParseQuorum(%q) accepted", bad)
		}
	}
	if q, _ := ParseQuorum("QUORUM"); q != QuorumMajority {
		t.Errorf("ParseQuorum(QUORUM) = %v", q)
	}
}

func TestPropsQuorumEncoding(t *testing.T) {
	p := BucketProps{Conflict: ConflictLWW, R: QuorumMajority, W: Count(2), DW: One, PR: Count(0), PW: All}
	wire := propsToWire(p)
	if wire.GetPr() != 0 || wire.GetW() != 2 || wire.GetR() != -2 || wire.GetDw() != -1 || wire.GetPw() != -3 {
		t.Errorf("props on the wire = %v", wire)
	}
	if back := propsFromWire(wire); back != p {
		t.Errorf("props round trip = %+v, want %+v", back, p)
	}
}
