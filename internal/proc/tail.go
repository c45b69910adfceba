package proc

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxTail is how much of the end of a file Tail reads.
const maxTail = 64 << 10

// Tail returns the last n lines of the file at path, read from its last
// 64 KiB, or a note naming the file and the error when it cannot be read
// (a tail only decorates another message, so it never fails).
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer func() { _ = f.Close() }() // read-only
	if st, err := f.Stat(); err == nil && st.Size() > maxTail {
		if _, err := f.Seek(st.Size()-maxTail, io.SeekStart); err != nil {
			return fmt.Sprintf("(cannot read %s: %v)", path, err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return TailLines(string(b), n)
}

// TailLines returns the last n lines of text, without a final newline.
func TailLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
