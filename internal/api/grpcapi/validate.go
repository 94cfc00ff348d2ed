package grpcapi

import (
	"mime"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
)

// checkBucket checks a bucket name against the limits.
func checkBucket(lim kv.Limits, bucket []byte) error {
	if len(bucket) == 0 {
		return kv.Errorf(kv.BadRequest, "empty bucket name")
	}
	if len(bucket) > lim.MaxBucketBytes {
		return kv.Errorf(kv.NameTooLong, "bucket name of %d bytes is over the limit of %d", len(bucket), lim.MaxBucketBytes)
	}
	return nil
}

// checkNames checks a bucket and a key against the limits.
func checkNames(lim kv.Limits, bucket, key []byte) error {
	if err := checkBucket(lim, bucket); err != nil {
		return err
	}
	if len(key) == 0 {
		return kv.Errorf(kv.BadRequest, "empty key")
	}
	if len(key) > lim.MaxKeyBytes {
		return kv.Errorf(kv.NameTooLong, "key of %d bytes is over the limit of %d", len(key), lim.MaxKeyBytes)
	}
	return nil
}

// contentType returns ct, or the default when empty; it must parse as a
// media type because the HTTP API sends it back in headers.
func contentType(ct string) (string, error) {
	if ct == "" {
		return defaultContentType, nil
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return "", kv.Errorf(kv.BadRequest, "malformed content type %q: %v", ct, err)
	}
	return ct, nil
}

// optionParser reads request options, keeping the first error so that a
// request's fields read as one expression.
type optionParser struct {
	// replicas returns the replication factor; it is asked only when a
	// count must be checked against it, and a factor below 1 skips that
	// check.
	replicas func() int
	err      error
}

// quorum reads one quorum field. atLeastOne rejects an explicit zero, which
// makes no sense for r and w.
func (p *optionParser) quorum(name string, v int32, atLeastOne bool) kv.Quorum {
	if p.err != nil {
		return kv.Default
	}
	q := kv.Quorum(v)
	switch {
	case q == kv.Default, q == kv.One, q == kv.Majority, q == kv.All:
		return q
	case q == kv.Zero:
		if atLeastOne {
			p.err = kv.Errorf(kv.BadRequest, "%s must be at least 1", name)
		}
		return q
	case q > 0:
		if n := p.replicas(); n > 0 && int(q) > n {
			p.err = kv.Errorf(kv.BadRequest, "%s=%d is more than the %d replicas of a key", name, v, n)
		}
		return q
	}
	p.err = kv.Errorf(kv.BadRequest, "%s: unknown quorum value %d", name, v)
	return kv.Default
}

// timeout reads timeout_ms; zero means the node's default.
func (p *optionParser) timeout(ms int64) time.Duration {
	if p.err != nil {
		return 0
	}
	if ms < 0 || ms > MaxRequestTimeout.Milliseconds() {
		p.err = kv.Errorf(kv.BadRequest, "timeout_ms must be between 0 and %d", MaxRequestTimeout.Milliseconds())
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// propsQuorum reads a BucketProps quorum field, where 0 is the count zero.
// The range against N is left to kv.Props.Validate.
func propsQuorum(name string, v int32) (kv.Quorum, error) {
	q := kv.Quorum(v)
	switch {
	case v == 0, q == kv.Zero:
		return kv.Zero, nil
	case q == kv.One, q == kv.Majority, q == kv.All, q > 0:
		return q, nil
	}
	return kv.Default, kv.Errorf(kv.BadRequest, "%s: unknown quorum value %d", name, v)
}

// protoQuorum is the BucketProps encoding of q.
func protoQuorum(q kv.Quorum) int32 {
	if q == kv.Zero {
		return 0
	}
	return int32(q)
}
