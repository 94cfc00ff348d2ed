package grpcapi

import (
	"context"
	"time"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/metrics"
)

// parser returns an option parser that asks the service for N at most
// once.
func (s *server) parser() *optionParser {
	n := -1
	return &optionParser{replicas: func() int {
		if n < 0 {
			n = s.svc.Cluster().N
		}
		return n
	}}
}

// writeRequest is what a put and a delete request share: the write quorums
// and the timeout.
type writeRequest interface {
	GetW() int32
	GetDw() int32
	GetPw() int32
	GetTimeoutMs() int64
}

// writeOptions reads the options of a put or a delete.
func (s *server) writeOptions(req writeRequest) (kv.Options, error) {
	p := s.parser()
	opts := kv.Options{
		W:       p.quorum("w", req.GetW(), true),
		DW:      p.quorum("dw", req.GetDw(), false),
		PW:      p.quorum("pw", req.GetPw(), false),
		Timeout: p.timeout(req.GetTimeoutMs()),
	}
	if p.err != nil {
		return kv.Options{}, p.err
	}
	return opts, nil
}

func (s *server) Get(ctx context.Context, req *tuttipb.GetRequest) (*tuttipb.GetResponse, error) {
	return serve(s, metrics.OpGet, func() (*tuttipb.GetResponse, string, error) {
		if err := checkNames(s.svc.Limits(), req.GetBucket(), req.GetKey()); err != nil {
			return nil, "", err
		}
		p := s.parser()
		opts := kv.Options{
			R:       p.quorum("r", req.GetR(), true),
			PR:      p.quorum("pr", req.GetPr(), false),
			Timeout: p.timeout(req.GetTimeoutMs()),
		}
		if p.err != nil {
			return nil, "", p.err
		}
		res, err := s.svc.Get(ctx, &kv.GetRequest{Bucket: req.GetBucket(), Key: req.GetKey(), Options: opts, RepairSync: req.GetRepairSync()})
		if err != nil {
			return nil, "", err
		}
		if res.Found && len(res.Siblings) == 0 {
			return nil, "", kv.Errorf(kv.Internal, "read found a key without versions")
		}
		resp := &tuttipb.GetResponse{Found: res.Found, Deleted: res.Deleted, Context: res.Context}
		for _, sib := range res.Siblings {
			resp.Siblings = append(resp.Siblings, &tuttipb.Sibling{
				Value:                sib.Value,
				ContentType:          orDefault(sib.ContentType),
				LastModifiedUnixNano: unixNano(sib.LastModified),
			})
		}
		if !res.Found {
			return resp, metrics.OutcomeNotFound, nil
		}
		return resp, metrics.OutcomeOK, nil
	})
}

func (s *server) Put(ctx context.Context, req *tuttipb.PutRequest) (*tuttipb.PutResponse, error) {
	return serve(s, metrics.OpPut, func() (*tuttipb.PutResponse, string, error) {
		lim := s.svc.Limits()
		if err := checkNames(lim, req.GetBucket(), req.GetKey()); err != nil {
			return nil, "", err
		}
		if n := len(req.GetValue()); n > lim.MaxValueBytes {
			return nil, "", kv.Errorf(kv.TooLarge, "value of %d bytes is over the limit of %d", n, lim.MaxValueBytes)
		}
		ct, err := contentType(req.GetContentType())
		if err != nil {
			return nil, "", err
		}
		if err := kv.CheckWriteID(req.GetIdempotencyKey()); err != nil {
			return nil, "", err
		}
		opts, err := s.writeOptions(req)
		if err != nil {
			return nil, "", err
		}
		res, err := s.svc.Put(ctx, &kv.PutRequest{
			Bucket: req.GetBucket(), Key: req.GetKey(), Value: req.GetValue(),
			ContentType: ct, Context: req.GetContext(), WriteID: req.GetIdempotencyKey(), Options: opts,
		})
		if err != nil {
			return nil, "", err
		}
		return &tuttipb.PutResponse{Context: res.Context}, metrics.OutcomeOK, nil
	})
}

func (s *server) Delete(ctx context.Context, req *tuttipb.DeleteRequest) (*tuttipb.DeleteResponse, error) {
	return serve(s, metrics.OpDelete, func() (*tuttipb.DeleteResponse, string, error) {
		if err := checkNames(s.svc.Limits(), req.GetBucket(), req.GetKey()); err != nil {
			return nil, "", err
		}
		if err := kv.CheckWriteID(req.GetIdempotencyKey()); err != nil {
			return nil, "", err
		}
		opts, err := s.writeOptions(req)
		if err != nil {
			return nil, "", err
		}
		res, err := s.svc.Delete(ctx, &kv.DeleteRequest{
			Bucket: req.GetBucket(), Key: req.GetKey(), Context: req.GetContext(), WriteID: req.GetIdempotencyKey(), Options: opts,
		})
		if err != nil {
			return nil, "", err
		}
		return &tuttipb.DeleteResponse{Context: res.Context}, metrics.OutcomeOK, nil
	})
}

