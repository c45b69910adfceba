package v1alpha1

// ReshardingSpec paces and pauses the slot moves of a change of
// spec.masters. The moves always stop between slots: a slot is either
// still on its source or wholly on its target, so the cluster serves every
// key while paused.
type ReshardingSpec struct {
	// Paused holds the slot moves after the slot in flight. Resuming
	// continues from the slots Redis reports; nothing is replayed. A
	// removed shard that still owns slots waits, pods and all, until the
	// resharding resumes.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// MaxKeysPerSecond caps the keys moved per second over all the
	// transfers at once. Unlimited when unset.
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="spec.resharding.maxKeysPerSecond must be at least 1 (leave it unset for no limit, or set paused)"
	// +optional
	MaxKeysPerSecond *int32 `json:"maxKeysPerSecond,omitempty"`

	// Parallelism is how many source→target transfers run at once.
	// Default 4.
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 64",message="spec.resharding.parallelism must be between 1 and 64"
	// +optional
	Parallelism *int32 `json:"parallelism,omitempty"`
}

// DefaultReshardParallelism is spec.resharding.parallelism when unset.
const DefaultReshardParallelism = 4
