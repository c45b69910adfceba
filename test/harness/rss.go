package harness

import (
	"sync"
	"time"

	"github.com/redkube/redkube/internal/proc"
)

// MiB is b bytes in mebibytes.
func MiB(b uint64) float64 { return float64(b) / (1 << 20) }

// rssSampler reads a process's VmRSS every 500 ms and keeps the peak
// (a failed read, as after the process exited, is skipped). A nil
// sampler reads as 0.
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
			if v, err := proc.Status(pid, "VmRSS"); err == nil {
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

// stop ends the sampling; the peak stays readable. It may be called more
// than once.
func (s *rssSampler) stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// peakBytes is the highest VmRSS sampled since the start or the last
// resetPeak.
func (s *rssSampler) peakBytes() uint64 {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// resetPeak returns the peak and starts a new one.
func (s *rssSampler) resetPeak() uint64 {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peak
	s.peak = 0
	return p
}
