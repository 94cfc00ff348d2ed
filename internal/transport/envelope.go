package transport

import (
	"time"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// Callers may send one request to several replicas at once, and handlers
// may return shared responses, so the transport never writes into messages
// it was given: it wraps their bodies in envelopes of its own. The body is
// shared read-only, which protobuf marshalling permits concurrently.

// requestEnvelope returns a copy of req's fields with the correlation id
// and the deadline the transport chose.
func requestEnvelope(req *tuttipb.PeerRequest, id uint64, deadlineUnixNano int64) *tuttipb.PeerRequest {
	return &tuttipb.PeerRequest{
		Id:               id,
		From:             req.GetFrom(),
		DeadlineUnixNano: deadlineUnixNano,
		Body:             req.GetBody(),
	}
}

// responseEnvelope returns a copy of resp's fields with the correlation id
// of the request it answers.
func responseEnvelope(resp *tuttipb.PeerResponse, id uint64) *tuttipb.PeerResponse {
	return &tuttipb.PeerResponse{
		Id:    id,
		Error: resp.GetError(),
		Code:  resp.GetCode(),
		Body:  resp.GetBody(),
	}
}

// errorResponse is the answer to a request the handler never saw.
func errorResponse(id uint64, code tuttipb.ErrorCode, msg string) *tuttipb.PeerResponse {
	return &tuttipb.PeerResponse{Id: id, Error: msg, Code: code}
}

// effectiveDeadline merges the deadline carried in a request with ctx's:
// the earlier wins; 0 means none.
func effectiveDeadline(requested int64, ctxDeadline time.Time, hasCtxDeadline bool) int64 {
	if !hasCtxDeadline {
		return requested
	}
	d := ctxDeadline.UnixNano()
	if requested == 0 || d < requested {
		return d
	}
	return requested
}
