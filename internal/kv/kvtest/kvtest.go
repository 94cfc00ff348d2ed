// Package kvtest provides a fake kv.Service for testing the code that serves
// one, such as the HTTP and gRPC APIs: it records every call it receives and
// answers what the test sets in its fields.
package kvtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
)

// Service is a fake kv.Service. Build one with New, set its answer fields
// before the calls under test, and read the recorded calls after they have
// returned. It is safe for concurrent use by the calls themselves.
type Service struct {
	mu sync.Mutex

	// LimitsResult, ClusterResult and PropsResult are what Limits, Cluster
	// and GetProps answer.
	LimitsResult  kv.Limits
	ClusterResult kv.ClusterInfo
	PropsResult   kv.Props
	LocalResult   *kv.LocalCopy

	GetResult    *kv.GetResult
	PutResult    *kv.PutResult
	DeleteResult *kv.PutResult
	Err          error // returned by every data call when set
	PanicWith    any   // panicked with by every data call when set
	// BlockUntilDone makes Get wait for its context and report it on
	// Canceled.
	BlockUntilDone bool
	Canceled       chan error

	Gets          []*kv.GetRequest
	Puts          []*kv.PutRequest
	Deletes       []*kv.DeleteRequest
	GetPropsCalls [][]byte
	SetPropsCalls []SetPropsCall
}

var _ kv.Service = (*Service)(nil)

// SetPropsCall is one recorded SetProps call.
type SetPropsCall struct {
	Bucket []byte
	Props  kv.Props
}

// New returns a fake of node n1 in a three-member cluster of four
// partitions (n2 down), with default limits and bucket properties, that
// answers every data call with an empty success.
func New() *Service {
	return &Service{
		LimitsResult: kv.DefaultLimits(),
		ClusterResult: kv.ClusterInfo{
			Self: "n1", Partitions: 4, N: 3, Version: 9,
			Members: []kv.Member{
				{ID: "n1", Zone: "a", HTTPAddr: "10.0.0.1:8080", GRPCAddr: "10.0.0.1:8081", GossipAddr: "10.0.0.1:7946", Alive: true, Partitions: 4},
				{ID: "n2", Zone: "b", HTTPAddr: "10.0.0.2:8080", GRPCAddr: "10.0.0.2:8081", GossipAddr: "10.0.0.2:7946", Alive: false, Partitions: 4},
				{ID: "n3", Zone: "c", HTTPAddr: "10.0.0.3:8080", GRPCAddr: "10.0.0.3:8081", GossipAddr: "10.0.0.3:7946", Alive: true, Partitions: 4},
			},
			Owners: [][]string{{"n1", "n2", "n3"}, {"n2", "n3", "n1"}, {"n3", "n1", "n2"}, {"n1", "n3", "n2"}},
		},
		PropsResult:  kv.DefaultProps(),
		LocalResult:  &kv.LocalCopy{Node: "n1"},
		GetResult:    &kv.GetResult{},
		PutResult:    &kv.PutResult{Context: "ctx-put"},
		DeleteResult: &kv.PutResult{Context: "ctx-del"},
		Canceled:     make(chan error, 1),
	}
}

func (f *Service) fault() error {
	if f.PanicWith != nil {
		panic(f.PanicWith)
	}
	return f.Err
}

// Get records req and answers GetResult, unless BlockUntilDone, PanicWith
// or Err says otherwise.
func (f *Service) Get(ctx context.Context, req *kv.GetRequest) (*kv.GetResult, error) {
	f.mu.Lock()
	f.Gets = append(f.Gets, req)
	block := f.BlockUntilDone
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		f.Canceled <- ctx.Err()
		return nil, ctx.Err()
	}
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.GetResult, nil
}

// Put records req and answers PutResult, unless PanicWith or Err is set.
func (f *Service) Put(_ context.Context, req *kv.PutRequest) (*kv.PutResult, error) {
	f.mu.Lock()
	f.Puts = append(f.Puts, req)
	f.mu.Unlock()
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.PutResult, nil
}

// Delete records req and answers DeleteResult, unless PanicWith or Err is
// set.
func (f *Service) Delete(_ context.Context, req *kv.DeleteRequest) (*kv.PutResult, error) {
	f.mu.Lock()
	f.Deletes = append(f.Deletes, req)
	f.mu.Unlock()
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.DeleteResult, nil
}

// GetProps records bucket and answers PropsResult, unless PanicWith or Err
// is set.
func (f *Service) GetProps(_ context.Context, bucket []byte) (kv.Props, error) {
	f.mu.Lock()
	f.GetPropsCalls = append(f.GetPropsCalls, bucket)
	f.mu.Unlock()
	if err := f.fault(); err != nil {
		return kv.Props{}, err
	}
	return f.PropsResult, nil
}

