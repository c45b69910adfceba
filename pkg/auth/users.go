package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// User is an ACL user as the operator manages it: its name, whether it may
// log in, the passwords it accepts (any of them), and its rules in Redis's
// ACL syntax without passwords or on/off, which the other fields carry.
type User struct {
	Name      string
	Enabled   bool
	Passwords []string
	Rules     []string
	// NoPass lets the user log in with any password, or none (Redis's
	// nopass): the default user of a cluster without a password. It is
	// never set from a spec's rules (ParseRules refuses nopass).
	NoPass bool
}

// forbiddenRules are ACL rules a user's rules may not hold: they would
// undo what Enabled and Passwords say (on, off, reset, nopass, resetpass)
// or put a password in the spec (>, <, #, !), which is readable by anyone
// who can read the RedisCluster.
var forbiddenRules = map[string]string{
	"on":        "use the enabled field",
	"off":       "use the enabled field",
	"reset":     "the operator resets the user before applying its rules",
	"nopass":    "every user logs in with a password from a Secret",
	"resetpass": "passwords come from the Secrets",
}

// ParseRules splits rules (ACL syntax, separated by blanks, selectors in
// parentheses kept whole) and refuses the rules that belong to other
// fields. Redis judges everything else when the rules are first applied.
func ParseRules(rules string) ([]string, error) {
	var out []string
	depth, start := 0, -1
	for i, r := range rules + " " {
		switch {
		case r == '(' && start < 0:
			start, depth = i, 1
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case unicode.IsSpace(r) && depth == 0 && start >= 0:
			// A selector's rules are separated by one blank, as in a
			// users file line.
			out = append(out, strings.Join(strings.Fields(rules[start:i]), " "))
			start = -1
		case !unicode.IsSpace(r) && start < 0:
			start = i
		}
	}
	if depth > 0 {
		return nil, fmt.Errorf("unbalanced parenthesis in %q", rules)
	}
	for _, rule := range out {
		if why, ok := forbiddenRules[strings.ToLower(rule)]; ok {
			return nil, fmt.Errorf("rule %q is not allowed: %s", rule, why)
		}
		if strings.ContainsAny(rule[:1], "<>#!") {
			return nil, fmt.Errorf("rule %q is a password rule: passwords come from Secrets, never from the spec", rule)
		}
	}
	return out, nil
}

// PasswordHash is the form in which Redis stores a password and ACL
// rules name it ("#" + this): hex SHA-256.
func PasswordHash(password string) string {
	sum := sha256.Sum256([]byte(password))
	return hex.EncodeToString(sum[:])
}

// SetUserArgs are the arguments of ACL SETUSER (after the name) that make
// the user exactly u, whatever it was: reset first, then on/off, the
// password hashes (so neither the operator's commands nor the users file
// carry a password), then the rules.
func SetUserArgs(u User) []string {
	args := []string{"reset", "off"}
	if u.Enabled {
		args[1] = "on"
	}
	if u.NoPass {
		args = append(args, "nopass")
		return append(args, u.Rules...)
	}
	hashes := make([]string, 0, len(u.Passwords))
	for _, p := range u.Passwords {
		hashes = append(hashes, "#"+PasswordHash(p))
	}
	slices.Sort(hashes)
	args = append(args, slices.Compact(hashes)...)
	return append(args, u.Rules...)
}

// confHeader starts every users file.
const confHeader = "# ACL users of the RedisCluster, written by the redkube operator: only\n# users every running node accepted. Edit spec.users instead.\n"

// RenderConf renders users as redis.conf `user` directives, sorted by name,
// for the file the pods include at start.
func RenderConf(users []User) string {
	sorted := slices.Clone(users)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b strings.Builder
	b.WriteString(confHeader)
	for _, u := range sorted {
		fmt.Fprintf(&b, "user %s %s\n", u.Name, strings.Join(SetUserArgs(u), " "))
	}
	return b.String()
}

// ConfUser is one user of a rendered users file: its name and its ACL
// SETUSER arguments.
type ConfUser struct {
	Name string
	Args []string
}

// ParseConf reads the users of a file RenderConf wrote.
func ParseConf(conf string) ([]ConfUser, error) {
	var users []ConfUser
	for i, line := range strings.Split(conf, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "user" {
			return nil, fmt.Errorf("users file line %d: not a user directive", i+1)
		}
		users = append(users, ConfUser{Name: f[1], Args: f[2:]})
	}
	return users, nil
}

// Change is what a node needs to go from the users of one file to
// another's: the users to (re)set and the names to delete.
type Change struct {
	Set    []ConfUser
	Delete []string
}

// IsNone reports whether the change does nothing.
func (c Change) IsNone() bool { return len(c.Set) == 0 && len(c.Delete) == 0 }

// Diff is the change from the users in from to the users in to: every user
// of to is set (SETUSER with reset is idempotent, and a node that restarted
// with an older file needs them all), and users of from that to no longer
// has are deleted, except the default user, which Redis refuses to delete:
// it is given restore instead.
func Diff(from, to []ConfUser, restore ConfUser) Change {
	keep := make(map[string]bool, len(to))
	for _, u := range to {
		keep[u.Name] = true
	}
	c := Change{Set: slices.Clone(to)}
	for _, u := range from {
		switch {
		case keep[u.Name]:
		case u.Name == DefaultUser:
			c.Set = append(c.Set, restore)
		default:
			c.Delete = append(c.Delete, u.Name)
		}
	}
	slices.Sort(c.Delete)
	return c
}

