package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// Event reasons recorded on claims and volumes.
const (
	ReasonProvisioningSucceeded = "ProvisioningSucceeded"
	ReasonProvisioningFailed    = "ProvisioningFailed"
	ReasonVolumeDeleted         = "VolumeDeleted"
	ReasonVolumeFailedDelete    = "VolumeFailedDelete"
)

// Config configures a Provisioner.
type Config struct {
	// Client is used with enough rights to read claims and classes and to
	// create, update and delete PersistentVolumes and events.
	Client kubernetes.Interface
	// BaseDir holds one directory per provisioned volume. It must exist.
	BaseDir string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// Provisioner provisions and deletes directory-backed PersistentVolumes.
// Create it with New, then call Run once.
type Provisioner struct {
	client  kubernetes.Interface
	baseDir string
	log     *slog.Logger

	factory   informers.SharedInformerFactory
	claims    corelisters.PersistentVolumeClaimLister
	volumes   corelisters.PersistentVolumeLister
	classes   storagelisters.StorageClassLister
	queue     workqueue.TypedRateLimitingInterface[key]
	recorder  record.EventRecorder
	broadcast record.EventBroadcaster
}

// key is a work item: a claim (namespace/name) or a volume (name).
type key struct {
	volume    bool
	namespace string
	name      string
}

// New returns a Provisioner for cfg.
func New(cfg Config) (*Provisioner, error) {
	if cfg.Client == nil {
		return nil, errors.New("storage provisioner: no client")
	}
	base, err := filepath.Abs(cfg.BaseDir)
	if err != nil {
		return nil, fmt.Errorf("storage provisioner: resolve base folder: %w", err)
	}
	st, err := os.Stat(base)
	if err != nil {
		return nil, fmt.Errorf("storage provisioner: base folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("storage provisioner: base folder %s is not a directory", base)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Provisioner{client: cfg.Client, baseDir: base, log: log}
	p.factory = informers.NewSharedInformerFactory(cfg.Client, 0)
	p.claims = p.factory.Core().V1().PersistentVolumeClaims().Lister()
	p.volumes = p.factory.Core().V1().PersistentVolumes().Lister()
	p.classes = p.factory.Storage().V1().StorageClasses().Lister()
	p.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[key](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[key]{Name: "local-dir-provisioner"},
	)
	p.broadcast = record.NewBroadcaster()
	p.recorder = p.broadcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ProvisionerName})
	return p, nil
}

// Run serves until ctx ends. It returns nil then, or an error when the
// informers cannot sync.
func (p *Provisioner) Run(ctx context.Context) error {
	defer p.queue.ShutDown()
	p.broadcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: p.client.CoreV1().Events("")})
	defer p.broadcast.Shutdown()

	claimKey := func(obj any) {
		if c, ok := tombstone(obj).(*corev1.PersistentVolumeClaim); ok {
			p.queue.Add(key{namespace: c.Namespace, name: c.Name})
		}
	}
	volumeKey := func(obj any) {
		if v, ok := tombstone(obj).(*corev1.PersistentVolume); ok {
			p.queue.Add(key{volume: true, name: v.Name})
		}
	}
	if _, err := p.factory.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    claimKey,
		UpdateFunc: func(_, obj any) { claimKey(obj) },
	}); err != nil {
		return fmt.Errorf("watch claims: %w", err)
	}
	if _, err := p.factory.Core().V1().PersistentVolumes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    volumeKey,
		UpdateFunc: func(_, obj any) { volumeKey(obj) },
	}); err != nil {
		return fmt.Errorf("watch volumes: %w", err)
	}
	// A claim may wait for its class to appear.
	if _, err := p.factory.Storage().V1().StorageClasses().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			class, ok := obj.(*storagev1.StorageClass)
			if !ok || class.Provisioner != ProvisionerName {
				return
			}
			claims, err := p.claims.List(labels.Everything())
			if err != nil {
				return
			}
			for _, c := range claims {
				if c.Spec.StorageClassName != nil && *c.Spec.StorageClassName == class.Name {
					p.queue.Add(key{namespace: c.Namespace, name: c.Name})
				}
			}
		},
	}); err != nil {
		return fmt.Errorf("watch StorageClasses: %w", err)
	}
	p.factory.Start(ctx.Done())
	defer p.factory.Shutdown()
	for typ, ok := range p.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("storage provisioner: cache of %v did not sync", typ)
		}
	}
	p.log.Info("provisioner started", "provisioner", ProvisionerName, "baseDir", p.baseDir)

	go func() {
		<-ctx.Done()
		p.queue.ShutDown()
	}()
	for p.processNext(ctx) {
	}
	return nil
}

