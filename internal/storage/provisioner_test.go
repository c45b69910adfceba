package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
	"github.com/redkube/redkube/internal/storage"
)

// The cluster runs no provisioner of its own: the test runs the one under
// test, against the real PV controller and scheduler.
func startCluster(t *testing.T) (*localkube.Cluster, string) {
	t.Helper()
	c := localkubetest.Start(t, localkube.Options{DisableProvisioner: true, NodeAgent: localkube.HeartbeatAgent})
	ctx, cancel := context.WithCancel(context.Background())
	base := t.TempDir()
	p, err := storage.New(storage.Config{Client: c.Client, BaseDir: base})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provisioner: %v", err)
		}
	})
	if err := storage.EnsureDefaultStorageClass(ctx, c.Client); err != nil {
		t.Fatal(err)
	}
	return c, base
}

// claim builds a ReadWriteOnce claim; an empty name asks for a generated
// one.
func claim(name, class string, size string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	if name == "" {
		pvc.GenerateName = "barrier-"
	}
	if class != "" {
		pvc.Spec.StorageClassName = ptr.To(class)
	}
	return pvc
}

func podWithClaim(name, claimName string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: "redis:7",
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName},
			}}},
		},
	}
}

func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func claimBound(cs kubernetes.Interface, name string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		pvc, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return pvc.Status.Phase == corev1.ClaimBound, nil
	}
}

