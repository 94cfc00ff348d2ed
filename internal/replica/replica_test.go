package replica

import (
	"errors"
	"slices"
	"testing"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
	"github.com/tutti-kv/tutti/internal/identity"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/storage"
)

// fakeClock is a deterministic HLC whose physical time the test sets.
type fakeClock struct {
	last hlc.Timestamp
	phys int64
}

func (c *fakeClock) Stamp(after hlc.Timestamp) hlc.Timestamp {
	if c.last.Less(after) {
		c.last = hlc.Observe(c.last, after, c.phys)
	} else {
		c.last = hlc.Next(c.last, c.phys)
	}
	return c.last
}

func (c *fakeClock) Observe(t hlc.Timestamp) {
	if c.last.Less(t) {
		c.last = hlc.Observe(c.last, t, c.phys)
	}
}

func newStore(t *testing.T, e *storage.Memory, seed uint64) *Store {
	t.Helper()
	id, err := identity.Open(e, func() uint64 { seed++; return seed }, 100)
	if err != nil {
		t.Fatal(err)
	}
	return &Store{Engine: e, Counter: id, Clock: &fakeClock{phys: 1000}}
}

var key = Key{Bucket: []byte("b"), Key: []byte("k"), Partition: 3, Segment: 7}

func values(t *testing.T, s *Store) []string {
	t.Helper()
	obj, _, err := s.Read(key)
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, e := range obj.Live() {
		vs = append(vs, string(e.Value.Value))
	}
	return vs
}

