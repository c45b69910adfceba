package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/auth"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/tlsswitch"
)

// Requeue intervals. Redis changes (a replica finishing its sync, a node
// flagged fail) raise no Kubernetes event, so the controller observes again
// on a timer: soon while something is changing, rarely once all is well.
const (
	// RequeueBusy is the delay after a topology action or while the cluster
	// is not Ready.
	RequeueBusy = 500 * time.Millisecond
	// RequeueIdle is the delay once the cluster is Ready and nothing is left
	// to do.
	RequeueIdle = 30 * time.Second
	// RequeueSilentMaster is the delay while a master that owns slots is
	// silent and its pod is gone: the pass that sees its replicas' links
	// close takes over at once (decideForcedFailover).
	RequeueSilentMaster = 200 * time.Millisecond
	// RequeueInvalid is the delay while the spec refers to something missing
	// (a password Secret) that may appear later.
	RequeueInvalid = 10 * time.Second
)

// +kubebuilder:rbac:groups=redis.redkube.io,resources=redisclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=redis.redkube.io,resources=redisclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=redis.redkube.io,resources=redisclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps;services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch;list

// Reconciler reconciles RedisCluster objects.
type Reconciler struct {
	// Client reads through the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads around the cache (Secrets, which the manager does not
	// cache cluster-wide).
	APIReader client.Reader
	// Recorder emits events on RedisClusters.
	Recorder recorder.EventRecorder
	// Clock is injected for tests (default: the real clock).
	Clock clock.PassiveClock
	// Redis configures the connections to Redis nodes (timeouts); the
	// password comes from the RedisCluster's Secret.
	Redis redisadmin.Options
	// ProbeTimeout bounds the TCP probe of a silent master whose pod is
	// gone (default 300 ms: on a pod network the kernel of a live pod
	// answers a connect in well under a millisecond). Refused or unroutable means gone; a timeout counts
	// as gone only once the master's replicas report their links closed.
	ProbeTimeout time.Duration
	// Logger receives the executor's structured logs (default: discarded).
	Logger *slog.Logger
	// ExporterImage is the exporter sidecar's image when a RedisCluster's
	// spec.monitoring.exporter.image is unset (default:
	// DefaultExporterImage).
	ExporterImage string
	// ClusterDomain is the Kubernetes cluster's DNS domain, for the pods'
	// names with spec.announce Hostname (default: cluster.local).
	ClusterDomain string
}

// DefaultExporterImage is the exporter sidecar's default image: the
// operator's own image, which ships /redkube-exporter, at the operator's
// version (VERSION; a test keeps them in step). Because it is part of the
// pod template, an operator upgrade that changes it replaces the Redis
// pods of clusters running the exporter, one at a time.
const DefaultExporterImage = "ghcr.io/redkube/redkube-operator:0.1.0"

// clusterDomain is r.ClusterDomain or its default.
func (r *Reconciler) clusterDomain() string {
	if r.ClusterDomain == "" {
		return resources.DefaultClusterDomain
	}
	return r.ClusterDomain
}

// exporterImage is r.ExporterImage or its default.
func (r *Reconciler) exporterImage() string {
	if r.ExporterImage == "" {
		return DefaultExporterImage
	}
	return r.ExporterImage
}

// state is everything one reconcile pass knows, filled in phase by phase:
// each phase reads what the earlier ones wrote and never changes it.
type state struct {
	rc  *redisv1alpha1.RedisCluster
	old redisv1alpha1.RedisClusterStatus
	// password is the Redis password ("" when none is set).
	password string
	// invalid is set when the spec refers to something missing or cannot
	// be satisfied; the message names the field.
	invalid string
	// invalidReason is the Degraded reason for invalid: InvalidSpec unless
	// set (NameConflict).
	invalidReason redisv1alpha1.ConditionReason
	// changed lists the objects created or updated in this pass.
	changed []string
	// kube is what Kubernetes reports (pods, nodes, claims).
	kube kubeObs
	// obs is what the pass gathered, as the core's plain data.
	obs heal.Observation
	// cluster is derived from obs once (nil until Redis was gathered).
	cluster *heal.Cluster
	// decision is the pass's one topology change (or none).
	decision heal.Decision
	// err is the first error of a phase; later phases are skipped.
	err error
	// pool reaches the Redis nodes; created once the password is known.
	pool *redisadmin.Pool
	// applied is the password the nodes were last made to require, and
	// appliedSecret the Secret recording it (appliedKnown false, nil: none
	// yet).
	applied       resources.AppliedPassword
	appliedSecret *corev1.Secret
	appliedKnown  bool
	// extraPools are closed with pool at the end of the pass.
	extraPools []*redisadmin.Pool
	// wishes are the endpoints the pods' nodes should announce, by pod.
	wishes map[string]endpointWish
	// resharding is the status.resharding to write: the previous one,
	// advanced by a reshard or cleared when the decision says it is done.
	resharding *redisv1alpha1.ReshardingStatus
	// storage is the storage phase's plan (nil until it ran).
	storage *storagePlan
	// tls is the pass's TLS finding (nil until prepareTLS ran).
	tls *tlsState
	// users is the pass's view of the ACL users (nil until readUsers ran).
	users *usersState
	// restore is how spec.restore runs (nil without spec.restore, or
	// until chooseRestore ran).
	restore *restoreChoice
	// restoreKeys are the key counts of a same-layout restore's masters,
	// for status.restore.shards (nil when not read this pass).
	restoreKeys []shardKeys
}

