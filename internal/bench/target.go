package bench

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tutti-kv/tutti/client"
)

// target is the cluster as the workers see it. Methods are safe for
// concurrent use; their errors are *opError.
type target interface {
	// read fetches a key; found is false when it is absent.
	read(ctx context.Context, key string) (found bool, err error)
	// write stores a value without a causal context (a blind put).
	write(ctx context.Context, key string, value []byte) error
	// setConflictLWW sets the bucket's conflict policy to last-write-wins.
	setConflictLWW(ctx context.Context) error
	close() error
}

// opError is a failed request with the kind it is counted under:
// "unavailable", "timeout", "invalid", "too_large", "internal",
// "transport", "canceled", or a more specific code ("http_409",
// "permissiondenied", ...).
type opError struct {
	kind string
	err  error
}

func (e *opError) Error() string { return e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// kindOf returns the kind a failed request is counted under.
func kindOf(err error) string {
	var oe *opError
	if errors.As(err, &oe) {
		return oe.kind
	}
	return "other"
}

type grpcTarget struct {
	client *client.Client
	bucket string
}

func newGRPCTarget(ctx context.Context, addrs []string, bucket string, seed uint64) (*grpcTarget, error) {
	c, err := client.New(ctx, addrs, client.WithSeed(seed))
	if err != nil {
		return nil, err
	}
	return &grpcTarget{client: c, bucket: bucket}, nil
}

func (t *grpcTarget) read(ctx context.Context, key string) (bool, error) {
	obj, err := t.client.Get(ctx, t.bucket, key)
	if err != nil {
		return false, grpcError(err)
	}
	return obj.Found, nil
}

func (t *grpcTarget) write(ctx context.Context, key string, value []byte) error {
	if _, err := t.client.Put(ctx, t.bucket, key, value); err != nil {
		return grpcError(err)
	}
	return nil
}

func (t *grpcTarget) setConflictLWW(ctx context.Context) error {
	props, err := t.client.BucketProps(ctx, t.bucket)
	if err != nil {
		return err
	}
	props.Conflict = client.ConflictLWW
	_, err = t.client.SetBucketProps(ctx, t.bucket, props)
	return err
}

func (t *grpcTarget) close() error { return t.client.Close() }

func grpcError(err error) *opError {
	var e *client.Error
	if !errors.As(err, &e) {
		return &opError{kind: "other", err: err}
	}
	kind := strings.ToLower(e.Code.String())
	switch e.Code {
	case codes.Unavailable:
		kind = "unavailable"
	case codes.DeadlineExceeded:
		kind = "timeout"
	case codes.InvalidArgument:
		kind = "invalid"
	case codes.ResourceExhausted:
		kind = "too_large"
	}
	return &opError{kind: kind, err: err}
}

// httpTarget spreads requests round-robin over the endpoints. A request
// that fails in transport (the node refused the connection, or reset it:
// it is down, or died mid-request) is sent again to the next endpoint while
// its deadline lasts, each endpoint tried once. A write carries the same
// Idempotency-Key on every attempt, so that a node can tell the retry of a
// write it already applied from a new write.
type httpTarget struct {
	http *http.Client
	// buckets are the endpoints' URLs of the bucket, /v1/buckets/{bucket}.
	buckets []string
	next    atomic.Uint64
}

func newHTTPTarget(bases []string, bucket string, concurrency int) *httpTarget {
	transport := &http.Transport{
		// A benchmark measures the cluster, not a proxy.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency * len(bases),
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	t := &httpTarget{http: &http.Client{Transport: transport}}
	for _, b := range bases {
		t.buckets = append(t.buckets, b+"/v1/buckets/"+url.PathEscape(bucket))
	}
	return t
}

// idempotencyKeyHeader names the header that identifies a logical write
// across its attempts.
const idempotencyKeyHeader = "Idempotency-Key"

// newIdempotencyKey returns 16 random bytes in hex, from crypto/rand so
// that keys of different bench processes do not collide whatever their
// seeds.
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// send sends a request for path under the bucket to the next endpoint in
// the round-robin, and on a transport failure to the ones after it, until
// one answers or ctx ends. body is resent whole on each attempt; header
// is set on each. The error is the last attempt's, as an *opError.
func (t *httpTarget) send(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, error) {
	first := t.next.Add(1) - 1
	n := uint64(len(t.buckets))
	var err error
	for i := range n {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, rerr := http.NewRequestWithContext(ctx, method, t.buckets[(first+i)%n]+path, rd)
		if rerr != nil {
			return nil, &opError{kind: "other", err: rerr}
		}
		for k, v := range header {
			req.Header[k] = v
		}
		var resp *http.Response
		if resp, err = t.do(req); err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			// The request's own deadline (or the run's end): no time
			// left for another attempt.
			break
		}
	}
	return nil, err
}

func (t *httpTarget) read(ctx context.Context, key string) (bool, error) {
	resp, err := t.send(ctx, http.MethodGet, "/keys/"+url.PathEscape(key), nil, nil)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusMultipleChoices:
		// Read the whole value: a read is not done until it arrived.
		_, err := io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return false, transportError(ctx, err)
		}
		return true, nil
	case http.StatusNotFound:
		drain(resp)
		return false, nil
	}
	return false, statusError(resp)
}

