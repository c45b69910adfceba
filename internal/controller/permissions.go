package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// PermissionRule is one row of a permission table: verbs on resources of
// one API group ("" is the core group), needed in every watched namespace
// (Namespaced) or cluster-wide. A resource may name a subresource
// ("redisclusters/status").
type PermissionRule struct {
	Group      string
	Resources  []string
	Verbs      []string
	Namespaced bool
}

// ControllerPermissions is what the RedisCluster and RedisClusterBackup
// controllers need: the +kubebuilder:rbac markers in
// rediscluster_controller.go and backup_controller.go row for row,
// from which hack/generate.sh writes config/rbac/role.yaml.
// TestControllerPermissionsAreTheGeneratedRole compares the two, so a
// marker changed without this table (or the other way round) fails.
var ControllerPermissions = []PermissionRule{
	{Group: "redis.redkube.io", Resources: []string{"redisclusters"}, Verbs: []string{"get", "list", "watch", "update", "patch"}, Namespaced: true},
	{Group: "redis.redkube.io", Resources: []string{"redisclusters/status"}, Verbs: []string{"get", "update", "patch"}, Namespaced: true},
	{Group: "redis.redkube.io", Resources: []string{"redisclusters/finalizers"}, Verbs: []string{"update"}, Namespaced: true},
	{Group: "apps", Resources: []string{"statefulsets"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}, Namespaced: true},
	{Group: "", Resources: []string{"configmaps", "services"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}, Namespaced: true},
	{Group: "policy", Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}, Namespaced: true},
	{Group: "", Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "delete"}, Namespaced: true},
	{Group: "", Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "list", "watch", "patch", "delete"}, Namespaced: true},
	{Group: "", Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create", "update"}, Namespaced: true},
	{Group: "", Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
	{Group: "storage.k8s.io", Resources: []string{"storageclasses"}, Verbs: []string{"get", "list", "watch"}},
	{Group: "events.k8s.io", Resources: []string{"events"}, Verbs: []string{"create", "patch"}, Namespaced: true},
	{Group: "", Resources: []string{"events"}, Verbs: []string{"create", "patch", "list"}, Namespaced: true},
	// The RedisClusterBackup controller (backup_controller.go).
	{Group: "redis.redkube.io", Resources: []string{"redisclusterbackups"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}, Namespaced: true},
	{Group: "redis.redkube.io", Resources: []string{"redisclusterbackups/finalizers"}, Verbs: []string{"update"}, Namespaced: true},
	{Group: "redis.redkube.io", Resources: []string{"redisclusterbackups/status"}, Verbs: []string{"get", "update", "patch"}, Namespaced: true},
	{Group: "batch", Resources: []string{"jobs"}, Verbs: []string{"get", "list", "watch", "create", "delete"}, Namespaced: true},
	{Group: "", Resources: []string{"pods/log"}, Verbs: []string{"get"}, Namespaced: true},
}

// MetricsAuthPermissions is what serving /metrics with authentication and
// authorization (--metrics-secure) needs: reviews of the scrapers' tokens
// and of their access (controller-runtime's metrics/filters). They are
// granted by a ClusterRole of their own, not by the generated one.
var MetricsAuthPermissions = []PermissionRule{
	{Group: "authentication.k8s.io", Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
	{Group: "authorization.k8s.io", Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
}

// LeaderElectionPermissions is what holding the leader-election Lease
// needs, in the lease's namespace only (a Role of its own).
var LeaderElectionPermissions = []PermissionRule{
	{Group: "coordination.k8s.io", Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}, Namespaced: true},
}

// Permission is one verb on one resource, in one namespace; Namespace ""
// means cluster-wide for a cluster-scoped resource and every namespace
// for a namespaced one (what a manager watching the whole cluster needs).
type Permission struct {
	Verb, Group, Resource, Subresource, Namespace string
	// Namespaced says the resource lives in namespaces.
	Namespaced bool
}

// resourceName is the resource as kubectl names it: "statefulsets.apps",
// "pods", "redisclusters.redis.redkube.io/status".
func (p Permission) resourceName() string {
	r := p.Resource
	if p.Group != "" {
		r += "." + p.Group
	}
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	return r
}

// where says where the permission is needed: `in namespace "a"`, `in all
// namespaces`, or `cluster-wide`.
func (p Permission) where() string {
	switch {
	case p.Namespace != "":
		return fmt.Sprintf("in namespace %q", p.Namespace)
	case p.Namespaced:
		return "in all namespaces"
	default:
		return "cluster-wide"
	}
}

// String is "list pods in namespace \"b\"".
func (p Permission) String() string {
	return p.Verb + " " + p.resourceName() + " " + p.where()
}

// RequiredPermissions expands rules into single permissions: each
// namespaced rule once per namespace of namespaces (once for all
// namespaces when it is empty), each cluster-scoped rule once.
func RequiredPermissions(rules []PermissionRule, namespaces []string) []Permission {
	scopes := namespaces
	if len(scopes) == 0 {
		scopes = []string{""}
	}
	var out []Permission
	add := func(r PermissionRule, ns string) {
		for _, res := range r.Resources {
			resource, sub, _ := strings.Cut(res, "/")
			for _, v := range r.Verbs {
				out = append(out, Permission{Verb: v, Group: r.Group, Resource: resource, Subresource: sub, Namespace: ns, Namespaced: r.Namespaced})
			}
		}
	}
	for _, ns := range scopes {
		for _, r := range rules {
			if r.Namespaced {
				add(r, ns)
			}
		}
	}
	for _, r := range rules {
		if !r.Namespaced {
			add(r, "")
		}
	}
	return out
}

// reviewParallelism bounds the SelfSubjectAccessReviews in flight.
const reviewParallelism = 8

// CheckPermissions asks the API server, with one SelfSubjectAccessReview
// per permission, which of perms the client's own identity lacks; the
// result keeps perms' order. The error is the first failed review's.
func CheckPermissions(ctx context.Context, c authorizationv1client.SelfSubjectAccessReviewsGetter, perms []Permission) ([]Permission, error) {
	allowed := make([]bool, len(perms))
	errs := make([]error, len(perms))
	sem := make(chan struct{}, reviewParallelism)
	var wg sync.WaitGroup
	for i, p := range perms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, err := c.SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource,
				}},
			}, metav1.CreateOptions{})
			if err != nil {
				errs[i] = fmt.Errorf("review %s: %w", p, err)
				return
			}
			allowed[i] = r.Status.Allowed
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var missing []Permission
	for i, p := range perms {
		if !allowed[i] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// WhoAmI returns the user name the API server knows the client as
// (SelfSubjectReview, which every authenticated user may create).
func WhoAmI(ctx context.Context, c authenticationv1client.SelfSubjectReviewsGetter) (string, error) {
	r, err := c.SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("ask the API server who the manager is: %w", err)
	}
	return r.Status.UserInfo.Username, nil
}

