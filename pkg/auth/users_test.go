package auth

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRules(t *testing.T) {
	for _, tc := range []struct {
		name, rules string
		want        []string
		wantErr     string
	}{
		{name: "splits on blanks", rules: " ~app:*  +@read\t+@write ", want: []string{"~app:*", "+@read", "+@write"}},
		{name: "keeps a selector whole", rules: "+get (~logs:* +@read) &*", want: []string{"+get", "(~logs:* +@read)", "&*"}},
		{name: "empty rules are no rules", rules: "  ", want: nil},
		{name: "refuses a password in the spec", rules: "+@all >secret", wantErr: "password rule"},
		{name: "refuses a password hash", rules: "#abc", wantErr: "password rule"},
		{name: "refuses removing a password", rules: "<old", wantErr: "password rule"},
		{name: "refuses on, which the enabled field says", rules: "on +@all", wantErr: "enabled field"},
		{name: "refuses OFF in any case", rules: "OFF", wantErr: "enabled field"},
		{name: "refuses nopass", rules: "nopass", wantErr: "Secret"},
		{name: "refuses reset", rules: "reset +@all", wantErr: "resets the user"},
		{name: "refuses an open selector", rules: "(~a +get", wantErr: "unbalanced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRules(tc.rules)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRules(%q) error = %v, want one containing %q", tc.rules, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseRules(%q) = %q, %v; want %q", tc.rules, got, err, tc.want)
			}
		})
	}
}

func TestSetUserArgsCarryHashesNeverPasswords(t *testing.T) {
	u := User{Name: "app", Enabled: true, Passwords: []string{"b-pass", "a-pass", "b-pass"}, Rules: []string{"~*", "+@read"}}
	args := SetUserArgs(u)
	if args[0] != "reset" || args[1] != "on" {
		t.Fatalf("args start %q, want reset on", args[:2])
	}
	hashes := args[2:4]
	if !slices.IsSorted(hashes) || len(slices.Compact(slices.Clone(hashes))) != 2 {
		t.Errorf("hashes %q: want the two distinct passwords' hashes, sorted", hashes)
	}
	if !slices.Equal(args[4:], u.Rules) {
		t.Errorf("rules %q, want %q", args[4:], u.Rules)
	}
	joined := strings.Join(args, " ")
	for _, p := range u.Passwords {
		if strings.Contains(joined, p) {
			t.Errorf("args %q hold the password %q", joined, p)
		}
	}
	if got := SetUserArgs(User{Name: "x"})[1]; got != "off" {
		t.Errorf("a disabled user gets %q, want off", got)
	}
	// Redis's documented example: SHA-256 of "foo".
	if h := PasswordHash("foo"); h != "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" {
		t.Errorf("PasswordHash(foo) = %s", h)
	}
}

func TestRenderConfRoundTripsAndIsStable(t *testing.T) {
	users := []User{
		{Name: "zeta", Enabled: true, Passwords: []string{"p"}, Rules: []string{"+@all", "~*"}},
		{Name: "alpha", Passwords: []string{"q"}, Rules: []string{"(~x +get)"}},
	}
	conf := RenderConf(users)
	if conf != RenderConf([]User{users[1], users[0]}) {
		t.Error("the file depends on the order of the users")
	}
	got, err := ParseConf(conf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "alpha" || got[1].Name != "zeta" {
		t.Fatalf("ParseConf = %+v", got)
	}
	if !slices.Equal(got[1].Args, SetUserArgs(users[0])) {
		t.Errorf("zeta's args %q, want %q", got[1].Args, SetUserArgs(users[0]))
	}
	if _, err := ParseConf("include /etc/passwd\n"); err == nil {
		t.Error("ParseConf accepted a line that is not a user directive")
	}
}

func TestDiffSetsEveryUserAndDeletesTheGoneOnes(t *testing.T) {
	from := []ConfUser{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: DefaultUser}}
	to := []ConfUser{{Name: "b"}, {Name: "d"}}
	restore := DefaultRestored()
	c := Diff(from, to, restore)
	if !slices.Equal(c.Delete, []string{"a", "c"}) || len(c.Set) != 3 || c.Set[2].Name != DefaultUser {
		t.Fatalf("Diff = %+v: want b and d set, the default user restored, a and c deleted", c)
	}
	if !slices.Contains(restore.Args, "on") || !slices.Contains(restore.Args, "nopass") {
		t.Errorf("DefaultRestored() = %q, want on and nopass", restore.Args)
	}
	if !Diff(nil, nil, restore).IsNone() {
		t.Error("no users to no users is a change")
	}
}

