package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		{"a renamed command", `{"config":{"rename-command":"CONFIG \"\""}}`, "spec.config: rename-command is not a directive redkube lets you set"},
		{"an ACL file", `{"config":{"aclfile":"/etc/passwd"}}`, "spec.config: aclfile is not a directive redkube lets you set"},
		{"a unix socket", `{"config":{"unixsocket":"/tmp/redis.sock"}}`, "spec.config: unixsocket is not a directive redkube lets you set"},
		{"the debug command enabled", `{"config":{"enable-debug-command":"yes"}}`, "spec.config: enable-debug-command is not a directive redkube lets you set"},
		{"a directive Redis does not know", `{"config":{"maxmemroy":"1gb"}}`, "spec.config: maxmemroy is not a directive redkube lets you set"},
		{"yes/no as true", `{"config":{"appendonly":"true"}}`, "spec.config: appendonly must be"},
		{"an eviction policy Redis does not know", `{"config":{"maxmemory-policy":"lru"}}`, "spec.config: maxmemory-policy must be"},
		{"one client for the whole cluster", `{"config":{"maxclients":"1"}}`, "spec.config: maxclients must be an integer from 32"},
		{"masters as a fraction", `{"masters":3.5}`, "spec.masters"},
		{"a storage size that is not a quantity", `{"storage":{"size":"lots"}}`, "spec.storage.size"},
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
	runtime := testRuntimeRefusals(t, e, name)
	t.Logf("measured: %d bad specs the API server cannot judge, each named by a Degraded condition and a Warning event, nothing written; %d bad specs in all",
		runtime, len(badSpecs())+len(badNames)+runtime)
	// The update to a missing Secret changed the spec and back.
	delete(objectsBefore, "RedisCluster/"+name+"/generation")
	after := e.objectVersions(t, name)
	delete(after, "RedisCluster/"+name+"/generation")
	if !maps.Equal(objectsBefore, after) {
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

// runtimeRefusal is a bad spec only the operator can judge: it must be
// named by Degraded (reason and message) and a Warning event, and nothing
// of the cluster written.
type runtimeRefusal struct {
	name string
	// cluster is the new cluster's name.
	cluster string
	// before creates what the case needs (Secrets, objects under the
	// cluster's names).
	before []client.Object
	// spec is a JSON merge patch of the new cluster's spec.
	spec   string
	reason redisv1alpha1.ConditionReason
	says   string
}

// testRuntimeRefusals creates clusters whose specs pass admission but that
// the operator cannot act on, then points the running cluster name at a
// missing Secret and back. It returns the number of cases.
func testRuntimeRefusals(t *testing.T, e *opEnv, name string) int {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "rt-taken", Namespace: opNS},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	cases := []runtimeRefusal{
		{"a password Secret that does not exist", "rt-nosecret", nil, `{"passwordSecret":{"name":"rt-nope"}}`,
			redisv1alpha1.ReasonInvalidSpec, `spec.passwordSecret.name: Secret "rt-nope" not found`},
		{"a password Secret without the key", "rt-nokey", []client.Object{secret("rt-nokey", map[string]string{"other": "x"})}, `{"passwordSecret":{"name":"rt-nokey"}}`,
			redisv1alpha1.ReasonInvalidSpec, `Secret "rt-nokey" has no key "password"`},
		{"an empty password", "rt-empty", []client.Object{secret("rt-empty", map[string]string{"password": ""})}, `{"passwordSecret":{"name":"rt-empty"}}`,
			redisv1alpha1.ReasonInvalidSpec, "an empty password turns authentication off"},
		{"a whitespace password", "rt-blank", []client.Object{secret("rt-blank", map[string]string{"pw": "  \n"})}, `{"passwordSecret":{"name":"rt-blank","key":"pw"}}`,
			redisv1alpha1.ReasonInvalidSpec, `key "pw" of Secret "rt-blank" is empty`},
		{"a Service someone made under the access name", "rt-taken", []client.Object{svc}, `{}`,
			redisv1alpha1.ReasonNameConflict, "Service rt-taken already exists and is controlled by no controller"},
		{"a ConfigMap someone made under the config name", "rt-cm", []client.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "rt-cm-config", Namespace: opNS}}}, `{}`,
			redisv1alpha1.ReasonNameConflict, "ConfigMap rt-cm-config already exists and is controlled by no controller"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			for _, o := range c.before {
				if err := e.cl.Create(ctx, o); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = e.cl.Delete(context.Background(), o) })
			}
			cluster := c.cluster
			u := newClusterObject(t, cluster, fmt.Sprintf(`{"spec":%s}`, c.spec))
			if err := e.cl.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.cl.Delete(context.Background(), u) })
			wantDegraded(t, e, cluster, c.reason, c.says)
			sets := &appsv1.StatefulSetList{}
			if err := e.cl.List(ctx, sets, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: cluster}); err != nil {
				t.Fatal(err)
			}
			if len(sets.Items) > 0 {
				t.Errorf("%d StatefulSets written for a cluster the operator cannot act on", len(sets.Items))
			}
		})
	}
	t.Run("the running cluster pointed at a missing Secret, then back", func(t *testing.T) {
		ctx := t.Context()
		shape := clusterShape(t, e.addrs(t, name))
		live := &redisv1alpha1.RedisCluster{}
		live.Namespace, live.Name = opNS, name
		if err := e.cl.Patch(ctx, live, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"passwordSecret":{"name":"rt-gone"}}}`))); err != nil {
			t.Fatal(err)
		}
		wantDegraded(t, e, name, redisv1alpha1.ReasonInvalidSpec, `Secret "rt-gone" not found`)
		if after := clusterShape(t, e.addrs(t, name)); !slices.Equal(shape, after) {
			t.Errorf("the Redis cluster changed:\nbefore %q\nafter  %q", shape, after)
		}
		if err := e.cl.Patch(ctx, live, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"passwordSecret":null}}`))); err != nil {
			t.Fatal(err)
		}
		opWait(t, time.Minute, "Degraded False again", func(ctx context.Context) error {
			rc, err := e.get(ctx, name)
			if err != nil {
				return err
			}
			if c := meta.FindStatusCondition(rc.Status.Conditions, string(redisv1alpha1.ConditionDegraded)); c == nil || c.Status != metav1.ConditionFalse {
				return fmt.Errorf("Degraded = %+v", c)
			}
			return nil
		})
	})
	return len(cases) + 1
}

// wantDegraded waits until cluster's Degraded condition is True with reason
// saying says, and a Warning event of that reason names it too.
func wantDegraded(t *testing.T, e *opEnv, cluster string, reason redisv1alpha1.ConditionReason, says string) {
	t.Helper()
	opWait(t, time.Minute, "Degraded "+string(reason)+" and a Warning event", func(ctx context.Context) error {
		rc, err := e.get(ctx, cluster)
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rc.Status.Conditions, string(redisv1alpha1.ConditionDegraded))
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(reason) || !strings.Contains(c.Message, says) {
			return fmt.Errorf("Degraded = %+v", c)
		}
		evs := &corev1.EventList{}
		if err := e.cl.List(ctx, evs, client.InNamespace(opNS)); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Kind == "RedisCluster" && ev.InvolvedObject.Name == cluster && ev.Type == corev1.EventTypeWarning &&
				ev.Reason == string(reason) && strings.Contains(ev.Message, says) {
				return nil
			}
		}
		return fmt.Errorf("no Warning %s event on %s saying %q", reason, cluster, says)
	})
}

// secret is a Secret in the tests' namespace.
func secret(name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS}, StringData: data}
}