// MissingPermissionsError names the permissions the manager's identity
// lacks.
type MissingPermissionsError struct {
	// User is the identity (system:serviceaccount:<ns>:<name> in a pod).
	User string
	// Missing are the permissions it lacks, in the order of Required.
	Missing []Permission
	// Required are all the permissions that were checked.
	Required []Permission
}

// Subject names the identity as an operator's user would: "service
// account redkube-system/redkube-controller-manager" or "user alice".
func (e *MissingPermissionsError) Subject() string {
	if rest, ok := strings.CutPrefix(e.User, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			return "service account " + ns + "/" + name
		}
	}
	return "user " + e.User
}

// Error is one line: who lacks what, grouped by resource and scope
// ("get, list, watch, delete pods in namespace \"b\"") and, where nothing
// at all is granted in a scope, said so in one phrase.
func (e *MissingPermissionsError) Error() string {
	required, missing := map[string]int{}, map[string]int{}
	for _, p := range e.Required {
		required[p.where()]++
	}
	for _, p := range e.Missing {
		missing[p.where()]++
	}
	var parts []string
	said := map[string]bool{}
	for _, g := range groupByResource(e.Missing) {
		n := missing[g.where]
		switch {
		case n < 2 || n != required[g.where]:
			parts = append(parts, strings.Join(g.verbs, ", ")+" "+g.resource+" "+g.where)
		case !said[g.where]:
			parts = append(parts, fmt.Sprintf("all %d it needs %s", n, g.where))
			said[g.where] = true
		}
	}
	return fmt.Sprintf("%s lacks %d RBAC permission%s: %s", e.Subject(), len(e.Missing), plural(len(e.Missing)), strings.Join(parts, "; "))
}

// verbGroup is the verbs of several permissions on one resource in one
// scope.
type verbGroup struct {
	resource, where string
	verbs           []string
}

// groupByResource joins the verbs of the permissions on the same resource
// in the same scope, in order of first appearance.
func groupByResource(perms []Permission) []*verbGroup {
	var out []*verbGroup
	index := map[[2]string]*verbGroup{}
	for _, p := range perms {
		k := [2]string{p.resourceName(), p.where()}
		g := index[k]
		if g == nil {
			g = &verbGroup{resource: k[0], where: k[1]}
			index[k] = g
			out = append(out, g)
		}
		g.verbs = append(g.verbs, p.Verb)
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
