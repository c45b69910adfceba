package harness

import (
	"strconv"
	"strings"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	// Name is the metric's name (with a histogram's or summary's suffix).
	Name string
	// Labels are the sample's labels, empty when it has none.
	Labels map[string]string
	// Value is the sample's value.
	Value float64
}

// ParseMetrics reads the samples of the Prometheus text format, as
// Operator.Metrics returns it, skipping comments and lines without a
// number at the end. Samples must not carry a timestamp, nor label values
// escaped quotes, which the manager's never do.
func ParseMetrics(text string) []Sample {
	var out []Sample
	for l := range strings.Lines(text) {
		l = strings.TrimSuffix(l, "\n")
		if l == "" || l[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(l, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[sp+1:], 64)
		if err != nil {
			continue
		}
		s := Sample{Labels: map[string]string{}, Value: v}
		head := l[:sp]
		if i := strings.IndexByte(head, '{'); i >= 0 {
			s.Name = head[:i]
			for _, kv := range strings.Split(strings.TrimSuffix(head[i+1:], "}"), ",") {
				if k, val, ok := strings.Cut(kv, "="); ok {
					s.Labels[k] = strings.Trim(val, `"`)
				}
			}
		} else {
			s.Name = head
		}
		out = append(out, s)
	}
	return out
}
