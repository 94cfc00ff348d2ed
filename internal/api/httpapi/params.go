package httpapi

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/metrics"
)

const bucketsPrefix = "/v1/buckets/"

// checkBucketPath rejects bucket and key paths that ServeMux would
// otherwise redirect or not match: empty names, dot segments (a redirect
// would send a PUT to another key) and a key with an unencoded "/". It also
// returns the op to count such a request under.
func checkBucketPath(method, escapedPath string) (string, error) {
	rest, ok := strings.CutPrefix(escapedPath, bucketsPrefix)
	if !ok {
		return metrics.OpOther, nil
	}
	segments := strings.Split(rest, "/")
	op := metrics.OpOther
	isKey := len(segments) >= 3 && segments[1] == "keys"
	switch {
	case isKey && method == http.MethodGet, isKey && method == http.MethodHead:
		op = metrics.OpGet
	case isKey && method == http.MethodPut:
		op = metrics.OpPut
	case isKey && method == http.MethodDelete:
		op = metrics.OpDelete
	case len(segments) == 2 && segments[1] == "props":
		op = metrics.OpProps
	}
	switch {
	case segments[0] == "":
		return op, kv.Errorf(kv.BadRequest, "empty bucket name")
	case isKey && len(segments) > 3:
		return op, kv.Errorf(kv.BadRequest, `a "/" in a key must be percent-encoded as %%2F`)
	case isKey && segments[2] == "":
		return op, kv.Errorf(kv.BadRequest, "empty key")
	}
	for _, s := range segments {
		switch s {
		case "":
			return op, kv.Errorf(kv.BadRequest, "empty path segment")
		case ".", "..":
			return op, kv.Errorf(kv.BadRequest, `a bucket or key "." or ".." must be percent-encoded as %%2E`)
		}
	}
	return op, nil
}

// bucketOf returns the request's bucket, checked against the limits.
func bucketOf(r *http.Request, lim kv.Limits) ([]byte, error) {
	bucket := r.PathValue("bucket")
	if bucket == "" {
		return nil, kv.Errorf(kv.BadRequest, "empty bucket name")
	}
	if len(bucket) > lim.MaxBucketBytes {
		return nil, kv.Errorf(kv.NameTooLong, "bucket name of %d bytes is over the limit of %d", len(bucket), lim.MaxBucketBytes)
	}
	return []byte(bucket), nil
}

// bucketAndKey returns the request's bucket and key, checked against the
// limits.
func bucketAndKey(r *http.Request, lim kv.Limits) (bucket, key []byte, err error) {
	if bucket, err = bucketOf(r, lim); err != nil {
		return nil, nil, err
	}
	k := r.PathValue("key")
	if k == "" {
		return nil, nil, kv.Errorf(kv.BadRequest, "empty key")
	}
	if len(k) > lim.MaxKeyBytes {
		return nil, nil, kv.Errorf(kv.NameTooLong, "key of %d bytes is over the limit of %d", len(k), lim.MaxKeyBytes)
	}
	return bucket, []byte(k), nil
}

// parseQuery parses a raw query that may only hold the allowed parameters,
// each at most once. Unknown parameters are errors so that a typo such as
// "W=all" is not silently ignored.
func parseQuery(raw string, allowed ...string) (url.Values, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, kv.Errorf(kv.BadRequest, "malformed query: %v", err)
	}
	for name, vs := range vals {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return nil, kv.Errorf(kv.BadRequest, "unknown query parameter %q: this route takes none", name)
			}
			return nil, kv.Errorf(kv.BadRequest, "unknown query parameter %q: this route takes %s", name, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, kv.Errorf(kv.BadRequest, "query parameter %q given %d times", name, len(vs))
		}
	}
	return vals, nil
}