func tombstone(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func (p *Provisioner) processNext(ctx context.Context) bool {
	k, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(k)
	var err error
	if k.volume {
		err = p.syncVolume(ctx, k.name)
	} else {
		err = p.syncClaim(ctx, k.namespace, k.name)
	}
	if err != nil && ctx.Err() == nil {
		p.log.Error("sync failed; retrying", "volume", k.volume, "namespace", k.namespace, "name", k.name, "err", err)
		p.queue.AddRateLimited(k)
		return true
	}
	p.queue.Forget(k)
	return true
}

// VolumeName is the name of the PersistentVolume provisioned for the claim
// with uid (the convention of the Kubernetes external provisioners).
func VolumeName(claimUID string) string { return "pvc-" + claimUID }

// syncClaim provisions a volume for the claim if it is ours and ready, or
// expands the volume of ours it is bound to when it asks for more.
func (p *Provisioner) syncClaim(ctx context.Context, namespace, name string) error {
	claim, err := p.claims.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get claim %s/%s: %w", namespace, name, err)
	}
	if claim.Spec.VolumeName != "" {
		return p.resizeClaim(ctx, claim)
	}
	if claim.DeletionTimestamp != nil || claim.Spec.StorageClassName == nil {
		return nil
	}
	class, err := p.classes.Get(*claim.Spec.StorageClassName)
	if apierrors.IsNotFound(err) {
		return nil // the PV controller reports the missing class
	}
	if err != nil {
		return fmt.Errorf("get StorageClass of claim %s/%s: %w", namespace, name, err)
	}
	if class.Provisioner != ProvisionerName {
		return nil
	}
	node := claim.Annotations[AnnSelectedNode]
	wait := class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
	if wait && node == "" {
		return nil // the scheduler has not chosen a node yet
	}
	pvName := VolumeName(string(claim.UID))
	if _, err := p.volumes.Get(pvName); err == nil {
		return nil // provisioned already; the PV controller binds it
	}
	pv, err := p.buildVolume(claim, class, node)
	if err != nil {
		p.recorder.Event(claim, corev1.EventTypeWarning, ReasonProvisioningFailed, err.Error())
		return err
	}
	dir := p.volumeDir(pvName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		err = fmt.Errorf("create volume directory %s: %w", dir, err)
		p.recorder.Event(claim, corev1.EventTypeWarning, ReasonProvisioningFailed, err.Error())
		return err
	}
	if _, err := p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		err = fmt.Errorf("create PersistentVolume %s: %w", pvName, err)
		p.recorder.Event(claim, corev1.EventTypeWarning, ReasonProvisioningFailed, err.Error())
		return err
	}
	p.log.Info("volume provisioned", "claim", namespace+"/"+name, "volume", pvName, "node", node, "dir", dir)
	p.recorder.Eventf(claim, corev1.EventTypeNormal, ReasonProvisioningSucceeded, "Successfully provisioned volume %s in %s", pvName, dir)
	return nil
}

func (p *Provisioner) volumeDir(pvName string) string { return filepath.Join(p.baseDir, pvName) }

