package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/auth"
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

// convergePassword makes the running nodes require the password of
// spec.passwordSecret (none when unset) when it differs from the one they
// were last made to require, with auth.Rotation's rounds: no replica loses
// its link and the operator reaches every node on the way, whichever of
// the two passwords each accepts. A pass that stops half-way is resumed
// by the next (every round is idempotent). Then it records the new
// password with the rotation count the pod template carries, which rolls
// the pods so that their environment (probes, preStop hook, exporter)
// holds it and the old password stops working. A cluster seen for the
// first time records the password its pods started with.
func (r *Reconciler) convergePassword(ctx context.Context, st *state) error {
	switch {
	case !st.appliedKnown:
		return r.recordApplied(ctx, st, resources.AppliedPassword{Password: st.password})
	case st.applied.Password == st.password:
		return nil
	}
	nodes, err := r.passwordNodes(ctx, st)
	if err != nil {
		return err
	}
	// A switched-off default user stays off (the users phase keeps it so):
	// only the record changes.
	disabled := st.rc.Spec.DefaultUserDisabled()
	for i, round := range auth.Rotation(st.applied.Password, st.password) {
		err := forEach(ctx, nodes, func(ctx context.Context, n *redisadmin.Node) error {
			switch {
			case round.MasterAuth != nil:
				return switchMasterAuth(ctx, n, *round.MasterAuth)
			case disabled:
				return nil
			}
			return n.ACLSetUser(ctx, auth.DefaultUser, round.DefaultUser...)
		})
		if err != nil {
			return fmt.Errorf("change the password, round %d: %w", i+1, err)
		}
	}
	next := resources.AppliedPassword{Password: st.password, Rotation: st.applied.Rotation + 1}
	if err := r.recordApplied(ctx, st, next); err != nil {
		return err
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeNormal, EventPasswordChanged, "ChangePassword", "%s on %d running nodes; the pods roll (rotation %d) so that only it remains",
			rotationSummary(st.applied.Password, st.password), len(nodes), next.Rotation)
	}
	st.applied = next
	return nil
}

// rotationSummary says what a rotation does, without the passwords.
func rotationSummary(from, to string) string {
	switch {
	case to == "":
		return "password requirement dropped"
	case from == "":
		return "password required"
	}
	return "new password accepted"
}

// passwordNodes returns a handle on every running Redis pod's node, each
// authenticated with the password it accepts (the new one, else the old
// one). A node that answers neither is an error naming it; a pod whose
// node does not answer at all is left out (it restarts with the Secret's
// password).
func (r *Reconciler) passwordNodes(ctx context.Context, st *state) ([]*redisadmin.Node, error) {
	pools := r.fallbackPools(st)
	var nodes []*redisadmin.Node
	for i := range st.kube.pods {
		p := &st.kube.pods[i]
		if p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		addr := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(resources.RedisPort))
		n, err := acceptingNode(ctx, addr, pools...)
		switch {
		case errors.Is(err, redisadmin.ErrUnreachable):
			continue
		case err != nil:
			return nil, fmt.Errorf("pod %s: %w", p.Name, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
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

// switchMasterAuth sets masterauth on a node that replicates as the
// default user (masteruser unset: a pod started by an older operator);
// nodes that replicate as the replication user keep theirs.
func switchMasterAuth(ctx context.Context, n *redisadmin.Node, password string) error {
	user, err := n.ConfigGet(ctx, "masteruser")
	if err != nil {
		return err
	}
	if user != "" {
		return nil
	}
	return n.ConfigSet(ctx, "masterauth", password)
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
