package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// ErrStalePlan means a step does not match the cluster as observed when the
// step started; re-observe and re-plan.
var ErrStalePlan = errors.New("plan does not match the cluster")

// Options tune an Executor. The zero value is usable.
type Options struct {
	// Parallel is how many MigrateSlots steps (source→target pairs) run at
	// once (default 4).
	Parallel int
	// ChunkSlots is how many slots of one pair are in flight together: their
	// SETSLOT, GETKEYSINSLOT and MIGRATE commands share pipelines
	// (default 128).
	ChunkSlots int
	// ChunksInFlight is how many chunks of one pair are worked on at once,
	// so that one chunk's SETSLOT round trips overlap another's MIGRATEs
	// (default 3).
	ChunksInFlight int
	// BatchKeys is the number of keys per MIGRATE call (default 1000).
	BatchKeys int
	// MigrateTimeout is MIGRATE's own timeout towards the target
	// (default 10 s).
	MigrateTimeout time.Duration
	// QuietHandover hands all but the first slot of each chunk to the
	// target with SETSLOT STABLE + SETSLOT NODE instead of SETSLOT NODE
	// alone. Redis answers a NODE for a slot the target is importing with
	// an epoch bump (a no-op once the target holds the highest epoch) and
	// a PONG broadcast to every node, once per slot, and each receiver
	// whose view of the target's slots is behind then scans all 16384
	// slots (clusterUpdateSlotsConfigWith): in the rebalance benchmark
	// that is most of the Redis CPU. With QuietHandover the first and the
	// last slot of each chunk still take the importing path (the first
	// bumps the epoch, the last broadcasts the whole chunk to every node,
	// replicas included); the masters are also told by the SETSLOT NODE
	// the executor sends them. The cost: between
	// the two commands the target neither imports nor owns the slot, so a
	// client an ASK sends there in that instant is sent back with MOVED
	// and needs one redirect more. Off in the zero Options; rcctl and the
	// operator turn it on (docs/design/2026-12-05-quiet-handover-default.md
	// has the checker runs that decided it).
	QuietHandover bool
	// Rate limits migration to this many keys per second over all pairs
	// (0 = unlimited).
	Rate float64
	// Progress, when not nil, is called after every chunk of slots. Calls
	// are serialised.
	Progress func(Progress)
	// PollInterval is how often wait loops re-observe (default 20 ms).
	PollInterval time.Duration
	// RetryTimeout bounds how long MIGRATE is retried, with exponential
	// back-off from PollInterval up to 1 s, while it meets transient errors:
	// CLUSTERDOWN (a slot was uncovered moments ago and the nodes have not
	// all noticed it is covered again), TRYAGAIN, LOADING, IOERR or a lost
	// connection (default 30 s).
	RetryTimeout time.Duration
	// FailoverTimeout bounds waiting for a replica to become master after
	// CLUSTER FAILOVER (default 30 s; the caller's ctx bounds it too).
	FailoverTimeout time.Duration
	// PromotionMaxLag is how many bytes of replication offset a replica may
	// lag its master and still count as caught up (default 1 MiB).
	PromotionMaxLag int64
	// AllowUnsafePromotion skips the promotion safety check of Failover
	// steps. Only on explicit user request.
	AllowUnsafePromotion bool
	// Logger receives structured logs (default: discarded).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.ChunkSlots <= 0 {
		o.ChunkSlots = 128
	}
	if o.ChunksInFlight <= 0 {
		o.ChunksInFlight = 3
	}
	if o.BatchKeys <= 0 {
		o.BatchKeys = 1000
	}
	if o.MigrateTimeout <= 0 {
		o.MigrateTimeout = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.RetryTimeout <= 0 {
		o.RetryTimeout = 30 * time.Second
	}
	if o.FailoverTimeout <= 0 {
		o.FailoverTimeout = 30 * time.Second
	}
	if o.PromotionMaxLag <= 0 {
		o.PromotionMaxLag = planner.CaughtUpLag
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Progress is a report of a running migration.
type Progress struct {
	// SlotsDone and SlotsTotal count slots of the MigrateSlots and
	// FixOpenSlot steps run so far (skipped slots count as done).
	SlotsDone, SlotsTotal int
	// KeysMoved counts keys moved by MIGRATE.
	KeysMoved int64
	// Elapsed is the time since Run started.
	Elapsed time.Duration
	// KeysPerSecond is KeysMoved / Elapsed.
	KeysPerSecond float64
}

// Endpoint is where a node is reached.
type Endpoint struct {
	// Addr is the client address "host:port".
	Addr string
	// BusPort is the cluster bus port (0: port+10000).
	BusPort int
}

// Executor runs plans. It is safe for sequential reuse; one Run at a time.
type Executor struct {
	pool    *redisadmin.Pool
	opts    Options
	limiter *rate.Limiter

	mu    sync.Mutex
	nodes map[topology.NodeID]Endpoint

	progMu   sync.Mutex
	prog     Progress
	start    time.Time
	lastProg time.Time
}

// New returns an Executor that reaches nodes through pool. nodes maps every
// node ID the plans mention to its endpoint; Endpoints(snapshot) builds it
// from a Discover snapshot. Addresses of other nodes are learnt from the
// CLUSTER NODES listings the executor reads.
func New(pool *redisadmin.Pool, nodes map[topology.NodeID]Endpoint, opts Options) *Executor {
	e := &Executor{pool: pool, opts: opts.withDefaults(), nodes: map[topology.NodeID]Endpoint{}}
	for id, ep := range nodes {
		e.nodes[id] = ep
	}
	if e.opts.Rate > 0 {
		burst := e.opts.BatchKeys
		if int(e.opts.Rate) > burst {
			burst = int(e.opts.Rate)
		}
		e.limiter = rate.NewLimiter(rate.Limit(e.opts.Rate), burst)
	}
	return e
}

// Endpoints returns the endpoint of every reachable node of snap.
func Endpoints(snap *topology.Snapshot) map[topology.NodeID]Endpoint {
	out := make(map[topology.NodeID]Endpoint, len(snap.Nodes))
	for id, st := range snap.Nodes {
		ep := Endpoint{Addr: st.Addr}
		// The announced bus port goes with the announced client port: a
		// node reached at another port (its pod address, while it
		// announces a node port) listens on that port's default bus port.
		if self := st.Self(); self != nil && self.Port() == portOf(st.Addr) {
			ep.BusPort = self.BusPort
		}
		out[id] = ep
	}
	return out
}

// portOf returns the port of a "host:port" address (0 when malformed).
func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// endpoint returns id's endpoint.
func (e *Executor) endpoint(id topology.NodeID) (Endpoint, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ep, ok := e.nodes[id]
	if !ok {
		return Endpoint{}, fmt.Errorf("node %s: no known address: %w", id.Short(), ErrStalePlan)
	}
	return ep, nil
}

// node returns the admin handle of id.
func (e *Executor) node(id topology.NodeID) (*redisadmin.Node, error) {
	ep, err := e.endpoint(id)
	if err != nil {
		return nil, err
	}
	return e.pool.Node(ep.Addr), nil
}

// learn records the addresses a CLUSTER NODES listing reports for nodes the
// executor does not know yet.
func (e *Executor) learn(v *topology.View) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range v.Nodes {
		if _, ok := e.nodes[n.ID]; ok || n.Host() == "" || n.Flags.Has(topology.FlagHandshake) {
			continue
		}
		e.nodes[n.ID] = Endpoint{Addr: n.Addr, BusPort: n.BusPort}
	}
}

// Run executes plan. It stops at the first failing step and returns its
// error wrapped with the step; on ctx cancellation it finishes the slots in
// flight and returns ctx's error wrapped.
func (e *Executor) Run(ctx context.Context, plan planner.Plan) error {
	e.progMu.Lock()
	e.start = time.Now()
	e.prog = Progress{}
	for _, s := range plan.Steps {
		switch s := s.(type) {
		case planner.MigrateSlots:
			e.prog.SlotsTotal += s.Slots.Count()
		case planner.FixOpenSlot:
			e.prog.SlotsTotal++
		}
	}
	e.progMu.Unlock()

	for i := 0; i < len(plan.Steps); {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("executor: stopped before step %d: %w", i+1, err)
		}
		j := i + 1
		for j < len(plan.Steps) && groupable(plan.Steps[i:j], plan.Steps[j]) {
			j++
		}
		group := plan.Steps[i:j]
		e.opts.Logger.Info("running steps", "first", i+1, "count", len(group), "kind", fmt.Sprintf("%T", group[0]))
		if err := e.runGroup(ctx, group); err != nil {
			if len(group) == 1 {
				return fmt.Errorf("executor: step %d (%s): %w", i+1, group[0], err)
			}
			return fmt.Errorf("executor: steps %d-%d: %w", i+1, j, err)
		}
		i = j
	}
	e.report(0, 0, true)
	return nil
}

