package redisadmin

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Options configure the connections of a Pool. The zero value connects
// without authentication or TLS, with the defaults below.
type Options struct {
	// Username is the ACL user (empty for the default user).
	Username string
	// Password authenticates the connection; it is also passed to MIGRATE
	// (AUTH / AUTH2) so the target of a migration accepts the keys.
	Password string
	// TLSConfig enables TLS when not nil. ServerName defaults to the host
	// of each node's address. The handshake is bounded by DialTimeout; one
	// that a node does not answer fails with a *TLSHandshakeError.
	TLSConfig *tls.Config
	// PlainTextFallback, with TLSConfig set, uses a node that serves plain
	// text in plain text, for the moment a cluster is switched to TLS live
	// (Node.SwitchToTLS): each new connection first sends a plain-text
	// PING and keeps the connection when the node answers it, else dials
	// again with TLS (a TLS node resets the first connection at once). A
	// node that answers neither fails the dial with a *ProbeError at
	// DialTimeout. Connections already open are kept as they are. Without
	// TLSConfig it has no effect. Each new connection to a TLS node costs
	// one round trip more, and Redis 7.0 logs the probe at warning level
	// ("Error accepting a client connection: ... wrong version number"):
	// meant for the switch, not for good.
	PlainTextFallback bool
	// DialTimeout bounds connecting to a node (default 2 s).
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for one reply (default 30 s, so that a big
	// MIGRATE batch is not cut short). The caller's context bounds every
	// call as well.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one command (default 10 s).
	WriteTimeout time.Duration
	// CallTimeout, when positive, bounds each call of a Node method as a
	// whole: the dial, the writes, go-redis's retry after a network error
	// and every reply share one deadline, so a node that accepts
	// connections but never answers costs CallTimeout (and 200 ms of
	// grace, so that a dial's own, more specific error wins), not
	// ReadTimeout once per attempt. Its error wraps ErrUnresponsive. MIGRATE calls are
	// bounded by MigrateTimeout instead. Default 0: no bound beyond the
	// timeouts above and the caller's context.
	CallTimeout time.Duration
	// MigrateTimeout bounds a MIGRATE call or pipelined batch, write and
	// replies, which come only after the keys have moved to the target
	// (default 30 s, or ReadTimeout when that is larger).
	MigrateTimeout time.Duration
	// PoolSize is the number of connections kept per node (default 4).
	PoolSize int
	// MaxRetries is how often go-redis retries a command after a network
	// error (default 1; negative disables retries).
	MaxRetries int
	// BufferSize, when set, sizes every connection's read and write
	// buffers, pipelined or not (go-redis's defaults are 32 KiB, and 128
	// KiB for pipeline reads). A caller that opens a pool per short pass,
	// like the operator, trades a few more syscalls for far less garbage.
	BufferSize int
}

func (o Options) withDefaults() Options {
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MigrateTimeout == 0 {
		o.MigrateTimeout = max(30*time.Second, o.ReadTimeout)
	}
	if o.PoolSize == 0 {
		o.PoolSize = 4
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	return o
}

// Pool holds one pooled client per node address. It is safe for concurrent
// use; Close releases every connection.
type Pool struct {
	opts Options

	mu      sync.Mutex
	clients map[string]*redis.Client
	closed  bool
}

// NewPool returns an empty pool; clients are created on first use of an
// address.
func NewPool(opts Options) *Pool {
	return &Pool{opts: opts.withDefaults(), clients: map[string]*redis.Client{}}
}

// Options returns the pool's options (with defaults filled in).
func (p *Pool) Options() Options { return p.opts }

// Node returns the handle for the node at addr ("host:port"). Handles are
// cheap; the connection pool behind them is shared.
func (p *Pool) Node(addr string) *Node {
	return &Node{addr: addr, pool: p}
}

// client returns addr's client, creating it on first use.
func (p *Pool) client(addr string) (*redis.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("pool closed")
	}
	if c, ok := p.clients[addr]; ok {
		return c, nil
	}
	o := &redis.Options{
		Addr:                    addr,
		Username:                p.opts.Username,
		Password:                p.opts.Password,
		TLSConfig:               p.opts.TLSConfig,
		DialTimeout:             p.opts.DialTimeout,
		ReadTimeout:             p.opts.ReadTimeout,
		WriteTimeout:            p.opts.WriteTimeout,
		ContextTimeoutEnabled:   true,
		PoolSize:                p.opts.PoolSize,
		MaxIdleConns:            p.opts.PoolSize,
		MaxRetries:              p.opts.MaxRetries,
		ReadBufferSize:          p.opts.BufferSize,
		WriteBufferSize:         p.opts.BufferSize,
		PipelineReadBufferSize:  p.opts.BufferSize,
		PipelineWriteBufferSize: p.opts.BufferSize,
		DialerRetries:           1,
		Protocol:                2,
		DisableIdentity:         true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	}
	switch {
	case p.opts.TLSConfig != nil && p.opts.PlainTextFallback:
		// Plain text first, TLS when the node resets it (tlsdial.go).
		o.Dialer = fallbackDialer(p.opts.TLSConfig, p.opts.DialTimeout)
	case p.opts.TLSConfig != nil:
		// A handshake with a node serving plain text gets no answer; this
		// dialer bounds it and says so (tlsdial.go).
		o.Dialer = tlsDialer(p.opts.TLSConfig, p.opts.DialTimeout)
	}
	c := redis.NewClient(o)
	p.clients[addr] = c
	return c, nil
}

// Drop closes and forgets the client of addr (for a node that was removed
// or restarted elsewhere). The next use of addr dials again.
func (p *Pool) Drop(addr string) error {
	p.mu.Lock()
	c, ok := p.clients[addr]
	delete(p.clients, addr)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("redisadmin: close %s: %w", addr, err)
	}
	return nil
}

// Close closes every client. The pool cannot be used afterwards.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for addr, c := range p.clients {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("redisadmin: close %s: %w", addr, err))
		}
	}
	p.clients = nil
	return errors.Join(errs...)
}
