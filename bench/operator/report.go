package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/redkube/redkube/internal/textout"
	"github.com/redkube/redkube/test/harness"
)

// Columns of the report.
const (
	colOp  = 0
	colTut = 1
)

// measured is one cell: a value (seconds for times, MiB for memory) and
// its text, or only a text (no value) for what is not a number.
type measured struct {
	v    float64
	ok   bool
	text string
}

func dur(d time.Duration) measured { return measured{d.Seconds(), true, fmtDur(d)} }

func mib(b uint64) measured {
	v := harness.MiB(b)
	return measured{v, true, fmt.Sprintf("%.1f MiB", v)}
}

// since is t - t0, or "not seen" when t is zero.
func since(t0, t time.Time) measured {
	if t.IsZero() {
		return measured{text: "not seen"}
	}
	return dur(t.Sub(t0))
}

func sinceOrErr(t0 time.Time, r timeOrErr) measured {
	if r.err != nil {
		return measured{text: r.err.Error()}
	}
	return since(t0, r.at)
}

func fmtDur(d time.Duration) string {
	if d < time.Second && d > -time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

type row struct {
	section, metric string
	cells           [2]measured
	target          string
}

// report collects the rows in the order they were first set.
type report struct {
	mu    sync.Mutex
	rows  []*row
	notes []string
}

func (r *report) row(section, metric string) *row {
	for _, x := range r.rows {
		if x.section == section && x.metric == metric {
			return x
		}
	}
	x := &row{section: section, metric: metric}
	r.rows = append(r.rows, x)
	return x
}

func (r *report) set(section, metric string, col int, m measured) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.row(section, metric).cells[col] = m
}

// setTarget sets a cell and the row's target ("≤ 2 s", "≤ 200 ms",
// "≤ 50 MiB", "0"), which applies to the operator's column.
func (r *report) setTarget(section, metric string, col int, m measured, target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x := r.row(section, metric)
	x.cells[col] = m
	if target != "" {
		x.target = target
	}
}

func (r *report) setText(section, metric string, col int, s string) {
	r.set(section, metric, col, measured{text: s})
}

func (r *report) setValue(section, metric string, col int, v float64, text, target string) {
	r.setTarget(section, metric, col, measured{v, true, text}, target)
}

func (r *report) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, s)
}

var targetRE = regexp.MustCompile(`^(≤ )?([0-9.]+) ?(ms|s|MiB)?$`)

// verdict compares the operator's cell with the row's target.
func (x *row) verdict() string {
	if x.target == "" {
		return ""
	}
	m := targetRE.FindStringSubmatch(x.target)
	c := x.cells[colOp]
	if m == nil || !c.ok {
		return x.target
	}
	limit, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		return x.target
	}
	if m[3] == "ms" {
		limit /= 1000
	}
	if c.v <= limit {
		return x.target + ": met"
	}
	return x.target + ": MISSED"
}

// ratio is tutorial ÷ operator when both cells are positive values.
func (x *row) ratio() string {
	o, t := x.cells[colOp], x.cells[colTut]
	if !o.ok || !t.ok || o.v <= 0 || t.v <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f×", t.v/o.v)
}

// print writes the table and then the notes to w.
func (r *report) print(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	out := &textout.Writer{W: tw}
	out.Println("\tmeasure\toperator\ttutorial (by hand)\ttutorial ÷ operator\ttarget (operator)")
	section := ""
	for _, x := range r.rows {
		if x.section != section {
			section = x.section
			out.Printf("%s\t\t\t\t\t\n", strings.ToUpper(section))
		}
		cell := func(c measured) string {
			if c.text == "" {
				return "—"
			}
			return c.text
		}
		out.Printf("\t%s\t%s\t%s\t%s\t%s\n", x.metric, cell(x.cells[colOp]), cell(x.cells[colTut]), x.ratio(), x.verdict())
	}
	if err := out.Err(); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	notes := &textout.Writer{W: w}
	for _, n := range r.notes {
		notes.Println("note:", n)
	}
	return notes.Err()
}