// SetupWithManager registers the controller: it watches RedisClusters, the
// objects they own, and their pods and claims (by the instance label), so a
// pod's deletionTimestamp reaches Reconcile at once.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.setDefaults()
	byInstance := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		l := o.GetLabels()
		if l[resources.LabelName] != resources.LabelNameValue || l[resources.LabelInstance] == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: l[resources.LabelInstance]}}}
	})
	labelled := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[resources.LabelInstance] != ""
	}))
	err := ctrl.NewControllerManagedBy(mgr).
		For(&redisv1alpha1.RedisCluster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.Pod{}, byInstance, labelled).
		Watches(&corev1.PersistentVolumeClaim{}, byInstance, labelled).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.clustersUsingSecret), builder.OnlyMetadata).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
	if err != nil {
		return fmt.Errorf("set up the RedisCluster controller: %w", err)
	}
	return nil
}

// setDefaults fills the unset fields.
func (r *Reconciler) setDefaults() {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.ProbeTimeout == 0 {
		r.ProbeTimeout = 300 * time.Millisecond
	}
	if r.Redis.DialTimeout == 0 {
		// Pods answer a connect from the kernel in well under a millisecond;
		// the timeout only matters for an address whose pod just vanished,
		// and a pass that waits on one delays the pass that acts on it.
		r.Redis.DialTimeout = 250 * time.Millisecond
	}
	if r.Redis.MaxRetries == 0 {
		// No command retries: a pass that fails is simply the next pass's
		// to redo, from a fresh observation (the executor retries what a
		// migration needs on its own).
		r.Redis.MaxRetries = -1
	}
	if r.Redis.ReadTimeout == 0 {
		r.Redis.ReadTimeout = 5 * time.Second
	}
	if r.Redis.BufferSize == 0 {
		// A pass's replies are small (CLUSTER NODES, INFO); the pool lives
		// for one pass, so go-redis's 32-128 KiB buffers per connection
		// were mostly garbage (docs/design/2026-11-25-manager-memory.md).
		r.Redis.BufferSize = 16 << 10
	}
	if r.Redis.PoolSize == 0 {
		r.Redis.PoolSize = 2
	}
}

// Reconcile runs one pass: fetch → validate → read the password and the
// ACL users → expand the claims (storage) → settle spec.restore's method
// → check and issue the TLS
// certificates → apply the rendered objects → gather from Kubernetes →
// change the users and the password on the running nodes → gather from
// Redis → derive and decide (the core's heal chain) → act → read a
// same-layout restore's key counts → status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	if r.Clock == nil {
		r.setDefaults()
	}
	start := r.Clock.Now()
	defer func() { observeReconcile(req.Namespace, req.Name, r.Clock.Now().Sub(start), err) }()

	st, err := r.fetch(ctx, req)
	if err != nil || st == nil {
		return ctrl.Result{}, err
	}
	InitMetrics(req.Namespace, req.Name)
	defer st.closePool(ctx)
	r.runPhases(ctx, st)
	if err := r.writeStatus(ctx, st); err != nil {
		return ctrl.Result{}, errors.Join(st.err, err)
	}
	if st.err != nil {
		// A TerminalError stays terminal through the wrapping (errors.Is).
		return ctrl.Result{}, st.err
	}
	return ctrl.Result{RequeueAfter: requeueAfter(st)}, nil
}

// phase is one named step of a pass.
type phase struct {
	name string
	run  func(context.Context, *state) error
}

// runPhases runs the phases in order until one fails or finds the spec
// invalid.
func (r *Reconciler) runPhases(ctx context.Context, st *state) {
	for _, p := range []phase{
		{"validate", r.validate},
		{"password", r.readPassword},
		{"applied password", r.readApplied},
		{"users", r.readUsers},
		{"storage", r.convergeStorage},
		{"restore method", r.chooseRestore},
		{"tls", r.prepareTLS},
		{"apply", r.applyObjects},
		{"gather kubernetes", r.gatherKube},
		{"prune", r.pruneExternal},
		{"change users", r.convergeUsers},
		{"change password", r.convergePassword},
		{"gather redis", r.gatherRedis},
		{"switch to tls", r.switchNodes},
		{"apply tls", r.applyTLS},
		{"decide", r.decide},
		{"act", r.act},
		{"restore keys", r.readRestoreKeys},
	} {
		if st.invalid != "" {
			return
		}
		if err := p.run(ctx, st); err != nil {
			st.err = fmt.Errorf("%s: %w", p.name, err)
			return
		}
	}
}