// ACLLines maps the user names of ACL LIST's lines ("user NAME ...") to
// their lines in canonical form (CanonicalACLLine), so that two nodes
// holding the same user compare equal.
func ACLLines(list []string) map[string]string {
	m := make(map[string]string, len(list))
	for _, l := range list {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "user" {
			m[f[1]] = CanonicalACLLine(l)
		}
	}
	return m
}

// CanonicalACLLine sorts each run of command rules ("+get", "-flushall",
// "+cluster|info") of an ACL LIST line. Redis 7.0 describes a user's
// commands in the order of its command table, a hash table whose seed each
// process draws at start: six servers given the same ACL SETUSER listed
// its rules in five different orders ("+info +cluster|myid +cluster|info
// +cluster|nodes +ping", "+info +ping +cluster|nodes +cluster|info
// +cluster|myid", ...). Within such a run each rule names another command
// or subcommand, so the order carries no meaning. Category rules ("-@all"),
// passwords, patterns and selector brackets stay where they are and end a
// run.
func CanonicalACLLine(line string) string {
	f := strings.Fields(line)
	for i := 0; i < len(f); {
		if !commandRule(f[i]) {
			i++
			continue
		}
		j := i
		for j < len(f) && commandRule(f[j]) {
			j++
		}
		slices.Sort(f[i:j])
		i = j
	}
	return strings.Join(f, " ")
}

// commandRule reports whether tok allows or denies one command or
// subcommand, outside any selector bracket.
func commandRule(tok string) bool {
	return len(tok) > 1 && (tok[0] == '+' || tok[0] == '-') && tok[1] != '@' && !strings.ContainsAny(tok, "()")
}

// OutOfSync is the first name of names whose line among a node's ACL LIST
// lines is not exactly the reference's (a line missing from reference means
// the user must be absent); "" when the node holds them all.
func OutOfSync(node, reference map[string]string, names []string) string {
	for _, n := range names {
		if node[n] != reference[n] {
			return n
		}
	}
	return ""
}

// The operator's own users, present on every node of a cluster it manages
// whatever spec.users says, so that no application user's rules and no
// restriction of the default user can lock the operator, replication or
// monitoring out. Names starting with ReservedPrefix are refused in specs.
const (
	ReservedPrefix = "redkube-"
	// OperatorUser is the operator's: it creates, heals, scales and changes
	// the cluster, which takes every command and every key (MIGRATE moves
	// keys, CLUSTER, CONFIG, ACL and FAILOVER administer it).
	OperatorUser = "redkube-operator"
	// ReplicationUser is what replicas authenticate to their master as
	// (masteruser): the replication handshake only.
	ReplicationUser = "redkube-replication"
	// BackupUser is the backup and restore Jobs' (rcctl backup, rcctl
	// restore): they fetch RDBs over the replication protocol and write
	// keys back, so it has every permission, under credentials of its own
	// that only those Jobs receive.
	BackupUser = "redkube-backup"
	// MonitorUser is the exporter's and the preStop hook's: they read INFO,
	// CLUSTER INFO and CLUSTER NODES.
	MonitorUser = "redkube-monitor"
	// DefaultUser is Redis's default user.
	DefaultUser = "default"
)

// IsSpecUser reports whether name is a user of spec.users: neither one of
// the operator's nor the default user, which the operator keeps too.
func IsSpecUser(name string) bool {
	return name != DefaultUser && !strings.HasPrefix(name, ReservedPrefix)
}

// Rules of the operator's users.
var (
	OperatorRules    = []string{"~*", "&*", "+@all"}
	ReplicationRules = []string{"-@all", "+psync", "+replconf", "+ping"}
	MonitorRules     = []string{"-@all", "+ping", "+info", "+cluster|info", "+cluster|nodes", "+cluster|myid"}
)

// SystemPasswords are the passwords of the operator's users.
type SystemPasswords struct {
	Operator, Replication, Monitor, Backup string
}

// SystemUsers are the operator's users with their passwords, followed by
// the default user (DefaultUserWith).
func SystemUsers(p SystemPasswords, defaultUser User) []User {
	return []User{
		{Name: OperatorUser, Enabled: true, Passwords: []string{p.Operator}, Rules: OperatorRules},
		{Name: ReplicationUser, Enabled: true, Passwords: []string{p.Replication}, Rules: ReplicationRules},
		{Name: MonitorUser, Enabled: true, Passwords: []string{p.Monitor}, Rules: MonitorRules},
		{Name: BackupUser, Enabled: true, Passwords: []string{p.Backup}, Rules: OperatorRules},
		defaultUser,
	}
}

// DefaultUserWith is the default user the operator keeps: switched off with
// no password and no permission when disabled (spec.defaultUser.enabled
// false); otherwise every permission, as Redis starts it, accepting any of
// passwords, or any password at all when there is none.
func DefaultUserWith(passwords []string, disabled bool) User {
	switch {
	case disabled:
		return User{Name: DefaultUser}
	case len(passwords) == 0:
		return User{Name: DefaultUser, Enabled: true, NoPass: true, Rules: OperatorRules}
	}
	return User{Name: DefaultUser, Enabled: true, Passwords: slices.Clone(passwords), Rules: OperatorRules}
}

// DefaultRestored is the default user as Redis starts it (every
// permission, no password): what Diff gives a node whose file had a
// default user the new one lacks.
func DefaultRestored() ConfUser {
	u := DefaultUserWith(nil, false)
	return ConfUser{Name: DefaultUser, Args: SetUserArgs(u)}
}
