// Package textout prints human-readable output (tables, reports, usage
// text) and keeps the first write error, so a block of output is checked
// once at its end instead of after every line.
package textout

import (
	"fmt"
	"io"
)

// Writer prints to W and remembers the first write error; later writes are
// skipped once one failed.
type Writer struct {
	// W is where the text goes.
	W   io.Writer
	err error
}

// Printf writes a formatted string.
func (t *Writer) Printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.W, format, args...)
	}
}

// Println writes its arguments followed by a newline.
func (t *Writer) Println(args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintln(t.W, args...)
	}
}

// Err returns the first write error, or nil.
func (t *Writer) Err() error { return t.err }
