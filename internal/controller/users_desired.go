package controller

// What the users should be: the spec's users and the default user with
// their passwords read from the Secrets they name, and the operator's own
// users with the passwords generated into <name>-users.

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/auth"
	"github.com/redkube/redkube/pkg/redisadmin"
)

// readUsers reads the users Secret (creating it for a new cluster, with
// the operator's users and freshly generated passwords: the pods mount it
// and their environment reads the replication and monitor passwords) and
// the password Secrets of spec.users.
func (r *Reconciler) readUsers(ctx context.Context, st *state) error {
	st.users = &usersState{}
	u := st.users
	probe := resources.UsersSecret(st.rc, resources.UsersData{})
	sec := &corev1.Secret{}
	switch err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(probe), sec); {
	case apierrors.IsNotFound(err):
		sec = nil
	case err != nil:
		return fmt.Errorf("get Secret %s: %w", probe.Name, err)
	default:
		if conflict := checkControlled(sec, probe); conflict != nil {
			st.invalid, st.invalidReason = conflict.Error(), redisv1alpha1.ReasonNameConflict
			return nil
		}
	}
	var data resources.UsersData
	if sec != nil {
		data = resources.ParseUsersSecret(sec)
	}
	if err := fillSystemPasswords(&data.Passwords); err != nil {
		return err
	}
	var specUsers []auth.User
	var defaultUser auth.User
	var err error
	specUsers, defaultUser, u.problem, u.message, err = r.desiredUsers(ctx, st)
	if err != nil {
		return err
	}
	if sec == nil {
		// The operator's users need no check by Redis: their rules are
		// fixed (and tested against redis-server). The default user has
		// spec.passwordSecret's password at least.
		if u.problem != "" {
			defaultUser = auth.DefaultUserWith(nonEmpty(st.password), st.rc.Spec.DefaultUserDisabled())
		}
		data.Conf = auth.RenderConf(auth.SystemUsers(data.Passwords, defaultUser))
		want := resources.UsersSecret(st.rc, data)
		if err := r.Client.Create(ctx, want); err != nil {
			return fmt.Errorf("create Secret %s: %w", want.Name, err)
		}
		st.changed = append(st.changed, "Secret "+want.Name)
		sec = want
	}
	u.secret, u.system = sec, data.Passwords
	if u.applied, err = auth.ParseConf(data.Conf); err != nil {
		return fmt.Errorf("users Secret %s: %w", sec.Name, err)
	}
	u.reference = auth.ACLLines(splitLines(data.ACLList))
	u.removed = splitLines(data.Removed)
	if u.problem == "" {
		u.desired = append(auth.SystemUsers(u.system, defaultUser), specUsers...)
	}
	return nil
}

// nonEmpty is []string{s}, or nil for "".
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// fillSystemPasswords generates the operator's users' passwords that are
// missing (32 random bytes, hex).
func fillSystemPasswords(p *auth.SystemPasswords) error {
	for _, pw := range []*string{&p.Operator, &p.Replication, &p.Monitor, &p.Backup} {
		if *pw != "" {
			continue
		}
		b := make([]byte, 32)
		if _, err := io.ReadFull(tlsRand, b); err != nil {
			return fmt.Errorf("generate a password: %w", err)
		}
		*pw = hex.EncodeToString(b)
	}
	return nil
}

// desiredUsers reads the passwords of spec.users and of the default user
// (spec.passwordSecret, already read into st.password, and
// spec.defaultUser.passwordSecrets). A missing Secret or key, or an empty
// password, is a problem naming the field, not an error: the nodes keep
// their users and the cluster keeps serving.
func (r *Reconciler) desiredUsers(ctx context.Context, st *state) ([]auth.User, auth.User, redisv1alpha1.ConditionReason, string, error) {
	rc := st.rc
	sr := &secretReader{r: r, namespace: rc.Namespace, cache: map[string]*corev1.Secret{}}
	defaultPasswords := nonEmpty(st.password)
	if d := rc.Spec.DefaultUser; d != nil {
		pws, problem, err := sr.passwords(ctx, "spec.defaultUser.passwordSecrets", d.PasswordSecrets)
		if problem != "" || err != nil {
			return nil, auth.User{}, redisv1alpha1.ReasonUserSecretInvalid, problem, err
		}
		defaultPasswords = append(defaultPasswords, pws...)
	}
	defaultUser := auth.DefaultUserWith(defaultPasswords, rc.Spec.DefaultUserDisabled())
	users := make([]auth.User, 0, len(rc.Spec.Users))
	for i, spec := range rc.Spec.Users {
		rules, err := auth.ParseRules(spec.Rules)
		if err != nil {
			return nil, auth.User{}, redisv1alpha1.ReasonUserRulesRejected, fmt.Sprintf("spec.users[%d] (%s).rules: %v", i, spec.Name, err), nil
		}
		pws, problem, err := sr.passwords(ctx, fmt.Sprintf("spec.users[%d] (%s).passwordSecrets", i, spec.Name), spec.PasswordSecrets)
		if problem != "" || err != nil {
			return nil, auth.User{}, redisv1alpha1.ReasonUserSecretInvalid, problem, err
		}
		users = append(users, auth.User{Name: spec.Name, Enabled: spec.IsEnabled(), Rules: rules, Passwords: pws})
	}
	return users, defaultUser, "", "", nil
}

// secretReader reads password Secrets of one namespace, each once a pass.
type secretReader struct {
	r         *Reconciler
	namespace string
	cache     map[string]*corev1.Secret
}

// passwords reads the passwords refs (the list at field) name. A missing
// Secret or key, or an empty password, is returned as a problem naming
// the field.
func (sr *secretReader) passwords(ctx context.Context, field string, refs []redisv1alpha1.PasswordSecretRef) ([]string, string, error) {
	out := make([]string, 0, len(refs))
	for j, ref := range refs {
		f := fmt.Sprintf("%s[%d]", field, j)
		sec, ok := sr.cache[ref.Name]
		if !ok {
			sec = &corev1.Secret{}
			switch err := sr.r.APIReader.Get(ctx, types.NamespacedName{Namespace: sr.namespace, Name: ref.Name}, sec); {
			case apierrors.IsNotFound(err):
				return nil, fmt.Sprintf("%s.name: Secret %q not found", f, ref.Name), nil
			case err != nil:
				return nil, "", fmt.Errorf("get Secret %s: %w", ref.Name, err)
			}
			sr.cache[ref.Name] = sec
		}
		key := ref.Key
		if key == "" {
			key = redisv1alpha1.DefaultPasswordKey
		}
		pw, ok := sec.Data[key]
		switch {
		case !ok:
			return nil, fmt.Sprintf("%s.key: Secret %q has no key %q", f, ref.Name, key), nil
		case strings.TrimSpace(string(pw)) == "":
			return nil, fmt.Sprintf("%s.key: key %q of Secret %q is empty", f, key, ref.Name), nil
		}
		out = append(out, string(pw))
	}
	return out, "", nil
}

// userNode is a running pod's node and its users as ACL LIST reports them.
type userNode struct {
	pod   string
	node  *redisadmin.Node
	lines map[string]string
}