// requeueAfter is when a pass that ended without error observes again. The
// pass that first finds the cluster Ready comes back soon rather than idle:
// the optional moves (master spread, placement) wait for a Ready verdict
// from the previous pass, so only the next pass can consider them.
func requeueAfter(st *state) time.Duration {
	switch {
	case st.invalid != "":
		return RequeueInvalid
	case st.decision.IsNone() && isReady(st) && st.obs.Memory.WasReady:
		return RequeueIdle
	case len(st.obs.Probes) > 0:
		return RequeueSilentMaster
	case tlsPending(st):
		return RequeueTLS
	}
	return RequeueBusy
}

// closePool closes the pass's Redis connections.
func (st *state) closePool(ctx context.Context) {
	for _, p := range append(st.extraPools, st.pool) {
		if p == nil {
			continue
		}
		if err := p.Close(); err != nil {
			log.FromContext(ctx).V(1).Info("close redis pool", "err", err.Error())
		}
	}
}

// decide derives the cluster from what was gathered and asks the core's
// chain for the pass's one change. It is pure.
func (r *Reconciler) decide(_ context.Context, st *state) error {
	st.cluster = heal.Derive(st.obs)
	st.decision = heal.DefaultChain().Decide(st.cluster)
	return nil
}

// fetch reads the RedisCluster; a nil state means it is gone.
func (r *Reconciler) fetch(ctx context.Context, req ctrl.Request) (*state, error) {
	rc := &redisv1alpha1.RedisCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			forgetMetrics(req.Namespace, req.Name)
			return nil, nil
		}
		return nil, fmt.Errorf("get RedisCluster %s: %w", req.NamespacedName, err)
	}
	if rc.DeletionTimestamp != nil {
		// Owner references let the garbage collector remove the objects.
		return nil, nil
	}
	old := *rc.Status.DeepCopy()
	return &state{rc: rc, old: old, resharding: old.Resharding.DeepCopy()}, nil
}

// validate rejects specs no pass can satisfy. The CRD's CEL rules reject
// them at admission; this catches objects stored under an older CRD.
func (r *Reconciler) validate(_ context.Context, st *state) error {
	s := st.rc.Spec
	switch {
	case s.Masters < redisv1alpha1.MinMasters:
		return reconcile.TerminalError(fmt.Errorf("spec.masters is %d: at least %d are needed", s.Masters, redisv1alpha1.MinMasters))
	case s.ReplicasPerMaster < 0:
		return reconcile.TerminalError(fmt.Errorf("spec.replicasPerMaster is %d: must not be negative", s.ReplicasPerMaster))
	}
	// The CRD refuses a bad spec.config, but an object stored before its
	// rules existed keeps its config on update: never roll it onto pods.
	if errs := redisv1alpha1.ValidateConfig(s.Config); len(errs) > 0 {
		st.invalid = errs[0].Error()
	}
	return nil
}

// readPassword reads the password from spec.passwordSecret.
func (r *Reconciler) readPassword(ctx context.Context, st *state) error {
	ref := st.rc.Spec.PasswordSecret
	if ref == nil {
		return nil
	}
	key := ref.Key
	if key == "" {
		key = redisv1alpha1.DefaultPasswordKey
	}
	sec := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: st.rc.Namespace, Name: ref.Name}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			st.invalid = fmt.Sprintf("spec.passwordSecret.name: Secret %q not found", ref.Name)
			return nil
		}
		return fmt.Errorf("get password Secret %s: %w", ref.Name, err)
	}
	pw, ok := sec.Data[key]
	if !ok {
		st.invalid = fmt.Sprintf("spec.passwordSecret.key: Secret %q has no key %q", ref.Name, key)
		return nil
	}
	if strings.TrimSpace(string(pw)) == "" {
		// requirepass "" turns authentication off: the cluster would be
		// open to anyone while the user believes it protected.
		st.invalid = fmt.Sprintf("spec.passwordSecret.key: key %q of Secret %q is empty: an empty password turns authentication off", key, ref.Name)
		return nil
	}
	st.password = string(pw)
	return nil
}

// poolOptions are the Redis connection options of one pass.
// It authenticates as the operator's own user once the users Secret holds
// its password (a node without that user yet is given it by the users
// phase, which falls back to the default user: defaultPoolOptions).
func (r *Reconciler) poolOptions(st *state) redisadmin.Options {
	o := r.defaultPoolOptions(st, st.password)
	if u := st.users; u != nil && u.system.Operator != "" {
		o.Username, o.Password = auth.OperatorUser, u.system.Operator
	}
	return o
}

// defaultPoolOptions are the connection options of the default user with
// password.
func (r *Reconciler) defaultPoolOptions(st *state, password string) redisadmin.Options {
	o := r.Redis
	o.Password = password
	switch t := st.tls; {
	case t == nil:
	case t.on:
		o.TLSConfig = t.config
	case t.sw.Render == tlsswitch.ModeFilesMounted:
		// Switching to TLS: each node serves one or the other.
		o.TLSConfig, o.PlainTextFallback = t.config, true
	}
	return o
}

// logger returns the executor's logger.
func (r *Reconciler) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}
