package v1alpha1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// These tests install the generated CRD into a real kube-apiserver (envtest,
// with the etcd and kube-apiserver built by hack/build-k8s.sh) and check that
// the API server itself rejects bad RedisClusters with messages that name the
// field, accepts the sample and applies the defaults SetDefaults mirrors.

const (
	crdDir     = "../../config/crd/bases"
	samplePath = "../../config/samples/redis_v1alpha1_rediscluster.yaml"
	namespace  = "default"
)

var (
	k8sClient client.Client
	restCfg   *rest.Config
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin := os.Getenv("REDKUBE_K8S_BIN")
	if bin == "" {
		fmt.Println("SKIP api/v1alpha1 API-server tests: REDKUBE_K8S_BIN is unset " +
			"(the folder with etcd and kube-apiserver printed by hack/build-k8s.sh; `make test` sets it)")
		return m.Run() // the tests below skip themselves
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: bin,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start envtest from %s: %v\n", bin, err)
		// Start leaves etcd and kube-apiserver running when installing the
		// CRD fails; stop them.
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := redisv1alpha1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	restCfg = cfg
	return m.Run()
}

func needAPIServer(t *testing.T) {
	t.Helper()
	if k8sClient == nil {
		t.Skip("REDKUBE_K8S_BIN is unset: no API server to test the CRD against (`make test` sets it)")
	}
}

// object decodes a RedisCluster manifest as a user would type it.
func object(t *testing.T, name, spec string) *unstructured.Unstructured {
	t.Helper()
	doc := fmt.Sprintf("apiVersion: redis.redkube.io/v1alpha1\nkind: RedisCluster\nmetadata:\n  name: %s\n  namespace: %s\n", name, namespace)
	if spec != "" {
		doc += "spec:\n" + indent(spec, "  ")
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("bad test manifest: %v\n%s", err, doc)
	}
	return u
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestRejectsBadInput(t *testing.T) {
	needAPIServer(t)
	type rejection struct {
		name, spec string
		objName    string
		want       []string // substrings of the API server's message
	}
	cases := []rejection{
		{name: "two masters", spec: "masters: 2", want: []string{"spec.masters: Invalid value", "spec.masters must be at least 3"}},
		{name: "zero masters", spec: "masters: 0", want: []string{"spec.masters must be at least 3"}},
		{name: "too many masters", spec: "masters: 1001", want: []string{"spec.masters must be at most 1000"}},
		{name: "more Redis nodes than a Redis Cluster is made for", spec: "masters: 1000\nreplicasPerMaster: 10", want: []string{"spec.masters: Invalid value", "spec.masters × (1 + spec.replicasPerMaster) must be at most 1000 Redis nodes"}},
		{name: "just over the node cap", spec: "masters: 501\nreplicasPerMaster: 1", want: []string{"must be at most 1000 Redis nodes"}},
		{name: "negative replicas", spec: "replicasPerMaster: -1", want: []string{"spec.replicasPerMaster: Invalid value", "spec.replicasPerMaster must not be negative"}},
		{name: "unknown service type", spec: "service:\n  type: LoadBalancer", want: []string{`spec.service.type: Unsupported value: "LoadBalancer"`, `"ClusterIP", "NodePort"`}},
		{name: "nodePort with ClusterIP", spec: "service:\n  type: ClusterIP\n  nodePort: 30010", want: []string{"spec.service.nodePort: Invalid value", "spec.service.nodePort is only allowed when spec.service.type is NodePort"}},
		{name: "nodePort without a type", spec: "service:\n  nodePort: 30010", want: []string{"spec.service.nodePort is only allowed when spec.service.type is NodePort"}},
		{name: "nodePort below range", spec: "service:\n  type: NodePort\n  nodePort: 80", want: []string{"spec.service.nodePort: Invalid value", "spec.service.nodePort must be between 30000 and 32767"}},
		{name: "nodePort above range", spec: "service:\n  type: NodePort\n  nodePort: 32768", want: []string{"spec.service.nodePort must be between 30000 and 32767"}},
		{name: "unknown anti-affinity", spec: "placement:\n  antiAffinity: Sometimes", want: []string{`spec.placement.antiAffinity: Unsupported value: "Sometimes"`}},
		{name: "forbidden key in other case", spec: "config:\n  Port: \"7000\"", want: []string{"spec.config: Invalid value", "spec.config must not set Port: the operator manages it"}},
		{name: "forbidden key among allowed ones", spec: "config:\n  maxmemory: 1gb\n  dir: /tmp\n  save: \"\"", want: []string{"spec.config must not set dir: the operator manages it"}},
		{name: "config key with a space", spec: "config:\n  \"maxmemory 1gb\": \"\"", want: []string{"spec.config: maxmemory 1gb is not a directive redkube lets you set"}},
		{name: "config value over two lines", spec: "config:\n  maxmemory: \"1gb\\nport 7000\"", want: []string{"spec.config: the value of maxmemory must not contain quotes, backslashes or control characters"}},
		{name: "empty image", spec: "image: \"\"", want: []string{"spec.image: Invalid value"}},
		{name: "password secret without name", spec: "passwordSecret:\n  key: pw", want: []string{"spec.passwordSecret.name: Required value"}},
		{name: "name starting with a digit", objName: "1redis", want: []string{"metadata.name must start with a letter"}},
		{name: "name too long", objName: strings.Repeat("r", 41), want: []string{"metadata.name must be at most 40 characters"}},
		{name: "name that is another cluster's headless Service", objName: "cache-nodes", want: []string{"metadata.name must not end in '-nodes'"}},
		{name: "name that is another cluster's per-pod external Service", objName: "cache-0-1-ext", want: []string{"metadata.name must not end in '-<number>-<number>-ext'"}},
		{name: "a negative resharding rate", spec: "resharding:\n  maxKeysPerSecond: -5", want: []string{"spec.resharding.maxKeysPerSecond: Invalid value", "must be at least 1"}},
		{name: "a resharding parallelism of 0", spec: "resharding:\n  parallelism: 0", want: []string{"spec.resharding.parallelism: Invalid value", "must be between 1 and 64"}},
		{name: "external access of an unknown type", spec: "externalAccess:\n  type: Ingress", want: []string{`spec.externalAccess.type: Unsupported value: "Ingress"`, `"NodePort", "LoadBalancer"`}},
		{name: "external access without a type", spec: "externalAccess:\n  address: redis.example.com", want: []string{"spec.externalAccess.type: Required value"}},
		{name: "a LoadBalancer with a fixed address", spec: "externalAccess:\n  type: LoadBalancer\n  address: 192.0.2.10", want: []string{"spec.externalAccess.address: Invalid value", "only allowed with type NodePort"}},
		{name: "load balancer settings on NodePort", spec: "externalAccess:\n  type: NodePort\n  loadBalancer:\n    loadBalancerClass: x", want: []string{"spec.externalAccess.loadBalancer: Invalid value", "only allowed with type LoadBalancer"}},
		{name: "an address that is neither an IP nor a DNS name", spec: "externalAccess:\n  type: NodePort\n  address: \"redis_host:30000\"", want: []string{"spec.externalAccess.address: Invalid value", "must be an IP address or a lowercase DNS name"}},
		{name: "source ranges that are not CIDRs", spec: "externalAccess:\n  type: LoadBalancer\n  loadBalancer:\n    sourceRanges: [10.0.0.0/8, office]", want: []string{"spec.externalAccess.loadBalancer.sourceRanges: Invalid value", "must be CIDRs"}},
		{name: "an empty load balancer class", spec: "externalAccess:\n  type: LoadBalancer\n  loadBalancer:\n    loadBalancerClass: \"\"", want: []string{"spec.externalAccess.loadBalancer.loadBalancerClass"}},
		{name: "hostname announce with external access", spec: "announce: Hostname\nexternalAccess:\n  type: NodePort", want: []string{"spec.announce: Invalid value", "cannot be combined with spec.externalAccess"}},
		{name: "unknown announce", spec: "announce: DNS", want: []string{`spec.announce: Unsupported value: "DNS"`}},
		{name: "two users with one name", spec: "users:\n- {name: app, rules: '+@all', passwordSecrets: [{name: s}]}\n- {name: app, rules: '+@read', passwordSecrets: [{name: t}]}", want: []string{"spec.users[1]: Duplicate value"}},
		{name: "a user named default", spec: "users:\n- {name: default, rules: '+@all', passwordSecrets: [{name: s}]}", want: []string{"spec.users[0].name: Invalid value", "configured by spec.passwordSecret"}},
		{name: "a user in the operator's names", spec: "users:\n- {name: redkube-operator, rules: '+@all', passwordSecrets: [{name: s}]}", want: []string{"reserved for the operator"}},
		{name: "a user name with a space", spec: "users:\n- {name: 'a b', rules: '+@all', passwordSecrets: [{name: s}]}", want: []string{"spec.users[0].name: Invalid value"}},
		{name: "a password in a user's rules", spec: "users:\n- {name: app, rules: '+@all >secret', passwordSecrets: [{name: s}]}", want: []string{"spec.users[0]: Invalid value", "rules must not hold passwords"}},
		{name: "on in a user's rules", spec: "users:\n- {name: app, rules: 'ON +@all', passwordSecrets: [{name: s}]}", want: []string{"rules must not hold on, off, reset, nopass or resetpass"}},
		{name: "the default user off with a password", spec: "defaultUser: {enabled: false}\npasswordSecret: {name: pw}", want: []string{"spec.passwordSecret: Invalid value", "unset it when spec.defaultUser.enabled is false"}},
		{name: "a user without a password", spec: "users:\n- {name: app, rules: '+@all', passwordSecrets: []}", want: []string{"spec.users[0].passwordSecrets: Invalid value"}},
	}
	for _, key := range redisv1alpha1.ForbiddenConfigKeys {
		cases = append(cases, rejection{
			name: "forbidden key " + key,
			spec: fmt.Sprintf("config:\n  %s: \"x\"", key),
			want: []string{"spec.config must not set " + key + ": the operator manages it"},
		})
	}
	for _, c := range configCases {
		if len(c.want) == 0 {
			continue // TestAcceptsGoodConfig
		}
		b, err := json.Marshal(map[string]any{"config": c.config})
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, rejection{name: "config: " + c.name, spec: string(b), want: c.want})
	}
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := c.objName
			if name == "" {
				name = fmt.Sprintf("bad-%d", i)
			}
			u := object(t, name, c.spec)
			err := k8sClient.Create(ctx, u)
			if err == nil {
				_ = k8sClient.Delete(ctx, u)
				t.Fatalf("API server accepted %s:\n%s", c.name, c.spec)
			}
			t.Logf("%v", err)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error is not Invalid: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%v", w, err)
				}
			}
			got := &redisv1alpha1.RedisCluster{}
			if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, got); !apierrors.IsNotFound(err) {
				t.Errorf("after the rejection, Get = %v; want NotFound (nothing created)", err)
			}
		})
	}
}

