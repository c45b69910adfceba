package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/auth"
	"github.com/redkube/redkube/pkg/redisadmin"
)

// ACL users (spec.users, docs/security.md). The operator keeps an owned
// Secret (<name>-users) with the users file every pod includes at start
// and the ACL LIST lines one node reported once all accepted it. A change
// of spec.users or of a referenced password Secret is first checked by
// Redis on one node (the rules of every user on a scratch user that is
// off), then set on every running node with ACL SETUSER (reset, on/off,
// password hashes, rules: Redis applies one SETUSER whole or not at all),
// users gone from the spec deleted; only then is the Secret written. A
// rule Redis rejects therefore changes no node and never reaches a file a
// pod would fail to start with. Every pass also compares each node's ACL
// LIST with the recorded lines and sets the users again on a node that
// differs (a pod restarted before its kubelet refreshed the file, or a
// hand edit), so UsersApplied says whether every running node holds them.

// Event reasons of ACL users.
const (
	// EventUsersApplied: every running node was given the users of the spec.
	EventUsersApplied = "UsersApplied"
	// EventUsersRepaired: nodes whose users differed were given them again.
	EventUsersRepaired = "UsersRepaired"
	// EventUserRulesRejected: Redis rejected a user's rules; nothing applied.
	EventUserRulesRejected = "UserRulesRejected"
	// EventUserSecretInvalid: a user's password Secret or key is missing.
	EventUserSecretInvalid = "UserSecretInvalid"
)

// checkUser is the scratch user the rules are tried on (switched off, no
// password: nobody can log in as it). The redkube- prefix is reserved.
const checkUser = "redkube-rules-check"

// usersState is the pass's view of the ACL users.
type usersState struct {
	// desired are the operator's users and those of the spec with their
	// passwords; nil when a Secret is missing (problem says which).
	desired []auth.User
	// system are the operator's users' passwords.
	system auth.SystemPasswords
	// applied, reference and removed are the users Secret's contents: the
	// file, the recorded ACL LIST lines by name, the names deleted.
	applied   []auth.ConfUser
	reference map[string]string
	removed   []string
	secret    *corev1.Secret
	// problem and message explain why the spec's users are not applied.
	problem redisv1alpha1.ConditionReason
	message string
	// lagging names the running pods that do not hold the users (or did
	// not answer).
	lagging []string
	// checked is true once convergeUsers compared the nodes; nodes counts
	// the running pods it looked at.
	checked bool
	nodes   int
}

// managed reports whether the cluster has users to keep or to remove
// beside the operator's own, which UsersApplied then reports on.
func (u *usersState) managed() bool {
	for _, c := range u.applied {
		if auth.IsSpecUser(c.Name) {
			return true
		}
	}
	for _, d := range u.desired {
		if auth.IsSpecUser(d.Name) {
			return true
		}
	}
	return len(u.removed) > 0 || u.problem != ""
}

// defaultApplied reports whether the running nodes hold the desired
// default user: the users were checked this pass, none lags, and the
// recorded file is the desired one.
func (u *usersState) defaultApplied() bool {
	if u == nil || !u.checked || u.problem != "" || len(u.lagging) > 0 || u.secret == nil {
		return false
	}
	return auth.RenderConf(u.desired) == string(u.secret.Data[resources.UsersConfKey])
}

// convergeUsers brings every running node to the spec's users (or, while
// the spec's users cannot be applied, keeps them at the recorded ones).
func (r *Reconciler) convergeUsers(ctx context.Context, st *state) error {
	u := st.users
	if u == nil {
		return nil
	}
	nodes, unreached, err := r.userNodes(ctx, st)
	if err != nil {
		return err
	}
	u.checked, u.nodes = true, len(nodes)+len(unreached)
	// The target is the spec's users, or the recorded ones while the
	// spec's cannot be applied. A change, or a target whose reference
	// lines were never recorded (a new cluster), goes through changeUsers.
	target, conf, check := u.applied, string(u.secret.Data[resources.UsersConfKey]), []auth.User(nil)
	if u.problem == "" {
		conf, check = auth.RenderConf(u.desired), u.desired
	}
	if conf != string(u.secret.Data[resources.UsersConfKey]) || !recorded(u.reference, target) {
		if len(nodes) == 0 {
			u.lagging = unreached
			return nil // the first node to run checks the rules
		}
		return r.changeUsers(ctx, st, nodes, unreached, conf, check)
	}
	plan := planUsers(target, u.removed, u.reference, nodeLines(nodes))
	for _, n := range nodes {
		if _, lags := plan.lagging[n.pod]; !lags {
			continue
		}
		if err := applyUsers(ctx, n.node, plan.change); err != nil {
			return fmt.Errorf("set the users on pod %s: %w", n.pod, err)
		}
	}
	if len(plan.lagging) > 0 && r.Recorder != nil {
		differs := make([]string, 0, len(plan.lagging))
		for _, pod := range plan.pods() {
			differs = append(differs, pod+" (user "+plan.lagging[pod]+")")
		}
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeNormal, EventUsersRepaired, "SetUsers", "pods %s did not hold the current users; they were set again", strings.Join(differs, ", "))
	}
	u.lagging = unreached
	return nil
}

