package checker

import (
	"fmt"
	"sort"
)

// OpKind is what one recorded operation did.
type OpKind int

const (
	// Write is a SET of one key, or an MSET of a group's keys.
	Write OpKind = iota
	// Read is a GET of one key, or an MGET of a group's keys.
	Read
)

// String names the kind.
func (k OpKind) String() string {
	if k == Write {
		return "write"
	}
	return "read"
}

// Op is one recorded operation of one client.
type Op struct {
	// Kind is Write or Read.
	Kind OpKind
	// Keys are the keys written or read: one, or the keys of one group.
	Keys []string
	// Version is the version a Write set on every key of Keys.
	Version int64
	// Got are the versions a Read returned, one per key of Keys; 0 is a
	// missing key (versions start at 1).
	Got []int64
	// Acked tells whether the operation succeeded: a Write that is not
	// acknowledged was attempted and may or may not have been applied; a
	// Read that is not acknowledged returned nothing and is not judged.
	Acked bool
}

// History is one client's operations in the order it issued them.
type History struct {
	// Client numbers the client (for messages).
	Client int
	// Ops are the operations, in order.
	Ops []Op
}

// ViolationKind classifies a broken promise.
type ViolationKind string

const (
	// LostWrite is a read older than the key's last acknowledged write.
	LostWrite ViolationKind = "LostWrite"
	// Resurrected is a read older than a version the client had read before.
	Resurrected ViolationKind = "Resurrected"
	// Phantom is a read of a version the client never attempted.
	Phantom ViolationKind = "Phantom"
	// Torn is a group read whose keys carry different versions.
	Torn ViolationKind = "Torn"
)

// Violation is one broken promise.
type Violation struct {
	// Kind classifies it.
	Kind ViolationKind
	// Client is the client whose history shows it (-1 for the final read).
	Client int
	// Op is the index of the operation in the client's history (-1 for the
	// final read).
	Op int
	// Key is the key concerned (the first of a torn group).
	Key string
	// Message says what was read and what was expected.
	Message string
}

// String formats the violation for a test log.
func (v Violation) String() string {
	where := "final read"
	if v.Op >= 0 {
		where = fmt.Sprintf("client %d op %d", v.Client, v.Op)
	}
	return fmt.Sprintf("%s: %s %s: %s", v.Kind, where, v.Key, v.Message)
}

// keyState is what a client knows about one of its keys at a point of its
// history.
type keyState struct {
	acked     int64 // last acknowledged version written
	attempted int64 // highest version written, acknowledged or not
	seen      int64 // highest version read
}

// Verify judges the clients' histories and the values read after the run
// (final: key → version, 0 or absent for a missing key). Each key must
// belong to one client: a key written by two histories is reported as an
// error. It returns the violations in history order, then final-read
// violations by key.
func Verify(histories []History, final map[string]int64) ([]Violation, error) {
	var out []Violation
	owner := map[string]int{}
	states := map[string]*keyState{}
	for _, h := range histories {
		for i, op := range h.Ops {
			for _, k := range op.Keys {
				if c, ok := owner[k]; ok && c != h.Client {
					return nil, fmt.Errorf("key %s used by clients %d and %d: every key must have one owner", k, c, h.Client)
				}
				owner[k] = h.Client
				if states[k] == nil {
					states[k] = &keyState{}
				}
			}
			switch op.Kind {
			case Write:
				for _, k := range op.Keys {
					s := states[k]
					if op.Version > s.attempted {
						s.attempted = op.Version
					}
					if op.Acked && op.Version > s.acked {
						s.acked = op.Version
					}
				}
			case Read:
				if !op.Acked {
					continue
				}
				if len(op.Got) != len(op.Keys) {
					return nil, fmt.Errorf("client %d op %d: %d keys but %d versions read", h.Client, i, len(op.Keys), len(op.Got))
				}
				for j, k := range op.Keys {
					if v, ok := judge(states[k], op.Got[j], h.Client, i, k); !ok {
						out = append(out, v)
					}
				}
				for j := 1; j < len(op.Got); j++ {
					if op.Got[j] != op.Got[0] {
						out = append(out, Violation{Kind: Torn, Client: h.Client, Op: i, Key: op.Keys[0],
							Message: fmt.Sprintf("group read versions %v: written together, must be read together", op.Got)})
						break
					}
				}
			}
		}
	}
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok := judge(states[k], final[k], -1, -1, k); !ok {
			v.Client = owner[k]
			out = append(out, v)
		}
	}
	return out, nil
}

// judge checks one read of version got against what the client knows of
// the key, and records the read.
func judge(s *keyState, got int64, client, op int, key string) (Violation, bool) {
	v := Violation{Client: client, Op: op, Key: key}
	switch {
	case got < s.acked:
		v.Kind = LostWrite
		v.Message = fmt.Sprintf("read version %d, last acknowledged write was %d", got, s.acked)
	case got > s.attempted:
		v.Kind = Phantom
		v.Message = fmt.Sprintf("read version %d, highest attempted write was %d", got, s.attempted)
	case got < s.seen:
		v.Kind = Resurrected
		v.Message = fmt.Sprintf("read version %d after having read %d", got, s.seen)
	default:
		s.seen = got
		return Violation{}, true
	}
	return v, false
}