// groupable reports whether next may run concurrently with the steps of
// group: same kind, and for migrations no shared slot.
func groupable(group []planner.Step, next planner.Step) bool {
	switch n := next.(type) {
	case planner.SetConfigEpoch, planner.AssignSlots:
		for _, s := range group {
			switch s.(type) {
			case planner.SetConfigEpoch, planner.AssignSlots:
			default:
				return false
			}
		}
		return true
	case planner.Meet:
		_, ok := group[0].(planner.Meet)
		return ok
	case planner.Replicate:
		_, ok := group[0].(planner.Replicate)
		return ok
	case planner.Announce:
		_, ok := group[0].(planner.Announce)
		return ok
	case planner.MigrateSlots:
		for _, s := range group {
			m, ok := s.(planner.MigrateSlots)
			if !ok || m.Slots.Overlaps(n.Slots) {
				return false
			}
		}
		return true
	}
	return false
}

// runGroup runs steps that groupable admitted together.
func (e *Executor) runGroup(ctx context.Context, group []planner.Step) error {
	switch group[0].(type) {
	case planner.SetConfigEpoch, planner.AssignSlots:
		return e.prepareNodes(ctx, group)
	case planner.Meet:
		return forEach(ctx, len(group), len(group), func(ctx context.Context, i int) error {
			return e.Meet(ctx, group[i].(planner.Meet))
		})
	case planner.Replicate:
		return forEach(ctx, len(group), len(group), func(ctx context.Context, i int) error {
			return e.Replicate(ctx, group[i].(planner.Replicate))
		})
	case planner.Announce:
		return forEach(ctx, len(group), len(group), func(ctx context.Context, i int) error {
			return e.Announce(ctx, group[i].(planner.Announce))
		})
	case planner.MigrateSlots:
		return forEach(ctx, len(group), e.opts.Parallel, func(ctx context.Context, i int) error {
			return e.MigrateSlots(ctx, group[i].(planner.MigrateSlots))
		})
	}
	return e.runStep(ctx, group[0])
}

