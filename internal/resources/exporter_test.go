package resources

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/auth"
)

func TestShardPodsCarryTheExporterOnlyWhenEnabled(t *testing.T) {
	custom := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}}
	tests := []struct {
		name       string
		monitoring *redisv1alpha1.MonitoringSpec
		password   bool
		wantImage  string // "" means no exporter container
		wantMemLim string
		wantEnv    bool
	}{
		{name: "has no exporter without spec.monitoring"},
		{name: "has no exporter when disabled", monitoring: &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Image: "x"}}},
		{name: "runs the default image with default resources",
			monitoring: &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true}},
			wantImage:  testOptions.ExporterImage, wantMemLim: "64Mi"},
		{name: "runs the image and resources given",
			monitoring: &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true, Image: "example/exp:1", Resources: custom}},
			wantImage:  "example/exp:1", wantMemLim: "128Mi"},
		{name: "reads as the monitor user even when the cluster has a password",
			monitoring: &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true}}, password: true,
			wantImage: testOptions.ExporterImage, wantMemLim: "64Mi", wantEnv: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}}
			rc.Spec.Monitoring = tt.monitoring
			if tt.password {
				rc.Spec.PasswordSecret = &redisv1alpha1.PasswordSecretRef{Name: "auth"}
			}
			redisv1alpha1.SetDefaults(rc)
			sts, err := ShardStatefulSet(rc, 0, testOptions)
			if err != nil {
				t.Fatalf("ShardStatefulSet: %v", err)
			}
			var exp *corev1.Container
			for i, c := range sts.Spec.Template.Spec.Containers {
				if c.Name == ExporterContainerName {
					exp = &sts.Spec.Template.Spec.Containers[i]
				}
			}
			if tt.wantImage == "" {
				if exp != nil {
					t.Fatalf("exporter container present: %+v", exp)
				}
				return
			}
			if exp == nil {
				t.Fatal("no exporter container")
			}
			if exp.Image != tt.wantImage {
				t.Errorf("image %q, want %q", exp.Image, tt.wantImage)
			}
			if got := exp.Resources.Limits.Memory().String(); got != tt.wantMemLim {
				t.Errorf("memory limit %s, want %s", got, tt.wantMemLim)
			}
			var ref *corev1.SecretKeySelector
			for _, e := range exp.Env {
				if e.Name == ExporterPasswordEnv && e.ValueFrom != nil {
					ref = e.ValueFrom.SecretKeyRef
				}
			}
			// Whatever the default user's password, the exporter reads as the
			// monitor user, with its password from the users Secret.
			if ref == nil || ref.Name != UsersSecretName(rc) || ref.Key != UsersMonitorPasswordKey {
				t.Errorf("%s from %+v, want %s/%s", ExporterPasswordEnv, ref, UsersSecretName(rc), UsersMonitorPasswordKey)
			}
			if !slices.Contains(exp.Args, auth.MonitorUser) {
				t.Errorf("exporter args %q do not name the monitor user", exp.Args)
			}
		})
	}
}

func TestAnExporterWithoutAnyImageIsAnError(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}}
	rc.Spec.Monitoring = &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true}}
	redisv1alpha1.SetDefaults(rc)
	if _, err := ShardStatefulSet(rc, 0, Options{}); err == nil {
		t.Fatal("an enabled exporter with no image and no default rendered without error")
	}
	rc.Spec.Monitoring.Exporter.Image = "example/exp:1"
	if _, err := ShardStatefulSet(rc, 0, Options{}); err != nil {
		t.Fatalf("an exporter with spec.monitoring.exporter.image and no default: %v", err)
	}
}
