package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/metrics"
)

func TestGetProps(t *testing.T) {
	e := newEnv(t)
	e.svc.PropsResult = kv.Props{Conflict: kv.LWW, R: 2, W: kv.All, DW: kv.Zero, PR: kv.One, PW: kv.Majority, Sloppy: true}
	rec := e.do("GET", "/v1/buckets/b%2Fx/props", nil)
	if rec.Code != 200 {
		t.Fatalf("status %d; body %s", rec.Code, rec.Body)
	}
	want := `{"conflict":"lww","r":2,"w":"all","dw":0,"pr":"one","pw":"quorum","sloppy":true}`
	if got := strings.TrimSpace(rec.Body.String()); got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	if len(e.svc.GetPropsCalls) != 1 || string(e.svc.GetPropsCalls[0]) != "b/x" {
		t.Errorf("service asked for %q", e.svc.GetPropsCalls)
	}
	if got := e.count(metrics.OpProps, metrics.OutcomeOK); got != 1 {
		t.Errorf("props/ok = %v", got)
	}
}

func TestSetPropsMergesGivenFields(t *testing.T) {
	e := newEnv(t)
	rec := e.do("PUT", "/v1/buckets/b/props", strings.NewReader(`{"conflict": "lww", "w": "all", "dw": 2}`))
	if rec.Code != 200 {
		t.Fatalf("status %d; body %s", rec.Code, rec.Body)
	}
	want := kv.DefaultProps()
	want.Conflict, want.W, want.DW = kv.LWW, kv.All, 2
	if len(e.svc.SetPropsCalls) != 1 {
		t.Fatalf("SetProps called %d times", len(e.svc.SetPropsCalls))
	}
	if got := e.svc.SetPropsCalls[0]; string(got.Bucket) != "b" || !reflect.DeepEqual(got.Props, want) {
		t.Errorf("SetProps(%q, %+v), want %+v", got.Bucket, got.Props, want)
	}
	var answered kv.Props
	if err := json.Unmarshal(rec.Body.Bytes(), &answered); err != nil || answered != want {
		t.Errorf("answer %s (%v), want %+v", rec.Body, err, want)
	}
}

func TestSetPropsRejectsInvalid(t *testing.T) {
	for _, body := range []string{
		``,
		`   `,
		`{"conflict": "newest"}`,
		`{"r": 4}`,
		`{"r": 0}`,
		`{"w": "most"}`,
		`{"pw": null}`,
		`{"colour": "blue"}`,
		`{"r": 1`,
		`{"r": 1} {"w": 2}`,
		`[1, 2]`,
		`"lww"`,
	} {
		e := newEnv(t)
		rec := e.do("PUT", "/v1/buckets/b/props", strings.NewReader(body))
		if rec.Code != 400 {
			t.Errorf("body %q: status %d, want 400", body, rec.Code)
			continue
		}
		errorOf(t, rec)
		if len(e.svc.SetPropsCalls) != 0 {
			t.Errorf("body %q: SetProps called", body)
		}
	}
}

func TestSetPropsBodyOverLimit(t *testing.T) {
	e := newEnv(t)
	rec := e.do("PUT", "/v1/buckets/b/props", strings.NewReader(`{"conflict":"lww"`+strings.Repeat(" ", maxPropsBytes)+`}`))
	if rec.Code != 413 {
		t.Errorf("status %d, want 413", rec.Code)
	}
	if e.svc.DataCalls() != 0 {
		t.Error("service called for an over-limit props body")
	}
}

func TestSetPropsServiceErrors(t *testing.T) {
	e := newEnv(t)
	e.svc.Err = kv.QuorumError("metadata not gossiped", 1, 0)
	if rec := e.do("PUT", "/v1/buckets/b/props", strings.NewReader(`{"w":1}`)); rec.Code != 503 {
		t.Errorf("status %d, want 503", rec.Code)
	}
	if rec := e.do("GET", "/v1/buckets/b/props", nil); rec.Code != 503 {
		t.Errorf("status %d, want 503", rec.Code)
	}
}

