package resources

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the builders' output")

// testOptions are the operator settings the tests render with; the golden
// files show this default exporter image.
var testOptions = Options{ExporterImage: "ghcr.io/redkube/redkube-operator:0.1.0"}

// samplePath is the sample users apply; the golden "sample" case renders it.
const samplePath = "../../config/samples/redis_v1alpha1_rediscluster.yaml"

// loadSample reads the sample RedisCluster and applies the CRD defaults.
func loadSample(t *testing.T) *redisv1alpha1.RedisCluster {
	t.Helper()
	b, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	rc := &redisv1alpha1.RedisCluster{}
	if err := yaml.UnmarshalStrict(b, rc); err != nil {
		t.Fatalf("decode sample: %v", err)
	}
	redisv1alpha1.SetDefaults(rc)
	rc.Namespace = "default"
	rc.UID = types.UID("00000000-0000-0000-0000-000000000001")
	return rc
}

// fullCluster sets every optional field.
func fullCluster() *redisv1alpha1.RedisCluster {
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: "prod", UID: "00000000-0000-0000-0000-000000000002"},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters:           4,
			ReplicasPerMaster: 2,
			Image:             "registry.example/redis:7.2.4",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			},
			Storage: redisv1alpha1.StorageSpec{StorageClassName: ptr.To("fast-ssd"), Size: resource.MustParse("20Gi"), DeleteClaimsWithCluster: true},
			Config: map[string]redisv1alpha1.ConfigValue{
				"maxmemory":            "800mb",
				"maxmemory-policy":     "allkeys-lru",
				"cluster-node-timeout": "3000",
				"save":                 "",
			},
			Service: redisv1alpha1.ServiceSpec{Type: redisv1alpha1.ServiceTypeClusterIP},
			Placement: redisv1alpha1.PlacementSpec{
				AntiAffinity:      redisv1alpha1.AntiAffinityRequired,
				ZoneTopologyKey:   "example.com/rack",
				NodeSelector:      map[string]string{"pool": "redis"},
				Tolerations:       []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "redis", Effect: corev1.TaintEffectNoSchedule}},
				PriorityClassName: "high",
			},
			PasswordSecret: &redisv1alpha1.PasswordSecretRef{Name: "cache-auth"},
		},
	}
	redisv1alpha1.SetDefaults(rc)
	return rc
}

// exporterCluster has the exporter sidecar enabled with its defaults, and a
// password the exporter must read.
func exporterCluster() *redisv1alpha1.RedisCluster {
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "metered", Namespace: "ns", UID: "00000000-0000-0000-0000-000000000004"},
		Spec: redisv1alpha1.RedisClusterSpec{
			PasswordSecret: &redisv1alpha1.PasswordSecretRef{Name: "metered-auth", Key: "pw"},
			Monitoring:     &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true}},
		},
	}
	redisv1alpha1.SetDefaults(rc)
	return rc
}

// externalCluster is a small password-protected cluster with ea.
func externalCluster(ea redisv1alpha1.ExternalAccessSpec) *redisv1alpha1.RedisCluster {
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "edge", Namespace: "ns", UID: "00000000-0000-0000-0000-000000000005"},
		Spec: redisv1alpha1.RedisClusterSpec{
			ReplicasPerMaster: 1,
			PasswordSecret:    &redisv1alpha1.PasswordSecretRef{Name: "edge-auth"},
			ExternalAccess:    &ea,
		},
	}
	redisv1alpha1.SetDefaults(rc)
	return rc
}

// hostnameCluster announces its pods' DNS names.
func hostnameCluster() *redisv1alpha1.RedisCluster {
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "named", Namespace: "ns", UID: "00000000-0000-0000-0000-000000000006"},
		Spec:       redisv1alpha1.RedisClusterSpec{Announce: redisv1alpha1.AnnounceHostname},
	}
	redisv1alpha1.SetDefaults(rc)
	return rc
}

// renderAll renders every object of rc as one YAML stream, in a fixed order.
func renderAll(t *testing.T, rc *redisv1alpha1.RedisCluster) []byte {
	t.Helper()
	var objs []runtime.Object
	add := func(o runtime.Object, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		objs = append(objs, o)
	}
	add(wrap(ConfigMap(rc)))
	add(wrap(HeadlessService(rc)))
	add(wrap(AccessService(rc)))
	live := map[string]*corev1.Service{}
	for i := range int(rc.Spec.Masters) {
		if rc.Spec.ExternalAccess == nil {
			break
		}
		svcs, err := ExternalServices(rc, i)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		for _, svc := range svcs {
			add(svc, nil)
			live[svc.Name] = assigned(svc, len(live))
		}
	}
	if AnnouncesAtStart(rc) {
		add(wrap(AnnounceConfigMap(rc, Announcements(rc, live, DefaultClusterDomain, nil))))
	}
	for i := range int(rc.Spec.Masters) {
		add(wrap(ShardStatefulSet(rc, i, testOptions)))
		add(wrap(PodDisruptionBudget(rc, i)))
	}
	var out bytes.Buffer
	for i, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatalf("marshal %T: %v", o, err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes()
}

// assigned is svc as the API server and a load balancer controller make
// it: node ports 30000+2n and 30001+2n, and for a LoadBalancer the address
// 203.0.113.n (none for n = 1: still pending).
func assigned(svc *corev1.Service, n int) *corev1.Service {
	live := svc.DeepCopy()
	for i := range live.Spec.Ports {
		live.Spec.Ports[i].NodePort = int32(30000 + 2*n + i)
	}
	if live.Spec.Type == corev1.ServiceTypeLoadBalancer && n != 1 {
		live.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: fmt.Sprintf("203.0.113.%d", n)}}
	}
	return live
}

// wrap turns a typed builder result into (runtime.Object, error).
func wrap[T runtime.Object](o T, err error) (runtime.Object, error) { return o, err }

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run `go test ./internal/resources -update` to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the builders' output; if the change is intended run `make golden`.\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first differing line of want and got.
func lineDiff(want, got string) string {
	w, g := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl []byte
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if !bytes.Equal(wl, gl) {
			return fmt.Sprintf("line %d:\n  golden: %q\n  got:    %q", i+1, wl, gl)
		}
	}
	return "(same lines)"
}

func TestGoldenManifests(t *testing.T) {
	minimal := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", UID: "00000000-0000-0000-0000-000000000003"}}
	redisv1alpha1.SetDefaults(minimal)
	cases := []struct {
		name string
		rc   *redisv1alpha1.RedisCluster
	}{
		{"sample", loadSample(t)},
		{"full", fullCluster()},
		{"defaults", minimal},
		{"exporter", exporterCluster()},
		{"nodeport", externalCluster(redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessNodePort})},
		{"nodeport-address", externalCluster(redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessNodePort, Address: "redis.example.com"})},
		{"loadbalancer", externalCluster(redisv1alpha1.ExternalAccessSpec{
			Type: redisv1alpha1.ExternalAccessLoadBalancer,
			LoadBalancer: &redisv1alpha1.LoadBalancerSpec{
				Annotations:       map[string]string{"lb.example.com/internal": "false"},
				LoadBalancerClass: ptr.To("example.com/lb"),
				SourceRanges:      []string{"198.51.100.0/24"},
			},
		})},
		{"hostname", hostnameCluster()},
		{"tls", tlsCluster()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkGolden(t, c.name+".yaml", renderAll(t, c.rc))
			checkGolden(t, c.name+".redis.conf", []byte(RedisConf(c.rc)))
		})
	}
}
