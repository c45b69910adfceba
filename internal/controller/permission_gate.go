package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// Event reason and readiness check of missing permissions.
const (
	// EventMissingPermissions is the Warning event on the manager's own
	// Pod naming the RBAC permissions it lacks.
	EventMissingPermissions = "MissingPermissions"
	// PermissionsCheckName is the readiness check that fails while
	// permissions are missing: GET /readyz/permissions answers 500 with
	// the message (the aggregated /readyz withholds reasons).
	PermissionsCheckName = "permissions"
	// DefaultPermissionCheckInterval is how often missing permissions
	// are checked again.
	DefaultPermissionCheckInterval = 10 * time.Second
	// maxEventNote is the longest note an events.k8s.io Event takes.
	maxEventNote = 1024
)

// errNotChecked is the readiness state before the first check.
var errNotChecked = errors.New("RBAC permissions not checked yet")

// permissionGate keeps the controller from starting until the manager's
// identity has every permission it needs, instead of letting informers
// fail their list calls until the cache sync times out and the manager
// exits without saying why. While something is missing it says what, in
// one log line, in its readiness check and as an event on the manager's
// own Pod, and checks again every interval. Once all is granted it
// registers the controller (start) and ends. It runs on every replica,
// leader or not.
type permissionGate struct {
	authn    authenticationv1client.SelfSubjectReviewsGetter
	authz    authorizationv1client.SelfSubjectAccessReviewsGetter
	required []Permission
	interval time.Duration
	start    func() error
	recorder recorder.EventRecorder
	pod      *corev1.Pod // nil out of cluster: no event
	// reader looks the pod's UID up when the downward API gave none, so
	// that `kubectl describe pod` lists the event.
	reader client.Reader
	log    *slog.Logger

	mu     sync.Mutex
	status error
}

// Start checks until every permission is granted, then registers the
// controller; it returns when that is done or ctx ends.
func (g *permissionGate) Start(ctx context.Context) error {
	var last string
	var took time.Duration
	for {
		began := time.Now()
		err := g.check(ctx)
		took = time.Since(began)
		if err == nil {
			break
		}
		g.setStatus(err)
		if msg := err.Error(); msg != last {
			last = msg
			g.report(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(g.interval):
		}
	}
	if err := g.start(); err != nil {
		return fmt.Errorf("start the controller: %w", err)
	}
	g.setStatus(nil)
	g.log.Info("RBAC permissions granted; controller registered", "checked", len(g.required), "took", took)
	return nil
}

// NeedLeaderElection is false: a standby replica reports too.
func (g *permissionGate) NeedLeaderElection() bool { return false }

// check returns a *MissingPermissionsError naming what is missing, or
// the error that kept it from asking.
func (g *permissionGate) check(ctx context.Context) error {
	user, err := WhoAmI(ctx, g.authn)
	if err != nil {
		return fmt.Errorf("check RBAC permissions: %w", err)
	}
	missing, err := CheckPermissions(ctx, g.authz, g.required)
	if err != nil {
		return fmt.Errorf("check RBAC permissions of %s: %w", user, err)
	}
	if len(missing) > 0 {
		return &MissingPermissionsError{User: user, Missing: missing, Required: g.required}
	}
	return nil
}

// report logs err in one line and records it on the manager's Pod.
func (g *permissionGate) report(err error) {
	var missing *MissingPermissionsError
	if !errors.As(err, &missing) {
		g.log.Error("cannot check RBAC permissions; retrying", "err", err, "retryIn", g.interval)
		return
	}
	g.log.Error("missing RBAC permissions; the controller starts once they are granted", "err", err, "user", missing.User, "missing", len(missing.Missing))
	if g.pod != nil {
		g.lookUpPodUID()
		note := err.Error()
		if len(note) > maxEventNote {
			note = note[:maxEventNote-3] + "..."
		}
		g.recorder.Eventf(g.pod, nil, corev1.EventTypeWarning, EventMissingPermissions, "CheckPermissions", "%s", note)
	}
}

// lookUpPodUID fills in the pod's UID from the API once, if it can (its
// identity may not read pods in its own namespace; the event then has no
// UID).
func (g *permissionGate) lookUpPodUID() {
	if g.pod.UID != "" || g.reader == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := &corev1.Pod{}
	if err := g.reader.Get(ctx, client.ObjectKeyFromObject(g.pod), p); err != nil {
		g.log.Debug("cannot read the manager's own pod for its UID", "pod", g.pod.Namespace+"/"+g.pod.Name, "err", err)
		g.reader = nil
		return
	}
	g.pod.UID = p.UID
}

func (g *permissionGate) setStatus(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status = err
}

// Ready is the readiness check: nil once every permission is granted.
func (g *permissionGate) Ready(_ *http.Request) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status
}
