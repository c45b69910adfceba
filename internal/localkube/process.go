package localkube

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redkube/redkube/internal/proc"
)

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

// startProcess starts bin with args, output appended to logPath (see
// proc.Start: own process group, killed by the kernel if the launcher dies,
// so a Ctrl-C at the terminal reaches only the launcher, which then stops
// the children in order), and records its PID in pidDir.
func startProcess(name, bin string, args []string, logPath, pidDir string, log *slog.Logger) (*proc.Process, error) {
	p, err := proc.Start(bin, args, proc.Options{Name: name, LogPath: logPath, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := writePIDRecord(pidDir, name, p.PID(), bin); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
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