func TestCoordinateThenApplyReplicates(t *testing.T) {
	a, b := newStore(t, storage.NewMemory(), 1), newStore(t, storage.NewMemory(), 100)
	_, enc, _, err := a.Coordinate(key, object.Causal{}, object.Content{Value: []byte("x")}, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(key, enc, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	// A concurrent write coordinated by b, then a write on a that saw both.
	_, enc2, _, err := b.Coordinate(key, object.Causal{}, object.Content{Value: []byte("y")}, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(key, enc2, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	if got := values(t, a); len(got) != 2 {
		t.Fatalf("a holds %v, want two siblings", got)
	}
	merged, _, _ := a.Read(key)
	_, enc3, _, err := a.Coordinate(key, object.CausalOf(merged), object.Content{Value: []byte("xy")}, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(key, enc3, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Store{"a": a, "b": b} {
		if got := values(t, s); len(got) != 1 || got[0] != "xy" {
			t.Fatalf("%s holds %v, want [xy]", name, got)
		}
	}
}

// TestStampFollowsReplacedVersion: a write's time is later than the version
// it replaces even when this node's physical clock is behind (so LWW never
// lets an older write win over a newer one it saw).
func TestStampFollowsReplacedVersion(t *testing.T) {
	fast, slow := newStore(t, storage.NewMemory(), 1), newStore(t, storage.NewMemory(), 50)
	fast.Clock.(*fakeClock).phys = 1_000_000
	slow.Clock.(*fakeClock).phys = 10
	first, enc, _, err := fast.Coordinate(key, object.Causal{}, object.Content{Value: []byte("first")}, object.LWW, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Apply(key, enc, object.LWW, false); err != nil {
		t.Fatal(err)
	}
	second, _, _, err := slow.Coordinate(key, object.CausalOf(first), object.Content{Value: []byte("second")}, object.LWW, false)
	if err != nil {
		t.Fatal(err)
	}
	if !Latest(first).Less(Latest(second)) {
		t.Fatalf("second write stamped %v, not after %v", Latest(second), Latest(first))
	}
	if got := values(t, slow); len(got) != 1 || got[0] != "second" {
		t.Fatalf("slow holds %v, want [second]", got)
	}
}

// TestStampFollowsTheClientsContext: the coordinator's own copy may lack
// the version the client read and replaces (another replica served the
// read), and its clock may be behind that version's; the context's time
// still puts the write after it, so LWW cannot prefer the replaced version.
// Without it, replicas merging in different orders disagreed on the winner
// (the simulator's seed 0x259a).
func TestStampFollowsTheClientsContext(t *testing.T) {
	fast, slow := newStore(t, storage.NewMemory(), 1), newStore(t, storage.NewMemory(), 50)
	fast.Clock.(*fakeClock).phys = 1_000_000
	slow.Clock.(*fakeClock).phys = 10
	first, _, _, err := fast.Coordinate(key, object.Causal{}, object.Content{Value: []byte("first")}, object.LWW, false)
	if err != nil {
		t.Fatal(err)
	}
	second, _, _, err := slow.Coordinate(key, object.CausalOf(first), object.Content{Value: []byte("second")}, object.LWW, false)
	if err != nil {
		t.Fatal(err)
	}
	if !Latest(first).Less(Latest(second)) {
		t.Fatalf("second write stamped %v, not after %v which its context covers", Latest(second), Latest(first))
	}
}

// TestLostDataTakesNewActor is KV679's lost clock: a replica that loses its
// data comes back with a new actor, so a write it coordinates with an empty
// context gets a dot no other replica has seen, and survives the merge.
func TestLostDataTakesNewActor(t *testing.T) {
	e := storage.NewMemory()
	a, b := newStore(t, e, 1), newStore(t, storage.NewMemory(), 100)
	_, enc, _, err := a.Coordinate(key, object.Causal{}, object.Content{Value: []byte("old")}, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(key, enc, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	oldActor := a.Counter.Actor()
	e.Wipe()
	a = newStore(t, e, 7)
	if a.Counter.Actor() == oldActor {
		t.Fatal("a wiped replica kept its actor id")
	}
	_, enc, _, err = a.Coordinate(key, object.Causal{}, object.Content{Value: []byte("new")}, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(key, enc, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	got := values(t, b)
	if len(got) != 2 {
		t.Fatalf("after the wiped replica's write, b holds %v; want old and new as siblings", got)
	}
}

func TestApplyRejectsGarbage(t *testing.T) {
	s := newStore(t, storage.NewMemory(), 1)
	if _, err := s.Apply(key, []byte{0xff, 1, 2}, object.Siblings, false); !errors.Is(err, ErrBadObject) {
		t.Fatalf("Apply(garbage) = %v, want ErrBadObject", err)
	}
	if obj, _, _ := s.Read(key); obj != nil {
		t.Fatal("garbage left something stored")
	}
}

func TestCoordinateRejectsStaleDotNothingStored(t *testing.T) {
	s := newStore(t, storage.NewMemory(), 1)
	// A context that claims to have seen far more of this actor than it
	// ever issued makes the fresh dot look old: the update must fail and
	// store nothing.
	ctx := dvv.VV{{Actor: s.Counter.Actor(), Counter: 1 << 40}}
	if _, _, _, err := s.Coordinate(key, object.Causal{VV: ctx}, object.Content{Value: []byte("v")}, object.Siblings, false); err == nil {
		t.Fatal("a context covering the new dot was accepted")
	}
	if obj, _, _ := s.Read(key); obj != nil {
		t.Fatal("a failed coordinate stored something")
	}
}

// A substitute keeps a hint apart from its own copy of the key, lists it by
// owner, and deletes it after delivery only if nothing changed it since.
func TestHints(t *testing.T) {
	coord, sub := newStore(t, storage.NewMemory(), 1), newStore(t, storage.NewMemory(), 2)
	_, enc, _, err := coord.Coordinate(key, object.Causal{}, object.Content{Value: []byte("v1")}, object.Siblings, false)
	if err != nil {
		t.Fatal(err)
	}
	hint := key
	hint.HintFor = "n3"
	if _, err := sub.Apply(hint, enc, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := sub.Read(key); got != nil {
		t.Fatalf("the hint landed in the substitute's own copy: %v", got)
	}
	var listed []Key
	var sent []byte
	if err := sub.Hints("n3", func(h Hint) bool { listed, sent = append(listed, h.Key), h.Encoded; return h.Err == nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || string(listed[0].Key) != "k" || listed[0].Partition != 3 || listed[0].Segment != 7 || listed[0].HintFor != "n3" {
		t.Fatalf("Hints(n3) = %+v", listed)
	}
	if err := sub.Hints("n4", func(Hint) bool { t.Fatal("a hint for n4"); return false }); err != nil {
		t.Fatal(err)
	}
	other := key
	other.HintFor = "n4"
	if _, err := sub.Apply(other, enc, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	var owners []string
	if err := sub.AllHints(func(h Hint) bool { owners = append(owners, h.Key.HintFor); return h.Err == nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(owners, []string{"n3", "n4"}) {
		t.Fatalf("AllHints listed hints for %v, want n3 and n4", owners)
	}
	// A second write reaches the hint after it was sent: the delivery must
	// not delete it.
	_, enc2, _, err := coord.Coordinate(key, object.Causal{}, object.Content{Value: []byte("v2")}, object.Siblings, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Apply(hint, enc2, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	if ok, err := sub.DeleteHint(hint, sent); ok || err != nil {
		t.Fatalf("DeleteHint of a changed hint = %v, %v", ok, err)
	}
	_, now, _ := sub.Read(hint)
	if ok, err := sub.DeleteHint(hint, now); !ok || err != nil {
		t.Fatalf("DeleteHint of the delivered hint = %v, %v", ok, err)
	}
	if got, _, _ := sub.Read(hint); got != nil {
		t.Fatal("the hint survived its delivery")
	}
	if ok, err := sub.DeleteHint(hint, now); ok || err != nil {
		t.Fatalf("DeleteHint of a missing hint = %v, %v", ok, err)
	}
	if _, err := sub.DeleteHint(key, now); err == nil {
		t.Fatal("DeleteHint of the node's own copy was accepted")
	}
}

// TestRetriedWriteTakesNoDot: a coordinator that already holds a client's
// write (the first attempt reached it) stores no second version for the
// retry; one that does not hold it stores it, and clients see it once.
func TestRetriedWriteTakesNoDot(t *testing.T) {
	a, b := newStore(t, storage.NewMemory(), 1), newStore(t, storage.NewMemory(), 100)
	write := object.Content{Value: []byte("x"), WriteID: "retry-1"}
	first, enc, _, err := a.Coordinate(key, object.Causal{}, write, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(key, enc, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	again, _, _, err := b.Coordinate(key, object.Causal{}, write, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Entries) != 1 || again.Entries[0].Dot != first.Entries[0].Dot {
		t.Fatalf("retry on a holder gave %+v, want the first attempt's version only", again.Entries)
	}
	// The same id with another value is another write.
	other, _, _, err := b.Coordinate(key, object.Causal{}, object.Content{Value: []byte("y"), WriteID: "retry-1"}, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Entries) != 2 {
		t.Fatalf("a different write under a reused id gave %+v, want two versions", other.Entries)
	}
	// A coordinator the first attempt did not reach stores the retry; once
	// the copies meet, clients see the write once.
	c := newStore(t, storage.NewMemory(), 200)
	_, enc, _, err = c.Coordinate(key, object.Causal{}, write, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(key, enc, object.Siblings, false); err != nil {
		t.Fatal(err)
	}
	if got := values(t, a); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("a shows %v after the retry's copy arrived, want [x]", got)
	}
}

// TestCorruptHintsAreReportedNotFatal: a hint entry whose key or object is
// corrupt is reported by the scan, which goes on to the next, and can be
// dropped; the good hints and the node's own copies are untouched.
func TestCorruptHintsAreReportedNotFatal(t *testing.T) {
	e := storage.NewMemory()
	s := newStore(t, e, 1)
	good := key
	good.HintFor = "n3"
	_, enc, _, err := s.Coordinate(key, object.Causal{}, object.Content{Value: []byte("v")}, object.Siblings, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(good, enc, object.Siblings, true); err != nil {
		t.Fatal(err)
	}
	badValue := storage.HintKey("n3", 1, 1, []byte("b"), []byte("a")) // sorts before good
	badKey := append(storage.HintKey("n3", 9, 9, []byte("b"), []byte("z")), 0xff)[:3]
	var batch storage.Batch
	batch.Set(badValue, []byte("not an object"))
	batch.Set(badKey, enc)
	if err := e.Apply(&batch, true); err != nil {
		t.Fatal(err)
	}
	var ok, corrupt []Hint
	if err := s.AllHints(func(h Hint) bool {
		if h.Err != nil {
			corrupt = append(corrupt, h)
		} else {
			ok = append(ok, h)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(ok) != 1 || string(ok[0].Key.Key) != "k" || len(corrupt) != 2 {
		t.Fatalf("scan found %d good hints (%+v) and %d corrupt, want 1 and 2", len(ok), ok, len(corrupt))
	}
	for _, h := range corrupt {
		if err := s.DropCorruptHint(h.Raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DropCorruptHint(storage.ObjectKey(3, 7, []byte("b"), []byte("k"))); err == nil {
		t.Fatal("DropCorruptHint deleted a key that is not a hint")
	}
	n := 0
	if err := s.AllHints(func(h Hint) bool { n++; return h.Err == nil }); err != nil || n != 1 {
		t.Fatalf("after dropping: %d hints, %v", n, err)
	}
	if got := values(t, s); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("own copy = %v", got)
	}
}
