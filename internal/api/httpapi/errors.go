package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/metrics"
)

// errorBody is the JSON form of every error answer. Needed and Answered are
// set for unmet quorums only.
type errorBody struct {
	Error    string `json:"error"`
	Needed   *int   `json:"needed,omitempty"`
	Answered *int   `json:"answered,omitempty"`
}

// statusOf maps a kv.Error kind to its HTTP status.
func statusOf(k kv.Kind) int {
	switch k {
	case kv.BadRequest:
		return http.StatusBadRequest
	case kv.TooLarge:
		return http.StatusRequestEntityTooLarge
	case kv.NameTooLong:
		return http.StatusRequestURITooLong
	case kv.Unavailable:
		return http.StatusServiceUnavailable
	case kv.NotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// fail answers err and records its outcome. Internal faults are logged and
// answered without detail.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	stateOf(r).outcome = metrics.OutcomeOf(err)
	status, body := a.errorAnswer(r, err)
	writeJSON(w, status, body)
}

func (a *api) errorAnswer(r *http.Request, err error) (int, errorBody) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, errorBody{Error: "timeout"}
	case errors.Is(err, context.Canceled):
		// Usually the client went away and never reads this.
		return http.StatusServiceUnavailable, errorBody{Error: "canceled"}
	}
	e := kv.AsError(err)
	status := statusOf(e.Kind)
	if status == http.StatusInternalServerError {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.EscapedPath(), "err", err)
		return status, errorBody{Error: "internal error"}
	}
	body := errorBody{Error: e.Reason}
	if e.Kind == kv.Unavailable && e.Needed > 0 {
		needed, answered := e.Needed, e.Answered
		body.Needed, body.Answered = &needed, &answered
	}
	return status, body
}
