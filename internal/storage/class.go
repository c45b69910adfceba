package storage

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const (
	// ProvisionerName is the provisioner of the StorageClasses this package
	// serves.
	ProvisionerName = "redkube.io/local-dir"
	// DefaultClassName is the name of the default StorageClass.
	DefaultClassName = "standard"
	// Finalizer is put on every PersistentVolume this package provisions.
	Finalizer = "redkube.io/local-dir"

	// annDefaultClass marks the cluster's default StorageClass.
	annDefaultClass = "storageclass.kubernetes.io/is-default-class"
	// AnnSelectedNode is set on a claim by the scheduler to the node chosen
	// for the claim's first pod (WaitForFirstConsumer).
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// annProvisionedBy names the provisioner of a PersistentVolume; the PV
	// controller leaves deletion of released volumes to that provisioner.
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
)

// DefaultStorageClass returns the default StorageClass: provisioner
// ProvisionerName, reclaim policy Delete, WaitForFirstConsumer binding,
// volume expansion allowed.
func DefaultStorageClass() *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        DefaultClassName,
			Annotations: map[string]string{annDefaultClass: "true"},
		},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
		// The provisioner expands the volumes of its classes (resize.go).
		AllowVolumeExpansion: ptr.To(true),
	}
}

// EnsureDefaultStorageClass creates DefaultStorageClass unless a class of
// that name exists.
func EnsureDefaultStorageClass(ctx context.Context, client kubernetes.Interface) error {
	_, err := client.StorageV1().StorageClasses().Create(ctx, DefaultStorageClass(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", DefaultClassName, err)
	}
	return nil
}
