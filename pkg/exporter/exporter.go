package exporter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/redisadmin"
)

// DefaultTimeout bounds one scrape (INFO and CLUSTER INFO together) when
// Options.Timeout is zero. It stays below Prometheus' default scrape
// timeout of 10s, so a hanging Redis gives redis_up 0, not a failed scrape.
const DefaultTimeout = 3 * time.Second

// Options configure a Collector.
type Options struct {
	// Addr is the host:port of the Redis server.
	Addr string
	// Username and Password authenticate to Redis; both empty sends no AUTH.
	Username, Password string
	// Timeout bounds one scrape; zero means DefaultTimeout.
	Timeout time.Duration
	// OnError, when set, receives the error of each failed scrape.
	OnError func(error)
	// TLSConfig, when set, connects over TLS.
	TLSConfig *tls.Config
	// PlainTextFallback, with TLSConfig, connects in plain text to a
	// server that serves plain text (a cluster being switched to TLS).
	PlainTextFallback bool
}

// Collector is a prometheus.Collector reading one Redis server per scrape.
// It is safe for concurrent scrapes; they are serialised.
type Collector struct {
	client  *redis.Client
	timeout time.Duration
	onError func(error)

	mu           sync.Mutex
	scrapeErrors prometheus.Counter
}

// New returns a Collector for the server at o.Addr. It does not connect:
// the first scrape does.
func New(o Options) (*Collector, error) {
	if o.Addr == "" {
		return nil, errors.New("exporter: empty Redis address")
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ro := &redis.Options{
		Addr:            o.Addr,
		Username:        o.Username,
		Password:        o.Password,
		DialTimeout:     timeout,
		ReadTimeout:     timeout,
		WriteTimeout:    timeout,
		PoolSize:        1,
		MaxRetries:      -1,
		DisableIdentity: true,
		Protocol:        2,
		TLSConfig:       o.TLSConfig,
	}
	if o.TLSConfig != nil && o.PlainTextFallback {
		ro.TLSConfig, ro.Dialer = nil, redisadmin.PlainTextOrTLSDialer(o.TLSConfig, timeout)
	}
	c := redis.NewClient(ro)
	return &Collector{
		client:  c,
		timeout: timeout,
		onError: o.OnError,
		scrapeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redis_exporter_scrape_errors_total",
			Help: "Scrapes in which reading INFO or CLUSTER INFO from Redis failed.",
		}),
	}, nil
}

// Close closes the connection to Redis.
func (c *Collector) Close() error {
	if err := c.client.Close(); err != nil {
		return fmt.Errorf("exporter: close Redis client: %w", err)
	}
	return nil
}

// Describe sends the descriptors of every metric the Collector may export.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	c.scrapeErrors.Describe(ch)
}

// Collect reads Redis once and sends the metrics of that reading.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.scrape(ctx, ch); err != nil {
		c.scrapeErrors.Inc()
		if c.onError != nil {
			c.onError(err)
		}
	}
	ch <- c.scrapeErrors
}

// scrape sends redis_up and every metric it could read; the error is the
// first failure.
func (c *Collector) scrape(ctx context.Context, ch chan<- prometheus.Metric) error {
	text, err := c.client.Info(ctx, "all").Result()
	if err != nil {
		ch <- gauge(descUp, 0)
		return fmt.Errorf("INFO from %s: %w", c.client.Options().Addr, err)
	}
	info := parseInfo(text)
	ch <- gauge(descUp, 1)
	infoErr := emitInfo(info, ch)
	if info.fields["cluster_enabled"] != "1" {
		return infoErr
	}
	ctext, err := c.client.ClusterInfo(ctx).Result()
	if err != nil {
		return errors.Join(infoErr, fmt.Errorf("CLUSTER INFO from %s: %w", c.client.Options().Addr, err))
	}
	return errors.Join(infoErr, emitClusterInfo(parseInfo(ctext), ch))
}

// Handler serves the Collector's metrics, with the Go runtime and process
// metrics of the exporter itself, in the Prometheus exposition formats.
// Redis being down is reported as redis_up 0 with HTTP status 200.
func Handler(c *Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// info is a parsed INFO or CLUSTER INFO reply.
type info struct {
	fields map[string]string
}

func parseInfo(text string) info {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return info{fields: m}
}