// runStep dispatches one step to its method.
func (e *Executor) runStep(ctx context.Context, s planner.Step) error {
	switch s := s.(type) {
	case planner.SetConfigEpoch:
		return e.SetConfigEpoch(ctx, s)
	case planner.AssignSlots:
		return e.AssignSlots(ctx, s)
	case planner.Meet:
		return e.Meet(ctx, s)
	case planner.Replicate:
		return e.Replicate(ctx, s)
	case planner.MigrateSlots:
		return e.MigrateSlots(ctx, s)
	case planner.FixOpenSlot:
		return e.FixOpenSlot(ctx, s)
	case planner.SetSlotOwner:
		return e.SetSlotOwner(ctx, s)
	case planner.Forget:
		return e.Forget(ctx, s)
	case planner.ResetNode:
		return e.ResetNode(ctx, s)
	case planner.Announce:
		return e.Announce(ctx, s)
	case planner.Failover:
		return e.Failover(ctx, s)
	default:
		return fmt.Errorf("unknown step type %T", s)
	}
}

// forEach runs fn(0..n-1) with at most limit at once and returns every
// error joined. A failure does not cancel the others: each runs to a safe
// stopping point on its own.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	if n == 1 {
		return fn(ctx, 0)
	}
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(ctx, i)
		}(i)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// report adds to the progress counters and calls Options.Progress, at most
// every 100 ms unless force.
func (e *Executor) report(slots int, keys int64, force bool) {
	e.progMu.Lock()
	defer e.progMu.Unlock()
	e.prog.SlotsDone += slots
	e.prog.KeysMoved += keys
	if e.opts.Progress == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(e.lastProg) < 100*time.Millisecond && e.prog.SlotsDone < e.prog.SlotsTotal {
		return
	}
	e.lastProg = now
	p := e.prog
	p.Elapsed = now.Sub(e.start)
	if s := p.Elapsed.Seconds(); s > 0 {
		p.KeysPerSecond = float64(p.KeysMoved) / s
	}
	e.opts.Progress(p)
}

// CurrentProgress returns the progress so far.
func (e *Executor) CurrentProgress() Progress {
	e.progMu.Lock()
	defer e.progMu.Unlock()
	p := e.prog
	p.Elapsed = time.Since(e.start)
	if s := p.Elapsed.Seconds(); s > 0 {
		p.KeysPerSecond = float64(p.KeysMoved) / s
	}
	return p
}
