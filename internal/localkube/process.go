package localkube

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one control-plane component started by this launcher.
type process struct {
	name    string
	path    string
	logPath string
	cmd     *exec.Cmd
	logFile *os.File
	// done is closed once the process has exited and been reaped; waitErr
	// is its exit status then.
	done    chan struct{}
	waitErr error
}

// pidRecord is what the launcher writes to <StateDir>/pids/<name>.json for
// every process it starts, so that `localkube down` can stop exactly those
// processes and no other that later reused the PID.
type pidRecord struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// StartTicks is field 22 of /proc/<pid>/stat (start time in clock ticks
	// since boot): a PID plus its start time names one process for good.
	StartTicks uint64 `json:"startTicks"`
	// Path is the executable started.
	Path string `json:"path"`
}

// startProcess starts bin with args, output appended to logPath. The child
// gets its own process group (a Ctrl-C at the terminal reaches only the
// launcher, which then stops the children in order) and is killed by the
// kernel if the launcher dies.
func startProcess(name, bin string, args []string, logPath, pidDir string, log *slog.Logger) (*process, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, path: bin, logPath: logPath, cmd: cmd, logFile: lf, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = lf.Close()
		close(p.done)
	}()
	log.Info("started process", "component", name, "pid", cmd.Process.Pid, "log", logPath)
	if err := writePIDRecord(pidDir, name, cmd.Process.Pid, bin); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes how the process ended, with the tail of its log.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited (%w); last log lines:\n%s", p.name, exitCause(p.waitErr), tailFile(p.logPath, 20))
}

// exitCause is a process's Wait error, or one that says it exited with
// status 0 (a component that should keep running ended).
func exitCause(waitErr error) error {
	if waitErr == nil {
		return errors.New("exit status 0")
	}
	return waitErr
}

// kill sends SIGKILL and waits for the process to be reaped.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM, waits up to grace for the process to exit, then sends
// SIGKILL. It returns once the process is reaped.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.kill()
	}
}

func writePIDRecord(dir, name string, pid int, path string) error {
	ticks, err := processStartTicks(pid)
	if err != nil {
		return fmt.Errorf("record PID of %s: %w", name, err)
	}
	b, err := json.Marshal(pidRecord{Name: name, PID: pid, StartTicks: ticks, Path: path})
	if err != nil {
		return fmt.Errorf("encode PID record of %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		return fmt.Errorf("write PID record of %s: %w", name, err)
	}
	return nil
}

// readPIDRecords returns the records in dir (none when dir does not exist).
func readPIDRecords(dir string) ([]pidRecord, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read PID records: %w", err)
	}
	var recs []pidRecord
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read PID record %s: %w", e.Name(), err)
		}
		var r pidRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("decode PID record %s: %w", e.Name(), err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// processStartTicks reads the start time of pid from /proc/<pid>/stat.
func processStartTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read /proc/%d/stat: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself: fields are counted after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); start time is field 22.
	const startField = 22 - 3
	if len(fields) <= startField {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	v, err := strconv.ParseUint(fields[startField], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse start time in /proc/%d/stat: %w", pid, err)
	}
	return v, nil
}

// alive reports whether the process named by r still runs (same PID and same
// start time). A zombie counts as not alive.
func (r pidRecord) alive() bool {
	ticks, err := processStartTicks(r.PID)
	if err != nil || ticks != r.StartTicks {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.PID))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// terminate stops the recorded process if it is still the one recorded:
// SIGTERM, up to grace to exit, then SIGKILL. It returns whether the process
// was found running.
func (r pidRecord) terminate(grace time.Duration) (bool, error) {
	if !r.alive() {
		return false, nil
	}
	if err := syscall.Kill(r.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("signal %s (pid %d): %w", r.Name, r.PID, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !r.alive() {
			return true, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.alive() {
		if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return true, fmt.Errorf("kill %s (pid %d): %w", r.Name, r.PID, err)
		}
	}
	for i := 0; i < 100 && r.alive(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if r.alive() {
		return true, fmt.Errorf("%s (pid %d) still running after SIGKILL", r.Name, r.PID)
	}
	return true, nil
}

// tailFile returns the last n lines of path (or a note that it is
// unreadable).
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer func() { _ = f.Close() }() // read-only
	const maxTail = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxTail {
		if _, err := f.Seek(st.Size()-maxTail, io.SeekStart); err != nil {
			return fmt.Sprintf("(cannot read %s: %v)", path, err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
