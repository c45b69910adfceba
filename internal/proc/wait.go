package proc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WaitReady calls check every 100 ms, each call bounded to 2 s, until it
// returns nil, the process exits (the error is Err's) or ctx ends (the
// error wraps ctx's, the last check's and the tail of the log).
func (p *Process) WaitReady(ctx context.Context, check func(context.Context) error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := p.Err(); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last := check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to be ready: %w (last check: %w); last log lines:\n%s", p.name, ctx.Err(), last, Tail(p.logPath, 20))
		case <-p.done:
		case <-tick.C:
		}
	}
}

// HTTPOK returns a readiness check for WaitReady: a GET of url that
// answers 200.
func HTTPOK(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := HTTPGet(ctx, url)
		return err
	}
}

// HTTPGet returns the body of a GET of url that answers 200, bounded by
// ctx. Any other status is an error carrying the start of the body.
func HTTPGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	// The body is read in full below; closing it only releases the
	// connection and has nothing to report.
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s: %s", url, resp.Status, bytes.TrimSpace(body[:min(len(body), 512)]))
	}
	return body, nil
}
