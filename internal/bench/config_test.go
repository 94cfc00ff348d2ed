package bench

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestWorkloadMixes(t *testing.T) {
	const draws = 100000
	for name, wantRead := range map[string]float64{"a": 0.5, "b": 0.95, "c": 1, "A": 0.5} {
		w, err := ParseWorkload(name)
		if err != nil {
			t.Fatal(err)
		}
		if w.ReadProportion+w.UpdateProportion != 1 {
			t.Errorf("workload %s proportions sum to %v", name, w.ReadProportion+w.UpdateProportion)
		}
		r := rand.New(rand.NewPCG(11, 12))
		reads := 0
		for i := 0; i < draws; i++ {
			switch w.next(r) {
			case opRead:
				reads++
			case opUpdate:
			default:
				t.Fatalf("workload %s drew an insert", name)
			}
		}
		got := float64(reads) / draws
		if math.Abs(got-wantRead) > 0.01 || (wantRead == 1 && reads != draws) {
			t.Errorf("workload %s: %.4f reads, want %.2f", name, got, wantRead)
		}
	}
	if _, err := ParseWorkload("d"); err == nil {
		t.Error("workload d accepted")
	}
}

func TestConfigValidation(t *testing.T) {
	good := Config{
		Endpoints: []string{"grpc://127.0.0.1:9701", "grpc://127.0.0.1:9702"},
		Workload:  Workload{Name: "a", ReadProportion: 0.5, UpdateProportion: 0.5},
		Records:   10, Duration: time.Second, Concurrency: 1, ValueSize: 10, Bucket: "b",
	}
	proto, targets, err := good.validate()
	if err != nil || proto != protocolGRPC || len(targets) != 2 || targets[1] != "127.0.0.1:9702" {
		t.Fatalf("validate = %v %v %v", proto, targets, err)
	}
	h := good
	h.Endpoints = []string{"http://127.0.0.1:8701/"}
	if proto, targets, err := h.validate(); err != nil || proto != protocolHTTP || targets[0] != "http://127.0.0.1:8701" {
		t.Errorf("http validate = %v %v %v", proto, targets, err)
	}
	for name, mutate := range map[string]func(*Config){
		"mixed schemes":   func(c *Config) { c.Endpoints = []string{"grpc://a:1", "http://a:2"} },
		"unknown scheme":  func(c *Config) { c.Endpoints = []string{"tcp://a:1"} },
		"no scheme":       func(c *Config) { c.Endpoints = []string{"127.0.0.1:9701"} },
		"a path":          func(c *Config) { c.Endpoints = []string{"http://a:1/v1"} },
		"no endpoints":    func(c *Config) { c.Endpoints = nil },
		"no records":      func(c *Config) { c.Records = 0 },
		"no duration":     func(c *Config) { c.Duration = 0 },
		"no workers":      func(c *Config) { c.Concurrency = 0 },
		"negative values": func(c *Config) { c.ValueSize = -1 },
		"no bucket":       func(c *Config) { c.Bucket = "" },
		"no workload":     func(c *Config) { c.Workload = Workload{} },
	} {
		c := good
		mutate(&c)
		if _, _, err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
