package nodeagent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Container log files. <pod folder>/containers/<name>/log holds the current
// (or last) instance's output; when the container restarts it becomes
// log.previous, which `kubectl logs --previous` reads.
//
// Lines are written in the CRI logging format kubelet reads
// ("<RFC3339Nano> <stdout|stderr> <F|P> <content>"): the agent reads the
// process's stdout and stderr from pipes and stamps every line when it
// arrives. With Config.KeepPodsOnExit the process writes to the file
// directly instead (a pipe would break when the agent restarts), so those
// lines carry no timestamp or stream; readers take such lines as stdout
// with an unknown time.
const (
	logFileName         = "log"
	previousLogFileName = "log.previous"
	// maxLogLine is the longest content one CRI line carries; longer lines
	// are split into partial (P) lines, as containerd does.
	maxLogLine = 16 << 10
)

func containerLogPath(podFolder, container string, previous bool) string {
	name := logFileName
	if previous {
		name = previousLogFileName
	}
	return filepath.Join(podFolder, "containers", container, name)
}

// rotateLog keeps the log of the instance that just ended as log.previous
// (replacing the one before it), so the next instance starts a fresh file.
func rotateLog(cdir string) error {
	err := os.Rename(filepath.Join(cdir, logFileName), filepath.Join(cdir, previousLogFileName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// logWriter appends CRI-format lines from several streams to one file.
type logWriter struct {
	mu  sync.Mutex
	f   *os.File
	now func() time.Time
}

// copyStream reads r until EOF and writes it line by line as stream.
// Errors writing the file drop the output: a full disk must not block the
// container on a full pipe.
func (lw *logWriter) copyStream(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLogLine)
	var buf []byte
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tag, content := "P", line
			if line[len(line)-1] == '\n' {
				tag, content = "F", line[:len(line)-1]
			}
			buf = buf[:0]
			buf = lw.now().UTC().AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, ' ')
			buf = append(buf, stream...)
			buf = append(buf, ' ')
			buf = append(buf, tag...)
			buf = append(buf, ' ')
			buf = append(buf, content...)
			buf = append(buf, '\n')
			lw.mu.Lock()
			_, _ = lw.f.Write(buf)
			lw.mu.Unlock()
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// logEntry is one parsed line of a container log file.
type logEntry struct {
	ts     time.Time // zero when the line was written without one
	stream string    // "stdout" or "stderr"
	// content is the output, with its newline unless the line was partial.
	content []byte
}

// parseLogLine parses one line of a log file (without its newline). Lines
// not in the CRI format are raw output (Config.KeepPodsOnExit).
func parseLogLine(line []byte) logEntry {
	raw := logEntry{stream: "stdout", content: append(append([]byte(nil), line...), '\n')}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return raw
	}
	ts, err := time.Parse(time.RFC3339Nano, string(line[:sp]))
	if err != nil {
		return raw
	}
	rest := line[sp+1:]
	var stream string
	switch {
	case bytes.HasPrefix(rest, []byte("stdout ")):
		stream = "stdout"
	case bytes.HasPrefix(rest, []byte("stderr ")):
		stream = "stderr"
	default:
		return raw
	}
	rest = rest[len(stream)+1:]
	if len(rest) < 2 || rest[1] != ' ' || (rest[0] != 'F' && rest[0] != 'P') {
		return raw
	}
	content := append([]byte(nil), rest[2:]...)
	if rest[0] == 'F' {
		content = append(content, '\n')
	}
	return logEntry{ts: ts, stream: stream, content: content}
}

// logTail returns up to n bytes from the end of a container log's output
// (the termination message of FallbackToLogsOnError).
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read-only
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	// Read enough file to hold n bytes of output under the line prefixes.
	off := max(st.Size()-4*n-256, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return ""
	}
	lines := bytes.Split(buf, []byte("\n"))
	if off > 0 && len(lines) > 0 {
		lines = lines[1:] // cut in the middle
	}
	var out []byte
	for _, l := range lines {
		if len(l) > 0 {
			out = append(out, parseLogLine(l).content...)
		}
	}
	if int64(len(out)) > n {
		out = out[int64(len(out))-n:]
	}
	return strings.TrimSpace(string(out))
}

// lineReader reads complete lines from a file that may still grow.
type lineReader struct {
	br      *bufio.Reader
	pending []byte
}

func newLineReader(f *os.File) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(f, 64<<10)}
}

// next returns the next complete line without its newline, or ok false
// when the file holds no complete line more (yet).
func (lr *lineReader) next() (line []byte, ok bool, err error) {
	b, err := lr.br.ReadBytes('\n')
	lr.pending = append(lr.pending, b...)
	if errors.Is(err, io.EOF) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	line = lr.pending[:len(lr.pending)-1]
	lr.pending = nil
	return line, true, nil
}

// containerOutput is where one container instance's stdout and stderr go:
// pipes the agent copies into the log file with timestamps, or the file
// itself with Config.KeepPodsOnExit.
type containerOutput struct {
	a              *Agent
	path           string
	file           *os.File
	stdout, stderr *os.File   // the child's ends
	readers        []*os.File // the agent's ends; nil when writing directly
	done           chan struct{}
}

// openContainerLog opens the log file of a container instance about to
// start in cdir. Call started after starting the process, then finish
// after it exited (or abort when it did not start).
func (a *Agent) openContainerLog(cdir string) (*containerOutput, error) {
	path := filepath.Join(cdir, logFileName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open container log: %w", err)
	}
	o := &containerOutput{a: a, path: path, file: f, done: make(chan struct{})}
	if a.cfg.KeepPodsOnExit {
		o.stdout, o.stderr = f, f
		return o, nil
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("container stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = f.Close()
		for _, p := range []*os.File{outR, outW} {
			_ = p.Close()
		}
		return nil, fmt.Errorf("container stderr pipe: %w", err)
	}
	o.stdout, o.stderr, o.readers = outW, errW, []*os.File{outR, errR}
	return o, nil
}

// started closes the agent's copies of the child's pipe ends and starts
// copying the output into the file.
func (o *containerOutput) started() {
	o.a.liveLogs.Store(o.path, o.done)
	if o.readers == nil {
		return
	}
	// The child holds its own copies; ours only keep the pipes open.
	_ = o.stdout.Close()
	_ = o.stderr.Close()
	lw := &logWriter{f: o.file, now: time.Now}
	var wg sync.WaitGroup
	for i, r := range o.readers {
		stream := [...]string{"stdout", "stderr"}[i]
		wg.Go(func() {
			lw.copyStream(stream, r)
			_ = r.Close()
		})
	}
	go func() {
		wg.Wait()
		o.close()
	}()
}

// close marks the instance's output complete.
func (o *containerOutput) close() {
	_ = o.file.Close() // written line by line; nothing buffered
	o.a.liveLogs.CompareAndDelete(o.path, o.done)
	close(o.done)
}

// abort releases the output of a process that did not start.
func (o *containerOutput) abort() {
	if o.readers == nil {
		o.close()
	}
	// With pipes, the copiers see EOF at once and close the rest.
}

// finish waits (briefly) for the output of an exited process to be in the
// file, so the termination message and followers see its last lines. A
// child the process left running may keep the pipes open; the copy then
// goes on in the background.
func (o *containerOutput) finish() {
	if o.readers == nil {
		o.close()
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
	}
}
