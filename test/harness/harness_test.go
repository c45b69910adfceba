package harness

import (
	"context"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"
)

func TestParseMetricsReadsNamesLabelsAndValues(t *testing.T) {
	text := `# HELP rest_client_requests_total Number of HTTP requests.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 42
rest_client_requests_total{code="201",host="127.0.0.1:6443",method="POST"} 3
go_goroutines 117
go_gc_duration_seconds{quantile="0.5"} 4.1e-05
not a sample
`
	want := []Sample{
		{Name: "rest_client_requests_total", Labels: map[string]string{"code": "200", "host": "127.0.0.1:6443", "method": "GET"}, Value: 42},
		{Name: "rest_client_requests_total", Labels: map[string]string{"code": "201", "host": "127.0.0.1:6443", "method": "POST"}, Value: 3},
		{Name: "go_goroutines", Labels: map[string]string{}, Value: 117},
		{Name: "go_gc_duration_seconds", Labels: map[string]string{"quantile": "0.5"}, Value: 4.1e-05},
	}
	if got := ParseMetrics(text); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseMetrics:\n got %+v\nwant %+v", got, want)
	}
}

func TestPollReportsTheLastErrorWhenTimeRunsOut(t *testing.T) {
	errNotYet := errors.New("not yet")
	_, err := Poll(context.Background(), 50*time.Millisecond, 10*time.Millisecond, "thing", func(context.Context) (bool, error) {
		return false, errNotYet
	})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errNotYet) {
		t.Errorf("Poll = %v, want the deadline and the last error wrapped", err)
	}
	calls := 0
	at, err := Poll(context.Background(), time.Minute, time.Millisecond, "thing", func(context.Context) (bool, error) {
		calls++
		return calls == 3, nil
	})
	if err != nil || at.IsZero() || calls != 3 {
		t.Errorf("Poll = %v, %v after %d calls, want a time and no error after 3", at, err, calls)
	}
}

func TestWaitEndsWhenTryReturnsNilAndWrapsItsLastErrorOtherwise(t *testing.T) {
	calls := 0
	if err := Wait(context.Background(), time.Minute, time.Millisecond, "thing", func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || calls != 3 {
		t.Errorf("Wait = %v after %d calls, want nil after 3", err, calls)
	}
	errNotYet := errors.New("not yet")
	err := Wait(context.Background(), 30*time.Millisecond, 5*time.Millisecond, "thing", func(context.Context) error { return errNotYet })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errNotYet) {
		t.Errorf("Wait = %v, want the deadline and the last error wrapped", err)
	}
}

func TestRSSSamplerKeepsThePeakUntilReset(t *testing.T) {
	s := sampleRSS(os.Getpid())
	if _, err := Poll(context.Background(), 5*time.Second, 10*time.Millisecond, "first sample", func(context.Context) (bool, error) {
		return s.peakBytes() > 0, nil
	}); err != nil {
		t.Fatal(err)
	}
	s.stop()
	s.stop()
	if p := s.resetPeak(); p == 0 {
		t.Error("resetPeak = 0 after a sample")
	}
	if p := s.peakBytes(); p != 0 {
		t.Errorf("peak after reset = %d, want 0", p)
	}
	var none *rssSampler // a manager in this process is not sampled
	none.stop()
	if none.peakBytes() != 0 || none.resetPeak() != 0 {
		t.Error("a nil sampler reads other than 0")
	}
}
