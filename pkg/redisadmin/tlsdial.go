package redisadmin

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Why the pool dials TLS itself: a Redis node that serves plain text reads
// a TLS ClientHello as the start of an inline command. The hello holds NUL
// bytes before any newline, so the node waits for the rest of the line and
// never answers; the handshake then hangs until the dial deadline and
// go-redis reports a bare "context deadline exceeded". The dialer below
// bounds the handshake by the same DialTimeout, names the node and, when
// the handshake is still unanswered after plainTextProbeDelay, asks the
// node a plain-text PING on a second connection: a RESP reply proves the
// port serves plain text, so the dial fails at once with that diagnosis
// instead of waiting out the timeout.

// plainTextProbeDelay is how long a handshake may stay unanswered before
// the dialer checks whether the node speaks plain text. A handshake takes
// a few round trips; a TLS node that is merely slow only sees one extra
// connection that it drops.
const plainTextProbeDelay = 500 * time.Millisecond

// keepAlive is go-redis's TCP keep-alive policy for its own dialer
// (options.go defaultKeepAliveConfig), kept for TLS connections.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// TLSHandshakeError is a TLS handshake that a node did not answer within
// the dial timeout, or that a node serving plain text on the port could
// not answer. Errors from a handshake the node did answer (an untrusted
// certificate, a TLS alert) are returned as they are.
type TLSHandshakeError struct {
	// Addr is the node dialed.
	Addr string
	// Waited is how long the handshake went unanswered.
	Waited time.Duration
	// PlainText reports that the node answered a plain-text PING on the
	// same port: it does not serve TLS there.
	PlainText bool
	// Err is the handshake's own error: the timeout, or nil when the
	// node answered plain text.
	Err error
}

func (e *TLSHandshakeError) Error() string {
	if e.PlainText {
		return fmt.Sprintf("TLS handshake with %s got no answer: the node serves plain text on this port, not TLS", e.Addr)
	}
	return fmt.Sprintf("TLS handshake with %s got no answer within %s: is the node serving TLS on this port?", e.Addr, e.Waited)
}

// Unwrap returns the handshake's own error.
func (e *TLSHandshakeError) Unwrap() error { return e.Err }

// tlsDialer returns a go-redis Dialer that connects with timeout and then
// performs the TLS handshake of cfg, bounded by the same timeout.
func tlsDialer(cfg *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		d := &net.Dialer{KeepAliveConfig: keepAlive}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn, err := handshake(ctx, d, raw, network, addr, clientConfig(cfg, addr))
		if err != nil {
			if cerr := raw.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
				err = errors.Join(err, cerr)
			}
			var herr *TLSHandshakeError
			if errors.As(err, &herr) {
				herr.Waited = time.Since(start).Round(100 * time.Millisecond)
				return nil, herr
			}
			return nil, err
		}
		return conn, nil
	}
}

// clientConfig returns cfg with ServerName set from addr's host when it is
// empty, as crypto/tls.DialWithDialer (go-redis's default dialer) does.
func clientConfig(cfg *tls.Config, addr string) *tls.Config {
	if cfg.ServerName != "" {
		return cfg
	}
	host := addr
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		host = addr[:i]
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

// handshake runs the TLS handshake on raw until it ends or ctx is done. If
// it is still unanswered after plainTextProbeDelay, a plain-text PING on a
// second connection tells whether the node serves plain text. The caller
// closes raw on error.
func handshake(ctx context.Context, d *net.Dialer, raw net.Conn, network, addr string, cfg *tls.Config) (*tls.Conn, error) {
	// done is buffered: an abandoned handshake ends when the caller
	// closes raw, and its goroutine exits without a reader.
	conn := tls.Client(raw, cfg)
	done := make(chan error, 1)
	go func() { done <- conn.HandshakeContext(ctx) }()

	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	timer := time.NewTimer(plainTextProbeDelay)
	defer timer.Stop()
	var plain chan bool // nil until the probe starts
	for {
		select {
		case err := <-done:
			switch {
			case err == nil:
				return conn, nil
			case errors.Is(err, context.DeadlineExceeded):
				return nil, &TLSHandshakeError{Addr: addr, Err: err}
			default:
				return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
			}
		case <-timer.C:
			ch := make(chan bool, 1)
			go func() { ch <- answersPlainText(probeCtx, d, network, addr) }()
			plain = ch
		case yes := <-plain:
			plain = nil
			if !yes {
				continue
			}
			// The caller closes raw, which ends the abandoned handshake.
			return nil, &TLSHandshakeError{Addr: addr, PlainText: true}
		}
	}
}

// answersPlainText reports whether the node at addr answers a plain-text
// PING with a RESP reply ("+PONG", or an error such as "-NOAUTH"). A TLS
// node reads the PING as a broken record and drops the connection.
func answersPlainText(ctx context.Context, d *net.Dialer, network, addr string) bool {
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return false
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b, err := bufio.NewReader(c).ReadByte()
	return err == nil && (b == '+' || b == '-')
}

// maxProbeReply bounds the reply line a plain-text probe reads ("+PONG",
// "-NOAUTH Authentication required.", "-LOADING ...").
const maxProbeReply = 512

// fallbackDialer returns a go-redis Dialer for Options.PlainTextFallback:
// it connects in plain text and sends an inline PING first. A node serving
// plain text answers with a RESP line, which is read to its end, and that
// same connection is returned, ready for go-redis's own handshake (AUTH,
// ...). A TLS node reads the PING as a broken TLS record and resets the
// connection at once; the dialer then connects again with TLS through
// tlsDialer. Both ways cost one round trip more than a dial that knew the
// node's mode, and both share one timeout. A node that answers neither
// (a stopped process) fails when the timeout passes, with a *ProbeError.
func fallbackDialer(cfg *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	viaTLS := tlsDialer(cfg, timeout)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, err := dialPlainText(ctx, network, addr)
		if err != nil || conn != nil {
			return conn, err
		}
		return viaTLS(ctx, network, addr)
	}
}

