package auth

import (
	"fmt"
	"slices"
	"testing"
)

// node models what matters of a Redis node: the passwords its default user
// accepts (nopass: any, or none) and the masterauth it sends its master.
type node struct {
	nopass     bool
	passwords  []string
	masterauth string
}

func start(password string) node {
	if password == "" {
		return node{nopass: true}
	}
	return node{passwords: []string{password}, masterauth: password}
}

// accepts reports whether n lets in a connection that sends password (""
// sends none).
func (n node) accepts(password string) bool {
	if n.nopass {
		return true
	}
	return password != "" && slices.Contains(n.passwords, password)
}

// apply runs r on n, as Redis does.
func (n node) apply(r Round) node {
	if r.MasterAuth != nil {
		n.masterauth = *r.MasterAuth
	}
	for _, rule := range r.DefaultUser {
		switch {
		case rule == "nopass":
			n.nopass, n.passwords = true, nil
		case rule == "resetpass":
			n.nopass, n.passwords = false, nil
		case rule[0] == '>':
			n.nopass = false
			n.passwords = append(slices.Clone(n.passwords), rule[1:])
		}
	}
	return n
}

// TestRotationNeverRefusesAReplica runs every rotation among no password
// and two passwords on a master and its replica, in every order the two
// nodes can take each round, and checks that the master always accepts
// the replica's masterauth and that the end state requires the new
// password (and the operator can always connect with the old or the new).
func TestRotationNeverRefusesAReplica(t *testing.T) {
	values := []string{"", "old", "new"}
	for _, from := range values {
		for _, to := range values {
			t.Run(fmt.Sprintf("%q to %q", from, to), func(t *testing.T) {
				rounds := Rotation(from, to)
				if from == to && len(rounds) != 0 {
					t.Fatalf("no change planned %d rounds", len(rounds))
				}
				for _, replicaFirst := range []bool{true, false} {
					master, replica := start(from), start(from)
					check := func(when string) {
						if !master.accepts(replica.masterauth) {
							t.Fatalf("%s: the master refuses the replica's masterauth %q", when, replica.masterauth)
						}
						if !master.accepts(from) && !master.accepts(to) {
							t.Fatalf("%s: the operator can connect with neither password", when)
						}
					}
					for i, r := range rounds {
						if replicaFirst {
							replica = replica.apply(r)
							check(fmt.Sprintf("round %d on the replica only", i))
							master = master.apply(r)
						} else {
							master = master.apply(r)
							check(fmt.Sprintf("round %d on the master only", i))
							replica = replica.apply(r)
						}
						check(fmt.Sprintf("round %d on both", i))
					}
					if !master.accepts(to) || (to != "" && master.accepts("")) {
						t.Errorf("after the rotation the master accepts %q: %t, no password: %t", to, master.accepts(to), master.accepts(""))
					}
					if restarted := start(to); !restarted.accepts(replica.masterauth) {
						t.Errorf("a restarted master refuses the replica's masterauth %q", replica.masterauth)
					}
				}
			})
		}
	}
}
