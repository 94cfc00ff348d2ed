package client

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
)

// Quorum is a number of replicas a request waits for: a count made with
// Count, or one of the symbolic values One, QuorumMajority and All, which
// the coordinating node resolves against the replication factor N. Its
// int32 value is the one the gRPC API carries.
type Quorum int32

// Symbolic quorum values.
const (
	// BucketDefault leaves the choice to the bucket's properties.
	BucketDefault Quorum = 0
	// One is a single replica.
	One Quorum = -1
	// QuorumMajority is a majority of the N replicas (N/2 + 1).
	QuorumMajority Quorum = -2
	// All is every one of the N replicas.
	All Quorum = -3
	// zeroCount is the explicit count zero, distinct from BucketDefault;
	// Count(0) returns it. It is meaningful for dw, pr and pw.
	zeroCount Quorum = -4
)

// Count is a quorum of n replicas. Count(0) is the explicit zero (for dw,
// pr and pw), unlike BucketDefault; negative n counts as zero.
func Count(n int) Quorum {
	if n <= 0 {
		return zeroCount
	}
	return Quorum(n)
}

// ParseQuorum reads a count or one of "one", "quorum", "all" and "default"
// (case-insensitive), the words the command line and HTTP API use.
func ParseQuorum(s string) (Quorum, error) {
	switch strings.ToLower(s) {
	case "one":
		return One, nil
	case "quorum":
		return QuorumMajority, nil
	case "all":
		return All, nil
	case "default", "":
		return BucketDefault, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<16 {
		return BucketDefault, fmt.Errorf("quorum %q is not a count or one of one, quorum, all, default", s)
	}
	return Count(n), nil
}

// String is the form ParseQuorum reads.
func (q Quorum) String() string {
	switch q {
	case BucketDefault:
		return "default"
	case One:
		return "one"
	case QuorumMajority:
		return "quorum"
	case All:
		return "all"
	case zeroCount:
		return "0"
	}
	return strconv.Itoa(int(q))
}

// Option configures a Client.
type Option func(*settings)

type settings struct {
	dialOptions  []grpc.DialOption
	ringRefresh  time.Duration
	dialTimeout  time.Duration
	seed         uint64
	seedIsFixed  bool
	ringTimeout  time.Duration
	refreshPause time.Duration
}

func defaultSettings() settings {
	return settings{
		ringRefresh: 10 * time.Second,
		dialTimeout: 2 * time.Second,
		ringTimeout: 5 * time.Second,
		// A burst of failing requests asks for many refreshes; one per pause
		// is enough.
		refreshPause: 100 * time.Millisecond,
	}
}

// WithDialOptions adds gRPC dial options to every connection, after the
// client's defaults (plaintext, reconnect backoff capped at five seconds,
// answers up to 256 MiB); pass transport credentials here to use TLS.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(s *settings) { s.dialOptions = append(s.dialOptions, opts...) }
}

// WithRingRefresh sets how often the client fetches the ring in the
// background (default 10 s). It fetches it sooner after a routing failure.
func WithRingRefresh(every time.Duration) Option {
	return func(s *settings) {
		if every > 0 {
			s.ringRefresh = every
		}
	}
}

// WithDialTimeout bounds how long a request waits for a connection to a
// node before it tries the next one (default 2 s).
func WithDialTimeout(d time.Duration) Option {
	return func(s *settings) {
		if d > 0 {
			s.dialTimeout = d
		}
	}
}

// WithSeed makes the client's random choices among replicas repeatable.
// Without it they are seeded randomly.
func WithSeed(seed uint64) Option {
	return func(s *settings) { s.seed, s.seedIsFixed = seed, true }
}

// ReqOption is a per-request knob. Knobs that do not apply to an operation
// (W on a Get, R on a Put) are ignored.
type ReqOption func(*requestOptions)

type requestOptions struct {
	causalContext  string
	contentType    string
	idempotencyKey string
	r, pr          Quorum
	w, dw, pw      Quorum
	timeout        time.Duration
}

func collect(opts []ReqOption) requestOptions {
	var o requestOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithContext sends the opaque causal context of a previous Get (or write)
// so that this write replaces exactly the versions it covers. Without it a
// write is concurrent with whatever the key holds.
func WithContext(causalContext string) ReqOption {
	return func(o *requestOptions) { o.causalContext = causalContext }
}

// WithIdempotencyKey names a Put or Delete (at most 64 bytes) instead of
// the fresh random key the client gives every write. The client resends a
// write, under the same key, when the node it went to fails before
// answering; nodes store a write they already hold under its key and value
// once. Give your own key to make your application's retries of one write,
// across calls or restarts, equally safe.
func WithIdempotencyKey(key string) ReqOption {
	return func(o *requestOptions) { o.idempotencyKey = key }
}

// WithContentType sets the content type stored with a Put's value.
func WithContentType(contentType string) ReqOption {
	return func(o *requestOptions) { o.contentType = contentType }
}

// R is the number of replicas a Get waits for.
func R(q Quorum) ReqOption { return func(o *requestOptions) { o.r = q } }

// PR is the number of primary replicas among a Get's R replies (a strict
// quorum).
func PR(q Quorum) ReqOption { return func(o *requestOptions) { o.pr = q } }

// W is the number of replicas a Put or Delete waits for.
func W(q Quorum) ReqOption { return func(o *requestOptions) { o.w = q } }

// DW is the number of replicas that must have made a write durable (fsynced)
// before it is acknowledged.
func DW(q Quorum) ReqOption { return func(o *requestOptions) { o.dw = q } }

// PW is the number of primary replicas among a write's W acknowledgements (a
// strict quorum).
func PW(q Quorum) ReqOption { return func(o *requestOptions) { o.pw = q } }

// WithTimeout asks the coordinating node to give up after d (nodes accept
// at most one minute; without it they use their default). The client
// itself waits a little longer (timeoutAllowance), so that the node's own
// answer, such as an unmet quorum, arrives rather than a bare deadline.
func WithTimeout(d time.Duration) ReqOption {
	return func(o *requestOptions) { o.timeout = d }
}

// timeoutAllowance is how much longer than a request's timeout the client
// waits for the node's answer: the network's share.
const timeoutAllowance = time.Second

func (o requestOptions) timeoutMillis() int64 {
	if o.timeout <= 0 {
		return 0
	}
	// Round up, so that a sub-millisecond timeout is not sent as "none".
	return int64((o.timeout + time.Millisecond - 1) / time.Millisecond)
}