// ProbeError is a plain-text PING, sent by a pool with PlainTextFallback,
// that a node accepted but did not answer, nor refused, before the dial
// timeout (or the caller's context) ended.
type ProbeError struct {
	// Addr is the node dialed.
	Addr string
	// Err is the deadline or the cancellation.
	Err error
}

func (e *ProbeError) Error() string {
	return fmt.Sprintf("dial %s: the node accepted the connection but answered neither a plain-text PING nor with a TLS reset: %v", e.Addr, e.Err)
}

// Unwrap returns the deadline or the cancellation.
func (e *ProbeError) Unwrap() error { return e.Err }

// dialPlainText connects to addr and sends an inline PING. It returns the
// connection, its reply consumed, when the node answers in RESP; nil and
// no error when the node closed or reset the connection or answered
// something else (a TLS node); an error when the dial failed or nothing
// came back before ctx ended.
func dialPlainText(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{KeepAliveConfig: keepAlive}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	ok, err := answersPing(ctx, c)
	if ok && err == nil {
		return c, nil
	}
	if cerr := c.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return nil, &ProbeError{Addr: addr, Err: err}
	}
	return nil, nil
}

// answersPing writes an inline PING on c and reads the reply line one byte
// at a time, so that nothing after it is taken from the connection. It
// reports true when the line is RESP ('+' or '-' first). An error is
// returned only when ctx ended first; a closed, reset or non-RESP answer
// is false.
func answersPing(ctx context.Context, c net.Conn) (bool, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return false, err
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) }) // cancellation without deadline
	defer stop()
	fail := func(err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if isTimeout(err) {
			return false, err
		}
		return false, nil // closed or reset: not plain text
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return fail(err)
	}
	var b [1]byte
	for i := 0; i < maxProbeReply; i++ {
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return fail(err)
		}
		if i == 0 && b[0] != '+' && b[0] != '-' {
			return false, nil
		}
		if b[0] == '\n' {
			if !stop() {
				return false, ctx.Err()
			}
			return true, c.SetDeadline(time.Time{})
		}
	}
	return false, nil
}

// PlainTextOrTLSDialer is the go-redis Dialer of Options.PlainTextFallback,
// for clients of a cluster being switched to TLS (an application, the
// exporter): plain text to a node that serves it, TLS of cfg to the
// others, both within timeout.
func PlainTextOrTLSDialer(cfg *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return fallbackDialer(cfg, timeout)
}

// ServesPlainText reports whether the node at addr answers a plain-text
// PING (false: it reset the connection, as a TLS node does). A node that
// cannot be reached or answers nothing within timeout is an error, never
// false.
func ServesPlainText(ctx context.Context, addr string, timeout time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dialPlainText(ctx, "tcp", addr)
	if err != nil {
		return false, fmt.Errorf("redisadmin: %s: plain-text PING: %w", addr, err)
	}
	if c == nil {
		return false, nil
	}
	if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return true, fmt.Errorf("redisadmin: %s: close the plain-text probe: %w", addr, err)
	}
	return true, nil
}