// changeUsers checks the spec's users on one node, sets them on every
// running node, and records them.
func (r *Reconciler) changeUsers(ctx context.Context, st *state, nodes []userNode, unreached []string, conf string, check []auth.User) error {
	u := st.users
	if name, err := checkRules(ctx, nodes[0].node, check); err != nil {
		if !isRedisReply(err) {
			return fmt.Errorf("check the rules of user %s on pod %s: %w", name, nodes[0].pod, err)
		}
		u.problem = redisv1alpha1.ReasonUserRulesRejected
		u.message = fmt.Sprintf("user %s: Redis rejected its rules: %s; the nodes keep the previous users", name, redisMessage(err))
		// The recorded users stay: compare and repair against them.
		plan := planUsers(u.applied, u.removed, u.reference, nodeLines(nodes))
		u.lagging = append(slices.Clone(unreached), plan.pods()...)
		return nil
	}
	next, err := auth.ParseConf(conf)
	if err != nil {
		return err
	}
	change := auth.Diff(u.applied, next, auth.DefaultRestored())
	err = forEach(ctx, nodes, func(ctx context.Context, n userNode) error {
		return applyUsers(ctx, n.node, change)
	})
	if err != nil {
		return fmt.Errorf("set the users: %w", err)
	}
	list, err := nodes[0].node.ACLList(ctx)
	if err != nil {
		return fmt.Errorf("read the users back from pod %s: %w", nodes[0].pod, err)
	}
	defaultBefore, defaultAfter := confUser(u.applied, auth.DefaultUser), confUser(next, auth.DefaultUser)
	removed := mergeRemoved(u.removed, change.Delete, next)
	if err := r.recordUsers(ctx, st, conf, referenceLines(list, next), removed); err != nil {
		return err
	}
	u.applied, u.removed, u.lagging = next, removed, unreached
	u.reference = auth.ACLLines(splitLines(string(u.secret.Data[resources.UsersACLListKey])))
	if r.Recorder != nil && (specUsers(next) > 0 || len(change.Delete) > 0 || specUsers(u.applied) > 0 || st.rc.Spec.DefaultUserDisabled()) {
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeNormal, EventUsersApplied, "SetUsers", "%d users set and %d deleted on %d running nodes (besides the operator's own)", specUsers(next), len(change.Delete), len(nodes))
	}
	if defaultBefore != nil && defaultAfter != nil && !slices.Equal(defaultBefore.Args, defaultAfter.Args) && r.Recorder != nil {
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeNormal, EventPasswordChanged, "ChangePassword", "%s on %d running nodes, live: no pod restarted",
			defaultSummary(defaultBefore.Args, defaultAfter.Args), len(nodes))
	}
	return nil
}

// confUser returns the user named name of users, nil when absent.
func confUser(users []auth.ConfUser, name string) *auth.ConfUser {
	for i := range users {
		if users[i].Name == name {
			return &users[i]
		}
	}
	return nil
}

// passwords is "1 password" or "n passwords".
func passwords(n int) string {
	if n == 1 {
		return "1 password"
	}
	return strconv.Itoa(n) + " passwords"
}

// defaultSummary says how the default user changed, from its SETUSER
// arguments, without the password hashes.
func defaultSummary(before, after []string) string {
	count := func(args []string) int {
		n := 0
		for _, a := range args {
			if strings.HasPrefix(a, "#") {
				n++
			}
		}
		return n
	}
	switch {
	case !slices.Contains(after, "on"):
		return "default user switched off"
	case slices.Contains(after, "nopass"):
		return "password requirement dropped: the default user accepts any client"
	case !slices.Contains(before, "on") || slices.Contains(before, "nopass"):
		return "password required: the default user accepts " + passwords(count(after))
	}
	return "new password accepted: the default user accepts " + passwords(count(after))
}

