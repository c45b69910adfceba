package heal

import (
	"time"

	"github.com/redkube/redkube/pkg/planner"
)

// Kind names a topology change.
type Kind int

// The topology changes, one per pass at most.
const (
	None Kind = iota
	Bootstrap
	Failover
	Meet
	Forget
	Attach
	Repair
	MoveReplica
	RestartReplica
	Reshard
	RemoveShards
	UpdateMember
	Announce
	kindCount
)

// Kinds returns every kind but None, for callers that must handle each
// (event reasons, metrics).
func Kinds() []Kind {
	out := make([]Kind, 0, kindCount-1)
	for k := None + 1; k < kindCount; k++ {
		out = append(out, k)
	}
	return out
}

// kindInfo describes a kind: its name for logs, its CamelCase action, and
// the reason of the event that records it once done.
var kindInfo = [kindCount]struct{ name, action, event string }{
	None:           {"none", "", ""},
	Bootstrap:      {"bootstrap", "Bootstrap", "Bootstrapped"},
	Failover:       {"failover", "Failover", "FailedOver"},
	Meet:           {"meet", "Meet", "MetNodes"},
	Forget:         {"forget", "Forget", "ForgotNodes"},
	Attach:         {"attach replicas", "AttachReplicas", "AttachedReplicas"},
	Repair:         {"repair slots", "RepairSlots", "RepairedSlots"},
	MoveReplica:    {"move replica", "MoveReplica", "MovedReplica"},
	RestartReplica: {"restart replica", "RestartReplica", "RestartedReplica"},
	Reshard:        {"reshard", "Reshard", "MovedSlots"},
	RemoveShards:   {"remove shards", "RemoveShards", "RemovedShards"},
	UpdateMember:   {"update member", "UpdateMember", "UpdatedMember"},
	Announce:       {"announce", "Announce", "AnnouncedEndpoints"},
}

func (k Kind) String() string {
	if k < 0 || k >= kindCount {
		return "unknown"
	}
	return kindInfo[k].name
}

// Action is the kind as a CamelCase verb (an event's action field); "" for
// None.
func (k Kind) Action() string {
	if k < 0 || k >= kindCount {
		return ""
	}
	return kindInfo[k].action
}

// EventReason is the CamelCase reason of the event that records a change of
// this kind once done ("" for None).
func (k Kind) EventReason() string {
	if k < 0 || k >= kindCount {
		return ""
	}
	return kindInfo[k].event
}

// The reasons a Decision reports while its change runs (CamelCase; the
// operator's Progressing condition carries them).
const (
	ReasonBootstrapping     = "Bootstrapping"
	ReasonFailingOver       = "FailingOver"
	ReasonRejoiningNodes    = "RejoiningNodes"
	ReasonForgettingNodes   = "ForgettingNodes"
	ReasonAttachingReplicas = "AttachingReplicas"
	ReasonRepairingSlots    = "RepairingSlots"
	ReasonMovingReplicas    = "MovingReplicas"
	ReasonResharding        = "Resharding"
	ReasonRemovingShards    = "RemovingShards"
	ReasonUpdatingPods      = "UpdatingPods"
	ReasonAnnouncing        = "AnnouncingEndpoints"
)

// MemberOp is an operation on a member that the platform carries out.
type MemberOp int

const (
	// NoMemberOp: the decision is a plan of Redis steps only.
	NoMemberOp MemberOp = iota
	// DeleteMember deletes the member; the platform recreates it with its
	// storage (a restart, or a new template).
	DeleteMember
	// RecreateMember deletes the member and its storage; the platform
	// recreates both, possibly on another host.
	RecreateMember
)

// Budgets bound how long the caller lets one decision run; longer work
// stops at a safe boundary and the next pass plans the rest from what Redis
// reports.
const (
	// StepBudget bounds a change that moves no keys.
	StepBudget = 10 * time.Second
	// MigrationBudget bounds the slot moves of one pass (resharding, a
	// repair that migrates keys): the executor stops at a chunk boundary
	// when it runs out, so other changes (a master being deleted) are
	// never held up for long.
	MigrationBudget = 10 * time.Second
)

// Decision is the one change a pass makes.
type Decision struct {
	Kind Kind
	// Reason is the CamelCase reason while the change runs.
	Reason string
	// Message says what is done and why, for events, conditions and
	// rcctl's output.
	Message string
	// Plan holds the executor's steps (empty for member operations alone).
	Plan planner.Plan
	// Forced is set for a FAILOVER FORCE of a master that is gone: the
	// executor's own check needs the replica's link up, which it cannot
	// be, so the rule has judged safety from Memory.LastInSync instead.
	Forced bool
	// Member names the member MemberOp applies to.
	Member string
	// MemberOp is done after the plan has run.
	MemberOp MemberOp
	// Groups are the retiring groups whose platform objects (StatefulSet,
	// disruption budget, storage) go once the plan has run.
	Groups []int
	// Budget bounds the change.
	Budget time.Duration
	// Resumable is set when the plan may stop at a safe boundary once its
	// Budget runs out (slot migrations stop between chunks, and a slot
	// left open is closed by the next pass's repair): progress, not an
	// error; the next pass plans the rest from what Redis reports.
	Resumable bool
	// ReshardingDone is set when Memory.Resharding is set and nothing is
	// left to move: the caller forgets the resharding.
	ReshardingDone bool
	// Blocked says why wanted changes were not made (no safe replica for
	// a master being deleted, ...); empty when nothing is blocked. It is
	// set with or without a change.
	Blocked string
}

// IsNone reports whether the decision changes nothing.
func (d Decision) IsNone() bool { return d.Kind == None }