func TestUpdateIsValidatedToo(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "update-me", Namespace: namespace}}
	if err := k8sClient.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = k8sClient.Delete(ctx, rc) }()
	rc.Spec.Masters = 2
	err := k8sClient.Update(ctx, rc)
	if err == nil || !strings.Contains(err.Error(), "spec.masters must be at least 3") {
		t.Fatalf("update to 2 masters: err = %v, want the masters rejection", err)
	}
}

// TestRejectsBadStorageUpdates checks the transition rules of
// spec.storage: the size may grow, never shrink, and the class never
// changes; each refusal names the field.
func TestRejectsBadStorageUpdates(t *testing.T) {
	needAPIServer(t)
	cases := []struct {
		name, before, after string
		want                []string // substrings of the refusal; none: accepted
	}{
		{name: "a shrink", before: "storage:\n  size: 2Gi", after: "storage:\n  size: 1Gi", want: []string{"spec.storage.size: Invalid value", "spec.storage.size cannot shrink"}},
		{name: "a shrink written in other units", before: "storage:\n  size: 1Gi", after: "storage:\n  size: 1000Mi", want: []string{"spec.storage.size cannot shrink"}},
		{name: "a shrink to a plain number of bytes", before: "storage:\n  size: 1Gi", after: "storage:\n  size: 1000", want: []string{"spec.storage.size cannot shrink"}},
		{name: "a shrink from the default size", before: "", after: "storage:\n  size: 512Mi", want: []string{"spec.storage.size cannot shrink"}},
		{name: "a growth is accepted", before: "storage:\n  size: 1Gi", after: "storage:\n  size: 3Gi"},
		{name: "the same size in other units is accepted", before: "storage:\n  size: 1Gi", after: "storage:\n  size: 1024Mi"},
		{name: "a growth from the default size is accepted", before: "", after: "storage:\n  size: 2Gi"},
		{name: "a class change", before: "storage:\n  storageClassName: slow", after: "storage:\n  storageClassName: fast", want: []string{"spec.storage.storageClassName: Invalid value", "spec.storage.storageClassName cannot change"}},
		{name: "a class set later", before: "", after: "storage:\n  storageClassName: fast", want: []string{"spec.storage.storageClassName cannot change"}},
		{name: "a class unset", before: "storage:\n  storageClassName: slow", after: "storage:\n  size: 1Gi", want: []string{"spec.storage.storageClassName cannot change"}},
		{name: "deleteClaimsWithCluster may change", before: "", after: "storage:\n  deleteClaimsWithCluster: true"},
	}
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("storage-%d", i)
			u := object(t, name, c.before)
			if err := k8sClient.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = k8sClient.Delete(ctx, u) }()
			next := object(t, name, c.after)
			next.SetResourceVersion(u.GetResourceVersion())
			err := k8sClient.Update(ctx, next)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("update refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("API server accepted the update from\n%s\nto\n%s", c.before, c.after)
			}
			t.Logf("%v", err)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error is not Invalid: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestAcceptsSampleAndAppliesDefaults(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	b, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		manifest []byte
	}{
		{"sample", b},
		{"no spec", []byte("apiVersion: redis.redkube.io/v1alpha1\nkind: RedisCluster\nmetadata:\n  name: bare\n")},
		{"empty nested objects", []byte("apiVersion: redis.redkube.io/v1alpha1\nkind: RedisCluster\nmetadata:\n  name: nested\nspec:\n  storage: {}\n  service: {}\n  placement: {}\n  passwordSecret: {name: auth}\n  podDisruptionBudget: {}\n")},
		{"exactly the node cap", []byte("apiVersion: redis.redkube.io/v1alpha1\nkind: RedisCluster\nmetadata:\n  name: big\nspec:\n  masters: 500\n  replicasPerMaster: 1\n")},
		{"allowed config", []byte("apiVersion: redis.redkube.io/v1alpha1\nkind: RedisCluster\nmetadata:\n  name: tuned\nspec:\n  masters: 6\n  config:\n    maxmemory: 1gb\n    maxmemory-policy: allkeys-lru\n    save: \"\"\n    cluster-node-timeout: \"3000\"\n  service:\n    type: NodePort\n")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(c.manifest, &u.Object); err != nil {
				t.Fatal(err)
			}
			u.SetNamespace(namespace)
			if err := k8sClient.Create(ctx, u); err != nil {
				t.Fatalf("API server rejected %s: %v", c.name, err)
			}
			defer func() { _ = k8sClient.Delete(ctx, u) }()

			got := &redisv1alpha1.RedisCluster{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
				t.Fatal(err)
			}
			want := &redisv1alpha1.RedisCluster{}
			if err := yaml.Unmarshal(c.manifest, want); err != nil {
				t.Fatal(err)
			}
			redisv1alpha1.SetDefaults(want)
			if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
				g, _ := json.MarshalIndent(got.Spec, "", "  ")
				w, _ := json.MarshalIndent(want.Spec, "", "  ")
				t.Errorf("spec after API-server defaulting differs from SetDefaults:\nAPI server: %s\nSetDefaults: %s", g, w)
			}
		})
	}
}