// Ring answers the members and, per partition, the indexes of its owners
// in the member list. An owner missing from the member list is added as a
// member not known to be alive rather than dropped, so that a client still
// learns every partition's N owners.
func (s *server) Ring(context.Context, *tuttipb.RingRequest) (*tuttipb.RingResponse, error) {
	return serve(s, metrics.OpCluster, func() (*tuttipb.RingResponse, string, error) {
		c := s.svc.Cluster()
		resp := &tuttipb.RingResponse{Partitions: int32(c.Partitions), N: int32(c.N), Version: c.Version}
		index := make(map[string]int32, len(c.Members))
		addMember := func(m *tuttipb.RingMember) int32 {
			i := int32(len(resp.Members))
			index[m.Id] = i
			resp.Members = append(resp.Members, m)
			return i
		}
		for _, m := range c.Members {
			addMember(&tuttipb.RingMember{Id: m.ID, GrpcAddr: m.GRPCAddr, HttpAddr: m.HTTPAddr, Zone: m.Zone, Alive: m.Alive,
				HintsPending: uint64(m.HintsPending), HintBytes: uint64(m.HintBytes)})
		}
		resp.Owners = make([]*tuttipb.RingPartition, len(c.Owners))
		for p, owners := range c.Owners {
			part := &tuttipb.RingPartition{Owners: make([]int32, len(owners))}
			for j, id := range owners {
				i, ok := index[id]
				if !ok {
					i = addMember(&tuttipb.RingMember{Id: id})
				}
				part.Owners[j] = i
			}
			resp.Owners[p] = part
		}
		return resp, metrics.OutcomeOK, nil
	})
}

func (s *server) GetBucketProps(ctx context.Context, req *tuttipb.GetBucketPropsRequest) (*tuttipb.BucketProps, error) {
	return serve(s, metrics.OpProps, func() (*tuttipb.BucketProps, string, error) {
		if err := checkBucket(s.svc.Limits(), req.GetBucket()); err != nil {
			return nil, "", err
		}
		p, err := s.svc.GetProps(ctx, req.GetBucket())
		if err != nil {
			return nil, "", err
		}
		return toProto(p), metrics.OutcomeOK, nil
	})
}

// SetBucketProps replaces all of a bucket's properties, after validating
// them against the cluster's N.
func (s *server) SetBucketProps(ctx context.Context, req *tuttipb.SetBucketPropsRequest) (*tuttipb.BucketProps, error) {
	return serve(s, metrics.OpProps, func() (*tuttipb.BucketProps, string, error) {
		if err := checkBucket(s.svc.Limits(), req.GetBucket()); err != nil {
			return nil, "", err
		}
		if req.GetProps() == nil {
			return nil, "", kv.Errorf(kv.BadRequest, "props missing")
		}
		p, err := fromProto(req.GetProps())
		if err != nil {
			return nil, "", err
		}
		if err := p.Validate(s.svc.Cluster().N); err != nil {
			return nil, "", kv.Errorf(kv.BadRequest, "invalid properties: %v", err)
		}
		if err := s.svc.SetProps(ctx, req.GetBucket(), p); err != nil {
			return nil, "", err
		}
		return toProto(p), metrics.OutcomeOK, nil
	})
}

func toProto(p kv.Props) *tuttipb.BucketProps {
	return &tuttipb.BucketProps{
		Conflict: p.Conflict,
		R:        protoQuorum(p.R),
		W:        protoQuorum(p.W),
		Dw:       protoQuorum(p.DW),
		Pr:       protoQuorum(p.PR),
		Pw:       protoQuorum(p.PW),
		Sloppy:   &p.Sloppy,
	}
}

func fromProto(bp *tuttipb.BucketProps) (kv.Props, error) {
	p := kv.Props{Conflict: bp.GetConflict(), Sloppy: bp.Sloppy == nil || bp.GetSloppy()}
	for _, f := range []struct {
		name string
		v    int32
		dst  *kv.Quorum
	}{{"r", bp.GetR(), &p.R}, {"w", bp.GetW(), &p.W}, {"dw", bp.GetDw(), &p.DW}, {"pr", bp.GetPr(), &p.PR}, {"pw", bp.GetPw(), &p.PW}} {
		q, err := propsQuorum(f.name, f.v)
		if err != nil {
			return kv.Props{}, err
		}
		*f.dst = q
	}
	return p, nil
}

func orDefault(ct string) string {
	if ct == "" {
		return defaultContentType
	}
	return ct
}

// unixNano is t in nanoseconds since the epoch, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