func TestClusterMembers(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", "/v1/cluster/members", nil)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	var members []struct {
		ID        string `json:"id"`
		Zone      string `json:"zone"`
		Addresses struct {
			HTTP, GRPC, Gossip string
		} `json:"addresses"`
		Alive      bool `json:"alive"`
		Partitions int  `json:"partitions"`
		Self       bool `json:"self"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &members); err != nil {
		t.Fatal(err)
	}
	if len(members) != 3 {
		t.Fatalf("members %+v", members)
	}
	m := members[1]
	if m.ID != "n2" || m.Zone != "b" || m.Alive || m.Partitions != 4 || m.Self ||
		m.Addresses.HTTP != "10.0.0.2:8080" || m.Addresses.GRPC != "10.0.0.2:8081" || m.Addresses.Gossip != "10.0.0.2:7946" {
		t.Errorf("member n2 = %+v", m)
	}
	if !members[0].Self || !members[0].Alive {
		t.Errorf("member n1 = %+v, want self and alive", members[0])
	}
	if got := e.count(metrics.OpCluster, metrics.OutcomeOK); got != 1 {
		t.Errorf("cluster/ok = %v", got)
	}
}

func TestClusterRing(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", "/v1/cluster/ring", nil)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	var ring struct {
		Partitions int    `json:"partitions"`
		N          int    `json:"n"`
		Version    uint64 `json:"version"`
		Ring       []struct {
			Partition int      `json:"partition"`
			Owners    []string `json:"owners"`
		} `json:"ring"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &ring); err != nil {
		t.Fatal(err)
	}
	if ring.Partitions != 4 || ring.N != 3 || ring.Version != 9 || len(ring.Ring) != 4 {
		t.Fatalf("ring %+v", ring)
	}
	for p, want := range e.svc.ClusterResult.Owners {
		if ring.Ring[p].Partition != p || !reflect.DeepEqual(ring.Ring[p].Owners, want) {
			t.Errorf("partition %d = %+v, want owners %v", p, ring.Ring[p], want)
		}
	}
}

func TestClusterRoutesTakeNoQuery(t *testing.T) {
	e := newEnv(t)
	for _, target := range []string{"/v1/cluster/ring?x=1", "/v1/cluster/members?r=1"} {
		if rec := e.do("GET", target, nil); rec.Code != 400 {
			t.Errorf("GET %s = %d, want 400", target, rec.Code)
		}
	}
}

func TestDebugLocal(t *testing.T) {
	e := newEnv(t)
	e.svc.LocalResult = &kv.LocalCopy{Node: "n2", Copy: &kv.LocalObject{Context: "ctx", Versions: []kv.LocalVersion{
		{Dot: "a1:3", Value: []byte("v"), ContentType: "text/plain", LastModified: time.Unix(5, 0).UTC()},
	}}, Hints: map[string]*kv.LocalObject{"n3": {Context: "c3", Versions: []kv.LocalVersion{{Dot: "a1:4", Deleted: true, LastModified: time.Unix(6, 0).UTC()}}}}}
	rec := e.do("GET", "/v1/debug/local/b/k", nil)
	if rec.Code != 200 {
		t.Fatalf("status %d; body %s", rec.Code, rec.Body)
	}
	want := `{"node":"n2","copy":{"context":"ctx","versions":[{"dot":"a1:3","value":"dg==","content_type":"text/plain","last_modified":"1970-01-01T00:00:05Z"}]},` +
		`"hints":{"n3":{"context":"c3","versions":[{"dot":"a1:4","last_modified":"1970-01-01T00:00:06Z","deleted":true}]}}}`
	if got := strings.TrimSpace(rec.Body.String()); got != want {
		t.Errorf("body %s\nwant %s", got, want)
	}
	if rec := e.do("POST", "/v1/debug/local/b/k", nil); rec.Code != 405 {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
	if rec := e.do("GET", "/v1/debug/local/b/k?x=1", nil); rec.Code != 400 {
		t.Errorf("unknown parameter: status %d, want 400", rec.Code)
	}
	long := strings.Repeat("k", e.svc.LimitsResult.MaxKeyBytes+1)
	if rec := e.do("GET", "/v1/debug/local/b/"+long, nil); rec.Code != 414 && rec.Code != 400 {
		t.Errorf("over-long key: status %d, want 414 or 400", rec.Code)
	}
}

func TestGetRepairParameter(t *testing.T) {
	e := newEnv(t)
	for q, want := range map[string]bool{"": false, "?repair=async": false, "?repair=sync": true} {
		before := len(e.svc.Gets)
		if rec := e.do("GET", "/v1/buckets/b/keys/k"+q, nil); rec.Code != 404 {
			t.Fatalf("%q: status %d", q, rec.Code)
		}
		if len(e.svc.Gets) != before+1 || e.svc.Gets[before].RepairSync != want {
			t.Fatalf("%q: RepairSync passed as %v, want %v", q, e.svc.Gets[before].RepairSync, want)
		}
	}
	before := len(e.svc.Gets)
	if rec := e.do("GET", "/v1/buckets/b/keys/k?repair=later", nil); rec.Code != 400 || len(e.svc.Gets) != before {
		t.Fatalf("repair=later: status %d, service called %d times", rec.Code, len(e.svc.Gets)-before)
	}
}