func TestZeroReplicasIsKept(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	u := object(t, "no-replicas", "replicasPerMaster: 0")
	if err := k8sClient.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = k8sClient.Delete(ctx, u) }()
	got := &redisv1alpha1.RedisCluster{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.ReplicasPerMaster != 0 {
		t.Errorf("replicasPerMaster = %d, want the explicit 0", got.Spec.ReplicasPerMaster)
	}
}

func TestStatusSubresourceAndPrinterColumns(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "printed", Namespace: namespace}}
	redisv1alpha1.SetDefaults(rc) // a Go client sends replicasPerMaster as it holds it
	if err := k8sClient.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = k8sClient.Delete(ctx, rc) }()

	// A status written on the main resource is dropped; through /status it sticks.
	rc.Status.ReadyNodes = 5
	if err := k8sClient.Update(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if rc.Status.ReadyNodes != 0 {
		t.Errorf("status written through the main resource: readyNodes = %d, want 0", rc.Status.ReadyNodes)
	}
	rc.Status = redisv1alpha1.RedisClusterStatus{
		ObservedGeneration: rc.Generation,
		ReadyNodes:         6,
		SlotsOK:            16384,
		Conditions: []metav1.Condition{{
			Type: redisv1alpha1.ConditionReady.String(), Status: metav1.ConditionTrue,
			Reason: redisv1alpha1.ReasonClusterReady.String(), Message: "all good",
			ObservedGeneration: rc.Generation, LastTransitionTime: metav1.Now(),
		}},
		Shards: []redisv1alpha1.ShardStatus{{Index: 0, MasterPod: "printed-0-0", Slots: "0-5460",
			Replicas: []redisv1alpha1.ReplicaStatus{{Pod: "printed-0-1", LinkUp: true, InSync: true}}}},
	}
	if err := k8sClient.Status().Update(ctx, rc); err != nil {
		t.Fatalf("status update: %v", err)
	}

	// What `kubectl get redisclusters` prints: the server-side Table.
	cs, err := rest.RESTClientFor(tableConfig(restCfg))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cs.Get().AbsPath("/apis/redis.redkube.io/v1alpha1/namespaces", namespace, "redisclusters", "printed").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	if err != nil {
		t.Fatalf("get table: %v", err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if got, want := strings.Join(cols, ","), "Name,Masters,Replicas,Ready,Slots OK,Status,Age"; got != want {
		t.Errorf("columns = %s, want %s", got, want)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("rows = %d, want 1", len(table.Rows))
	}
	cells := fmt.Sprint(table.Rows[0].Cells[:6])
	if want := "[printed 3 1 6 16384 ClusterReady]"; cells != want {
		t.Errorf("cells = %s, want %s", cells, want)
	}
}

// tableConfig is cfg for a plain REST client that talks JSON.
func tableConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &redisv1alpha1.GroupVersion
	c.APIPath = "/apis"
	c.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	return c
}

// TestShortNameIsUnique checks through discovery, as kubectl resolves short
// names, that no other resource on the server claims the RedisCluster short
// names (core's ReplicationController already owns "rc": `kubectl get rc`
// would list ReplicationControllers).
func TestShortNameIsUnique(t *testing.T) {
	needAPIServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string][]string{}
	var ours []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			for _, s := range r.ShortNames {
				owners[s] = append(owners[s], l.GroupVersion+"/"+r.Name)
			}
			if l.GroupVersion == redisv1alpha1.GroupVersion.String() && r.Name == "redisclusters" {
				ours = r.ShortNames
			}
		}
	}
	if len(ours) == 0 {
		t.Fatal("redisclusters has no short name")
	}
	for _, s := range ours {
		if len(owners[s]) != 1 {
			t.Errorf("short name %q is claimed by %v", s, owners[s])
		}
	}
}
