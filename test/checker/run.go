package checker

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Config shapes a run.
type Config struct {
	// Clients is the number of concurrent clients (default 8). Each has its
	// own ClusterClient, so each discovers redirects on its own.
	Clients int
	// Keys is the number of single keys each client owns (default 200).
	Keys int
	// Groups is the number of hash-tagged groups each client owns
	// (default 20); GroupSize is the number of keys in a group (default 3).
	Groups, GroupSize int
	// Seed makes each client's choice of operations reproducible.
	Seed int64
	// Prefix starts every key (default "chk"), so the checker's keys do not
	// collide with a test's own.
	Prefix string
	// NewClient returns a new cluster client; the run closes it.
	NewClient func() *redis.ClusterClient
}

func (c *Config) defaults() {
	if c.Clients <= 0 {
		c.Clients = 8
	}
	if c.Keys <= 0 {
		c.Keys = 200
	}
	if c.Groups <= 0 {
		c.Groups = 20
	}
	if c.GroupSize <= 0 {
		c.GroupSize = 3
	}
	if c.Prefix == "" {
		c.Prefix = "chk"
	}
}

// Result is what a run recorded and judged.
type Result struct {
	// Histories are the clients' operations.
	Histories []History
	// Final are the versions of every key read after the run.
	Final map[string]int64
	// Violations are Verify's verdict; empty when every promise held.
	Violations []Violation
	// Ops counts operations, acknowledged or not.
	Ops int
	// Errors counts failed operations by class: TRYAGAIN, CLUSTERDOWN,
	// MOVED, ASK, timeout, other (with the first message of each class in
	// ErrorSamples).
	Errors map[string]int
	// ErrorSamples holds one message per error class.
	ErrorSamples map[string]string
}

// Summary is a one-line account of the run.
func (r *Result) Summary() string {
	classes := make([]string, 0, len(r.Errors))
	for c, n := range r.Errors {
		classes = append(classes, fmt.Sprintf("%s=%d", c, n))
	}
	sort.Strings(classes)
	errs := "none"
	if len(classes) > 0 {
		errs = strings.Join(classes, " ")
	}
	return fmt.Sprintf("checker: %d clients, %d ops, %d keys written and read back, %d violations, errors: %s",
		len(r.Histories), r.Ops, len(r.Final), len(r.Violations), errs)
}

// Checker is a run in progress: Start starts it, Stop ends and judges it.
type Checker struct {
	cfg     Config
	ctx     context.Context
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	res     *Result
	stopped bool
}

// Start opens the clients, has each one load the slot map and reach every
// master once (so the run measures the cluster, not the clients' start-up),
// then lets them work until Stop. It fails when a client cannot reach the
// cluster.
func Start(ctx context.Context, cfg Config) (*Checker, error) {
	cfg.defaults()
	if cfg.NewClient == nil {
		return nil, errors.New("checker: Config.NewClient is nil")
	}
	ck := &Checker{
		cfg:  cfg,
		ctx:  ctx,
		stop: make(chan struct{}),
		res:  &Result{Histories: make([]History, cfg.Clients), Errors: map[string]int{}, ErrorSamples: map[string]string{}},
	}
	clients := make([]*redis.ClusterClient, cfg.Clients)
	for c := range clients {
		cc := cfg.NewClient()
		clients[c] = cc
		err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() })
		if err != nil {
			for _, o := range clients[:c+1] {
				_ = o.Close()
			}
			return nil, fmt.Errorf("checker: client %d: reach every master: %w", c, err)
		}
	}
	for c, cc := range clients {
		ck.wg.Add(1)
		go func() {
			defer ck.wg.Done()
			defer func() { _ = cc.Close() }()
			h, errs, samples := runClient(ctx, cfg, cc, c, ck.stop)
			ck.mu.Lock()
			defer ck.mu.Unlock()
			ck.res.Histories[c] = h
			ck.res.Ops += len(h.Ops)
			for k, n := range errs {
				ck.res.Errors[k] += n
				if _, ok := ck.res.ErrorSamples[k]; !ok {
					ck.res.ErrorSamples[k] = samples[k]
				}
			}
		}()
	}
	return ck, nil
}

// Stop ends the clients, reads every key once more with a fresh client and
// judges the histories. It returns an error only when the final read
// fails: violations and errors of the run are in the Result. Call it once.
func (ck *Checker) Stop() (*Result, error) {
	ck.mu.Lock()
	if ck.stopped {
		ck.mu.Unlock()
		return nil, errors.New("checker: Stop called twice")
	}
	ck.stopped = true
	ck.mu.Unlock()
	close(ck.stop)
	ck.wg.Wait()
	res := ck.res
	final, err := readAll(ck.ctx, ck.cfg)
	if err != nil {
		return res, err
	}
	res.Final = final
	v, err := Verify(res.Histories, final)
	if err != nil {
		return res, err
	}
	res.Violations = v
	return res, nil
}

// Keys returns every key the run may have written, so a caller can delete
// them afterwards.
func (ck *Checker) Keys() []string { return allKeys(ck.cfg) }

