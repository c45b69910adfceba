// Package storage is the local cluster's volume provisioner: it gives each
// PersistentVolumeClaim of a StorageClass whose provisioner is
// ProvisionerName a directory on this machine and a PersistentVolume
// pointing at it.
//
// With the WaitForFirstConsumer binding mode (the default class's), the
// scheduler picks a node for the claim's first pod and records it in the
// claim's volume.kubernetes.io/selected-node annotation; the provisioner then
// creates <BaseDir>/<pv-name> and a `local` PersistentVolume pinned to that
// node by node affinity, pre-bound to the claim. The PV controller in
// kube-controller-manager completes the binding. A claim of an Immediate
// class gets a hostPath volume without node affinity instead.
//
// The PersistentVolume carries the class's reclaim policy. When a Delete
// volume is released the provisioner removes the directory and the
// PersistentVolume; a Retain volume and its directory stay. A finalizer
// (Finalizer) keeps a provisioned PersistentVolume from disappearing before
// its directory has been dealt with.
//
// Statically created PersistentVolumes (such as the tutorial's, with
// storageClassName nfs and a local directory instead of an NFS export) are
// not this package's business: the PV controller binds them as usual.
//
// Errors: Run returns only when its context ends or the informers cannot
// start. Failures to provision or delete one volume are logged, recorded as
// events on the claim or volume, and retried with back-off.
package storage
