package auth

// Round is one change to make on every node: rules for the default user
// (ACL SETUSER default ...) or the password replicas send their master
// (CONFIG SET masterauth), exactly one of the two.
type Round struct {
	// DefaultUser are ACL rules for the default user; nil for none.
	DefaultUser []string
	// MasterAuth is the new masterauth; nil for no change.
	MasterAuth *string
}

// Rotation returns the rounds that move nodes requiring from ("" for no
// password) to requiring to. Every round keeps each master accepting the
// masterauth of its replicas, both before and after it runs on any subset
// of the nodes:
//
//   - first, every node accepts both passwords: the new one is added, or
//     the password requirement dropped (nopass accepts any password, and
//     none), or nothing when from is "" (nothing is required yet);
//   - then replicas switch their masterauth;
//   - last, when a password is added to a cluster without one, it becomes
//     required.
//
// When both from and to are set, the nodes keep accepting from as well: a
// restart (the operator rolls the pods) leaves only to, so clients that
// still send the old password keep working until their node restarts.
func Rotation(from, to string) []Round {
	if from == to {
		return nil
	}
	var rounds []Round
	switch {
	case to == "":
		rounds = append(rounds, Round{DefaultUser: []string{"on", "nopass"}})
	case from != "":
		rounds = append(rounds, Round{DefaultUser: []string{"on", ">" + to}})
	}
	rounds = append(rounds, Round{MasterAuth: &to})
	if from == "" {
		rounds = append(rounds, Round{DefaultUser: []string{"on", "resetpass", ">" + to}})
	}
	return rounds
}
