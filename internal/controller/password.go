package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/redisadmin"
)

// EventPasswordChanged: the running nodes were made to require another
// password (or none); the note says which way.
const EventPasswordChanged = "PasswordChanged"

// readApplied reads the applied-password Secret into st (st.appliedKnown
// false when there is none yet). A Secret under its name that the cluster
// does not control is a name conflict.
func (r *Reconciler) readApplied(ctx context.Context, st *state) error {
	want := resources.AppliedPasswordSecret(st.rc, resources.AppliedPassword{})
	// Secrets are read from the API server: the manager may get them by
	// name but not list or watch them, so they are not cached.
	sec := &corev1.Secret{}
	switch err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), sec); {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get Secret %s: %w", want.Name, err)
	}
	if conflict := checkControlled(sec, want); conflict != nil {
		st.invalid, st.invalidReason = conflict.Error(), redisv1alpha1.ReasonNameConflict
		return nil
	}
	var err error
	if st.applied, err = resources.ParseAppliedPassword(sec); err != nil {
		return fmt.Errorf("read the applied password: %w", err)
	}
	st.appliedSecret, st.appliedKnown = sec, true
	return nil
}

// convergePassword records the default user's password (spec.passwordSecret)
// once the users phase, which keeps the default user like the operator's
// own users (and says so with a PasswordChanged event), has set it on every
// running node live: the record is the password the operator falls back
// to for a node that lacks its own user (fallbackPools). No pod restarts:
// the pods include the users file at start, not the password. A cluster
// seen for the first time records the password it was created with.
func (r *Reconciler) convergePassword(ctx context.Context, st *state) error {
	switch {
	case !st.appliedKnown:
		return r.recordApplied(ctx, st, resources.AppliedPassword{Password: st.password})
	case st.applied.Password == st.password:
		return nil
	case !st.users.defaultApplied():
		return nil // the users phase has not set it everywhere yet
	}
	// The rotation count stays: it is on the pod template of clusters
	// whose pods an older operator rolled for a password change.
	return r.recordApplied(ctx, st, resources.AppliedPassword{Password: st.password, Rotation: st.applied.Rotation})
}

// acceptingNode returns addr's handle from the first pool whose password
// the node accepts.
func acceptingNode(ctx context.Context, addr string, pools ...*redisadmin.Pool) (*redisadmin.Node, error) {
	var last error
	for _, pool := range pools {
		n := pool.Node(addr)
		err := n.Ping(ctx)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, redisadmin.ErrAuth) {
			return nil, err
		}
		last = err
	}
	return nil, fmt.Errorf("accepts neither the operator's user nor the new or recorded password: %w", last)
}

// fallbackPools are the pools a node may accept during a change: the
// operator's user (poolOptions), then the default user with the spec's
// password, then with the recorded one (a node that restarted before the
// operator's user existed, or during a password change).
func (r *Reconciler) fallbackPools(st *state) []*redisadmin.Pool {
	pools := []*redisadmin.Pool{redisadmin.NewPool(r.poolOptions(st))}
	tried := map[string]bool{}
	if r.poolOptions(st).Username == "" {
		tried[st.password] = true // the first pool is the default user's
	}
	for _, pw := range []string{st.password, st.applied.Password} {
		if !tried[pw] {
			tried[pw] = true
			pools = append(pools, redisadmin.NewPool(r.defaultPoolOptions(st, pw)))
		}
	}
	st.extraPools = append(st.extraPools, pools...)
	return pools
}

// forEach runs fn on every item at once and joins the errors.
func forEach[T any](ctx context.Context, items []T, fn func(context.Context, T) error) error {
	errs := make(chan error, len(items))
	for _, it := range items {
		go func() { errs <- fn(ctx, it) }()
	}
	var all []error
	for range items {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// recordApplied writes the applied-password Secret when its data differ.
func (r *Reconciler) recordApplied(ctx context.Context, st *state, a resources.AppliedPassword) error {
	want := resources.AppliedPasswordSecret(st.rc, a)
	if live := st.appliedSecret; live != nil {
		if dataEqual(live.Data, want.Data) {
			return nil
		}
		want.ResourceVersion = live.ResourceVersion
		if err := r.Client.Update(ctx, want); err != nil {
			return fmt.Errorf("update Secret %s: %w", want.Name, err)
		}
	} else if err := r.Client.Create(ctx, want); err != nil {
		return fmt.Errorf("create Secret %s: %w", want.Name, err)
	}
	st.appliedSecret, st.appliedKnown, st.applied = want, true, a
	st.changed = append(st.changed, "Secret "+want.Name)
	return nil
}

func dataEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}