// recorded reports whether reference holds a line for every user.
func recorded(reference map[string]string, users []auth.ConfUser) bool {
	for _, u := range users {
		if _, ok := reference[u.Name]; !ok {
			return false
		}
	}
	return true
}

// checkRules tries every user's rules on a scratch user that is off,
// then deletes it. It returns the user whose rules failed.
func checkRules(ctx context.Context, n *redisadmin.Node, users []auth.User) (string, error) {
	for _, u := range users {
		args := append([]string{"reset", "off"}, u.Rules...)
		if err := n.ACLSetUser(ctx, checkUser, args...); err != nil {
			_ = n.ACLDelUser(ctx, checkUser)
			return u.Name, err
		}
	}
	if err := n.ACLDelUser(ctx, checkUser); err != nil {
		return "", fmt.Errorf("delete the scratch user: %w", err)
	}
	return "", nil
}

// applyUsers sets then deletes users on one node. Each SETUSER is whole or
// nothing and idempotent, so a pass cut short is finished by the next.
func applyUsers(ctx context.Context, n *redisadmin.Node, c auth.Change) error {
	for _, u := range c.Set {
		if err := n.ACLSetUser(ctx, u.Name, u.Args...); err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	return n.ACLDelUser(ctx, c.Delete...)
}

// usersPlan is what the nodes need: the change that makes a node hold the
// target users, and the pods that do not hold them.
type usersPlan struct {
	change auth.Change
	// lagging maps each pod that does not hold the target users to the
	// first user whose line differs.
	lagging map[string]string
}

// pods lists the lagging pods in order.
func (p usersPlan) pods() []string { return slices.Sorted(maps.Keys(p.lagging)) }

// planUsers compares each node's ACL LIST lines (by pod) with the
// reference lines of the target users: a node lags when a target user's
// line differs or a removed user is still there. It is pure.
func planUsers(target []auth.ConfUser, removed []string, reference map[string]string, nodes map[string]map[string]string) usersPlan {
	names := make([]string, 0, len(target)+len(removed))
	for _, u := range target {
		names = append(names, u.Name)
	}
	names = append(names, removed...)
	p := usersPlan{change: auth.Change{Set: target, Delete: slices.Clone(removed)}, lagging: map[string]string{}}
	for pod, lines := range nodes {
		if name := auth.OutOfSync(lines, reference, names); name != "" {
			p.lagging[pod] = name
		}
	}
	return p
}

// mergeRemoved is the names deleted so far that the new users do not hold
// again, newest last, at most maxRemoved.
func mergeRemoved(old, deleted []string, next []auth.ConfUser) []string {
	const maxRemoved = 64
	back := map[string]bool{}
	for _, u := range next {
		back[u.Name] = true
	}
	var out []string
	for _, n := range append(slices.Clone(old), deleted...) {
		if !back[n] && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) > maxRemoved {
		out = out[len(out)-maxRemoved:]
	}
	return out
}

// referenceLines keeps the ACL LIST lines of the users in next.
func referenceLines(list []string, next []auth.ConfUser) string {
	lines := auth.ACLLines(list)
	var out []string
	for _, u := range next {
		if l, ok := lines[u.Name]; ok {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// recordUsers writes the users Secret when its data differ.
func (r *Reconciler) recordUsers(ctx context.Context, st *state, conf, aclList string, removed []string) error {
	want := resources.UsersSecret(st.rc, resources.UsersData{Conf: conf, ACLList: aclList, Removed: strings.Join(removed, "\n"), Passwords: st.users.system})
	live := st.users.secret
	if dataEqual(live.Data, want.Data) {
		return nil
	}
	want.ResourceVersion = live.ResourceVersion
	if err := r.Client.Update(ctx, want); err != nil {
		return fmt.Errorf("update Secret %s: %w", want.Name, err)
	}
	st.users.secret = want
	st.changed = append(st.changed, "Secret "+want.Name)
	return nil
}

// userNodes returns every running pod's node with its ACL LIST, and the
// running pods that did not answer.
func (r *Reconciler) userNodes(ctx context.Context, st *state) ([]userNode, []string, error) {
	pools := r.fallbackPools(st)
	var all []userNode
	for i := range st.kube.pods {
		p := &st.kube.pods[i]
		if p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		addr := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(resources.RedisPort))
		all = append(all, userNode{pod: p.Name, node: pools[0].Node(addr)})
	}
	slices.SortFunc(all, func(a, b userNode) int { return strings.Compare(a.pod, b.pod) })
	errs := make([]error, len(all))
	_ = forEach(ctx, all, func(ctx context.Context, n userNode) error {
		i := slices.IndexFunc(all, func(m userNode) bool { return m.pod == n.pod })
		// The first credentials the node accepts: the operator's user, or
		// the default user on a node that does not have it yet.
		node, err := acceptingNode(ctx, n.node.Addr(), pools...)
		if err != nil {
			errs[i] = err
			return nil
		}
		list, err := node.ACLList(ctx)
		all[i].node, all[i].lines, errs[i] = node, auth.ACLLines(list), err
		return nil
	})
	var nodes []userNode
	var unreached []string
	for i, n := range all {
		switch err := errs[i]; {
		case err == nil:
			nodes = append(nodes, n)
		case errors.Is(err, redisadmin.ErrUnreachable), errors.Is(err, redisadmin.ErrLoading), errors.Is(err, redisadmin.ErrAuth):
			// Starting, or refusing every credential the operator has:
			// reported as lagging, judged again next pass.
			unreached = append(unreached, n.pod)
		default:
			return nil, nil, fmt.Errorf("ACL LIST on pod %s: %w", n.pod, err)
		}
	}
	return nodes, unreached, nil
}

func nodeLines(nodes []userNode) map[string]map[string]string {
	m := make(map[string]map[string]string, len(nodes))
	for _, n := range nodes {
		m[n.pod] = n.lines
	}
	return m
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// specUsers counts the users of spec.users (not the operator's, not the
// default user).
func specUsers(users []auth.ConfUser) int {
	n := 0
	for _, u := range users {
		if auth.IsSpecUser(u.Name) {
			n++
		}
	}
	return n
}

// isRedisReply reports whether err is an error reply of the server (as
// opposed to a connection that failed).
func isRedisReply(err error) bool {
	var e *redisadmin.Error
	return errors.As(err, &e) && e.Kind == redisadmin.KindServer
}

// redisMessage is the server's own words of a reply error.
func redisMessage(err error) string {
	var e *redisadmin.Error
	if errors.As(err, &e) && e.Err != nil {
		return e.Err.Error()
	}
	return err.Error()
}

// usersStatus sets UsersApplied (removed when no users are managed)
// and emits an event when the reason of a problem changes.
func (r *Reconciler) usersStatus(st *state, next *redisv1alpha1.RedisClusterStatus, now metav1.Time) {
	u := st.users
	if u == nil {
		return
	}
	if !u.managed() {
		meta.RemoveStatusCondition(&next.Conditions, redisv1alpha1.ConditionUsersApplied.String())
		return
	}
	status, reason, msg := metav1.ConditionTrue, redisv1alpha1.ReasonUsersInSync, ""
	switch {
	case u.problem != "":
		status, reason, msg = metav1.ConditionFalse, u.problem, u.message
	case !u.checked:
		return // the pass did not reach the nodes: keep the last verdict
	case len(u.lagging) > 0:
		status, reason = metav1.ConditionFalse, redisv1alpha1.ReasonUsersLagging
		msg = fmt.Sprintf("%d of %d running nodes do not hold the current users yet: %s", len(u.lagging), u.nodes, strings.Join(u.lagging, ", "))
	default:
		msg = fmt.Sprintf("%d users on all %d running nodes (besides the operator's own)", specUsers(u.applied), u.nodes)
	}
	prev := meta.FindStatusCondition(st.old.Conditions, redisv1alpha1.ConditionUsersApplied.String())
	meta.SetStatusCondition(&next.Conditions, metav1.Condition{
		Type: redisv1alpha1.ConditionUsersApplied.String(), Status: status, Reason: reason.String(), Message: msg,
		ObservedGeneration: st.rc.Generation, LastTransitionTime: now,
	})
	if u.problem != "" && r.Recorder != nil && (prev == nil || prev.Reason != reason.String() || prev.Message != msg) {
		event := EventUserSecretInvalid
		if u.problem == redisv1alpha1.ReasonUserRulesRejected {
			event = EventUserRulesRejected
		}
		r.Recorder.Eventf(st.rc, nil, corev1.EventTypeWarning, event, "SetUsers", "%s", msg)
	}
}
