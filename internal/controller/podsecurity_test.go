package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

// TestRedisPodsMeetTheRestrictedPodSecurityStandard creates, as a server-side
// dry run, the pods the StatefulSets would make in a namespace that
// enforces the "restricted" Pod Security Standard: the API server's
// PodSecurity admission must let them in, with and without the exporter.
func TestRedisPodsMeetTheRestrictedPodSecurityStandard(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	if err := apiClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		exporter bool
	}{{"redis alone", false}, {"redis and the exporter sidecar", true}} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "psa", Namespace: ns.Name, UID: "2b0b7e1c-0000-4000-8000-000000000001"}}
			redisv1alpha1.SetDefaults(rc)
			rc.Spec.Monitoring = &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: tc.exporter}}
			sts, err := resources.ShardStatefulSet(rc, 0, resources.Options{ExporterImage: "example.com/redkube-operator:1"})
			if err != nil {
				t.Fatal(err)
			}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "psa-0-0", Namespace: ns.Name, Labels: sts.Spec.Template.Labels},
				Spec:       sts.Spec.Template.Spec,
			}
			// The claim's volume, as the StatefulSet controller adds it.
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: resources.DataVolumeName, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: resources.PVCName(rc, 0, 0)},
			}})
			if err := apiClient.Create(ctx, pod, client.DryRunAll); err != nil {
				t.Fatalf("a namespace enforcing the restricted standard refuses the Redis pod: %v", err)
			}
		})
	}
	// The check can fail: a pod without the containers' contexts is refused.
	bare := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: ns.Name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "redis:7.0"}}},
	}
	if err := apiClient.Create(ctx, bare, client.DryRunAll); err == nil {
		t.Fatal("the namespace admitted a pod that violates the restricted standard: PodSecurity admission is not on")
	}
}