func (t *httpTarget) write(ctx context.Context, key string, value []byte) error {
	header := http.Header{}
	header.Set("Content-Type", "application/octet-stream")
	header.Set(idempotencyKeyHeader, newIdempotencyKey())
	if value == nil {
		value = []byte{} // a PUT always has a body, if empty
	}
	resp, err := t.send(ctx, http.MethodPut, "/keys/"+url.PathEscape(key), value, header)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return statusError(resp)
	}
	drain(resp)
	return nil
}

// setConflictLWW reads the props and writes them back with the conflict
// policy changed, so that the other props keep their values whether the
// node replaces or merges them.
func (t *httpTarget) setConflictLWW(ctx context.Context) error {
	propsURL := t.buckets[0] + "/props"
	props := map[string]any{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, propsURL, nil)
	if err != nil {
		return err
	}
	resp, err := t.do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	err = json.NewDecoder(resp.Body).Decode(&props)
	drain(resp)
	if err != nil {
		return fmt.Errorf("reading props from %s: %w", propsURL, err)
	}
	props["conflict"] = client.ConflictLWW
	body, err := json.Marshal(props)
	if err != nil {
		return err
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPut, propsURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if resp, err = t.do(req); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return statusError(resp)
	}
	drain(resp)
	return nil
}

func (t *httpTarget) close() error {
	t.http.CloseIdleConnections()
	return nil
}

func (t *httpTarget) do(req *http.Request) (*http.Response, error) {
	resp, err := t.http.Do(req)
	if err != nil {
		return nil, transportError(req.Context(), err)
	}
	return resp, nil
}

func transportError(ctx context.Context, err error) *opError {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &opError{kind: "timeout", err: err}
	case ctx.Err() != nil:
		return &opError{kind: "canceled", err: err}
	}
	return &opError{kind: "transport", err: err}
}

// drain reads the rest of a body so that the connection is reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}

// statusError turns an error response into an *opError, with the message
// of its JSON body {"error": ...} when there is one.
func statusError(resp *http.Response) *opError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	drain(resp)
	msg := strings.TrimSpace(string(body))
	var decoded struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &decoded) == nil && decoded.Error != "" {
		msg = decoded.Error
	}
	kind := fmt.Sprintf("http_%d", resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		// A node's own timeout is a 503 too, told apart by its message.
		kind = "unavailable"
		if decoded.Error == "timeout" {
			kind = "timeout"
		}
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		kind = "timeout"
	case http.StatusRequestEntityTooLarge:
		kind = "too_large"
	case http.StatusBadRequest, http.StatusRequestURITooLong:
		kind = "invalid"
	case http.StatusInternalServerError:
		kind = "internal"
	}
	return &opError{kind: kind, err: fmt.Errorf("%s %s: %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, msg)}
}
