package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/internal/kv"
)

// aaeStatusTimeout bounds status's fetch of each member's anti-entropy
// state, so that one slow node does not hold up the table.
const aaeStatusTimeout = 2 * time.Second

func newRepairCommand() *cobra.Command {
	var (
		f         clientFlags
		partition int
		httpAddr  string
	)
	cmd := &cobra.Command{
		Use:   "repair [--partition P]",
		Short: "Run anti-entropy exchanges of a node's partitions with their peer replicas now",
		Long: `repair asks one node to compare its partitions with their other owners now, rather
than at its next anti-entropy round, and to copy what differs both ways. Without
--partition it repairs every partition the node owns, one at a time; with it, only that
one. It prints one line per exchange (partition, peer, outcome, differing segments,
objects pulled from and pushed to the peer, error) and a total, and exits 1 if any
exchange failed.

The node is the first of --endpoints that answers; its HTTP address comes from the ring
(the member whose gRPC address is that endpoint), or from --http, which skips the ring.
Each partition's repair is one HTTP request (POST /v1/debug/aae/repair) bounded by
--timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("partition") && partition < 0 {
				return fmt.Errorf("--partition %d: a partition is at least 0", partition)
			}
			node, addr := "", httpAddr
			if addr == "" {
				var err error
				if node, addr, err = f.findHTTP(cmd.Context()); err != nil {
					return err
				}
			}
			r := &repairer{out: cmd.OutOrStdout(), client: &http.Client{}, addr: addr, timeout: f.timeout}
			var parts []int
			if cmd.Flags().Changed("partition") {
				parts = []int{partition}
			} else {
				st, err := r.status(cmd.Context())
				if err != nil {
					return err
				}
				node = st.Node
				for _, p := range st.Partitions {
					parts = append(parts, p.Partition)
				}
			}
			return r.run(cmd.Context(), node, parts)
		},
	}
	f.register(cmd.Flags())
	// A partition's exchanges can take longer than a key's request.
	f.timeout = time.Minute
	t := cmd.Flags().Lookup("timeout")
	t.DefValue, t.Usage = f.timeout.String(), "timeout of each partition's repair"
	cmd.Flags().IntVar(&partition, "partition", 0, "repair only this partition (default: every partition the node owns)")
	cmd.Flags().StringVar(&httpAddr, "http", "", "HTTP address of the node to repair (default: found in the ring from the endpoint)")
	return cmd
}

// findHTTP returns the id and HTTP address of the node at the first
// endpoint that answers the ring.
func (f *clientFlags) findHTTP(ctx context.Context) (id, addr string, err error) {
	eps := splitList(f.endpoints)
	if len(eps) == 0 {
		return "", "", fmt.Errorf("no endpoints: set --endpoints or TUTTI_ENDPOINTS")
	}
	var lastErr error
	for _, ep := range eps {
		rctx, cancel := context.WithTimeout(ctx, f.timeout)
		ring, err := fetchRing(rctx, ep)
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		m, err := memberAt(ctx, ring, ep)
		if err != nil {
			return "", "", err
		}
		if addr, err = httpAddrOf(m, ep); err != nil {
			return "", "", err
		}
		return m.Id, addr, nil
	}
	return "", "", lastErr
}

// memberAt returns the member of ring whose gRPC address is endpoint: the
// same address, or the same port on a host that resolves to the member's
// address, or the same port on a member that listens on every address
// (0.0.0.0 or ::) when only one member does.
func memberAt(ctx context.Context, ring *tuttipb.RingResponse, endpoint string) (*tuttipb.RingMember, error) {
	for _, m := range ring.Members {
		if m.GrpcAddr == endpoint {
			return m, nil
		}
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	ips := map[string]bool{host: true}
	if addrs, err := net.DefaultResolver.LookupHost(ctx, host); err == nil {
		for _, a := range addrs {
			ips[a] = true
		}
	}
	var found []*tuttipb.RingMember
	for _, m := range ring.Members {
		mhost, mport, err := net.SplitHostPort(m.GrpcAddr)
		if err != nil || mport != port {
			continue
		}
		if ips[mhost] || unspecified(mhost) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("no member of the ring %s answered has the gRPC address %s: give the node's HTTP address with --http", endpoint, endpoint)
	}
	ids := make([]string, len(found))
	for i, m := range found {
		ids[i] = m.Id
	}
	return nil, fmt.Errorf("members %s all may have the gRPC address %s: give the node's HTTP address with --http", strings.Join(ids, ", "), endpoint)
}

// unspecified reports whether host is empty or a wildcard address.
func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// httpAddrOf is m's HTTP address to dial. A member listening on every
// address (0.0.0.0:8701) is reached on the host of its gRPC address, or
// else on the host of fallback (the endpoint the ring came from).
func httpAddrOf(m *tuttipb.RingMember, fallback string) (string, error) {
	if m.HttpAddr == "" {
		return "", fmt.Errorf("member %s has no HTTP address in the ring", m.Id)
	}
	host, port, err := net.SplitHostPort(m.HttpAddr)
	if err != nil {
		return "", fmt.Errorf("member %s: HTTP address %q: %w", m.Id, m.HttpAddr, err)
	}
	if !unspecified(host) {
		return m.HttpAddr, nil
	}
	for _, a := range []string{m.GrpcAddr, fallback} {
		if h, _, err := net.SplitHostPort(a); err == nil && !unspecified(h) {
			return net.JoinHostPort(h, port), nil
		}
	}
	return m.HttpAddr, nil
}

// httpError is a node's error answer.
type httpError struct {
	status int
	reason string
}

func (e *httpError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.reason, e.status) }

// aaeRequest sends one request to a node's anti-entropy routes and decodes
// its JSON answer into v.
func aaeRequest(ctx context.Context, c *http.Client, method, addr, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
			if len(e.Error) > 200 {
				e.Error = e.Error[:200] + "..."
			}
		}
		return &httpError{status: resp.StatusCode, reason: e.Error}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s %s: malformed answer: %w", method, path, err)
	}
	return nil
}

// repairer runs the repair command's requests against one node.
type repairer struct {
	out     io.Writer
	client  *http.Client
	addr    string
	timeout time.Duration
}

func (r *repairer) status(ctx context.Context) (*kv.AAEStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var st kv.AAEStatus
	if err := aaeRequest(ctx, r.client, http.MethodGet, r.addr, "/v1/debug/aae", &st); err != nil {
		return nil, fmt.Errorf("anti-entropy status of %s: %w", r.addr, err)
	}
	return &st, nil
}

func (r *repairer) repair(ctx context.Context, partition int) (*kv.RepairResult, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var res kv.RepairResult
	path := "/v1/debug/aae/repair?" + url.Values{"partition": {strconv.Itoa(partition)}}.Encode()
	if err := aaeRequest(ctx, r.client, http.MethodPost, r.addr, path, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// repairTotals sums a run's exchanges.
type repairTotals struct {
	exchanges, failed, segments, pulled, pushed int
	outcomes                                    map[string]int
}

// printRow writes one line of repair's table.
func (r *repairer) printRow(partition any, peer, outcome string, segments, pulled, pushed, errText any) {
	line := fmt.Sprintf("%-9v %-12s %-9s %8v %8v %8v  %v", partition, peer, outcome, segments, pulled, pushed, errText)
	fmt.Fprintln(r.out, strings.TrimRight(line, " "))
}

// run repairs parts one by one, printing each exchange as its partition
// ends, then the totals. It fails if any exchange failed.
func (r *repairer) run(ctx context.Context, node string, parts []int) error {
	who := r.addr
	if node != "" {
		who = node + " at " + r.addr
	}
	noun := "partitions"
	if len(parts) == 1 {
		noun = "partition"
	}
	fmt.Fprintf(r.out, "repairing %d %s of %s with its peer replicas\n", len(parts), noun, who)
	r.printRow("partition", "peer", "outcome", "segments", "pulled", "pushed", "error")
	t := repairTotals{outcomes: map[string]int{}}
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := r.repair(ctx, p)
		if err != nil {
			// A node that cannot be reached or has no anti-entropy
			// fails every partition alike: stop at the first.
			var op *net.OpError
			var herr *httpError
			if errors.As(err, &op) && op.Op == "dial" || errors.As(err, &herr) && herr.status == http.StatusNotFound {
				return fmt.Errorf("repairing partition %d on %s: %w", p, who, err)
			}
			r.printRow(p, "-", "failed", "-", "-", "-", err)
			t.exchanges++
			t.failed++
			t.outcomes["failed"]++
			continue
		}
		if len(res.Exchanges) == 0 {
			r.printRow(p, "-", "none", "-", "-", "-", "no peer replica to exchange with")
		}
		for _, x := range res.Exchanges {
			r.printRow(x.Partition, x.Peer, x.Outcome, x.Segments, x.Pulled, x.Pushed, x.Error)
			t.exchanges++
			t.outcomes[x.Outcome]++
			if x.Outcome == "failed" {
				t.failed++
			}
			t.segments += x.Segments
			t.pulled += x.Pulled
			t.pushed += x.Pushed
		}
	}
	busy := ""
	if n := t.outcomes["busy"]; n > 0 {
		busy = fmt.Sprintf(", %d busy", n)
	}
	fmt.Fprintf(r.out, "total: %d exchanges of %d %s: %d equal, %d repaired, %d not ready%s, %d failed; %d segments differed, %d objects pulled, %d pushed\n",
		t.exchanges, len(parts), noun, t.outcomes["equal"], t.outcomes["repaired"], t.outcomes["not_ready"], busy, t.failed, t.segments, t.pulled, t.pushed)
	if t.failed > 0 {
		return fmt.Errorf("%d of %d exchanges failed", t.failed, t.exchanges)
	}
	return nil
}

// aaeCell is what status shows of one member's anti-entropy.
type aaeCell struct{ oldest, trees string }

// fetchAAE fetches the anti-entropy state of every live member of ring at
// once, each within aaeStatusTimeout. via is the endpoint the ring came
// from. A member that is down or does not answer shows "-"; one that
// answers 404 (no anti-entropy) shows "n/a".
func fetchAAE(ctx context.Context, ring *tuttipb.RingResponse, via string) []aaeCell {
	cells := make([]aaeCell, len(ring.Members))
	c := &http.Client{}
	var wg sync.WaitGroup
	for i, m := range ring.Members {
		cells[i] = aaeCell{"-", "-"}
		if !m.Alive {
			continue
		}
		addr, err := httpAddrOf(m, via)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, aaeStatusTimeout)
			defer cancel()
			var st kv.AAEStatus
			err := aaeRequest(ctx, c, http.MethodGet, addr, "/v1/debug/aae", &st)
			var herr *httpError
			switch {
			case errors.As(err, &herr) && herr.status == http.StatusNotFound:
				cells[i] = aaeCell{"n/a", "n/a"}
			case err == nil:
				cells[i] = aaeCellOf(&st)
			}
		}()
	}
	wg.Wait()
	return cells
}

func aaeCellOf(st *kv.AAEStatus) aaeCell {
	cell := aaeCell{trees: fmt.Sprintf("%d/%d", st.TreesBuilt, len(st.Partitions))}
	pairs, never := 0, false
	for _, p := range st.Partitions {
		for _, peer := range p.Peers {
			pairs++
			never = never || peer.LastExchange == nil
		}
	}
	switch {
	case pairs == 0:
		cell.oldest = "no peers"
	case never:
		cell.oldest = "never (" + formatAge(st.OldestUnexchangedSeconds) + ")"
	default:
		cell.oldest = formatAge(st.OldestUnexchangedSeconds)
	}
	if st.Paused {
		// An operator must not take a growing age for a fault.
		cell.oldest += ", paused"
	}
	return cell
}

// formatAge writes an age in seconds in at most two units: 12s, 4m05s,
// 3h07m, 2d05h.
func formatAge(seconds float64) string {
	seconds = min(max(seconds, 0), 1e12) // NaN becomes 0
	s := int64(seconds + 0.5)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}
