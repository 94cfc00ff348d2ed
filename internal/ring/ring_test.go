package ring

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestNewRejectsBadInput(t *testing.T) {
	ok := []Member{{ID: "a"}, {ID: "b"}}
	for _, tc := range []struct {
		name    string
		q, n    int
		members []Member
		want    string
	}{
		{"q zero", 0, 3, ok, "partition count"},
		{"q not a power of two", 48, 3, ok, "partition count"},
		{"q too large", 2 * MaxPartitions, 3, ok, "partition count"},
		{"n zero", 8, 0, ok, "replication factor"},
		{"no members", 8, 3, nil, "no members"},
		{"empty id", 8, 3, []Member{{ID: "a"}, {ID: ""}}, "empty id"},
		{"duplicate id", 8, 3, []Member{{ID: "a", Zone: "x"}, {ID: "a", Zone: "y"}}, "duplicate member id"},
	} {
		_, err := New(tc.q, tc.n, tc.members)
		if err == nil || !strings.HasPrefix(err.Error(), "ring: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one starting with \"ring: \" mentioning %q", tc.name, err, tc.want)
		}
	}
}

// render prints a ring for reading: each partition's owners and the rest
// of its preference order, then each member's partitions.
func render(r *Ring) string {
	var b strings.Builder
	for p := range r.Q() {
		pref := r.Preference(p)
		fmt.Fprintf(&b, "partition %d: owners %s | substitutes %s\n", p,
			strings.Join(pref[:len(r.Owners(p))], " "), strings.Join(pref[len(r.Owners(p)):], " "))
	}
	counts := r.Counts()
	for _, m := range r.Members() {
		fmt.Fprintf(&b, "member %s (zone %q): %d replicas, partitions %v\n", m.ID, m.Zone, counts[m.ID], r.OwnedBy(m.ID))
	}
	return b.String()
}

