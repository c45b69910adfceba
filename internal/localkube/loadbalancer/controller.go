package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// ControllerName is the controller's event source component.
const ControllerName = "localkube-loadbalancer"

// Event reasons recorded on Services.
const (
	// ReasonIPAllocated: the Service got an address of the pool.
	ReasonIPAllocated = "IPAllocated"
	// ReasonIPReleased: the Service stopped being of type LoadBalancer
	// (or got a class) and its address went back to the pool.
	ReasonIPReleased = "IPReleased"
	// ReasonAllocationFailed: no address could be given (pool exhausted,
	// or spec.loadBalancerIP outside the pool or taken).
	ReasonAllocationFailed = "AllocationFailed"
)

// Config configures a Controller.
type Config struct {
	// Client reads Services and writes their status and events.
	Client kubernetes.Interface
	// Pool is the range addresses are assigned from.
	Pool netip.Prefix
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// Controller assigns load-balancer addresses. Create it with New, then
// call Run once.
type Controller struct {
	client    kubernetes.Interface
	log       *slog.Logger
	pool      *Pool
	factory   informers.SharedInformerFactory
	services  corelisters.ServiceLister
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
	broadcast record.EventBroadcaster
	// waiting are the Services that got no address; a release retries
	// them. Only the worker touches it (and pool).
	waiting map[string]bool
}

// New returns a Controller for cfg.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil {
		return nil, errors.New("load-balancer controller: no client")
	}
	pool, err := NewPool(cfg.Pool)
	if err != nil {
		return nil, fmt.Errorf("load-balancer controller: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{client: cfg.Client, log: log, pool: pool, waiting: map[string]bool{}}
	c.factory = informers.NewSharedInformerFactory(cfg.Client, 0)
	c.services = c.factory.Core().V1().Services().Lister()
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: ControllerName},
	)
	c.broadcast = record.NewBroadcaster()
	c.recorder = c.broadcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ControllerName})
	return c, nil
}

// Run serves until ctx ends and returns nil then, or an error when the
// Service informer cannot sync.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	c.broadcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcast.Shutdown()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := c.factory.Core().V1().Services().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("load-balancer controller: watch Services: %w", err)
	}
	c.factory.Start(ctx.Done())
	defer c.factory.Shutdown()
	for typ, ok := range c.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("load-balancer controller: cache of %v did not sync", typ)
		}
	}
	if err := c.adoptAssigned(); err != nil {
		return err
	}
	c.log.Info("load-balancer controller started", "pool", c.pool.Prefix().String())
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for c.processNext(ctx) {
	}
	return nil
}

// adoptAssigned rebuilds the pool from the addresses the Services' statuses
// already carry, before any Service is synced: a restarted controller
// keeps every Service on its address.
func (c *Controller) adoptAssigned() error {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("load-balancer controller: list Services: %w", err)
	}
	for _, svc := range svcs {
		if !ours(svc) {
			continue
		}
		a, ok := statusAddr(svc)
		if !ok {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		if err := c.pool.Claim(key, a); err != nil {
			c.log.Warn("status address not adopted", "service", key, "ip", a.String(), "err", err)
			continue
		}
		c.log.Info("address adopted", "service", key, "ip", a.String())
	}
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil && ctx.Err() == nil {
		c.log.Error("sync failed; retrying", "service", key, "err", err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// sync gives the Service key its address, or releases it.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("bad key %q: %w", key, err)
	}
	svc, err := c.services.Services(ns).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		c.release(key, nil)
		return nil
	case err != nil:
		return fmt.Errorf("get Service %s: %w", key, err)
	case !ours(svc):
		c.release(key, svc)
		return nil
	}
	a, fresh, err := c.choose(key, svc)
	if err != nil {
		c.waiting[key] = true
		c.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonAllocationFailed, "No address assigned: %v", err)
		c.log.Warn("no address assigned", "service", key, "err", err)
		return nil
	}
	delete(c.waiting, key)
	if err := c.writeStatus(ctx, svc, a); err != nil {
		if fresh {
			c.pool.Release(key)
		}
		return err
	}
	if fresh {
		c.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonIPAllocated, "Assigned %s from pool %s", a, c.pool.Prefix())
		c.log.Info("address assigned", "service", key, "ip", a.String())
	}
	return nil
}

// choose returns the Service's address and whether it was newly taken
// from the pool: spec.loadBalancerIP when set, else the address it holds,
// else the one its status carries if free, else the lowest free one.
func (c *Controller) choose(key string, svc *corev1.Service) (netip.Addr, bool, error) {
	held, holds := c.pool.Owned(key)
	if s := svc.Spec.LoadBalancerIP; s != "" {
		want, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, false, fmt.Errorf("spec.loadBalancerIP %q: %w", s, err)
		}
		if holds && held == want {
			return want, false, nil
		}
		if err := c.pool.Claim(key, want); err != nil {
			return netip.Addr{}, false, fmt.Errorf("spec.loadBalancerIP: %w", err)
		}
		return want, true, nil
	}
	if holds {
		return held, false, nil
	}
	if a, ok := statusAddr(svc); ok && c.pool.Claim(key, a) == nil {
		return a, false, nil
	}
	a, err := c.pool.Allocate(key)
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("pool %s: %w", c.pool.Prefix(), err)
	}
	return a, true, nil
}

// release returns the Service's address to the pool (svc is nil when it
// was deleted) and retries the Services waiting for one.
func (c *Controller) release(key string, svc *corev1.Service) {
	delete(c.waiting, key)
	a, ok := c.pool.Release(key)
	if !ok {
		return
	}
	c.log.Info("address released", "service", key, "ip", a.String())
	if svc != nil {
		c.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonIPReleased, "Released %s to pool %s", a, c.pool.Prefix())
	}
	for k := range c.waiting {
		c.queue.Add(k)
	}
}

// writeStatus sets the Service's ingress to a alone, with ipMode VIP,
// unless it already says so.
func (c *Controller) writeStatus(ctx context.Context, svc *corev1.Service, a netip.Addr) error {
	want := []corev1.LoadBalancerIngress{{IP: a.String(), IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
	got := svc.Status.LoadBalancer.Ingress
	if len(got) == 1 && got[0].IP == want[0].IP && got[0].Hostname == "" && got[0].IPMode != nil && *got[0].IPMode == corev1.LoadBalancerIPModeVIP && len(got[0].Ports) == 0 {
		return nil
	}
	up := svc.DeepCopy()
	up.Status.LoadBalancer.Ingress = want
	if _, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, up, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("write status of Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}

// ours reports whether svc is a load balancer this controller implements.
func ours(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

// statusAddr is the single ingress IP a status carries.
func statusAddr(svc *corev1.Service) (netip.Addr, bool) {
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			return a, true
		}
	}
	return netip.Addr{}, false
}