// parseOptions reads the quorum and timeout parameters present in vals.
// replicas returns the replication factor, asked only when a count must be
// checked against it; a factor below 1 skips that check.
func parseOptions(vals url.Values, replicas func() int) (kv.Options, error) {
	var o kv.Options
	for _, f := range []struct {
		name string
		dst  *kv.Quorum
	}{{"r", &o.R}, {"w", &o.W}, {"dw", &o.DW}, {"pr", &o.PR}, {"pw", &o.PW}} {
		if !vals.Has(f.name) {
			continue
		}
		q, err := kv.ParseQuorum(vals.Get(f.name))
		if err != nil {
			return o, kv.Errorf(kv.BadRequest, "%s: %v", f.name, err)
		}
		if q == kv.Zero && (f.name == "r" || f.name == "w") {
			return o, kv.Errorf(kv.BadRequest, "%s must be at least 1", f.name)
		}
		if q > 0 {
			if n := replicas(); n > 0 && int(q) > n {
				return o, kv.Errorf(kv.BadRequest, "%s=%d is more than the %d replicas of a key", f.name, q, n)
			}
		}
		*f.dst = q
	}
	if vals.Has("timeout") {
		t, err := parseTimeout(vals.Get("timeout"))
		if err != nil {
			return o, err
		}
		o.Timeout = t
	}
	return o, nil
}

// parseTimeout reads a Go duration ("500ms", "2s") or a count of
// milliseconds ("500"). Zero means the node's default.
func parseTimeout(s string) (time.Duration, error) {
	var d time.Duration
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 || ms > MaxRequestTimeout.Milliseconds() {
			return 0, kv.Errorf(kv.BadRequest, "timeout must be between 0 and %v", MaxRequestTimeout)
		}
		d = time.Duration(ms) * time.Millisecond
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, kv.Errorf(kv.BadRequest, "timeout %q is neither a duration such as 500ms nor a count of milliseconds", s)
	}
	if d < 0 || d > MaxRequestTimeout {
		return 0, kv.Errorf(kv.BadRequest, "timeout must be between 0 and %v", MaxRequestTimeout)
	}
	return d, nil
}

// singleHeader returns the request's header name, given at most once, or
// "" when absent. The service judges whether a context is well formed.
func singleHeader(r *http.Request, name string) (string, error) {
	vs := r.Header.Values(name)
	if len(vs) > 1 {
		return "", kv.Errorf(kv.BadRequest, "%s given %d times", name, len(vs))
	}
	if len(vs) == 0 {
		return "", nil
	}
	return strings.TrimSpace(vs[0]), nil
}

// defaultContentType is stored when a PUT names none.
const defaultContentType = "application/octet-stream"

// contentType returns the request's Content-Type, which must parse as a
// media type because it is sent back in headers and multipart parts.
func contentType(r *http.Request) (string, error) {
	ct := strings.TrimSpace(r.Header.Get("Content-Type"))
	if ct == "" {
		return defaultContentType, nil
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return "", kv.Errorf(kv.BadRequest, "malformed Content-Type %q: %v", ct, err)
	}
	return ct, nil
}

// readBody reads a body of at most limit bytes. A declared Content-Length
// over the limit is refused before any byte is read; a chunked body is cut
// off as soon as it passes the limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	if r.ContentLength > int64(limit) {
		return nil, kv.Errorf(kv.TooLarge, "body of %d bytes is over the limit of %d", r.ContentLength, limit)
	}
	if r.Body == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, int64(limit)))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, kv.Errorf(kv.TooLarge, "body is over the limit of %d bytes", limit)
	case err != nil && r.Context().Err() != nil:
		return nil, r.Context().Err()
	case err != nil:
		return nil, kv.Errorf(kv.BadRequest, "reading body: %v", err)
	}
	return buf.Bytes(), nil
}

// wantsJSON reports whether the Accept header asks for application/json.
func wantsJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, item := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(item))
			if err != nil || mt != "application/json" {
				continue
			}
			if q, err := strconv.ParseFloat(params["q"], 64); err == nil && q <= 0 {
				continue
			}
			return true
		}
	}
	return false
}
