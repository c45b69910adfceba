package v1alpha1

import "k8s.io/apimachinery/pkg/api/resource"

// SetDefaults fills the unset fields of rc the way the API server's CRD
// defaults do, for Go callers (tests, builders fed by hand-made objects) that
// never send the object to an API server. The envtest suite checks that both
// agree.
func SetDefaults(rc *RedisCluster) {
	s := &rc.Spec
	if s.Masters == 0 {
		s.Masters = DefaultMasters
	}
	if s.ReplicasPerMaster == 0 {
		// Zero is a valid value the API server keeps when sent explicitly;
		// Go callers that want no replicas should not call SetDefaults.
		s.ReplicasPerMaster = DefaultReplicasPerMaster
	}
	if s.Image == "" {
		s.Image = DefaultImage
	}
	if s.Storage.Size.IsZero() {
		s.Storage.Size = resource.MustParse(DefaultStorageSize)
	}
	if s.Service.Type == "" {
		s.Service.Type = ServiceTypeClusterIP
	}
	if s.Placement.AntiAffinity == "" {
		s.Placement.AntiAffinity = AntiAffinityPreferred
	}
	if s.Placement.ZoneTopologyKey == "" {
		s.Placement.ZoneTopologyKey = DefaultZoneTopologyKey
	}
	if s.PasswordSecret != nil && s.PasswordSecret.Key == "" {
		s.PasswordSecret.Key = DefaultPasswordKey
	}
	if s.Announce == "" {
		s.Announce = AnnounceIP
	}
	if s.PodDisruptionBudget.Enabled == nil {
		enabled := true
		s.PodDisruptionBudget.Enabled = &enabled
	}
}
