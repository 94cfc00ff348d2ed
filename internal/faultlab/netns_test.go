package faultlab

import (
	"strings"
	"testing"
)

// TestTagPID: removeStale must recognise exactly the namespaces a Lab
// makes, or it could delete another program's.
func TestTagPID(t *testing.T) {
	n := &network{tag: "fl2hwcg_1a2b", a: 120, b: 7, nodes: 3}
	for _, name := range []string{n.switchNS(), n.nodeNS(0), n.nodeNS(2)} {
		if pid, ok := tagPID(name); !ok || pid != 4194304 {
			t.Errorf("tagPID(%q) = %d, %v; want 4194304", name, pid, ok)
		}
	}
	for _, name := range []string{"", "fl", "relh1", "flabc_1a2bx", "fl2ihzk_1a2b", "fl2ihzk_zzzzsw", "fl2ihzk_1a2bn", "fl2ihzk_probe", "docker_1a2bsw", "fl_1a2bsw"} {
		if pid, ok := tagPID(name); ok {
			t.Errorf("tagPID(%q) = %d, want no match", name, pid)
		}
	}
}

// TestNames: interface names must fit Linux's 15 bytes even for the
// largest pid and node number.
func TestNames(t *testing.T) {
	n := &network{tag: "fl2hwcg_ffff", a: 249, b: 255, nodes: 5}
	for _, name := range []string{n.bridge(), n.hostLink(), n.uplink(), n.nodeLink(4)} {
		if len(name) > 15 {
			t.Errorf("interface name %q is %d bytes, Linux allows 15", name, len(name))
		}
	}
	if got := n.nodeIP(4); got != "10.249.255.5" {
		t.Errorf("nodeIP(4) = %s", got)
	}
}

func TestDropRules(t *testing.T) {
	n := &network{tag: "fl1_0001", a: 100, b: 1, nodes: 3}
	script := n.dropRules([]int{1}, []int{2})
	for _, want := range []string{
		"table inet fl1_0001 {",
		"add rule inet fl1_0001 output ip daddr 10.100.1.2 drop",
		"add rule inet fl1_0001 input ip saddr 10.100.1.3 drop",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "10.100.1.254") {
		t.Errorf("script touches the test process's address:\n%s", script)
	}
}
