// Package v1alpha1 holds the v1alpha1 API of the redis.redkube.io group: the
// RedisCluster resource, one object that stands for a whole Redis Cluster on
// Kubernetes (masters, replicas, storage, configuration, access and
// placement).
//
// Validation lives in the CRD itself (OpenAPI bounds, enums and CEL rules
// generated from the kubebuilder markers in this package), so `kubectl apply`
// rejects a bad spec with a message that names the field and nothing is
// created. Defaults are applied by the API server.
//
// The status (conditions and per-shard summary) is written by the operator in
// internal/controller; the condition types and reasons are the constants in
// conditions.go.
//
// +kubebuilder:object:generate=true
// +groupName=redis.redkube.io
package v1alpha1
