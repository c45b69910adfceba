package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/redkube/redkube/internal/podnet"
)

// Agent runs the pods of its nodes. Create it with New, then call Run; the
// StopNode and StartNode methods are safe to call while Run runs.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	ipam *podnet.IPAM

	nodes map[string]*node

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	runCtx  context.Context // set by Run; workers live under it
	wg      sync.WaitGroup
	spawner *spawner

	// liveLogs maps the log file of each running container instance to a
	// channel closed once all its output is in the file (followers stop
	// there).
	liveLogs sync.Map
	// kubeletPorts holds per node the port of its kubelet endpoint (set
	// by Run before the first heartbeat; guarded by mu).
	kubeletPorts map[string]int
}

// node is one served Node: its client, events, pod informer and liveness.
type node struct {
	name     string
	client   kubernetes.Interface
	recorder record.EventRecorder
	bcast    record.EventBroadcaster
	lister   listerscorev1.PodLister
	informer cache.SharedIndexInformer
	factory  informers.SharedInformerFactory
	kick     chan struct{} // heartbeat now

	mu      sync.Mutex
	stopped bool
	lastHB  time.Time // last lastHeartbeatTime we posted
}

func (n *node) isStopped() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopped
}

// New checks cfg and builds an Agent; nothing runs until Run.
func New(cfg Config) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ipam, err := podnet.NewIPAM(cfg.Network, filepath.Join(cfg.StateDir, "ipam.json"))
	if err != nil {
		return nil, fmt.Errorf("nodeagent: %w", err)
	}
	a := &Agent{
		cfg:     cfg,
		log:     cfg.Logger,
		ipam:    ipam,
		nodes:   map[string]*node{},
		workers: map[types.UID]*podWorker{},
		spawner: newSpawner(),
	}
	for _, name := range cfg.Nodes {
		rc := cfg.NodeConfigs[name]
		if rc == nil {
			rc = cfg.Admin
		}
		rc = rest.CopyConfig(rc)
		if rc.QPS == 0 {
			// kubelet's defaults (kubeAPIQPS/kubeAPIBurst); client-go's 5/10
			// would throttle status updates of a busy node.
			rc.QPS, rc.Burst = 50, 100
		}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("nodeagent: client for node %s: %w", name, err)
		}
		n := &node{name: name, client: cs, kick: make(chan struct{}, 1)}
		n.factory = informers.NewSharedInformerFactoryWithOptions(cs, 0,
			informers.WithTweakListOptions(func(o *metav1ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", name).String()
			}))
		pods := n.factory.Core().V1().Pods()
		n.informer = pods.Informer()
		n.lister = pods.Lister()
		a.nodes[name] = n
	}
	return a, nil
}

// Run serves the nodes until ctx is cancelled, then stops every pod worker
// (killing the pods unless Config.KeepPodsOnExit) and returns nil. It
// returns an error when the agent cannot start at all.
func (a *Agent) Run(ctx context.Context) error {
	if err := podnet.EnsureBridge(a.cfg.Network); err != nil {
		return fmt.Errorf("nodeagent: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	servers, err := a.startKubeletServers(runCtx)
	if err != nil {
		return err
	}
	defer stopKubeletServers(servers)
	// The spawner outlives the workers (their shutdown may still start
	// nothing, but must never block on it).
	spawnCtx, stopSpawner := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSpawner()
	go a.spawner.run(spawnCtx)
	a.mu.Lock()
	a.runCtx = runCtx
	a.mu.Unlock()

	records, err := loadRecords(a.cfg.StateDir)
	if err != nil {
		return err
	}
	known := a.adoptRecords(records)
	var hbWG sync.WaitGroup
	for _, n := range a.nodes {
		n.bcast = record.NewBroadcaster(record.WithContext(runCtx))
		n.bcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: n.client.CoreV1().Events("")})
		n.recorder = n.bcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: n.name})
		if _, err := n.informer.AddEventHandler(a.handlers(n)); err != nil {
			return fmt.Errorf("nodeagent: pod handler for node %s: %w", n.name, err)
		}
		n.factory.Start(runCtx.Done())
		hbWG.Add(1)
		go func() {
			defer hbWG.Done()
			a.heartbeatLoop(runCtx, n)
		}()
	}
	for _, n := range a.nodes {
		if !cache.WaitForCacheSync(runCtx.Done(), n.informer.HasSynced) {
			break
		}
	}
	a.cleanupOrphans(known)
	a.log.Info("node agent serving", "nodes", a.cfg.Nodes, "adopted", len(records))

	<-runCtx.Done()
	a.log.Info("node agent stopping", "keepPods", a.cfg.KeepPodsOnExit)
	a.wg.Wait()
	hbWG.Wait()
	for _, n := range a.nodes {
		n.factory.Shutdown()
		n.bcast.Shutdown()
	}
	if a.cfg.DeleteBridgeOnExit && !a.cfg.KeepPodsOnExit {
		if err := podnet.DeleteBridge(a.cfg.Network.Bridge); err != nil {
			return fmt.Errorf("nodeagent: %w", err)
		}
	}
	return nil
}

