package controller

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// Secrets are watched by their metadata only (the cache holds no Secret
// data; the passes read data with a get by name): a change of a Secret a
// RedisCluster references (spec.passwordSecret, spec.users[].passwordSecrets,
// spec.tls.secretName) reaches that cluster at once instead of at its next
// idle pass (docs/design/2026-12-05-acl-users.md).

// referencedSecrets are the names of the Secrets rc's spec refers to.
func referencedSecrets(rc *redisv1alpha1.RedisCluster) []string {
	var names []string
	if ref := rc.Spec.PasswordSecret; ref != nil {
		names = append(names, ref.Name)
	}
	if d := rc.Spec.DefaultUser; d != nil {
		for _, ref := range d.PasswordSecrets {
			names = append(names, ref.Name)
		}
	}
	for _, u := range rc.Spec.Users {
		for _, ref := range u.PasswordSecrets {
			names = append(names, ref.Name)
		}
	}
	if t := rc.Spec.TLS; t != nil && t.SecretName != "" {
		names = append(names, t.SecretName)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// clustersUsingSecret maps a Secret to the RedisClusters of its namespace
// that refer to it.
func (r *Reconciler) clustersUsingSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list redisv1alpha1.RedisClusterList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "list RedisClusters for a Secret change", "secret", o.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		rc := &list.Items[i]
		if slices.Contains(referencedSecrets(rc), o.GetName()) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: rc.Namespace, Name: rc.Name}})
		}
	}
	return reqs
}
