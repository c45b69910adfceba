package chart

import (
	"fmt"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// operatorUser is the operator's ServiceAccount as the API server's
// authorizer sees it.
const operatorUser = "system:serviceaccount:redkube-system:redkube"

// access is one question to the authorizer: may the operator do verb on
// resource (in group, namespace "" for cluster-wide or cluster-scoped).
type access struct {
	verb, group, resource, namespace string
}

func (a access) String() string {
	where := "cluster-wide"
	if a.namespace != "" {
		where = "in " + a.namespace
	}
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	return fmt.Sprintf("%s %s %s", a.verb, r, where)
}

// allowed asks the API server's authorizer (a SubjectAccessReview, as
// `kubectl auth can-i --as` does) whether the operator's ServiceAccount
// may do a.
func allowed(t *testing.T, cs kubernetes.Interface, a access) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   operatorUser,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:redkube-system", "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.namespace,
		},
	}}
	got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview %s: %v", a, err)
	}
	return got.Status.Allowed
}

// TestOperatorHasLeastPrivilege installs the chart in each watch mode on a
// real API server and asks its RBAC authorizer what the operator's
// ServiceAccount may do: what the controller needs is allowed; Secrets
// outside the watched namespaces, other workloads, and every way to
// escalate (RBAC writes, bind, escalate, impersonate, exec) are not.
func TestOperatorHasLeastPrivilege(t *testing.T) {
	h := newHelm(t)
	s := startAPIServer(t, k8sBin(t))
	cs, err := kubernetes.NewForConfig(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.createNamespaces(t, "team-a", "team-b", "other")
	// What no mode may grant: other workloads, deleting Secrets (the
	// manager lists and watches Secrets for their metadata only, to see a
	// referenced one change, and gets, creates and updates single Secrets
	// by name: the ones a RedisCluster names, and those recording what its
	// nodes were given), and any way to gain more rights.
	never := []access{
		{"delete", "", "secrets", "team-a"},
		{"deletecollection", "", "secrets", "team-a"},
		{"delete", "apps", "deployments", "team-a"},
		{"update", "apps", "daemonsets", "team-a"},
		{"update", "batch", "jobs", "team-a"},
		{"create", "batch", "cronjobs", "team-a"},
		{"create", "", "pods", "team-a"},
		{"create", "", "pods/exec", "team-a"},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "team-a"},
		{"create", "rbac.authorization.k8s.io", "clusterrolebindings", ""},
		{"update", "rbac.authorization.k8s.io", "clusterroles", ""},
		{"escalate", "rbac.authorization.k8s.io", "clusterroles", ""},
		{"bind", "rbac.authorization.k8s.io", "clusterroles", ""},
		{"impersonate", "", "serviceaccounts", ""},
		{"create", "", "serviceaccounts/token", "redkube-system"},
		{"delete", "apiextensions.k8s.io", "customresourcedefinitions", ""},
		{"delete", "", "namespaces", "team-a"},
		{"update", "", "nodes", ""},
	}
	// What the controller needs wherever it watches.
	needs := func(ns string) []access {
		return []access{
			{"watch", "redis.redkube.io", "redisclusters", ns},
			{"update", "redis.redkube.io", "redisclusters/status", ns},
			{"create", "apps", "statefulsets", ns},
			{"delete", "", "pods", ns},
			{"delete", "", "persistentvolumeclaims", ns},
			{"create", "", "services", ns},
			{"get", "", "secrets", ns},
			{"watch", "", "secrets", ns},
			{"create", "", "secrets", ns},
			{"update", "", "secrets", ns},
			{"create", "", "events", ns},
			{"list", "", "events", ns},
			// Backups: the RedisClusterBackup controller runs rcctl in
			// a Job and reads its result from the pod's log.
			{"create", "redis.redkube.io", "redisclusterbackups", ns},
			{"update", "redis.redkube.io", "redisclusterbackups/status", ns},
			{"create", "batch", "jobs", ns},
			{"get", "", "pods/log", ns},
		}
	}
	// What it needs in any mode: cluster-scoped reads, leader election,
	// authenticating metrics scrapers.
	always := []access{
		{"list", "", "nodes", ""},
		{"watch", "storage.k8s.io", "storageclasses", ""},
		{"update", "coordination.k8s.io", "leases", "redkube-system"},
		{"create", "authentication.k8s.io", "tokenreviews", ""},
		{"create", "authorization.k8s.io", "subjectaccessreviews", ""},
	}
	modes := []struct {
		name    string
		release release
		allow   []access
		deny    []access
	}{
		{
			name:    "cluster mode: the needed rights in every namespace and nothing more",
			release: defaultRelease(),
			allow:   append(append(needs(""), needs("other")...), always...),
			deny:    never,
		},
		{
			name:    "namespaces mode: the needed rights in the watched namespaces only",
			release: namespacesRelease(),
			allow:   append(append(needs("team-a"), needs("team-b")...), always...),
			deny: append(append(append([]access{}, never...), needs("other")...),
				access{"watch", "redis.redkube.io", "redisclusters", ""},
				access{"get", "", "secrets", "redkube-system"},
				access{"get", "", "secrets", "kube-system"},
				access{"update", "coordination.k8s.io", "leases", "team-a"}),
		},
	}
	verb := "install"
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			args := append([]string{verb, "--create-namespace", "--kubeconfig", s.kubeconfig, "--wait=false"}, m.release.args()...)
			if _, err := h.run(t.Context(), args...); err != nil {
				t.Fatal(err)
			}
			verb = "upgrade"
			for _, a := range m.allow {
				if !allowed(t, cs, a) {
					t.Errorf("the operator may not %s, which it needs", a)
				}
			}
			for _, a := range m.deny {
				if allowed(t, cs, a) {
					t.Errorf("the operator may %s", a)
				}
			}
		})
	}
}
