package cli

import (
	"errors"
	"fmt"
	"strings"
)

// Exit codes of rcctl.
const (
	// ExitOK means the command did what was asked (or found no problem).
	ExitOK = 0
	// ExitFailure means a problem was found (check) or an operation failed.
	ExitFailure = 1
	// ExitUsage means the command line was wrong; nothing was changed.
	ExitUsage = 2
)

// usageError marks an error caused by the command line itself.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usage-class error (exit status 2).
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// errProblemsFound is returned by commands that report problems (check) after
// printing them, so the exit status is 1 without a second message.
var errProblemsFound = errors.New("problems found")

// ExitCode maps an error returned by a command to rcctl's exit status.
func ExitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	default:
		return ExitFailure
	}
}

// oneLine renders err as a single line: wrapped multi-line messages (for
// example errors.Join) are folded with "; ".
func oneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	s = strings.ReplaceAll(s, "\r", "")
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ; ")), " ")
}