func keyOf(cfg Config, client, i int) string {
	return cfg.Prefix + ":c" + strconv.Itoa(client) + ":k" + strconv.Itoa(i)
}

func groupOf(cfg Config, client, g int) []string {
	keys := make([]string, cfg.GroupSize)
	for j := range keys {
		keys[j] = cfg.Prefix + ":{c" + strconv.Itoa(client) + "g" + strconv.Itoa(g) + "}:" + strconv.Itoa(j)
	}
	return keys
}

// runClient is one client's loop: pick a key or a group, write its next
// version or read it, record the outcome.
func runClient(ctx context.Context, cfg Config, cc *redis.ClusterClient, c int, stop <-chan struct{}) (History, map[string]int, map[string]string) {
	rng := rand.New(rand.NewSource(cfg.Seed*1000003 + int64(c)))
	h := History{Client: c}
	errs, samples := map[string]int{}, map[string]string{}
	keyVer := make([]int64, cfg.Keys)
	groupVer := make([]int64, cfg.Groups)
	fail := func(err error) {
		cl := classify(err)
		errs[cl]++
		if _, ok := samples[cl]; !ok {
			samples[cl] = err.Error()
		}
	}
	for {
		select {
		case <-stop:
			return h, errs, samples
		case <-ctx.Done():
			return h, errs, samples
		default:
		}
		x := rng.Intn(100)
		switch {
		case x < 40: // single-key write
			i := rng.Intn(cfg.Keys)
			keyVer[i]++
			k := keyOf(cfg, c, i)
			err := cc.Set(ctx, k, keyVer[i], 0).Err()
			h.Ops = append(h.Ops, Op{Kind: Write, Keys: []string{k}, Version: keyVer[i], Acked: err == nil})
			if err != nil {
				fail(err)
			}
		case x < 60: // single-key read
			i := rng.Intn(cfg.Keys)
			k := keyOf(cfg, c, i)
			s, err := cc.Get(ctx, k).Result()
			op := Op{Kind: Read, Keys: []string{k}}
			if errors.Is(err, redis.Nil) {
				op.Got, op.Acked = []int64{0}, true
			} else if err == nil {
				v, perr := strconv.ParseInt(s, 10, 64)
				if perr != nil {
					v = -1 // not a version: judged as a lost write
				}
				op.Got, op.Acked = []int64{v}, true
			} else {
				fail(err)
			}
			h.Ops = append(h.Ops, op)
		case x < 80: // group write
			g := rng.Intn(cfg.Groups)
			groupVer[g]++
			keys := groupOf(cfg, c, g)
			pairs := make([]any, 0, 2*len(keys))
			for _, k := range keys {
				pairs = append(pairs, k, groupVer[g])
			}
			err := cc.MSet(ctx, pairs...).Err()
			h.Ops = append(h.Ops, Op{Kind: Write, Keys: keys, Version: groupVer[g], Acked: err == nil})
			if err != nil {
				fail(err)
			}
		default: // group read
			g := rng.Intn(cfg.Groups)
			keys := groupOf(cfg, c, g)
			vals, err := cc.MGet(ctx, keys...).Result()
			op := Op{Kind: Read, Keys: keys}
			if err == nil {
				op.Got, op.Acked = parseVersions(vals), true
			} else {
				fail(err)
			}
			h.Ops = append(h.Ops, op)
		}
	}
}

func parseVersions(vals []any) []int64 {
	out := make([]int64, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // nil: missing
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			n = -1
		}
		out[i] = n
	}
	return out
}

// readAll reads every key of every client with a fresh client.
func readAll(ctx context.Context, cfg Config) (map[string]int64, error) {
	cc := cfg.NewClient()
	defer func() { _ = cc.Close() }()
	keys := allKeys(cfg)
	cmds, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("checker: final read: %w", err)
	}
	final := make(map[string]int64, len(keys))
	for i, cmd := range cmds {
		s, err := cmd.(*redis.StringCmd).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("checker: final read of %s: %w", keys[i], err)
		}
		n, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil {
			n = -1
		}
		final[keys[i]] = n
	}
	return final, nil
}

// classify names an error's class for Result.Errors.
func classify(err error) string {
	var ne net.Error
	switch {
	case redis.IsTryAgainError(err):
		return "TRYAGAIN"
	case redis.IsClusterDownError(err):
		return "CLUSTERDOWN"
	case func() bool { _, ok := redis.IsMovedError(err); return ok }():
		return "MOVED"
	case func() bool { _, ok := redis.IsAskError(err); return ok }():
		return "ASK"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "other"
	}
}

// allKeys lists every key of every client: single keys, then groups.
func allKeys(cfg Config) []string {
	var keys []string
	for c := 0; c < cfg.Clients; c++ {
		for i := 0; i < cfg.Keys; i++ {
			keys = append(keys, keyOf(cfg, c, i))
		}
		for g := 0; g < cfg.Groups; g++ {
			keys = append(keys, groupOf(cfg, c, g)...)
		}
	}
	return keys
}