// barrier provisions and binds one more claim of an Immediate class, so that
// events seen before it have been handled by the provisioner's single worker.
func barrier(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := t.Context()
	class := storage.DefaultStorageClass()
	class.Name = "barrier"
	class.Annotations = nil
	class.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pvc, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Create(ctx, claim("", "barrier", "1Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "barrier claim to bind", claimBound(cs, pvc.Name))
}

func TestProvisionedVolumeFollowsTheFirstPodsNode(t *testing.T) {
	c, base := startCluster(t)
	ctx := t.Context()
	cs := c.Client

	// The default class is filled in by admission: no class named here.
	pvc, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Create(ctx, claim("data", "", "1Gi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(pvc.Spec.StorageClassName, ""); got != storage.DefaultClassName {
		t.Fatalf("claim got class %q, want the default %q", got, storage.DefaultClassName)
	}
	// WaitForFirstConsumer: without a pod nothing is provisioned. The
	// provisioner has one worker and a FIFO queue: once a later claim is
	// provisioned, this one has been looked at.
	barrier(t, cs)
	pvc, err = cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" {
		t.Fatalf("claim without a consumer is %s (volume %q), want Pending and unbound", pvc.Status.Phase, pvc.Spec.VolumeName)
	}

	if _, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, podWithClaim("app", "data"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "claim to bind", claimBound(cs, "data"))
	var pod *corev1.Pod
	waitFor(t, "pod to be scheduled", func(ctx context.Context) (bool, error) {
		pod, err = cs.CoreV1().Pods(metav1.NamespaceDefault).Get(ctx, "app", metav1.GetOptions{})
		return err == nil && pod.Spec.NodeName != "", err
	})
	pvc, err = cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Name != storage.VolumeName(string(pvc.UID)) {
		t.Errorf("claim bound to %s, want the provisioned %s", pv.Name, storage.VolumeName(string(pvc.UID)))
	}
	terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 || terms[0].MatchExpressions[0].Values[0] != pod.Spec.NodeName {
		t.Errorf("volume node affinity %+v, want pinned to the pod's node %s", terms, pod.Spec.NodeName)
	}
	dir := storage.VolumePath(pv)
	if filepath.Dir(dir) != base {
		t.Errorf("volume directory %s is not under %s", dir, base)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("volume directory %s: %v", dir, err)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("reclaim policy %s, want the class's Delete", pv.Spec.PersistentVolumeReclaimPolicy)
	}

	// Releasing a Delete volume removes it and its directory. The pod must go
	// first (the claim is in use); with no node agent the pod is removed at
	// once.
	if err := cs.CoreV1().Pods(metav1.NamespaceDefault).Delete(ctx, "app", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "released volume to be deleted", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volume directory %s still there after the volume was deleted (stat: %v)", dir, err)
	}
}

func TestRetainedVolumeKeepsItsDirectory(t *testing.T) {
	c, _ := startCluster(t)
	ctx := t.Context()
	cs := c.Client
	class := storage.DefaultStorageClass()
	class.Name = "keep"
	class.Annotations = nil
	class.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain)
	class.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Create(ctx, claim("kept", "keep", "1Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Immediate binding: no pod needed, and no node to pin to.
	waitFor(t, "claim to bind", claimBound(cs, "kept"))
	pvc, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Get(ctx, "kept", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.HostPath == nil || pv.Spec.NodeAffinity != nil {
		t.Errorf("Immediate volume: hostPath %v, node affinity %v; want a hostPath volume without affinity", pv.Spec.HostPath, pv.Spec.NodeAffinity)
	}
	dir := storage.VolumePath(pv)
	marker := filepath.Join(dir, "data")
	if err := os.WriteFile(marker, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Delete(ctx, "kept", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "volume to be released", func(ctx context.Context) (bool, error) {
		pv, err = cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return err == nil && pv.Status.Phase == corev1.VolumeReleased, err
	})
	// Let the provisioner look at the released volume before checking that
	// it left it alone.
	barrier(t, cs)
	if _, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("retained volume is gone: %v", err)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "kept" {
		t.Errorf("retained data: %q, %v", b, err)
	}
	// Deleting a Retain volume keeps the directory.
	if err := cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "volume to be deleted", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("retained data removed with the volume: %v", err)
	}
}

// The tutorial's volumes: created by hand, storageClassName nfs (a class
// that does not exist as an object), Retain, a directory instead of an NFS
// export. The PV controller binds them; the provisioner leaves them alone.
func TestStaticVolumeOfTheTutorialBinds(t *testing.T) {
	c, _ := startCluster(t)
	ctx := t.Context()
	cs := c.Client
	dir := t.TempDir()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "nfs-pv1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "nfs",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := claim("redis-data-redis-app-0", "nfs", "200M")
	pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	if _, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "claim to bind", claimBound(cs, pvc.Name))

	got, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Get(ctx, pvc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.VolumeName != "nfs-pv1" {
		t.Errorf("claim bound to %q, want nfs-pv1", got.Spec.VolumeName)
	}
	bound, err := cs.CoreV1().PersistentVolumes().Get(ctx, "nfs-pv1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bound.Finalizers) != 0 && bound.Finalizers[0] == storage.Finalizer {
		t.Errorf("provisioner put its finalizer on a static volume")
	}
}

// A bound volume grows online when its claim asks for more: the volume's
// capacity, then the claim's status, as an external resizer does, with no
// resize condition left behind and the data in place. A class without
// allowVolumeExpansion cannot be asked (the API server's admission refuses).
func TestBoundVolumeGrowsWhenItsClaimAsksForMore(t *testing.T) {
	c, _ := startCluster(t)
	ctx := t.Context()
	cs := c.Client
	for _, name := range []string{"grow", "fixed"} {
		class := storage.DefaultStorageClass()
		class.Name = name
		class.Annotations = nil
		class.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
		if name == "fixed" {
			class.AllowVolumeExpansion = nil
		}
		if _, err := cs.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Create(ctx, claim(name, name, "1Gi"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "claim "+name+" to bind", claimBound(cs, name))
	}
	pvc, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Get(ctx, "grow", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(storage.VolumePath(pv), "data")
	if err := os.WriteFile(marker, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}

	grow := []byte(`{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}`)
	if _, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Patch(ctx, "grow", types.MergePatchType, grow, metav1.PatchOptions{}); err != nil {
		t.Fatalf("ask for 3Gi: %v", err)
	}
	want := resource.MustParse("3Gi")
	waitFor(t, "claim to report 3Gi", func(ctx context.Context) (bool, error) {
		pvc, err = cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Get(ctx, "grow", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got := pvc.Status.Capacity[corev1.ResourceStorage]
		return got.Cmp(want) == 0, nil
	})
	for _, c := range pvc.Status.Conditions {
		switch c.Type {
		case corev1.PersistentVolumeClaimResizing, corev1.PersistentVolumeClaimFileSystemResizePending,
			corev1.PersistentVolumeClaimControllerResizeError, corev1.PersistentVolumeClaimNodeResizeError:
			t.Errorf("resized claim keeps the condition %+v", c)
		}
	}
	if len(pvc.Status.AllocatedResourceStatuses) != 0 {
		t.Errorf("resized claim keeps the resize statuses %v; want none", pvc.Status.AllocatedResourceStatuses)
	}
	if got := pvc.Annotations[storage.AnnStorageResizer]; got != storage.ProvisionerName {
		t.Errorf("claim's %s = %q, want %q", storage.AnnStorageResizer, got, storage.ProvisionerName)
	}
	pv, err = cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(want) != 0 {
		t.Errorf("volume capacity %s, want 3Gi", got.String())
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "kept" {
		t.Errorf("data after the resize: %q, %v", b, err)
	}
	waitFor(t, "the VolumeResizeSuccessful event", func(ctx context.Context) (bool, error) {
		evs, err := cs.CoreV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=grow"})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == storage.ReasonVolumeResizeSuccessful {
				return true, nil
			}
		}
		return false, nil
	})

	_, err = cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Patch(ctx, "fixed", types.MergePatchType, grow, metav1.PatchOptions{})
	if err == nil || !apierrors.IsForbidden(err) {
		t.Fatalf("growing a claim of a class without allowVolumeExpansion: err = %v, want Forbidden", err)
	}
	t.Logf("refused as expected: %v", err)
}