func (a *Agent) handlers(n *node) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.dispatch(n, obj, true) },
		UpdateFunc: func(_, obj any) { a.dispatch(n, obj, true) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			a.dispatch(n, obj, false)
		},
	}
}

// dispatch wakes (or creates) the pod's worker; it never blocks.
func (a *Agent) dispatch(n *node, obj any, create bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.workers[pod.UID]
	if w == nil {
		if !create || a.runCtx == nil || a.runCtx.Err() != nil {
			return
		}
		w = newPodWorker(a, n, pod.Namespace, pod.Name, pod.UID, nil)
		a.startWorkerLocked(w)
	}
	w.wake()
}

func (a *Agent) startWorkerLocked(w *podWorker) {
	a.workers[w.uid] = w
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		w.run(a.runCtx)
		a.mu.Lock()
		delete(a.workers, w.uid)
		a.mu.Unlock()
	}()
}

// StopNode simulates the death of node name: its pods' processes are killed
// at once (SIGKILL) and their network namespaces removed, its lease and
// status heartbeats stop, and its pods are no longer reconciled (no status,
// no restarts, no deletions) until StartNode.
func (a *Agent) StopNode(ctx context.Context, name string) error {
	n := a.nodes[name]
	if n == nil {
		return fmt.Errorf("nodeagent: node %s is not served by this agent", name)
	}
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	var errs []error
	for _, w := range a.workersOf(name) {
		if err := w.control(ctx, ctlNodeDown); err != nil {
			errs = append(errs, err)
		}
	}
	a.log.Info("node stopped", "node", name)
	return errors.Join(errs...)
}

// StartNode brings a stopped node back: heartbeats resume at once and its
// pods are reconciled again, as after a kubelet restart on a rebooted
// machine (new sandboxes and addresses, containers restarted per policy;
// pods evicted meanwhile finish their deletion).
func (a *Agent) StartNode(ctx context.Context, name string) error {
	n := a.nodes[name]
	if n == nil {
		return fmt.Errorf("nodeagent: node %s is not served by this agent", name)
	}
	n.mu.Lock()
	n.stopped = false
	n.lastHB = time.Time{}
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
	if n.informer.HasSynced() {
		pods, err := n.lister.List(everything)
		if err != nil {
			return fmt.Errorf("nodeagent: list pods of node %s: %w", name, err)
		}
		for _, p := range pods {
			a.dispatch(n, p, true)
		}
	}
	for _, w := range a.workersOf(name) {
		w.wake()
	}
	a.log.Info("node started", "node", name)
	return ctx.Err()
}

func (a *Agent) workersOf(nodeName string) []*podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ws []*podWorker
	for _, w := range a.workers {
		if w.node.name == nodeName {
			ws = append(ws, w)
		}
	}
	return ws
}

// NodeStopped reports whether StopNode has stopped node name.
func (a *Agent) NodeStopped(name string) bool {
	n := a.nodes[name]
	return n != nil && n.isStopped()
}
