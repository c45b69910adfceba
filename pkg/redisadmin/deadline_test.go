package redisadmin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redkube/redkube/test/redisenv"
)

func TestCallTimeoutBoundsACallToASilentNode(t *testing.T) {
	addr := redisenv.SilentListener(t)
	// ReadTimeout alone would let the call take 2 × 20 s (go-redis retries
	// a read timeout once); CallTimeout bounds the whole call.
	pool := NewPool(Options{ReadTimeout: 20 * time.Second, CallTimeout: 300 * time.Millisecond})
	defer func() { _ = pool.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := pool.Node(addr).Ping(ctx)
	took := time.Since(start)
	if !errors.Is(err, ErrUnresponsive) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Ping of a silent port = %v, want ErrUnresponsive and ErrUnreachable", err)
	}
	if took > 10*time.Second { // ReadTimeout alone would take 20 s, twice
		t.Fatalf("Ping of a silent port took %s with CallTimeout 300ms", took)
	}
	var ue *UnresponsiveError
	if !errors.As(err, &ue) || ue.Limit != 300*time.Millisecond {
		t.Fatalf("error %v does not carry the limit 300ms", err)
	}
}

func TestCallerDeadlineIsNotCalledUnresponsive(t *testing.T) {
	addr := redisenv.SilentListener(t)
	pool := NewPool(Options{CallTimeout: 10 * time.Second})
	defer func() { _ = pool.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := pool.Node(addr).Ping(ctx)
	if err == nil || errors.Is(err, ErrUnresponsive) {
		t.Fatalf("Ping cut short by the caller's context = %v, want an error that is not ErrUnresponsive", err)
	}
}

func TestRefusedDialIsUnreachableNotUnresponsive(t *testing.T) {
	nd := redisenv.Start(t, 1, redisenv.Standalone())[0]
	nd.Kill()
	pool := NewPool(Options{CallTimeout: time.Second})
	defer func() { _ = pool.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := pool.Node(nd.Addr).Ping(ctx)
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrUnresponsive) {
		t.Fatalf("Ping of a closed port = %v, want ErrUnreachable only", err)
	}
}
