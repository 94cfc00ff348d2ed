package transport

import (
	"log/slog"
	"time"
)

// Mode selects how GRPC carries calls.
type Mode int

const (
	// ModeStream batches calls to a peer over long-lived bidirectional
	// streams (Peer.Stream). It is the default: see docs/transport.md for
	// the measurements behind the choice.
	ModeStream Mode = iota
	// ModeUnary sends each call as its own RPC (Peer.Call).
	ModeUnary
)

// String returns the mode's name as used in benchmarks and logs.
func (m Mode) String() string {
	switch m {
	case ModeStream:
		return "stream"
	case ModeUnary:
		return "unary"
	default:
		return "unknown"
	}
}

// Defaults used where a Config field is zero.
const (
	DefaultStreamsPerPeer   = 2
	DefaultMaxFrameBytes    = 256 << 10
	DefaultMaxMessageBytes  = 64 << 20
	DefaultDialTimeout      = 2 * time.Second
	DefaultRedialBackoff    = 50 * time.Millisecond
	DefaultMaxRedialBackoff = time.Second
	DefaultKeepaliveTime    = 10 * time.Second
	DefaultKeepaliveTimeout = 5 * time.Second
)

// Config configures a GRPC transport. The zero value is usable: stream mode,
// plaintext, defaults above.
type Config struct {
	// Mode selects batched streams (default) or one RPC per call.
	Mode Mode
	// StreamsPerPeer is how many streams carry the calls to one peer in
	// stream mode; each call takes the stream with the fewest calls
	// outstanding, so that one held up by a large response is avoided.
	StreamsPerPeer int
	// MaxFrameBytes bounds the encoded requests batched into one frame. A
	// larger request is sent as its own unary RPC so that it holds up no
	// stream.
	MaxFrameBytes int
	// MaxMessageBytes bounds one gRPC message either way. It must exceed
	// the largest value plus overhead, and MaxFrameBytes.
	MaxMessageBytes int
	// DialTimeout bounds connecting to a peer and opening a stream.
	DialTimeout time.Duration
	// RedialBackoff is how long calls to a peer that could not be reached
	// fail fast before the next attempt; it doubles per failed attempt up
	// to MaxRedialBackoff and resets after a success.
	RedialBackoff    time.Duration
	MaxRedialBackoff time.Duration
	// KeepaliveTime and KeepaliveTimeout detect a peer that vanished
	// without closing its connections: after KeepaliveTime of silence the
	// dialer pings, and the connection fails if no answer comes within
	// KeepaliveTimeout. gRPC pings at most every 10 s whatever is set here.
	// Servers must permit the pings (ServerOptions does).
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// TLS secures connections; empty means plaintext.
	TLS TLSConfig
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger

	// roundRobin spreads calls over the streams in turn instead of by
	// load; it exists to be measured (BenchmarkSmallCallsBesideLargeValues).
	roundRobin bool
}

func (c Config) withDefaults() Config {
	setDefault(&c.StreamsPerPeer, DefaultStreamsPerPeer)
	setDefault(&c.MaxFrameBytes, DefaultMaxFrameBytes)
	setDefault(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.RedialBackoff, DefaultRedialBackoff)
	setDefault(&c.MaxRedialBackoff, DefaultMaxRedialBackoff)
	setDefault(&c.KeepaliveTime, DefaultKeepaliveTime)
	setDefault(&c.KeepaliveTimeout, DefaultKeepaliveTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setDefault[T int | time.Duration](field *T, value T) {
	if *field <= 0 {
		*field = value
	}
}
