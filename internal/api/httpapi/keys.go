package httpapi

import (
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
)

// replicas returns a function that asks the service for N once.
func (a *api) replicas() func() int {
	n := -1
	return func() int {
		if n < 0 {
			n = a.svc.Cluster().N
		}
		return n
	}
}

// writeParams are the parameters a PUT and a DELETE share.
type writeParams struct {
	bucket, key []byte
	opts        kv.Options
	causal      string
	writeID     string
}

// parseWrite reads the parameters a PUT and a DELETE share: the bucket and
// key, the write quorums and timeout from the query, and the causal context.
func (a *api) parseWrite(r *http.Request, lim kv.Limits) (writeParams, error) {
	bucket, key, err := bucketAndKey(r, lim)
	if err != nil {
		return writeParams{}, err
	}
	vals, err := parseQuery(r.URL.RawQuery, "w", "dw", "pw", "timeout")
	if err != nil {
		return writeParams{}, err
	}
	opts, err := parseOptions(vals, a.replicas())
	if err != nil {
		return writeParams{}, err
	}
	causal, err := singleHeader(r, ContextHeader)
	if err != nil {
		return writeParams{}, err
	}
	writeID, err := singleHeader(r, IdempotencyKeyHeader)
	if err != nil {
		return writeParams{}, err
	}
	if err := kv.CheckWriteID(writeID); err != nil {
		return writeParams{}, err
	}
	return writeParams{bucket: bucket, key: key, opts: opts, causal: causal, writeID: writeID}, nil
}

func (a *api) put(w http.ResponseWriter, r *http.Request) error {
	lim := a.svc.Limits()
	p, err := a.parseWrite(r, lim)
	if err != nil {
		return err
	}
	ct, err := contentType(r)
	if err != nil {
		return err
	}
	value, err := readBody(w, r, lim.MaxValueBytes)
	if err != nil {
		return err
	}
	res, err := a.svc.Put(r.Context(), &kv.PutRequest{
		Bucket: p.bucket, Key: p.key, Value: value, ContentType: ct, Context: p.causal, WriteID: p.writeID, Options: p.opts,
	})
	if err != nil {
		return err
	}
	answerWrite(w, res)
	return nil
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) error {
	p, err := a.parseWrite(r, a.svc.Limits())
	if err != nil {
		return err
	}
	res, err := a.svc.Delete(r.Context(), &kv.DeleteRequest{Bucket: p.bucket, Key: p.key, Context: p.causal, WriteID: p.writeID, Options: p.opts})
	if err != nil {
		return err
	}
	answerWrite(w, res)
	return nil
}

// answerWrite answers a successful PUT or DELETE: no body, the new
// version's context.
func answerWrite(w http.ResponseWriter, res *kv.PutResult) {
	if res.Context != "" {
		w.Header().Set(ContextHeader, res.Context)
	}
	w.WriteHeader(http.StatusNoContent)
}

// getAnswer is the JSON form of a read, for clients that accept JSON.
type getAnswer struct {
	Context  string          `json:"context"`
	Siblings []siblingAnswer `json:"siblings"`
}

type siblingAnswer struct {
	Value        []byte     `json:"value"` // base64 in JSON
	ContentType  string     `json:"content_type"`
	LastModified *time.Time `json:"last_modified,omitempty"`
}

func (a *api) get(w http.ResponseWriter, r *http.Request) error {
	lim := a.svc.Limits()
	bucket, key, err := bucketAndKey(r, lim)
	if err != nil {
		return err
	}
	vals, err := parseQuery(r.URL.RawQuery, "r", "pr", "timeout", "repair")
	if err != nil {
		return err
	}
	opts, err := parseOptions(vals, a.replicas())
	if err != nil {
		return err
	}
	req := &kv.GetRequest{Bucket: bucket, Key: key, Options: opts}
	switch vals.Get("repair") {
	case "", "async":
	case "sync":
		req.RepairSync = true
	default:
		return kv.Errorf(kv.BadRequest, "repair must be sync or async, not %q", vals.Get("repair"))
	}
	res, err := a.svc.Get(r.Context(), req)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Vary", "Accept")
	if res.Context != "" {
		h.Set(ContextHeader, res.Context)
	}
	if !res.Found {
		if res.Deleted {
			h.Set(DeletedHeader, "true")
		}
		return kv.Errorf(kv.NotFound, "not found")
	}
	if len(res.Siblings) == 0 {
		return kv.Errorf(kv.Internal, "read found a key without versions")
	}
	status := http.StatusOK
	if len(res.Siblings) > 1 {
		status = http.StatusMultipleChoices
	}
	switch {
	case wantsJSON(r):
		answer := getAnswer{Context: res.Context, Siblings: make([]siblingAnswer, len(res.Siblings))}
		for i, s := range res.Siblings {
			answer.Siblings[i] = siblingAnswer{Value: s.Value, ContentType: contentTypeOf(s)}
			if !s.LastModified.IsZero() {
				t := s.LastModified.UTC()
				answer.Siblings[i].LastModified = &t
			}
		}
		writeJSON(w, status, answer)
	case len(res.Siblings) == 1:
		s := res.Siblings[0]
		h.Set("Content-Type", contentTypeOf(s))
		h.Set("Content-Length", strconv.Itoa(len(s.Value)))
		// Values are user data: browsers must not guess they are HTML.
		h.Set("X-Content-Type-Options", "nosniff")
		if !s.LastModified.IsZero() {
			h.Set("Last-Modified", s.LastModified.UTC().Format(http.TimeFormat))
		}
		w.WriteHeader(status)
		_, _ = w.Write(s.Value) // a write error means the client is gone
	default:
		a.writeSiblings(w, status, res.Siblings)
	}
	return nil
}

// writeSiblings answers the siblings as multipart/mixed, one part each.
func (a *api) writeSiblings(w http.ResponseWriter, status int, siblings []kv.Sibling) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	for _, s := range siblings {
		part := textproto.MIMEHeader{}
		part.Set("Content-Type", contentTypeOf(s))
		if !s.LastModified.IsZero() {
			part.Set("Last-Modified", s.LastModified.UTC().Format(http.TimeFormat))
		}
		pw, err := mw.CreatePart(part)
		if err == nil {
			_, err = pw.Write(s.Value)
		}
		if err != nil {
			// The status is sent: all that is left is to stop.
			a.log.Debug("writing siblings", "err", err)
			return
		}
	}
	if err := mw.Close(); err != nil {
		a.log.Debug("writing siblings", "err", err)
	}
}

func contentTypeOf(s kv.Sibling) string {
	if s.ContentType == "" {
		return defaultContentType
	}
	return s.ContentType
}
