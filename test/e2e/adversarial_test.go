package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/test/harness"
)

// badSpec is a change an attacker or a tired operator might make: a JSON
// merge patch of a RedisCluster's spec, and what the API server's refusal
// must say (the field and why).
type badSpec struct {
	name  string
	patch string
	says  string
}

// badSpecs are refused at apply, on create and as an update of a running
// cluster. Each names the field in its refusal.
func badSpecs() []badSpec {
	cases := []badSpec{
		{"fewer than 3 masters", `{"masters":2}`, "spec.masters must be at least 3"},
		{"zero masters", `{"masters":0}`, "spec.masters must be at least 3"},
		{"negative masters", `{"masters":-3}`, "spec.masters must be at least 3"},
		{"more than 1000 masters", `{"masters":1001}`, "spec.masters must be at most 1000"},
		{"masters as a string", `{"masters":"three"}`, `spec.masters: Invalid value: "string"`},
		{"more Redis nodes than a Redis Cluster is made for", `{"masters":1000,"replicasPerMaster":10}`, "must be at most 1000 Redis nodes"},
		{"501 masters with a replica each", `{"masters":501,"replicasPerMaster":1}`, "must be at most 1000 Redis nodes"},
		{"negative replicas", `{"replicasPerMaster":-1}`, "spec.replicasPerMaster must not be negative"},
		{"eleven replicas", `{"replicasPerMaster":11}`, "spec.replicasPerMaster must be at most 10"},
		{"a LoadBalancer access Service", `{"service":{"type":"LoadBalancer"}}`, `spec.service.type: Unsupported value: "LoadBalancer"`},
		{"a nodePort on a ClusterIP Service", `{"service":{"type":"ClusterIP","nodePort":30010}}`, "spec.service.nodePort is only allowed when spec.service.type is NodePort"},
		{"a nodePort below the range", `{"service":{"type":"NodePort","nodePort":80}}`, "spec.service.nodePort must be between 30000 and 32767"},
		{"a nodePort above the range", `{"service":{"type":"NodePort","nodePort":32768}}`, "spec.service.nodePort must be between 30000 and 32767"},
		{"an unknown anti-affinity", `{"placement":{"antiAffinity":"Sometimes"}}`, `spec.placement.antiAffinity: Unsupported value: "Sometimes"`},
		{"an empty zone key", `{"placement":{"zoneTopologyKey":""}}`, "spec.placement.zoneTopologyKey"},
		{"an empty image", `{"image":""}`, "spec.image"},
		{"a password Secret without a name", `{"passwordSecret":{"name":null,"key":"pw"}}`, "spec.passwordSecret.name: Required value"},
		{"a config key with a space", `{"config":{"maxmemory 1gb":""}}`, "spec.config: maxmemory 1gb is not a directive redkube lets you set"},
		{"a config value over two lines", `{"config":{"maxmemory":"1gb\nport 7000"}}`, "spec.config: the value of maxmemory must not contain quotes, backslashes or control characters"},
		{"a config value over two lines with CR", `{"config":{"maxmemory":"1gb\rport 7000"}}`, "spec.config: the value of maxmemory must not contain quotes, backslashes or control characters"},
		{"a config key in another case", `{"config":{"Port":"7000"}}`, "spec.config must not set Port: the operator manages it"},
		{"a config value longer than 256", `{"config":{"maxmemory":"` + strings.Repeat("9", 257) + `"}}`, "spec.config.maxmemory"},
		{"a log file on the node", `{"config":{"logfile":"/tmp/redis.log"}}`, "spec.config: logfile is not a directive redkube lets you set"},
		{"a module loaded into redis-server", `{"config":{"loadmodule":"/tmp/x.so"}}`, "spec.config: loadmodule is not a directive redkube lets you set"},
		{"a user line round the password", `{"config":{"user":"default on nopass ~* +@all"}}`, "spec.config: user is not a directive redkube lets you set"},
		{"save garbage", `{"config":{"save":"sometimes"}}`, "spec.config: save must be"},
		{"maxmemory lots", `{"config":{"maxmemory":"lots"}}`, "spec.config: maxmemory must be a memory size"},
		{"a negative node timeout", `{"config":{"cluster-node-timeout":"-1"}}`, "spec.config: cluster-node-timeout must be an integer from 100 to 3600000"},
		{"an unbalanced quote", `{"config":{"save":"\"3600 1"}}`, "spec.config: the value of save must not contain quotes"},
		{"more than 64 config keys", `{"config":` + manyKeys(65) + `}`, "spec.config: Too many"},
	}
	for _, key := range redisv1alpha1.ForbiddenConfigKeys {
		cases = append(cases, badSpec{"config sets " + key, fmt.Sprintf(`{"config":{%q:"x"}}`, key),
			"spec.config must not set " + key + ": the operator manages it"})
	}
	return cases
}

// manyKeys is a JSON object with n config keys.
func manyKeys(n int) string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("hash-max-listpack-entries%d", i)] = "1"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// badNames are RedisCluster names refused at create.
var badNames = []badSpec{
	{"a name starting with a digit", "1redis", "metadata.name must start with a letter"},
	{"a name with capitals", "Redis", "metadata.name"},
	{"a name of 41 characters", strings.Repeat("r", 41), "metadata.name must be at most 40 characters"},
	{"another cluster's headless Service name", "demo-nodes", "metadata.name must not end in '-nodes'"},
}