// SetProps records the call and returns Err, or panics with PanicWith when
// set.
func (f *Service) SetProps(_ context.Context, bucket []byte, p kv.Props) error {
	f.mu.Lock()
	f.SetPropsCalls = append(f.SetPropsCalls, SetPropsCall{bucket, p})
	f.mu.Unlock()
	return f.fault()
}

// Cluster answers ClusterResult.
func (f *Service) Cluster() kv.ClusterInfo { return f.ClusterResult }

// Limits answers LimitsResult.
func (f *Service) Limits() kv.Limits { return f.LimitsResult }

// Local answers LocalResult, unless PanicWith or Err is set.
func (f *Service) Local(context.Context, []byte, []byte) (*kv.LocalCopy, error) {
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.LocalResult, nil
}

// DataCalls counts the calls that read or write data.
func (f *Service) DataCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Gets) + len(f.Puts) + len(f.Deletes) + len(f.GetPropsCalls) + len(f.SetPropsCalls)
}

// Writes counts the calls that change data.
func (f *Service) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Puts) + len(f.Deletes) + len(f.SetPropsCalls)
}

// AntiEntropy is a fake kv.Service that also offers kv.AntiEntropy, as a
// node running anti-entropy does. Build one with NewAntiEntropy; the
// embedded Service fakes the rest.
type AntiEntropy struct {
	*Service

	// StatusResult is what AAEStatus answers.
	StatusResult kv.AAEStatus
	// RepairResults are what Repair answers per partition; a partition
	// without one is a BadRequest (not owned), as a node answers.
	RepairResults map[int]*kv.RepairResult
	// RepairErr is returned by every Repair when set.
	RepairErr error

	// Repairs are the partitions Repair was called with, in order.
	Repairs []int
}

var _ kv.AntiEntropy = (*AntiEntropy)(nil)

// AAETime is the time of every exchange NewAntiEntropy's status reports.
func AAETime() time.Time { return time.Date(2026, 11, 26, 7, 36, 11, 0, time.UTC) }

// NewAntiEntropy returns New's fake with anti-entropy: n1 owns all four
// partitions and their trees are built; every partition was last exchanged
// with n3 at AAETime() and never with n2 (down), so the oldest exchange is
// 42 seconds old (counted from the node's start). Repair of an owned
// partition answers one exchange with n3, equal; of any other partition a
// BadRequest.
func NewAntiEntropy() *AntiEntropy {
	f := &AntiEntropy{Service: New(), RepairResults: map[int]*kv.RepairResult{}}
	c := f.ClusterResult
	st := kv.AAEStatus{Node: c.Self, IntervalSeconds: 60, OldestUnexchangedSeconds: 42, Partitions: []kv.AAEPartition{}}
	for p, owners := range c.Owners {
		if !slices.Contains(owners, c.Self) {
			continue
		}
		part := kv.AAEPartition{Partition: p, Root: fmt.Sprintf("%016x", p+1), Peers: []kv.AAEPeer{}}
		for _, o := range owners {
			if o == c.Self {
				continue
			}
			peer := kv.AAEPeer{Node: o}
			if o == "n3" {
				t := AAETime()
				peer.LastExchange = &t
			}
			part.Peers = append(part.Peers, peer)
		}
		st.Partitions = append(st.Partitions, part)
		f.RepairResults[p] = &kv.RepairResult{Exchanges: []kv.RepairExchange{{Partition: p, Peer: "n3", Outcome: "equal"}}}
	}
	st.TreesBuilt = len(st.Partitions)
	f.StatusResult = st
	return f
}

// AAEStatus answers StatusResult.
func (f *AntiEntropy) AAEStatus() kv.AAEStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.StatusResult
}

// Repair records partition and answers RepairErr when set, else
// RepairResults[partition], else a BadRequest.
func (f *AntiEntropy) Repair(_ context.Context, partition int) (*kv.RepairResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Repairs = append(f.Repairs, partition)
	if f.RepairErr != nil {
		return nil, f.RepairErr
	}
	if res, ok := f.RepairResults[partition]; ok {
		return res, nil
	}
	return nil, kv.Errorf(kv.BadRequest, "node %s does not own partition %d", f.ClusterResult.Self, partition)
}

// SetPaused records the state; AAEStatus then reports it.
func (f *AntiEntropy) SetPaused(paused bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.StatusResult.Paused = paused
}

// RepairCalls returns a copy of Repairs.
func (f *AntiEntropy) RepairCalls() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.Repairs)
}
