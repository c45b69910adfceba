package localkubecli

import (
	"fmt"
	"io"
)

// textWriter prints lines of text to w and keeps the first write error, so
// a block of output (a table, a report) is checked once at its end.
type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

func (t *textWriter) println(args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintln(t.w, args...)
	}
}
