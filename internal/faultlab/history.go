package faultlab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Type is what a history line records: an invocation or how it completed.
// The names are Jepsen's, so other history tools can read the files.
type Type string

// The history line types.
const (
	// Invoke is written before the request is sent.
	Invoke Type = "invoke"
	// OK: the node answered success; the operation happened.
	OK Type = "ok"
	// Fail: the operation certainly did not happen (a 4xx, or the
	// connection was never made).
	Fail Type = "fail"
	// Info: the outcome is unknown (timeout, reset, 503, 5xx); a put may
	// or may not have been written. The process that saw it continues
	// under a new process number, as in Jepsen.
	Info Type = "info"
)

// Kind is the operation.
type Kind string

// The operations of the workload.
const (
	Put Kind = "put"
	Get Kind = "get"
)

// Op is one history line: an invocation or a completion. A completion
// repeats its invocation's fields.
type Op struct {
	Process int    `json:"process"`
	Type    Type   `json:"type"`
	F       Kind   `json:"f"`
	Key     string `json:"key"`
	// Value is what a put wrote; unique in the history.
	Value string `json:"value,omitempty"`
	// Values are every sibling an OK get read.
	Values []string `json:"values,omitempty"`
	// W and DW are a put's quorums, R a get's.
	W  int `json:"w,omitempty"`
	DW int `json:"dw,omitempty"`
	R  int `json:"r,omitempty"`
	// Node is the index of the node the request went to.
	Node int       `json:"node"`
	Time time.Time `json:"time"`
	// Error says why an operation is Fail or Info.
	Error string `json:"error,omitempty"`
}

func (o Op) String() string {
	s := fmt.Sprintf("process %d %s %s %s", o.Process, o.Type, o.F, o.Key)
	if o.F == Put {
		s += fmt.Sprintf("=%s w=%d dw=%d", o.Value, o.W, o.DW)
	}
	s += fmt.Sprintf(" node %d at %s", o.Node, o.Time.Format("15:04:05.000"))
	if o.Error != "" {
		s += ": " + o.Error
	}
	return s
}

// recorder writes a history as JSON lines. Recording is serialized, so
// the file's order is the order of the Time stamps, and an invocation is
// in the file before its request is sent.
type recorder struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

func newRecorder(w io.Writer) *recorder { return &recorder{enc: json.NewEncoder(w)} }

// record stamps op with the time and writes it as typ. The first write
// error is kept for err, and later ops are dropped: a history with a hole
// could hide a lost write.
func (r *recorder) record(op Op, typ Type) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	op.Type = typ
	op.Time = time.Now()
	r.err = r.enc.Encode(op)
}

func (r *recorder) error() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// ReadHistory reads a history written as JSON lines.
func ReadHistory(rd io.Reader) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20) // a get may list many siblings
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var op Op
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return nil, fmt.Errorf("history line %d: %w", line, err)
		}
		ops = append(ops, op)
	}
	return ops, sc.Err()
}

// Keys lists, sorted, every key a put was invoked on: the keys whose final
// values Check needs.
func Keys(history []Op) []string {
	var keys []string
	seen := make(map[string]bool)
	for _, op := range history {
		if op.Type == Invoke && op.F == Put && !seen[op.Key] {
			seen[op.Key] = true
			keys = append(keys, op.Key)
		}
	}
	slices.Sort(keys)
	return keys
}
