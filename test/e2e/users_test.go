package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/test/writeload"
)

// testUsers gives the cluster name an ACL user, rotates its password under
// a writer that switches midway (the user holds both passwords for a
// while), changes the password in its Secret alone (the watch), feeds it
// rules Redis rejects and a missing Secret, restarts a pod, and removes the
// user: every running node holds exactly the spec's users each time, with
// no write error and no pod restarted by a user change.
func testUsers(t *testing.T, e *opEnv, name string) {
	ctx := t.Context()
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "app-user", Namespace: opNS},
		StringData: map[string]string{"first": "first-pass-e2e", "second": "second-pass-e2e"},
	}
	if err := e.cl.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	podsBefore, err := e.pods(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	user := func(keys ...string) []redisv1alpha1.UserSpec {
		u := redisv1alpha1.UserSpec{Name: "app", Rules: "~* &* +@all -@dangerous"}
		for _, k := range keys {
			u.PasswordSecrets = append(u.PasswordSecrets, redisv1alpha1.PasswordSecretRef{Name: sec.Name, Key: k})
		}
		return []redisv1alpha1.UserSpec{u}
	}
	// accepts reports whether every pod's node lets app log in with pw.
	accepts := func(ctx context.Context, pw string) error {
		for _, a := range e.addrs(t, name) {
			c := redis.NewClient(&redis.Options{Addr: a, Username: "app", Password: pw, MaxRetries: -1})
			err := c.Ping(ctx).Err()
			_ = c.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", a, err)
			}
		}
		return nil
	}
	refuses := func(ctx context.Context, pw string) error {
		for _, a := range e.addrs(t, name) {
			c := redis.NewClient(&redis.Options{Addr: a, Username: "app", Password: pw, MaxRetries: -1})
			err := c.Ping(ctx).Err()
			_ = c.Close()
			if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
				return fmt.Errorf("%s: AUTH app = %v, want WRONGPASS", a, err)
			}
		}
		return nil
	}
	usersApplied := func(reason redisv1alpha1.ConditionReason) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			rc, err := e.get(ctx, name)
			if err != nil {
				return err
			}
			c := meta.FindStatusCondition(rc.Status.Conditions, redisv1alpha1.ConditionUsersApplied.String())
			if c == nil || c.Reason != reason.String() || c.ObservedGeneration != rc.Generation {
				return fmt.Errorf("UsersApplied = %+v, generation %d; want reason %s", c, rc.Generation, reason)
			}
			return nil
		}
	}

	at := e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.Users = user("first") })
	opWait(t, time.Minute, "app accepted with its password on every node", func(ctx context.Context) error { return accepts(ctx, "first-pass-e2e") })
	t.Logf("timing: spec.users set -> every node accepts the user: %v", time.Since(at))
	opWait(t, time.Minute, "UsersApplied True", usersApplied(redisv1alpha1.ReasonUsersInSync))
	wantEvent(t, e, name, controller.EventUsersApplied, "1 users set")

	// Rotation: the user holds both passwords, the writer switches, the old
	// one goes.
	var current atomic.Value
	current.Store("first-pass-e2e")
	newClient := func() *redis.ClusterClient {
		o := writeload.ClientOptions(e.addrs(t, name), nil)
		o.CredentialsProvider = func() (string, string) { return "app", current.Load().(string) }
		return redis.NewClusterClient(o)
	}
	w := writeload.StartWith(context.Background(), newClient(), "users")
	time.Sleep(time.Second)
	at = e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.Users = user("first", "second") })
	opWait(t, time.Minute, "the second password accepted", func(ctx context.Context) error { return accepts(ctx, "second-pass-e2e") })
	t.Logf("timing: second password added -> accepted on every node: %v", time.Since(at))
	current.Store("second-pass-e2e")
	time.Sleep(2 * time.Second) // go-redis opens new connections with it
	at = e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.Users = user("second") })
	opWait(t, time.Minute, "the first password refused", func(ctx context.Context) error { return refuses(ctx, "first-pass-e2e") })
	t.Logf("timing: first password removed -> refused on every node: %v", time.Since(at))

	// The Secret alone changes: seen through the watch, not the idle pass.
	setKey := func(key, value string) {
		t.Helper()
		cur := &corev1.Secret{}
		if err := e.cl.Get(ctx, client.ObjectKeyFromObject(sec), cur); err != nil {
			t.Fatal(err)
		}
		cur.Data[key] = []byte(value)
		if err := e.cl.Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
	}
	setKey("first", "third-pass-e2e")
	e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.Users = user("second", "first") })
	opWait(t, time.Minute, "the re-added key accepted", func(ctx context.Context) error { return accepts(ctx, "third-pass-e2e") })
	opWait(t, time.Minute, "UsersApplied True", usersApplied(redisv1alpha1.ReasonUsersInSync))
	time.Sleep(time.Second) // the pass after the change has ended
	setKey("first", "fourth-pass-e2e")
	at = time.Now()
	opWait(t, time.Minute, "the changed Secret's password accepted", func(ctx context.Context) error { return accepts(ctx, "fourth-pass-e2e") })
	t.Logf("measured: password changed in its Secret -> every node accepts it: %v", time.Since(at))
	opWait(t, time.Minute, "the password it replaced refused", func(ctx context.Context) error { return refuses(ctx, "third-pass-e2e") })

	res := w.Stop()
	reader := newClient()
	lost, err := writeload.LostWith(ctx, reader, "users", res.Acked)
	_ = reader.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: ACL user password rotation under a writer that switched midway: %d writes acknowledged, %d errors (first: %v), worst gap %v, %d lost",
		len(res.Acked), res.Errors, res.FirstErr, res.WorstGap, len(lost))
	if res.Errors > 0 || len(lost) > 0 {
		t.Errorf("%d write errors (first: %v), %d acknowledged writes lost", res.Errors, res.FirstErr, len(lost))
	}

	// Rules Redis rejects: nothing applied, the user keeps working.
	e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) {
		s.Users = user("second")
		s.Users[0].Rules = "~* +nosuchcommand"
	})
	opWait(t, time.Minute, "UsersApplied False UserRulesRejected", usersApplied(redisv1alpha1.ReasonUserRulesRejected))
	if err := accepts(ctx, "second-pass-e2e"); err != nil {
		t.Errorf("after rejected rules the user no longer logs in: %v", err)
	}
	rc, err := e.get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(rc.Status.Conditions, redisv1alpha1.ConditionUsersApplied.String()); !strings.Contains(c.Message, "nosuchcommand") || !strings.Contains(c.Message, "app") {
		t.Errorf("UsersApplied message %q does not name the user and the rule", c.Message)
	}
	if !meta.IsStatusConditionTrue(rc.Status.Conditions, redisv1alpha1.ConditionReady.String()) {
		t.Error("rejected user rules made the cluster not Ready")
	}

	// A missing Secret: nothing applied either.
	e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) {
		s.Users = user("second")
		s.Users[0].PasswordSecrets = append(s.Users[0].PasswordSecrets, redisv1alpha1.PasswordSecretRef{Name: "no-such-secret"})
	})
	opWait(t, time.Minute, "UsersApplied False UserSecretInvalid", usersApplied(redisv1alpha1.ReasonUserSecretInvalid))
	if err := accepts(ctx, "second-pass-e2e"); err != nil {
		t.Errorf("after a missing Secret the user no longer logs in: %v", err)
	}

	// The default user switched off: a client without a user is refused;
	// the operator, replication and the preStop hook use their own users
	// (the pod restart below needs all three).
	e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) {
		s.Users = user("second")
		s.DefaultUser = &redisv1alpha1.DefaultUserSpec{Enabled: ptr.To(false)}
	})
	opWait(t, time.Minute, "UsersApplied True again", usersApplied(redisv1alpha1.ReasonUsersInSync))
	anonymousRefused := func(ctx context.Context) error {
		for _, a := range e.addrs(t, name) {
			c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
			err := c.Set(ctx, "anonymous", "x", 0).Err()
			_ = c.Close()
			if err == nil || !strings.Contains(err.Error(), "NOAUTH") && !strings.Contains(err.Error(), "WRONGPASS") && !strings.Contains(err.Error(), "NOPERM") {
				return fmt.Errorf("%s: SET without a user = %v, want it refused", a, err)
			}
		}
		return nil
	}
	opWait(t, time.Minute, "the default user refused everywhere", anonymousRefused)

	// A pod restarted comes back with the users (the file it includes).
	rc, err = e.get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	replica := rc.Status.Shards[0].Replicas[0].Pod
	podsNow, err := e.pods(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for n, p := range podsBefore {
		if q, ok := podsNow[n]; !ok || q.UID != p.UID {
			t.Errorf("pod %s was replaced by a user change", n)
		}
	}
	victim := podsNow[replica]
	if err := e.cl.Delete(ctx, &victim); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, name, time.Now(), 3*time.Minute)
	opWait(t, time.Minute, "the restarted pod accepts the user", func(ctx context.Context) error { return accepts(ctx, "second-pass-e2e") })
	if err := anonymousRefused(ctx); err != nil {
		t.Errorf("after the restart: %v", err)
	}
	e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.DefaultUser = nil })
	opWait(t, time.Minute, "the default user back", func(ctx context.Context) error {
		for _, a := range e.addrs(t, name) {
			c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
			err := c.Ping(ctx).Err()
			_ = c.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", a, err)
			}
		}
		return nil
	})

	// Removed: deleted from every node, which the condition keeps checking.
	at = e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.Users = nil })
	opWait(t, time.Minute, "the user deleted everywhere", func(ctx context.Context) error { return refuses(ctx, "second-pass-e2e") })
	t.Logf("timing: spec.users removed -> user gone from every node: %v", time.Since(at))
	opWait(t, time.Minute, "UsersApplied True with no users", func(ctx context.Context) error {
		if err := usersApplied(redisv1alpha1.ReasonUsersInSync)(ctx); err != nil {
			return err
		}
		rc, err := e.get(ctx, name)
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(rc.Status.Conditions, redisv1alpha1.ConditionUsersApplied.String()); !strings.HasPrefix(c.Message, "0 users") {
			return errors.New(c.Message)
		}
		return nil
	})
}
