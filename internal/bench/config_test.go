package bench

import (
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestWorkloadMixes(t *testing.T) {
	const draws = 100000
	for name, wantRead := range map[string]float64{"a": 0.5, "b": 0.95, "c": 1, "A": 0.5, "w": 0, "W": 0} {
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
		if math.Abs(got-wantRead) > 0.01 || (wantRead == 1 && reads != draws) || (wantRead == 0 && reads != 0) {
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

func TestFailoverValidation(t *testing.T) {
	w, _ := ParseWorkload("w")
	good := Config{
		Workload: w, Records: 10, Duration: 20 * time.Second, Concurrency: 1, Bucket: "b",
		Failover: &Failover{KillAfter: 5 * time.Second},
	}
	if proto, targets, err := good.validate(); err != nil || proto != protocolGRPC || targets != nil {
		t.Fatalf("validate = %v %v %v", proto, targets, err)
	}
	h := good
	h.Failover = &Failover{KillAfter: 5 * time.Second, Protocol: "http", Nodes: 5, KillNode: 1, RestartAfter: time.Minute}
	if proto, _, err := h.validate(); err != nil || proto != protocolHTTP {
		t.Errorf("http failover validate = %v %v", proto, err)
	}
	refused(t, func() Config {
		cfg := good
		fo := *good.Failover
		cfg.Failover = &fo
		return cfg
	}, map[string]invalid{
		"endpoints":         {func(c *Config) { c.Endpoints = []string{"grpc://a:1"} }, "cannot be used with --endpoints"},
		"read only":         {func(c *Config) { c.Workload, _ = ParseWorkload("c") }, "has no writes"},
		"two nodes":         {func(c *Config) { c.Failover.Nodes = 2 }, "nodes must be 3 to 9"},
		"no kill-after":     {func(c *Config) { c.Failover.KillAfter = 0 }, "kill-after must be positive"},
		"short duration":    {func(c *Config) { c.Duration = 7 * time.Second }, "must be longer than kill-after 5s plus the 2s"},
		"kill-node 4 of 3":  {func(c *Config) { c.Failover.KillNode = 4 }, "kill-node must be 1 to 3"},
		"negative restart":  {func(c *Config) { c.Failover.RestartAfter = -time.Second }, "restart-after must not be negative"},
		"restart too early": {func(c *Config) { c.Failover.RestartAfter = time.Second }, "at least the 2s failover window"},
		"protocol":          {func(c *Config) { c.Failover.Protocol = "tcp" }, "protocol must be grpc or http"},
		"common checks too": {func(c *Config) { c.Records = 0 }, "records must be at least 1"},
	})
}

// invalid is a change that makes a valid Config invalid, and what the
// error must say.
type invalid struct {
	mutate func(*Config)
	want   string
}

// refused checks that each case, applied to a fresh valid Config, fails
// validation with an error saying what it wants.
func refused(t *testing.T, fresh func() Config, cases map[string]invalid) {
	t.Helper()
	for name, c := range cases {
		cfg := fresh()
		c.mutate(&cfg)
		if _, _, err := cfg.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, c.want)
		}
	}
}

func TestFailoverFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--kill-after", "2s", "--endpoints", "grpc://127.0.0.1:9701"}, "--kill-after starts a cluster of its own and kills one of its nodes, so it cannot be used with --endpoints"},
		{[]string{"--endpoints", "grpc://127.0.0.1:9701", "--restart-after", "60s"}, "--restart-after needs --kill-after"},
		{[]string{"--restart-after", "60s"}, "--restart-after needs --kill-after"},
		{[]string{"--nodes", "4", "--endpoints", "grpc://127.0.0.1:9701"}, "--nodes needs --kill-after"},
		{[]string{"--keep"}, "--keep needs --kill-after"},
		{nil, "no endpoints: give --endpoints"},
		{[]string{"--workload", "w", "--kill-after", "5s", "--duration", "5s"}, "duration 5s must be longer than kill-after 5s"},
		{[]string{"--workload", "c", "--kill-after", "1s"}, "workload c has no writes"},
		{[]string{"--workload", "w", "--kill-after", "1s", "--kill-node", "7"}, "kill-node must be 1 to 3"},
		{[]string{"--workload", "w", "--kill-after", "0s"}, "kill-after must be positive"},
	} {
		cmd := NewCommand()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(c.args)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}
