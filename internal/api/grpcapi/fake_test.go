package grpcapi

import (
	"context"
	"sync"

	"github.com/tutti-kv/tutti/internal/kv"
)

// fakeService records what it is called with and answers what the test
// set. The zero value answers empty successes.
type fakeService struct {
	mu sync.Mutex

	limits  kv.Limits
	cluster kv.ClusterInfo
	props   kv.Props

	getResult    *kv.GetResult
	putResult    *kv.PutResult
	deleteResult *kv.PutResult
	err          error // returned by every data call when set
	panicWith    any   // panicked with by every data call when set
	// blockUntilDone makes Get wait for its context and report it on
	// canceled.
	blockUntilDone bool
	canceled       chan error

	gets     []*kv.GetRequest
	puts     []*kv.PutRequest
	deletes  []*kv.DeleteRequest
	getProps [][]byte
	setProps []setPropsCall
}

type setPropsCall struct {
	bucket []byte
	props  kv.Props
}

func newFake() *fakeService {
	return &fakeService{
		limits: kv.DefaultLimits(),
		cluster: kv.ClusterInfo{
			Self: "n1", Partitions: 4, N: 3, Version: 9,
			Members: []kv.Member{
				{ID: "n1", Zone: "a", HTTPAddr: "10.0.0.1:8080", GRPCAddr: "10.0.0.1:8081", GossipAddr: "10.0.0.1:7946", Alive: true, Partitions: 4},
				{ID: "n2", Zone: "b", HTTPAddr: "10.0.0.2:8080", GRPCAddr: "10.0.0.2:8081", GossipAddr: "10.0.0.2:7946", Alive: false, Partitions: 4},
				{ID: "n3", Zone: "c", HTTPAddr: "10.0.0.3:8080", GRPCAddr: "10.0.0.3:8081", GossipAddr: "10.0.0.3:7946", Alive: true, Partitions: 4},
			},
			Owners: [][]string{{"n1", "n2", "n3"}, {"n2", "n3", "n1"}, {"n3", "n1", "n2"}, {"n1", "n3", "n2"}},
		},
		props:        kv.DefaultProps(),
		getResult:    &kv.GetResult{},
		putResult:    &kv.PutResult{Context: "ctx-put"},
		deleteResult: &kv.PutResult{Context: "ctx-del"},
		canceled:     make(chan error, 1),
	}
}

func (f *fakeService) fault() error {
	if f.panicWith != nil {
		panic(f.panicWith)
	}
	return f.err
}

func (f *fakeService) Get(ctx context.Context, req *kv.GetRequest) (*kv.GetResult, error) {
	f.mu.Lock()
	f.gets = append(f.gets, req)
	block := f.blockUntilDone
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		f.canceled <- ctx.Err()
		return nil, ctx.Err()
	}
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.getResult, nil
}

func (f *fakeService) Put(_ context.Context, req *kv.PutRequest) (*kv.PutResult, error) {
	f.mu.Lock()
	f.puts = append(f.puts, req)
	f.mu.Unlock()
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.putResult, nil
}

func (f *fakeService) Delete(_ context.Context, req *kv.DeleteRequest) (*kv.PutResult, error) {
	f.mu.Lock()
	f.deletes = append(f.deletes, req)
	f.mu.Unlock()
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.deleteResult, nil
}

func (f *fakeService) GetProps(_ context.Context, bucket []byte) (kv.Props, error) {
	f.mu.Lock()
	f.getProps = append(f.getProps, bucket)
	f.mu.Unlock()
	if err := f.fault(); err != nil {
		return kv.Props{}, err
	}
	return f.props, nil
}

func (f *fakeService) SetProps(_ context.Context, bucket []byte, p kv.Props) error {
	f.mu.Lock()
	f.setProps = append(f.setProps, setPropsCall{bucket, p})
	f.mu.Unlock()
	return f.fault()
}

func (f *fakeService) Cluster() kv.ClusterInfo { return f.cluster }

func (f *fakeService) Limits() kv.Limits { return f.limits }

// dataCalls counts the calls that read or write data.
func (f *fakeService) dataCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.gets) + len(f.puts) + len(f.deletes) + len(f.getProps) + len(f.setProps)
}