// TestACLLinesOfOneUserFromDifferentServersCompareEqual uses lines six
// redis-server 7.0.15 processes listed for one ACL SETUSER: the command
// rules come in each process's hash order.
func TestACLLinesOfOneUserFromDifferentServersCompareEqual(t *testing.T) {
	const head = "user mon on nopass sanitize-payload resetchannels -@all "
	seen := [][]string{
		{head + "+info +cluster|myid +cluster|info +cluster|nodes +ping"},
		{head + "+info +cluster|info +cluster|myid +cluster|nodes +ping"},
		{head + "+info +cluster|nodes +cluster|myid +cluster|info +ping"},
		{head + "+info +ping +cluster|nodes +cluster|info +cluster|myid"},
	}
	want := ACLLines(seen[0])["mon"]
	for _, l := range seen[1:] {
		if got := ACLLines(l)["mon"]; got != want {
			t.Errorf("ACLLines(%q) = %q, want %q", l[0], got, want)
		}
	}
	for _, tc := range []struct{ name, a, b string }{
		{"another command", head + "+info +ping", head + "+info +get"},
		{"a category rule moved", "user a on -@all +get", "user a on +get -@all"},
		{"a rule inside a selector", "user a on -@all (~k +get)", "user a on -@all (~k +set)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if CanonicalACLLine(tc.a) == CanonicalACLLine(tc.b) {
				t.Errorf("%q and %q compare equal", tc.a, tc.b)
			}
		})
	}
}

func TestOutOfSyncComparesOnlyTheNamedUsers(t *testing.T) {
	ref := map[string]string{"a": "user a on", "default": "user default on nopass"}
	for _, tc := range []struct {
		name  string
		node  map[string]string
		names []string
		want  bool
		first string
	}{
		{"same lines", map[string]string{"a": "user a on", "default": "other"}, []string{"a"}, true, ""},
		{"a line differs", map[string]string{"a": "user a off"}, []string{"a"}, false, "a"},
		{"a user missing", map[string]string{}, []string{"a"}, false, "a"},
		{"a deleted user still there", map[string]string{"a": "user a on", "gone": "user gone on"}, []string{"a", "gone"}, false, "gone"},
		{"a deleted user gone", map[string]string{"a": "user a on"}, []string{"a", "gone"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OutOfSync(tc.node, ref, tc.names) == ""; got != tc.want {
				t.Errorf("in sync = %v, want %v", got, tc.want)
			}
			if got := OutOfSync(tc.node, ref, tc.names); got != tc.first {
				t.Errorf("OutOfSync = %q, want %q", got, tc.first)
			}
		})
	}
}

// FuzzParseRules: whatever ParseRules accepts renders into a users file
// that parses back to the same arguments.
func FuzzParseRules(f *testing.F) {
	for _, s := range []string{"~* +@all", "(~a +get) -@dangerous", "&chan:* %R~read:*", ">x", "(("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rules, err := ParseRules(s)
		if err != nil {
			return
		}
		for _, r := range rules {
			if strings.ContainsAny(r, "\n\t") || strings.Contains(r, "  ") {
				t.Fatalf("rule %q holds a line break, a tab or two blanks", r)
			}
		}
		u := User{Name: "u", Enabled: true, Passwords: []string{"p"}, Rules: rules}
		got, err := ParseConf(RenderConf([]User{u}))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || strings.Join(got[0].Args, " ") != strings.Join(SetUserArgs(u), " ") {
			t.Fatalf("round trip of %q: %+v", s, got)
		}
	})
}

func TestDefaultUserWith(t *testing.T) {
	for _, tc := range []struct {
		name      string
		passwords []string
		disabled  bool
		want      []string
	}{
		{"no password: anyone logs in, with every permission", nil, false, []string{"reset", "on", "nopass", "~*", "&*", "+@all"}},
		{"two passwords: either one, never in clear", []string{"b", "a"}, false, append(append([]string{"reset", "on"}, sortedHashes("a", "b")...), "~*", "&*", "+@all")},
		{"switched off: no password, no permission", nil, true, []string{"reset", "off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SetUserArgs(DefaultUserWith(tc.passwords, tc.disabled)); !slices.Equal(got, tc.want) {
				t.Errorf("SetUserArgs(DefaultUserWith(%q, %v)) = %q, want %q", tc.passwords, tc.disabled, got, tc.want)
			}
		})
	}
	for _, name := range []string{DefaultUser, OperatorUser, ReplicationUser} {
		if IsSpecUser(name) {
			t.Errorf("IsSpecUser(%q) = true", name)
		}
	}
	if !IsSpecUser("app") {
		t.Error(`IsSpecUser("app") = false`)
	}
}

// sortedHashes are the ACL password rules of passwords, in SetUserArgs's
// order.
func sortedHashes(passwords ...string) []string {
	var out []string
	for _, p := range passwords {
		out = append(out, "#"+PasswordHash(p))
	}
	slices.Sort(out)
	return out
}
