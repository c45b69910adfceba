package benchenv

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

func TestProcStatusReadsThisProcessInBytes(t *testing.T) {
	rss, err := ProcStatus(os.Getpid(), "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	if rss == 0 || rss%1024 != 0 {
		t.Errorf("VmRSS = %d bytes, want a positive number of kB", rss)
	}
	if _, err := ProcStatus(os.Getpid(), "NoSuchField"); err == nil {
		t.Error("ProcStatus of a missing field: no error")
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