// TestGolden pins two small rings so that a reviewer can read them and any
// change to placement shows up here.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []Member
		want    string
	}{
		{
			"Q=8 N=3, four members without zones",
			[]Member{{ID: "d"}, {ID: "b"}, {ID: "c"}, {ID: "a"}},
			`partition 0: owners b c d | substitutes a
partition 1: owners d b a | substitutes c
partition 2: owners c b d | substitutes a
partition 3: owners a b c | substitutes d
partition 4: owners b a d | substitutes c
partition 5: owners c a d | substitutes b
partition 6: owners b c a | substitutes d
partition 7: owners c d a | substitutes b
member a (zone ""): 6 replicas, partitions [1 3 4 5 6 7]
member b (zone ""): 6 replicas, partitions [0 1 2 3 4 6]
member c (zone ""): 6 replicas, partitions [0 2 3 5 6 7]
member d (zone ""): 6 replicas, partitions [0 1 2 4 5 7]
`,
		},
		{
			"Q=8 N=3, six members in three zones",
			[]Member{{"a1", "za"}, {"a2", "za"}, {"b1", "zb"}, {"b2", "zb"}, {"c1", "zc"}, {"c2", "zc"}},
			`partition 0: owners c2 a1 b2 | substitutes b1 c1 a2
partition 1: owners c2 a2 b2 | substitutes c1 a1 b1
partition 2: owners b1 c2 a2 | substitutes a1 b2 c1
partition 3: owners b1 a1 c1 | substitutes b2 a2 c2
partition 4: owners c1 b1 a2 | substitutes a1 b2 c2
partition 5: owners a2 c2 b2 | substitutes c1 a1 b1
partition 6: owners a1 b2 c1 | substitutes a2 b1 c2
partition 7: owners c1 a1 b1 | substitutes c2 b2 a2
member a1 (zone "za"): 4 replicas, partitions [0 3 6 7]
member a2 (zone "za"): 4 replicas, partitions [1 2 4 5]
member b1 (zone "zb"): 4 replicas, partitions [2 3 4 7]
member b2 (zone "zb"): 4 replicas, partitions [0 1 5 6]
member c1 (zone "zc"): 4 replicas, partitions [3 4 6 7]
member c2 (zone "zc"): 4 replicas, partitions [0 1 2 5]
`,
		},
	} {
		r := mustNew(t, 8, 3, tc.members)
		got := render(r)
		t.Logf("%s:\n%s", tc.name, got)
		if got != tc.want {
			t.Errorf("%s: ring changed; got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

// TestKeyHash pins KeyHash to its definition: XXH64 (seed 0) of the uvarint
// length of the bucket, the bucket, then the key. The vectors are the ones
// docs/ring.md gives to client implementers.
func TestKeyHash(t *testing.T) {
	long := bytes.Repeat([]byte("b"), 200) // a two-byte length prefix and the streaming path
	r := mustNew(t, 256, 1, []Member{{ID: "a"}})
	for _, tc := range []struct {
		bucket, key        string
		encoded            []byte
		want               uint64
		partition, segment int // for Q = 256
	}{
		{"", "", []byte{0x00}, 0xe934a84adb052768, 233, 210},
		{"users", "alice", append([]byte{0x05}, "usersalice"...), 0xa8596404ac3ba6ca, 168, 357},
		{"ab", "c", append([]byte{0x02}, "abc"...), 0xa9aac9f8908ad427, 169, 683},
		{"a", "bc", append([]byte{0x01}, "abc"...), 0x899855c5c500bc83, 137, 609},
		{string(long), "k", append(append([]byte{0xc8, 0x01}, long...), 'k'), 0x361b500b234d47d2, 54, 109},
	} {
		got := KeyHash([]byte(tc.bucket), []byte(tc.key))
		if p, s := r.Partition(got), r.Segment(got); p != tc.partition || s != tc.segment {
			t.Errorf("KeyHash(%.10q, %q): partition %d segment %d at Q=256, want %d and %d", tc.bucket, tc.key, p, s, tc.partition, tc.segment)
		}
		if want := xxhash.Sum64(tc.encoded); got != want {
			t.Errorf("KeyHash(%.10q, %q) = %#016x, want XXH64 of its encoding %#016x", tc.bucket, tc.key, got, want)
		}
		if got != tc.want {
			t.Errorf("KeyHash(%.10q, %q) = %#016x, want %#016x", tc.bucket, tc.key, got, tc.want)
		}
		t.Logf("KeyHash(%.10q, %q) = %#016x", tc.bucket, tc.key, got)
	}
	if KeyHash([]byte("ab"), []byte("c")) == KeyHash([]byte("a"), []byte("bc")) {
		t.Error("the bucket length prefix does not separate (ab, c) from (a, bc)")
	}
}

func TestPartitionAndSegment(t *testing.T) {
	const junk = 0x3f_ffff_ffff // the bits below partition and segment
	for _, q := range []int{1, 2, 256, 4096, MaxPartitions} {
		r := mustNew(t, q, 1, []Member{{ID: "a"}})
		bits := 0
		for 1<<bits < q {
			bits++
		}
		for _, p := range []int{0, q / 2, q - 1} {
			for _, s := range []int{0, 1, Segments - 1} {
				h := uint64(p)<<(64-bits) | uint64(s)<<(64-bits-segmentBits) | junk>>bits
				if bits == 0 {
					h = uint64(s)<<(64-segmentBits) | junk
				}
				if got := r.Partition(h); got != p {
					t.Errorf("Q=%d: Partition(%#x) = %d, want %d", q, h, got, p)
				}
				if got := r.Segment(h); got != s {
					t.Errorf("Q=%d: Segment(%#x) = %d, want %d", q, h, got, s)
				}
			}
		}
	}
}

// TestSameRingInAnyOrder checks order independence on a fixed example; the
// property test covers random member sets.
func TestSameRingInAnyOrder(t *testing.T) {
	ms := cluster(idFamilies()[1], 30, 3)
	want := render(mustNew(t, 256, 3, ms))
	reversed := slices.Clone(ms)
	slices.Reverse(reversed)
	for i, order := range [][]Member{ms, reversed} {
		if got := render(mustNew(t, 256, 3, order)); got != want {
			t.Errorf("order %d gives a different ring", i)
		}
	}
}

func TestFewerMembersThanN(t *testing.T) {
	r := mustNew(t, 16, 5, []Member{{ID: "b"}, {ID: "a", Zone: "z"}, {ID: "c", Zone: "z"}})
	for p := range r.Q() {
		if got := r.Owners(p); len(got) != 3 {
			t.Fatalf("partition %d owners %v, want all three members", p, got)
		}
	}
	for id, c := range r.Counts() {
		if c != 16 {
			t.Errorf("member %s owns %d partitions, want all 16", id, c)
		}
	}
	if r.N() != 5 {
		t.Errorf("N() = %d, want the configured 5", r.N())
	}
}

func TestAccessorsAgree(t *testing.T) {
	ms := cluster(idFamilies()[0], 7, 0)
	r := mustNew(t, 64, 3, ms)
	counts := r.Counts()
	total := 0
	for _, m := range r.Members() {
		owned := r.OwnedBy(m.ID)
		if !slices.IsSorted(owned) || len(owned) != counts[m.ID] {
			t.Errorf("OwnedBy(%s) = %v, Counts says %d", m.ID, owned, counts[m.ID])
		}
		for _, p := range owned {
			if !slices.Contains(r.Owners(p), m.ID) {
				t.Errorf("OwnedBy(%s) lists %d, whose owners are %v", m.ID, p, r.Owners(p))
			}
		}
		total += counts[m.ID]
	}
	if total != 64*3 {
		t.Errorf("counts sum to %d, want %d", total, 64*3)
	}
	if r.OwnedBy("nobody") != nil {
		t.Error("OwnedBy of an unknown id is not nil")
	}
	for p := range r.Q() {
		pref := r.Preference(p)
		if !slices.Equal(pref[:3], r.Owners(p)) {
			t.Errorf("partition %d: preference %v does not start with owners %v", p, pref, r.Owners(p))
		}
		sorted := slices.Clone(pref)
		slices.Sort(sorted)
		ids := make([]string, len(ms))
		for i, m := range r.Members() {
			ids[i] = m.ID
		}
		if !slices.Equal(sorted, ids) {
			t.Errorf("partition %d: preference %v is not a ranking of every member", p, pref)
		}
	}
	if !slices.IsSortedFunc(r.Members(), func(a, b Member) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("Members are not sorted by ID")
	}
}

func TestResultsAreCopies(t *testing.T) {
	r := mustNew(t, 8, 2, []Member{{ID: "a"}, {ID: "b"}, {ID: "c"}})
	before := render(r)
	r.Owners(0)[0] = "x"
	r.Preference(0)[0] = "x"
	r.OwnedBy("a")[0] = 99
	r.Members()[0].ID = "x"
	r.Counts()["a"] = 99
	if render(r) != before {
		t.Error("mutating a result changed the ring")
	}
}

func TestTargetsZoneRule(t *testing.T) {
	// Four zones of two, N = 3: every partition leaves one zone free.
	var ms []Member
	for _, z := range []string{"w", "x", "y", "z"} {
		ms = append(ms, Member{ID: z + "1", Zone: z}, Member{ID: z + "2", Zone: z})
	}
	r := mustNew(t, 16, 3, ms)
	zone := func(id string) string { return id[:1] }
	upExcept := func(down ...string) func(string) bool {
		return func(id string) bool { return !slices.Contains(down, id) }
	}
	for p := range r.Q() {
		owners := r.Owners(p)
		all := r.Targets(p, upExcept())
		for i, tg := range all {
			if tg.Node != owners[i] || !tg.Primary() {
				t.Fatalf("partition %d: all up, targets %v, want the owners %v", p, all, owners)
			}
		}
		// An owner down: its zone-mate stands in (rule 1).
		down := owners[1]
		got := r.Targets(p, upExcept(down))
		if len(got) != 3 || got[1].Owner != down || zone(got[1].Node) != zone(down) || got[1].Primary() {
			t.Errorf("partition %d: %s down, targets %v, want its zone-mate in position 1", p, down, got)
		}
		// Its whole zone down: a member of the free zone (rule 2).
		mate := zone(down) + "1"
		if mate == down {
			mate = zone(down) + "2"
		}
		got = r.Targets(p, upExcept(down, mate))
		zones := map[string]bool{}
		for _, tg := range got {
			zones[zone(tg.Node)] = true
		}
		if len(got) != 3 || got[1].Owner != down || len(zones) != 3 {
			t.Errorf("partition %d: zone of %s down, targets %v, want three zones", p, down, got)
		}
		// Everything but one owner down: a single target.
		calls := map[string]int{}
		got = r.Targets(p, func(id string) bool { calls[id]++; return id == owners[0] })
		if len(got) != 1 || got[0].Node != owners[0] {
			t.Errorf("partition %d: only %s up, targets %v", p, owners[0], got)
		}
		for id, c := range calls {
			if c > 1 {
				t.Errorf("up(%s) called %d times", id, c)
			}
		}
	}
}

func TestPreferenceTriesFreeZonesFirst(t *testing.T) {
	// Four zones of two, N = 3: each partition leaves one zone without an
	// owner, and its two members are the first substitutes.
	var ms []Member
	for _, z := range []string{"w", "x", "y", "z"} {
		ms = append(ms, Member{ID: z + "1", Zone: z}, Member{ID: z + "2", Zone: z})
	}
	r := mustNew(t, 16, 3, ms)
	for p := range r.Q() {
		pref := r.Preference(p)
		zones := map[byte]bool{}
		for _, id := range pref[:3] {
			zones[id[0]] = true
		}
		if zones[pref[3][0]] || zones[pref[4][0]] || pref[3][0] != pref[4][0] {
			t.Errorf("partition %d: preference %v does not try the zone without an owner first", p, pref)
		}
	}
}

func TestTargetsWithoutZones(t *testing.T) {
	r := mustNew(t, 16, 3, cluster(idFamilies()[0], 6, 0))
	for p := range r.Q() {
		pref := r.Preference(p)
		got := r.Targets(p, func(id string) bool { return id != pref[0] })
		want := []Target{{pref[3], pref[0]}, {pref[1], pref[1]}, {pref[2], pref[2]}}
		if !slices.Equal(got, want) {
			t.Errorf("partition %d: first owner down, targets %v, want %v", p, got, want)
		}
	}
}
