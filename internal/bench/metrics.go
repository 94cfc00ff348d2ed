package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// metricSample is one sample line of Prometheus' text exposition format:
// name{label="value",...} value [timestamp].
type metricSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics parses a node's GET /metrics answer. Comments (# HELP,
// # TYPE) and blank lines are skipped; a malformed sample line is an error
// naming its line.
func parseMetrics(text string) ([]metricSample, error) {
	var samples []metricSample
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d %q: %w", i+1, line, err)
		}
		samples = append(samples, s)
	}
	return samples, nil
}

func parseSample(line string) (metricSample, error) {
	s := metricSample{labels: map[string]string{}}
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return s, fmt.Errorf("no value")
	}
	s.name, line = line[:end], line[end:]
	if line[0] == '{' {
		rest, err := parseLabels(line[1:], s.labels)
		if err != nil {
			return s, err
		}
		line = rest
	}
	fields := strings.Fields(line)
	if len(fields) < 1 || len(fields) > 2 {
		return s, fmt.Errorf("want a value and at most a timestamp after the name")
	}
	v, err := parseValue(fields[0])
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// parseLabels parses `name="value",...}` into labels and returns what
// follows the closing brace. Values are quoted with \\, \" and \n escapes.
func parseLabels(in string, labels map[string]string) (string, error) {
	for {
		in = strings.TrimLeft(in, " \t")
		if strings.HasPrefix(in, "}") {
			return in[1:], nil
		}
		eq := strings.IndexByte(in, '=')
		if eq <= 0 {
			return "", fmt.Errorf("malformed label")
		}
		name := strings.TrimSpace(in[:eq])
		in = strings.TrimLeft(in[eq+1:], " \t")
		if !strings.HasPrefix(in, `"`) {
			return "", fmt.Errorf("label %s: value not quoted", name)
		}
		var val strings.Builder
		i, closed := 1, false
		for ; i < len(in); i++ {
			c := in[i]
			if c == '"' {
				closed = true
				break
			}
			if c == '\\' && i+1 < len(in) {
				i++
				switch in[i] {
				case 'n':
					val.WriteByte('\n')
				default: // \\ and \"
					val.WriteByte(in[i])
				}
				continue
			}
			val.WriteByte(c)
		}
		if !closed {
			return "", fmt.Errorf("label %s: unterminated value", name)
		}
		labels[name] = val.String()
		in = strings.TrimLeft(in[i+1:], " \t")
		if strings.HasPrefix(in, ",") {
			in = in[1:]
		} else if !strings.HasPrefix(in, "}") {
			return "", fmt.Errorf("label %s: want , or } after the value", name)
		}
	}
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q: %w", s, err)
	}
	return v, nil
}

// aaeCounters are the anti-entropy and hint metrics of one node (or, once
// added up, of several): what the AAE run reads before and after the
// convergence to tell what it cost.
type aaeCounters struct {
	// Bytes is tutti_aae_bytes_sent_total by step.
	Bytes map[string]float64
	// Repaired is tutti_aae_keys_repaired_total by direction.
	Repaired map[string]float64
	// Exchanges is tutti_aae_exchanges_total by outcome.
	Exchanges map[string]float64
	// HintsStored is tutti_hints_stored_total; ReadRepairs
	// tutti_read_repairs_total.
	HintsStored float64
	ReadRepairs float64
	// BuildSeconds is tutti_aae_tree_build_seconds (a gauge: 0 until every
	// tree is built). Sums and differences leave it out.
	BuildSeconds float64
}

// Metric names the AAE run reads.
const (
	metricAAEBytes     = "tutti_aae_bytes_sent_total"
	metricAAERepaired  = "tutti_aae_keys_repaired_total"
	metricAAEExchanges = "tutti_aae_exchanges_total"
	metricAAEBuild     = "tutti_aae_tree_build_seconds"
	metricHintsStored  = "tutti_hints_stored_total"
	metricReadRepairs  = "tutti_read_repairs_total"
)

// countersOf picks the AAE run's metrics out of a node's samples.
func countersOf(samples []metricSample) aaeCounters {
	c := aaeCounters{Bytes: map[string]float64{}, Repaired: map[string]float64{}, Exchanges: map[string]float64{}}
	for _, s := range samples {
		switch s.name {
		case metricAAEBytes:
			c.Bytes[s.labels["step"]] += s.value
		case metricAAERepaired:
			c.Repaired[s.labels["direction"]] += s.value
		case metricAAEExchanges:
			c.Exchanges[s.labels["outcome"]] += s.value
		case metricHintsStored:
			c.HintsStored += s.value
		case metricReadRepairs:
			c.ReadRepairs += s.value
		case metricAAEBuild:
			c.BuildSeconds = s.value
		}
	}
	return c
}

// sub returns c - before for every counter: what happened between two
// readings of one process's metrics. BuildSeconds is left zero.
func (c aaeCounters) sub(before aaeCounters) aaeCounters { return c.combine(before, -1) }

// add returns c + o for every counter; BuildSeconds is left zero.
func (c aaeCounters) add(o aaeCounters) aaeCounters { return c.combine(o, 1) }

func (c aaeCounters) combine(o aaeCounters, sign float64) aaeCounters {
	m := func(a, b map[string]float64) map[string]float64 {
		out := make(map[string]float64, len(a))
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] += sign * v
		}
		return out
	}
	return aaeCounters{
		Bytes: m(c.Bytes, o.Bytes), Repaired: m(c.Repaired, o.Repaired), Exchanges: m(c.Exchanges, o.Exchanges),
		HintsStored: c.HintsStored + sign*o.HintsStored, ReadRepairs: c.ReadRepairs + sign*o.ReadRepairs,
	}
}
