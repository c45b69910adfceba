package benchenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcStatus returns a "kB" field of /proc/<pid>/status (VmRSS, VmHWM,
// RssAnon, ...) in bytes.
func ProcStatus(pid int, field string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, fmt.Errorf("empty %s in /proc/%d/status", field, pid)
			}
			kb, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s of %d: %w", field, pid, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// MiB is b bytes in mebibytes.
func MiB(b uint64) float64 { return float64(b) / (1 << 20) }

// rssSampler reads a process's VmRSS every 500 ms and keeps the peak
// (a failed read, as after the process exited, is skipped).
type rssSampler struct {
	mu   sync.Mutex
	peak uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := ProcStatus(pid, "VmRSS"); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, v)
				s.mu.Unlock()
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends the sampling; the peak stays readable.
func (s *rssSampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}

// peakBytes is the highest VmRSS sampled since the start or the last
// resetPeak.
func (s *rssSampler) peakBytes() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// resetPeak returns the peak and starts a new one.
func (s *rssSampler) resetPeak() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peak
	s.peak = 0
	return p
}