// buildVolume returns the PersistentVolume for claim: a `local` volume
// pinned to node, or a hostPath volume when no node was selected.
func (p *Provisioner) buildVolume(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node string) (*corev1.PersistentVolume, error) {
	size, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil, fmt.Errorf("claim %s/%s requests no storage size", claim.Namespace, claim.Name)
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	pvName := VolumeName(string(claim.UID))
	dir := p.volumeDir(pvName)
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        pvName,
			Annotations: map[string]string{annProvisionedBy: ProvisionerName},
			Finalizers:  []string{Finalizer},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind:       "PersistentVolumeClaim",
				APIVersion: "v1",
				Namespace:  claim.Namespace,
				Name:       claim.Name,
				UID:        claim.UID,
			},
		},
	}
	if node == "" {
		pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectory)}
		return pv, nil
	}
	pv.Spec.Local = &corev1.LocalVolumeSource{Path: dir}
	pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key:      corev1.LabelHostname,
				Operator: corev1.NodeSelectorOpIn,
				Values:   []string{node},
			}},
		}},
	}}
	return pv, nil
}

// VolumePath returns the directory of a PersistentVolume backed by a local
// or hostPath volume source (provisioned by this package or created
// statically), or "" for other sources. The node agent mounts this path.
func VolumePath(pv *corev1.PersistentVolume) string {
	switch {
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path
	default:
		return ""
	}
}

// syncVolume deletes a released Delete volume of ours, and releases the
// finalizer of a volume of ours that is being deleted.
func (p *Provisioner) syncVolume(ctx context.Context, name string) error {
	pv, err := p.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get PersistentVolume %s: %w", name, err)
	}
	if pv.Annotations[annProvisionedBy] != ProvisionerName {
		return nil
	}
	deleteData := pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete
	switch {
	case pv.DeletionTimestamp != nil:
		// Deleted by someone: a Delete volume's data goes with it, a Retain
		// volume's stays.
		if !slices.Contains(pv.Finalizers, Finalizer) {
			return nil
		}
		if deleteData {
			if err := p.removeDir(pv); err != nil {
				return err
			}
		}
		return p.dropFinalizer(ctx, pv)
	case pv.Status.Phase == corev1.VolumeReleased && deleteData:
		if err := p.removeDir(pv); err != nil {
			return err
		}
		if err := p.dropFinalizer(ctx, pv); err != nil {
			return err
		}
		err := p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &pv.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete PersistentVolume %s: %w", pv.Name, err)
		}
		p.log.Info("volume deleted", "volume", pv.Name)
		return nil
	default:
		return nil
	}
}

// removeDir deletes the volume's directory, refusing any path outside the
// base folder.
func (p *Provisioner) removeDir(pv *corev1.PersistentVolume) error {
	dir := VolumePath(pv)
	if dir == "" {
		return nil
	}
	rel, err := filepath.Rel(p.baseDir, filepath.Clean(dir))
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || strings.ContainsRune(rel, filepath.Separator) {
		err := fmt.Errorf("refusing to delete %s of PersistentVolume %s: not a volume directory under %s", dir, pv.Name, p.baseDir)
		p.recorder.Event(pv, corev1.EventTypeWarning, ReasonVolumeFailedDelete, err.Error())
		return err
	}
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil // removed on an earlier pass
	}
	if err := os.RemoveAll(dir); err != nil {
		err = fmt.Errorf("remove volume directory %s: %w", dir, err)
		p.recorder.Event(pv, corev1.EventTypeWarning, ReasonVolumeFailedDelete, err.Error())
		return err
	}
	p.recorder.Eventf(pv, corev1.EventTypeNormal, ReasonVolumeDeleted, "Removed %s", dir)
	return nil
}

func (p *Provisioner) dropFinalizer(ctx context.Context, pv *corev1.PersistentVolume) error {
	pv = pv.DeepCopy()
	pv.Finalizers = slices.DeleteFunc(pv.Finalizers, func(f string) bool { return f == Finalizer })
	if _, err := p.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer of PersistentVolume %s: %w", pv.Name, err)
	}
	return nil
}