// testBadSpecsChangeNothing applies every bad spec as a new cluster and as
// an update of the running cluster name, then checks that the API server
// refused each naming the field, and that neither the running cluster's
// Kubernetes objects nor any node's view of the Redis cluster changed.
func testBadSpecsChangeNothing(t *testing.T, e *opEnv, name string) {
	ctx := t.Context()
	objectsBefore := e.objectVersions(t, name)
	shapeBefore := clusterShape(t, e.addrs(t, name))
	refused := 0
	for i, c := range badSpecs() {
		t.Run(c.name, func(t *testing.T) {
			patch := fmt.Sprintf(`{"spec":%s}`, c.patch)
			// An update of the running cluster.
			live := &redisv1alpha1.RedisCluster{}
			live.Namespace, live.Name = opNS, name
			err := e.cl.Patch(ctx, live, client.RawPatch(types.MergePatchType, []byte(patch)))
			refused += wantRefusal(t, "update of "+name, err, c.says)
			// A new cluster.
			u := newClusterObject(t, fmt.Sprintf("bad-%d", i), patch)
			err = e.cl.Create(ctx, u)
			if err == nil {
				_ = e.cl.Delete(ctx, u)
			}
			refused += wantRefusal(t, "create", err, c.says)
		})
	}
	for _, c := range badNames {
		t.Run(c.name, func(t *testing.T) {
			u := newClusterObject(t, c.patch, `{}`)
			err := e.cl.Create(ctx, u)
			if err == nil {
				_ = e.cl.Delete(ctx, u)
			}
			refused += wantRefusal(t, "create", err, c.says)
		})
	}
	t.Logf("measured: %d bad specs (%d as a create and an update of a running cluster, %d names), %d applies refused at the API server naming the field",
		len(badSpecs())+len(badNames), len(badSpecs()), len(badNames), refused)
	if after := e.objectVersions(t, name); !maps.Equal(objectsBefore, after) {
		t.Errorf("the running cluster's objects changed:\nbefore %v\nafter  %v", objectsBefore, after)
	}
	if after := clusterShape(t, e.addrs(t, name)); !slices.Equal(shapeBefore, after) {
		t.Errorf("the Redis cluster changed:\nbefore %q\nafter  %q", shapeBefore, after)
	}
}

// wantRefusal checks that err is the API server's refusal saying says;
// it returns 1 when it is.
func wantRefusal(t *testing.T, what string, err error, says string) int {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: accepted, want a refusal saying %q", what, says)
	case !strings.Contains(err.Error(), says):
		t.Errorf("%s: refused with %q, want it to say %q", what, err, says)
	default:
		return 1
	}
	return 0
}

// newClusterObject is a valid RedisCluster called name with patch (a JSON
// merge patch of the whole object) applied.
func newClusterObject(t *testing.T, name, patch string) *unstructured.Unstructured {
	t.Helper()
	base := map[string]any{
		"apiVersion": redisv1alpha1.GroupVersion.String(), "kind": "RedisCluster",
		"metadata": map[string]any{"name": name, "namespace": opNS},
		"spec":     map[string]any{"masters": 3, "storage": map[string]any{"size": "64Mi"}},
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(patch), &p); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	mergePatch(base, p)
	return &unstructured.Unstructured{Object: base}
}

// mergePatch applies a JSON merge patch (RFC 7386) to dst.
func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			sub, ok := dst[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
			}
			mergePatch(sub, pv)
			dst[k] = sub
		default:
			dst[k] = v
		}
	}
}

// objectVersions returns "Kind/name" → resourceVersion of the cluster's
// RedisCluster and the objects the operator made for it.
func (e *opEnv) objectVersions(t *testing.T, name string) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	rc, err := e.get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	// The status changes as the operator observes; the spec must not.
	out["RedisCluster/"+name+"/generation"] = fmt.Sprint(rc.Generation)
	sel := client.MatchingLabels{resources.LabelInstance: name}
	lists := map[string]client.ObjectList{
		"ConfigMap": &corev1.ConfigMapList{}, "Service": &corev1.ServiceList{},
		"StatefulSet": &appsv1.StatefulSetList{}, "PodDisruptionBudget": &policyv1.PodDisruptionBudgetList{},
	}
	for kind, l := range lists {
		if err := e.cl.List(ctx, l, client.InNamespace(opNS), sel); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range items {
			o, err := meta.Accessor(item)
			if err != nil {
				t.Fatal(err)
			}
			out[kind+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

// clusterShape is every node's view of the cluster with what legitimately
// ticks left out: "<reporter> sees <id> <addr> <role> <master> <slots>"
// lines, sorted.
func clusterShape(t *testing.T, addrs []string) []string {
	t.Helper()
	var out []string
	for _, a := range addrs {
		v, err := harness.ClusterView(t.Context(), a)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range v.Nodes {
			role := "master"
			if n.IsReplica() {
				role = "replica"
			}
			out = append(out, fmt.Sprintf("%s sees %s %s %s %s %s failing=%v", a, n.ID, n.Addr, role, n.MasterID, n.Slots, n.Failing()))
		}
	}
	slices.Sort(out)
	return out
}
