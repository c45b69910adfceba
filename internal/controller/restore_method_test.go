package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// sameLayoutRecord is a recorded same-layout choice over two shards.
func sameLayoutRecord() redisv1alpha1.RestoreStatus {
	return redisv1alpha1.RestoreStatus{
		Phase: redisv1alpha1.RestorePending, Method: redisv1alpha1.RestoreSameLayout, MethodReason: "why",
		Location: "s3://b/x", Source: &redisv1alpha1.BackupDestination{URL: "s3://b"},
		Shards: []redisv1alpha1.RestoreShardStatus{{Slots: "0-8191", Keys: 5}, {Slots: "8192-16383", Keys: 6}},
	}
}

func TestChoiceFromRecord(t *testing.T) {
	c, err := choiceFromRecord(sameLayoutRecord())
	if err != nil {
		t.Fatal(err)
	}
	if !c.sameLayout() || len(c.slots) != 2 || c.slots[1].Count() != 8192 {
		t.Errorf("parsed %+v", c)
	}
	bad := sameLayoutRecord()
	bad.Source = nil
	if _, err := choiceFromRecord(bad); err == nil {
		t.Error("a same-layout record without its source was accepted")
	}
	bad = sameLayoutRecord()
	bad.Shards[0].Slots = "0-x"
	if _, err := choiceFromRecord(bad); err == nil {
		t.Error("a same-layout record with bad slots was accepted")
	}
	kbk, err := choiceFromRecord(redisv1alpha1.RestoreStatus{Method: redisv1alpha1.RestoreKeyByKey})
	if err != nil || kbk.sameLayout() {
		t.Errorf("key by key record: %+v, %v", kbk, err)
	}
}

func TestTheSameLayoutShapesPodsAndCreateUntilTheRestoreSucceeded(t *testing.T) {
	r := &Reconciler{}
	c, err := choiceFromRecord(sameLayoutRecord())
	if err != nil {
		t.Fatal(err)
	}
	if o := r.shardRestoreOption(c); o == nil || o.Location != "s3://b/x" || o.Source.URL != "s3://b" {
		t.Errorf("init container option %+v", o)
	}
	if got := healRestoreShards(c, &redisv1alpha1.RestoreStatus{Phase: redisv1alpha1.RestorePending}); len(got) != 2 {
		t.Errorf("heal gets %d shards while the restore runs, want 2", len(got))
	}
	if got := healRestoreShards(c, &redisv1alpha1.RestoreStatus{Phase: redisv1alpha1.RestoreSucceeded}); got != nil {
		t.Errorf("heal gets shards after the restore succeeded: %v", got)
	}
	kbk, _ := choiceFromRecord(redisv1alpha1.RestoreStatus{Method: redisv1alpha1.RestoreKeyByKey})
	if r.shardRestoreOption(kbk) != nil || healRestoreShards(kbk, nil) != nil || r.shardRestoreOption(nil) != nil {
		t.Error("a key-by-key restore or no restore changes the pods or the create")
	}
}

func TestRecordRestoreChoiceKeepsTheRestoreControllersFields(t *testing.T) {
	c, _ := choiceFromRecord(sameLayoutRecord())
	c.chosen = true
	next := redisv1alpha1.RedisClusterStatus{Restore: &redisv1alpha1.RestoreStatus{Phase: redisv1alpha1.RestorePending, Message: "waiting", Location: "s3://b/x"}}
	recordRestoreChoice(&next, c)
	if rs := next.Restore; rs.Method != redisv1alpha1.RestoreSameLayout || rs.Message != "waiting" || len(rs.Shards) != 2 || rs.Source == nil {
		t.Errorf("recorded %+v", rs)
	}
	var fresh redisv1alpha1.RedisClusterStatus
	recordRestoreChoice(&fresh, c)
	if fresh.Restore == nil || fresh.Restore.Phase != redisv1alpha1.RestorePending || fresh.Restore.Location != "s3://b/x" {
		t.Errorf("recorded into an empty status: %+v", fresh.Restore)
	}
	c.chosen = false
	var untouched redisv1alpha1.RedisClusterStatus
	recordRestoreChoice(&untouched, c)
	if untouched.Restore != nil {
		t.Error("a choice read from the record was written again")
	}
}

func TestOnlyAClaimPodsOnSeveralNodesMayMountCarriesASameLayoutRestore(t *testing.T) {
	claim := func(modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{AccessModes: modes}}
	}
	if sharedClaim(claim(corev1.ReadWriteOnce)) || sharedClaim(claim(corev1.ReadWriteOncePod)) || sharedClaim(claim()) {
		t.Error("a claim one node mounts at a time counts as shared")
	}
	if !sharedClaim(claim(corev1.ReadWriteOnce, corev1.ReadOnlyMany)) || !sharedClaim(claim(corev1.ReadWriteMany)) {
		t.Error("a claim many nodes may mount does not count as shared")
	}
}
