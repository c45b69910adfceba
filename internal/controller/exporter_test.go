package controller

import (
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
)

func TestDefaultExporterImageIsTheOperatorImageOfVERSION(t *testing.T) {
	b, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatalf("read VERSION: %v", err)
	}
	if want := "ghcr.io/redkube/redkube-operator:" + strings.TrimSpace(string(b)); DefaultExporterImage != want {
		t.Errorf("DefaultExporterImage = %q, want %q (update it with VERSION)", DefaultExporterImage, want)
	}
}

func TestTheExporterRunsTheOperatorsImageUnlessTheClusterNamesOne(t *testing.T) {
	tests := []struct {
		name          string
		operatorImage string // Reconciler.ExporterImage
		clusterImage  string // spec.monitoring.exporter.image
		want          string
	}{
		{name: "runs DefaultExporterImage when neither is set", want: DefaultExporterImage},
		{name: "runs the operator's --exporter-image", operatorImage: "mirror.example/redkube-operator:0.1.0", want: "mirror.example/redkube-operator:0.1.0"},
		{name: "runs the cluster's image over the operator's", operatorImage: "mirror.example/redkube-operator:0.1.0",
			clusterImage: "example/exporter:2", want: "example/exporter:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: "ns"}}
			rc.Spec.Monitoring = &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true, Image: tt.clusterImage}}
			redisv1alpha1.SetDefaults(rc)
			r := &Reconciler{ExporterImage: tt.operatorImage}
			objs, err := desiredObjects(rc, resources.Options{ExporterImage: r.exporterImage()})
			if err != nil {
				t.Fatalf("desiredObjects: %v", err)
			}
			shards := 0
			for _, o := range objs {
				sts, ok := o.(*appsv1.StatefulSet)
				if !ok {
					continue
				}
				shards++
				var got string
				for _, c := range sts.Spec.Template.Spec.Containers {
					if c.Name == resources.ExporterContainerName {
						got = c.Image
					}
				}
				if got != tt.want {
					t.Errorf("%s: exporter image %q, want %q", sts.Name, got, tt.want)
				}
			}
			if shards != int(rc.Spec.Masters) {
				t.Errorf("%d StatefulSets rendered, want %d", shards, rc.Spec.Masters)
			}
		})
	}
}
