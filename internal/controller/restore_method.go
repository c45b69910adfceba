package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/backup"
	"github.com/redkube/redkube/pkg/topology"
)

// EventRestoreMethodChosen: the restore method of spec.restore was chosen
// when the cluster was created; the note says which and why.
const EventRestoreMethodChosen = "RestoreMethodChosen"

// restoreChoice is how this cluster's spec.restore runs: the record of
// status.restore (method, and for SameLayout the shards and the source),
// and the shards' slots parsed once.
type restoreChoice struct {
	record redisv1alpha1.RestoreStatus
	// chosen is set when this pass made the choice: the status records
	// it.
	chosen bool
	// slots are the shards' slots (SameLayout only).
	slots []topology.SlotSet
}

// sameLayout reports whether the choice is the same-layout restore.
func (c *restoreChoice) sameLayout() bool {
	return c != nil && c.record.Method == redisv1alpha1.RestoreSameLayout
}

// chooseRestore settles how spec.restore runs, before any object is
// rendered: from status.restore once recorded, so the pods are built the
// same way for the cluster's whole life (the backup may be deleted
// later); otherwise chosen now with backup.ChooseMethod, where the cluster
// is fresh when none of its StatefulSets exists. A location source stays
// key by key (its shards are not known without reading its manifest).
func (r *Reconciler) chooseRestore(ctx context.Context, st *state) error {
	spec := st.rc.Spec.Restore
	if spec == nil {
		return nil
	}
	if old := st.old.Restore; old != nil && old.Method != "" {
		c, err := choiceFromRecord(*old)
		if err != nil {
			st.invalid = "status.restore: " + err.Error()
			return nil
		}
		st.restore = c
		return nil
	}
	sets, initLive, err := r.shardSetsLive(ctx, st.rc)
	if err != nil {
		return err
	}
	in := backup.LayoutInput{Masters: int(st.rc.Spec.Masters), FreshCluster: sets == 0 || initLive}
	rec := redisv1alpha1.RestoreStatus{Phase: redisv1alpha1.RestorePending}
	unshared := ""
	if spec.FromBackup != "" && in.FreshCluster {
		if unshared, err = r.readBackupLayout(ctx, st, &in, &rec); err != nil || st.invalid != "" {
			return err
		}
	}
	method, why := backup.ChooseMethod(in)
	if method == backup.MethodSameLayout && unshared != "" {
		method, why = backup.MethodKeyByKey, unshared
	}
	rec.Method, rec.MethodReason = redisv1alpha1.RestoreMethod(method), why
	if initLive && method != backup.MethodSameLayout {
		// The pods were built to start on the shards by a pass whose
		// record was lost; another method would roll them.
		st.invalid = "status.restore lost its method, the pods start on the backup's shards, and the backup cannot be read again: " + why
		return nil
	}
	if rec.Method != redisv1alpha1.RestoreSameLayout {
		rec.Shards, rec.Source = nil, nil
	}
	c, err := choiceFromRecord(rec)
	if err != nil {
		return err
	}
	c.chosen = true
	st.restore = c
	if r.Recorder != nil {
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeNormal, EventRestoreMethodChosen, "ChooseRestoreMethod", "restore method %s: %s", rec.Method, why)
	}
	return nil
}

// readBackupLayout fills in the shards of spec.restore.fromBackup and rec
// the record of its shards and source, when the backup has succeeded. A
// backup on a claim that pods on several nodes cannot mount at once is
// named in unshared: every pod of the cluster mounts the source (a pod
// template is the same for all ordinals), so a ReadWriteOnce claim would
// hold the whole cluster on one node.
func (r *Reconciler) readBackupLayout(ctx context.Context, st *state, in *backup.LayoutInput, rec *redisv1alpha1.RestoreStatus) (unshared string, err error) {
	b, err := r.succeededBackup(ctx, st.rc.Namespace, st.rc.Spec.Restore.FromBackup)
	if err != nil || b == nil {
		return "", err
	}
	in.Shards, rec.Shards, err = backupShards(b)
	if err != nil {
		st.invalid = fmt.Sprintf("spec.restore.fromBackup: RedisClusterBackup %s: %v", b.Name, err)
		return "", nil
	}
	src := b.Spec.Destination
	rec.Source, rec.Location = &src, b.Status.Location
	if c := src.PersistentVolumeClaim; c != nil {
		return r.unsharedClaim(ctx, st.rc.Namespace, c.ClaimName)
	}
	return "", nil
}

// unsharedClaim names why the backup's claim cannot serve a same-layout
// restore (missing, or not mountable by pods on several nodes), or "".
func (r *Reconciler) unsharedClaim(ctx context.Context, namespace, claim string) (string, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	// Read around the cache: it holds only the clusters' own claims.
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: claim}, pvc); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("the backup's claim %s does not exist", claim), nil
		}
		return "", fmt.Errorf("get the backup's claim %s: %w", claim, err)
	}
	if !sharedClaim(pvc) {
		return fmt.Sprintf("the backup is on claim %s, which pods on several nodes cannot mount at once (not ReadOnlyMany or ReadWriteMany), and every pod would mount it", claim), nil
	}
	return "", nil
}

