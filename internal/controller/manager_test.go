package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestStripNodeKeepsWhatTheOperatorReads(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:          "node-1",
			Labels:        map[string]string{"topology.kubernetes.io/zone": "a"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}},
		},
		Spec: corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Images:          []corev1.ContainerImage{{Names: []string{"redis:7.0"}, SizeBytes: 1 << 20}},
			VolumesInUse:    []corev1.UniqueVolumeName{"v"},
			VolumesAttached: []corev1.AttachedVolume{{Name: "v"}},
		},
	}
	out, err := stripNode(n)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Node)
	if got.ManagedFields != nil || got.Status.Images != nil || got.Status.VolumesInUse != nil || got.Status.VolumesAttached != nil {
		t.Errorf("stripped node keeps managedFields %v, images %v, volumes %v %v", got.ManagedFields, got.Status.Images, got.Status.VolumesInUse, got.Status.VolumesAttached)
	}
	if got.Labels["topology.kubernetes.io/zone"] != "a" || !got.Spec.Unschedulable || !nodeReady(got) {
		t.Errorf("stripped node lost labels, unschedulable or Ready: %+v", got)
	}
}

func TestStripNodePassesOtherObjectsThrough(t *testing.T) {
	tomb := cache.DeletedFinalStateUnknown{Key: "node-1"}
	out, err := stripNode(tomb)
	if err != nil || out != tomb {
		t.Errorf("stripNode(tombstone) = %v, %v; want it unchanged", out, err)
	}
}
