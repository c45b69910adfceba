package redisadmin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Kind classifies an Error.
type Kind int

// Error kinds.
const (
	// KindServer is any other error reply of the server.
	KindServer Kind = iota
	// KindUnreachable is a dial, I/O or timeout error: no reply was read.
	KindUnreachable
	// KindMoved is a MOVED redirection.
	KindMoved
	// KindAsk is an ASK redirection.
	KindAsk
	// KindTryAgain is TRYAGAIN (a multi-key command hit a slot being moved).
	KindTryAgain
	// KindClusterDown is CLUSTERDOWN.
	KindClusterDown
	// KindLoading is LOADING: the node is loading its dataset into memory.
	KindLoading
	// KindBusyKey is BUSYKEY: a MIGRATE target already holds a key.
	KindBusyKey
	// KindNotClusterMode means the node runs with cluster support disabled.
	KindNotClusterMode
	// KindNotMaster is a command only a master accepts sent to a replica
	// ("Please use SETSLOT only with masters"). Redis 7 turns a master that
	// lost its last slot into a replica of the node that took it
	// (cluster-allow-replica-migration yes), so a migration's last SETSLOT
	// on its source can meet it.
	KindNotMaster
	// KindAuth is a refused authentication: NOAUTH (a password is
	// required), WRONGPASS, or a password sent to a node that requires
	// none.
	KindAuth
)

// Sentinel errors matched by errors.Is against an *Error of the same Kind.
var (
	// ErrUnreachable matches KindUnreachable.
	ErrUnreachable = errors.New("node unreachable")
	// ErrMoved matches KindMoved.
	ErrMoved = errors.New("MOVED")
	// ErrAsk matches KindAsk.
	ErrAsk = errors.New("ASK")
	// ErrTryAgain matches KindTryAgain.
	ErrTryAgain = errors.New("TRYAGAIN")
	// ErrClusterDown matches KindClusterDown.
	ErrClusterDown = errors.New("CLUSTERDOWN")
	// ErrLoading matches KindLoading.
	ErrLoading = errors.New("LOADING")
	// ErrBusyKey matches KindBusyKey.
	ErrBusyKey = errors.New("BUSYKEY")
	// ErrNotClusterMode matches KindNotClusterMode.
	ErrNotClusterMode = errors.New("cluster support disabled")
	// ErrAuth matches KindAuth.
	ErrAuth = errors.New("authentication refused")
	// ErrNotMaster matches KindNotMaster.
	ErrNotMaster = errors.New("not a master")
)

var kindSentinel = map[Kind]error{
	KindUnreachable:    ErrUnreachable,
	KindMoved:          ErrMoved,
	KindAsk:            ErrAsk,
	KindTryAgain:       ErrTryAgain,
	KindClusterDown:    ErrClusterDown,
	KindLoading:        ErrLoading,
	KindBusyKey:        ErrBusyKey,
	KindNotClusterMode: ErrNotClusterMode,
	KindNotMaster:      ErrNotMaster,
	KindAuth:           ErrAuth,
}

// Error is an error of one command on one node.
type Error struct {
	// Addr is the node the command was sent to.
	Addr string
	// Op names the command, e.g. "CLUSTER SETSLOT".
	Op string
	// Kind classifies the error.
	Kind Kind
	// Slot is the slot of a MOVED/ASK redirection, -1 otherwise.
	Slot int
	// Target is the address of a MOVED/ASK redirection.
	Target string
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("redisadmin: %s: %s: %v", e.Addr, e.Op, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's Kind.
func (e *Error) Is(target error) bool {
	s, ok := kindSentinel[e.Kind]
	return ok && s == target
}

// wrap classifies err (nil stays nil) as an *Error of op on addr.
func wrap(addr, op string, err error) error {
	if err == nil {
		return nil
	}
	var prev *Error
	if errors.As(err, &prev) {
		return err
	}
	e := &Error{Addr: addr, Op: op, Slot: -1, Err: err}
	var re redis.Error
	if !errors.As(err, &re) {
		e.Kind = KindUnreachable
		return e
	}
	e.Kind, e.Slot, e.Target = classify(re.Error())
	return e
}

// classify maps a server error message to its Kind; for redirections it
// also returns the slot and target address.
func classify(msg string) (Kind, int, string) {
	// MIGRATE forwards the target's error; look at the forwarded part too.
	inner := msg
	if i := strings.Index(msg, "Target instance replied with error: "); i >= 0 {
		inner = msg[i+len("Target instance replied with error: "):]
	}
	word, rest, _ := strings.Cut(inner, " ")
	switch word {
	case "MOVED", "ASK":
		k := KindMoved
		if word == "ASK" {
			k = KindAsk
		}
		slotText, target, _ := strings.Cut(rest, " ")
		slot, err := strconv.Atoi(slotText)
		if err != nil {
			slot = -1
		}
		return k, slot, target
	case "TRYAGAIN":
		return KindTryAgain, -1, ""
	case "CLUSTERDOWN":
		return KindClusterDown, -1, ""
	case "LOADING":
		return KindLoading, -1, ""
	case "BUSYKEY":
		return KindBusyKey, -1, ""
	case "NOAUTH", "WRONGPASS":
		return KindAuth, -1, ""
	}
	if strings.Contains(msg, "called without any password configured") {
		return KindAuth, -1, ""
	}
	if strings.Contains(msg, "cluster support disabled") {
		return KindNotClusterMode, -1, ""
	}
	if strings.Contains(msg, "only with masters") {
		return KindNotMaster, -1, ""
	}
	return KindServer, -1, ""
}
