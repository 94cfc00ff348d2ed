package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/tutti-kv/tutti/internal/kv"
)

func (a *api) getProps(w http.ResponseWriter, r *http.Request) error {
	bucket, err := bucketOf(r, a.svc.Limits())
	if err != nil {
		return err
	}
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	p, err := a.svc.GetProps(r.Context(), bucket)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// setProps merges the fields of the JSON body over the bucket's current
// properties, validates the result and stores it.
func (a *api) setProps(w http.ResponseWriter, r *http.Request) error {
	bucket, err := bucketOf(r, a.svc.Limits())
	if err != nil {
		return err
	}
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	body, err := readBody(w, r, maxPropsBytes)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return kv.Errorf(kv.BadRequest, "body must be a JSON object of properties")
	}
	p, err := a.svc.GetProps(r.Context(), bucket)
	if err != nil {
		return err
	}
	if err := mergeProps(&p, body); err != nil {
		return err
	}
	if err := p.Validate(a.svc.Cluster().N); err != nil {
		return kv.Errorf(kv.BadRequest, "invalid properties: %v", err)
	}
	if err := a.svc.SetProps(r.Context(), bucket, p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// mergeProps decodes body over p: fields the body names replace p's,
// others stay. Unknown fields and trailing data are errors.
func mergeProps(p *kv.Props, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return kv.Errorf(kv.BadRequest, "malformed properties: %v", err)
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		return kv.Errorf(kv.BadRequest, "malformed properties: data after the JSON object")
	}
	return nil
}
