package proc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sh starts a shell script as a Process logging to a file in a test folder.
func sh(t *testing.T, script string, opts Options) *Process {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "script"
	}
	if opts.LogPath == "" {
		opts.LogPath = filepath.Join(t.TempDir(), "script.log")
	}
	p, err := Start("/bin/sh", []string{"-c", script}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// waitLog waits until p's log ends with the line want.
func waitLog(t *testing.T, p *Process, want string) {
	t.Helper()
	if err := p.WaitReady(t.Context(), func(context.Context) error {
		if got := Tail(p.LogPath(), 1); got != want {
			return fmt.Errorf("last log line %q", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestStopEndsARunningProcessWithSIGTERM(t *testing.T) {
	p := sh(t, "echo up; exec sleep 60", Options{})
	waitLog(t, p, "up")
	if p.Exited() || p.Err() != nil {
		t.Fatalf("a running process: exited %v, err %v", p.Exited(), p.Err())
	}
	began := time.Now()
	if err := p.Stop(t.Context(), 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Stop took %v; SIGTERM should end sleep at once", took)
	}
	if !p.Exited() {
		t.Fatal("not exited after Stop")
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "terminated") || !strings.Contains(err.Error(), "up") {
		t.Errorf("Err = %v, want the SIGTERM and the log's last line", err)
	}
	if err := p.Stop(t.Context(), time.Second); err != nil {
		t.Errorf("second Stop = %v, want the first's (nil)", err)
	}
}

func TestStopKillsAProcessThatIgnoresSIGTERMAfterTheGrace(t *testing.T) {
	p := sh(t, "trap '' TERM; echo ready; while :; do sleep 0.05; done", Options{})
	waitLog(t, p, "ready") // the trap is set before the SIGTERM
	began := time.Now()
	if err := p.Stop(t.Context(), 300*time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Errorf("Stop took %v, before the grace ran out", took)
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Err = %v, want killed", err)
	}
}

func TestErrNamesTheExitStatusAndTheLastLogLines(t *testing.T) {
	p := sh(t, "for i in $(seq 1 30); do echo line $i; done; exit 3", Options{Name: "counter"})
	<-p.Done()
	err := p.Err()
	if err == nil {
		t.Fatal("Err = nil after the exit")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "counter exited (exit status 3)") || !strings.Contains(msg, "line 30") || !strings.Contains(msg, "line 11\n") || strings.Contains(msg, "line 10\n") {
		t.Errorf("Err = %q, want the name, the status and the last 20 lines", msg)
	}
	clean := sh(t, "true", Options{Name: "quick"})
	<-clean.Done()
	if err := clean.Err(); err == nil || !strings.Contains(err.Error(), "quick exited (exit status 0)") {
		t.Errorf("Err of a clean exit = %v, want exit status 0 named", err)
	}
}

func TestTheLogIsAppendedUnlessTruncated(t *testing.T) {
	log := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(log, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := sh(t, "echo one", Options{LogPath: log})
	<-p.Done()
	if got := Tail(log, 10); got != "before\none" {
		t.Errorf("appended log = %q", got)
	}
	p = sh(t, "echo two", Options{LogPath: log, Truncate: true})
	<-p.Done()
	if got := Tail(log, 10); got != "two" {
		t.Errorf("truncated log = %q", got)
	}
}

func TestStartOfAMissingBinaryFails(t *testing.T) {
	_, err := Start(filepath.Join(t.TempDir(), "nope"), nil, Options{Name: "nope", LogPath: filepath.Join(t.TempDir(), "nope.log")})
	if err == nil || !strings.Contains(err.Error(), "start nope") {
		t.Errorf("Start = %v, want an error naming the process", err)
	}
}

func TestWaitReadyReturnsWhenTheCheckPasses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" {
			http.Error(w, "not here", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	p := sh(t, "exec sleep 60", Options{})
	if err := p.WaitReady(t.Context(), HTTPOK(srv.URL+"/ready")); err != nil {
		t.Errorf("WaitReady = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := p.WaitReady(ctx, HTTPOK(srv.URL+"/other"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "/other") {
		t.Errorf("WaitReady on a 404 = %v, want the deadline and the last check", err)
	}
}

func TestWaitReadyStopsWhenTheProcessExits(t *testing.T) {
	p := sh(t, "echo dying; exit 1", Options{Name: "short"})
	err := p.WaitReady(t.Context(), func(context.Context) error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "short exited (exit status 1)") || !strings.Contains(err.Error(), "dying") {
		t.Errorf("WaitReady = %v, want the exit and the log", err)
	}
}

func TestTailReadsTheLastLinesOfBigAndMissingFiles(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.log")
	var b strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(big, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := Tail(big, 2), "line 19998\nline 19999"; got != want {
		t.Errorf("Tail = %q, want %q", got, want)
	}
	missing := filepath.Join(dir, "missing.log")
	if got := Tail(missing, 5); !strings.HasPrefix(got, "(cannot read "+missing) {
		t.Errorf("Tail of a missing file = %q", got)
	}
	if got := TailLines("a\nb\nc\n", 5); got != "a\nb\nc" {
		t.Errorf("TailLines of a short text = %q", got)
	}
}

func TestStatusReadsThisProcessInBytes(t *testing.T) {
	rss, err := Status(os.Getpid(), "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	if rss == 0 || rss%1024 != 0 {
		t.Errorf("VmRSS = %d bytes, want a positive number of kB", rss)
	}
	if _, err := Status(os.Getpid(), "NoSuchField"); err == nil {
		t.Error("Status of a missing field: no error")
	}
	if _, err := Status(os.Getpid(), "Threads"); err == nil {
		t.Error("Status of a field without kB: no error")
	}
}
