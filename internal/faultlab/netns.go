package faultlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// tagPrefix starts every name a Lab creates; removeStale looks for it.
const tagPrefix = "fl"

// commandTimeout bounds each ip or nft command, so that a wedged kernel
// call fails the test instead of hanging it.
const commandTimeout = 20 * time.Second

// network is one Lab's virtual network: a switch namespace holding a
// bridge, one namespace per node with a veth into the bridge, and a veth
// from the root namespace into the bridge so the test process reaches every
// node. Every name starts with tag.
type network struct {
	tag   string
	a, b  int // the subnet is 10.a.b.0/24
	nodes int
	// undo holds the commands that remove what up created, in creation
	// order; down runs them backwards, so a half-built network is removed
	// as cleanly as a whole one.
	undo [][]string
}

// newNetwork picks a tag and a subnet no route of this machine uses yet.
// The random part keeps two Labs of one process apart; the pid keeps
// processes apart and lets removeStale recognise a dead run's leftovers.
func newNetwork(nodes int) (*network, error) {
	routes, err := command(nil, "ip", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, err
	}
	for range 50 {
		var r [2]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, err
		}
		n := &network{
			tag:   fmt.Sprintf("%s%s_%04x", tagPrefix, strconv.FormatInt(int64(os.Getpid()), 36), binary.BigEndian.Uint16(r[:])),
			a:     100 + int(r[0])%150,
			b:     int(r[1]),
			nodes: nodes,
		}
		if !strings.Contains(routes, fmt.Sprintf("10.%d.%d.", n.a, n.b)) {
			return n, nil
		}
	}
	return nil, errors.New("no free 10.x.y.0/24 subnet found")
}

func (n *network) switchNS() string    { return n.tag + "sw" }
func (n *network) bridge() string      { return n.tag + "br" }
func (n *network) hostLink() string    { return n.tag + "h" }
func (n *network) uplink() string      { return n.tag + "u" }
func (n *network) nodeNS(i int) string { return fmt.Sprintf("%sn%d", n.tag, i+1) }
func (n *network) nodeLink(i int) string {
	return fmt.Sprintf("%sv%d", n.tag, i+1)
}

// nodeIP is node i's address (i counts from 0).
func (n *network) nodeIP(i int) string { return fmt.Sprintf("10.%d.%d.%d", n.a, n.b, i+1) }

// hostIP is the root namespace's address on the bridge.
func (n *network) hostIP() string { return fmt.Sprintf("10.%d.%d.254", n.a, n.b) }

// table names the nftables table a partition adds in a node's namespace.
func (n *network) table() string { return n.tag }

// up builds the network with the ip commands verified on the project's
// test machines (the reliability research, part 4), with the bridge in a
// namespace of its own.
func (n *network) up() error {
	sw := n.switchNS()
	steps := [][]string{
		{"netns", "add", sw},
		{"-n", sw, "link", "set", "lo", "up"},
		{"-n", sw, "link", "add", n.bridge(), "type", "bridge"},
		{"-n", sw, "link", "set", n.bridge(), "up"},
		{"link", "add", n.hostLink(), "type", "veth", "peer", "name", n.uplink(), "netns", sw},
		{"-n", sw, "link", "set", n.uplink(), "master", n.bridge(), "up"},
		{"addr", "add", n.hostIP() + "/24", "dev", n.hostLink()},
		{"link", "set", n.hostLink(), "up"},
	}
	for i := range n.nodes {
		ns := n.nodeNS(i)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"link", "add", n.nodeLink(i), "netns", sw, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"-n", sw, "link", "set", n.nodeLink(i), "master", n.bridge(), "up"},
			[]string{"-n", ns, "addr", "add", n.nodeIP(i) + "/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if _, err := command(nil, "ip", s...); err != nil {
			return err
		}
		n.remember(s)
	}
	return nil
}

// remember records how to undo a step that created something that does
// not vanish with a namespace: the namespaces themselves and the root
// namespace's veth.
func (n *network) remember(step []string) {
	switch {
	case len(step) == 3 && step[0] == "netns" && step[1] == "add":
		n.undo = append(n.undo, []string{"netns", "del", step[2]})
	case len(step) > 2 && step[0] == "link" && step[1] == "add" && step[2] == n.hostLink():
		n.undo = append(n.undo, []string{"link", "del", n.hostLink()})
	}
}

// down removes everything up created. It goes on after a failure, so that
// one stuck step leaves as little behind as possible.
func (n *network) down() error {
	var errs []error
	for i := len(n.undo) - 1; i >= 0; i-- {
		if _, err := command(nil, "ip", n.undo[i]...); err != nil {
			errs = append(errs, err)
		}
	}
	n.undo = nil
	return errors.Join(errs...)
}

// nft runs an nftables script inside node i's namespace.
func (n *network) nft(i int, script string) error {
	_, err := command(strings.NewReader(script), "ip", "netns", "exec", n.nodeNS(i), "nft", "-f", "-")
	return err
}

// dropRules is the nftables script that makes node i drop packets to the
// nodes of outputTo and from the nodes of inputFrom. The table and chains are declared, not added, so the script works
// whether or not an earlier partition created them.
func (n *network) dropRules(outputTo, inputFrom []int) string {
	var s strings.Builder
	fmt.Fprintf(&s, "table inet %s {\n", n.table())
	s.WriteString("\tchain input { type filter hook input priority 0; policy accept; }\n")
	s.WriteString("\tchain output { type filter hook output priority 0; policy accept; }\n}\n")
	for _, p := range outputTo {
		fmt.Fprintf(&s, "add rule inet %s output ip daddr %s drop\n", n.table(), n.nodeIP(p))
	}
	for _, p := range inputFrom {
		fmt.Fprintf(&s, "add rule inet %s input ip saddr %s drop\n", n.table(), n.nodeIP(p))
	}
	return s.String()
}

// healScript removes the partition table; declaring it first makes the
// delete succeed when there was no partition.
func (n *network) healScript() string {
	return fmt.Sprintf("table inet %s {}\ndelete table inet %s\n", n.table(), n.table())
}

// command runs name with args (and stdin, when not nil) and returns its
// output; the error quotes the command and what it printed.
func command(stdin *strings.Reader, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// removeStale deletes the namespaces of earlier runs whose process is gone
// (a test binary killed by a timeout runs no cleanup). Deleting a run's
// switch namespace also removes its root-namespace veth. Namespaces of live
// processes, including parallel runs, are left alone.
func removeStale() error {
	out, err := command(nil, "ip", "netns", "list")
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, ok := tagPID(name)
		if !ok || pid == os.Getpid() || processExists(pid) {
			continue
		}
		if _, err := command(nil, "ip", "netns", "del", name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tagPID reads the pid out of a namespace name a Lab made:
// "fl" + base-36 pid + "_" + 4 hex digits + "sw" or "n" + node number.
func tagPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, tagPrefix)
	if !ok {
		return 0, false
	}
	pid36, rest, ok := strings.Cut(rest, "_")
	if !ok || len(rest) < 6 {
		return 0, false
	}
	if _, err := strconv.ParseUint(rest[:4], 16, 16); err != nil {
		return 0, false
	}
	suffix := rest[4:]
	if suffix != "sw" {
		num, ok := strings.CutPrefix(suffix, "n")
		if _, err := strconv.Atoi(num); !ok || err != nil {
			return 0, false
		}
	}
	pid, err := strconv.ParseInt(pid36, 36, 32)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return int(pid), true
}

// processExists says whether a process with this pid is running.
func processExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}