// sharedClaim reports whether pods on several nodes may mount pvc.
func sharedClaim(pvc *corev1.PersistentVolumeClaim) bool {
	for _, m := range pvc.Spec.AccessModes {
		if m == corev1.ReadOnlyMany || m == corev1.ReadWriteMany {
			return true
		}
	}
	return false
}

// shardSetsLive counts the cluster's StatefulSets and reports whether
// shard 0's carries the same-layout restore's init container.
func (r *Reconciler) shardSetsLive(ctx context.Context, rc *redisv1alpha1.RedisCluster) (int, bool, error) {
	sets := &appsv1.StatefulSetList{}
	if err := r.Client.List(ctx, sets, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return 0, false, fmt.Errorf("list StatefulSets: %w", err)
	}
	initLive := false
	for _, s := range sets.Items {
		if s.Name != resources.ShardName(rc, 0) {
			continue
		}
		for _, c := range s.Spec.Template.Spec.InitContainers {
			initLive = initLive || c.Name == resources.RestoreShardContainerName
		}
	}
	return len(sets.Items), initLive, nil
}

// succeededBackup returns the named backup when it has succeeded, nil
// when it is missing or not finished (the restore then goes key by key,
// and its controller waits for the backup).
func (r *Reconciler) succeededBackup(ctx context.Context, ns, name string) (*redisv1alpha1.RedisClusterBackup, error) {
	b := &redisv1alpha1.RedisClusterBackup{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, b); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get RedisClusterBackup %s: %w", name, err)
	}
	if b.Status.Phase != redisv1alpha1.BackupSucceeded || b.Status.Location == "" {
		return nil, nil
	}
	return b, nil
}

// backupShards returns the backup's shards' slots and their record.
func backupShards(b *redisv1alpha1.RedisClusterBackup) ([]topology.SlotSet, []redisv1alpha1.RestoreShardStatus, error) {
	slots := make([]topology.SlotSet, 0, len(b.Status.Shards))
	rec := make([]redisv1alpha1.RestoreShardStatus, 0, len(b.Status.Shards))
	for i, sh := range b.Status.Shards {
		s, err := topology.ParseSlotSet(sh.Slots)
		if err != nil {
			return nil, nil, fmt.Errorf("shard %d's slots %q: %w", i, sh.Slots, err)
		}
		slots = append(slots, s)
		rec = append(rec, redisv1alpha1.RestoreShardStatus{Slots: sh.Slots, Keys: sh.Keys})
	}
	return slots, rec, nil
}

// choiceFromRecord parses a recorded choice.
func choiceFromRecord(rec redisv1alpha1.RestoreStatus) (*restoreChoice, error) {
	c := &restoreChoice{record: *rec.DeepCopy()}
	if rec.Method != redisv1alpha1.RestoreSameLayout {
		return c, nil
	}
	if rec.Source == nil || rec.Location == "" || len(rec.Shards) == 0 {
		return nil, fmt.Errorf("method %s is recorded without its shards, source and location", rec.Method)
	}
	for i, sh := range rec.Shards {
		s, err := topology.ParseSlotSet(sh.Slots)
		if err != nil {
			return nil, fmt.Errorf("shard %d's slots %q: %w", i, sh.Slots, err)
		}
		c.slots = append(c.slots, s)
	}
	return c, nil
}

// shardRestoreOption is Options.RestoreShards for the choice: the init
// container's source with SameLayout, nil otherwise.
func (r *Reconciler) shardRestoreOption(c *restoreChoice) *resources.ShardRestore {
	if !c.sameLayout() {
		return nil
	}
	return &resources.ShardRestore{Source: *c.record.Source, Location: c.record.Location, OperatorImage: r.exporterImage()}
}

// healRestoreShards is heal.Spec.RestoreShards: the shards' slots while a
// same-layout restore has not succeeded (before that the cluster is
// created around the pods started on them).
func healRestoreShards(c *restoreChoice, old *redisv1alpha1.RestoreStatus) []topology.SlotSet {
	if !c.sameLayout() || (old != nil && old.Phase == redisv1alpha1.RestoreSucceeded) {
		return nil
	}
	return c.slots
}

// recordRestoreChoice writes a choice made this pass into status.restore,
// keeping what the restore controller wrote there.
func recordRestoreChoice(next *redisv1alpha1.RedisClusterStatus, c *restoreChoice) {
	if c == nil || !c.chosen {
		return
	}
	if next.Restore == nil {
		next.Restore = &redisv1alpha1.RestoreStatus{Phase: redisv1alpha1.RestorePending}
	}
	rs := next.Restore
	rs.Method, rs.MethodReason = c.record.Method, c.record.MethodReason
	rs.Shards, rs.Source = c.record.Shards, c.record.Source
	if rs.Location == "" {
		rs.Location = c.record.Location
	}
}
