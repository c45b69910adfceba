package v1alpha1

// ExternalAccessType is how clients outside Kubernetes reach each Redis node.
// +kubebuilder:validation:Enum=NodePort;LoadBalancer
type ExternalAccessType string

const (
	// ExternalAccessNodePort gives every Redis pod a NodePort Service; each
	// node announces its NodePorts on spec.externalAccess.address, or on the
	// address of the Kubernetes node its pod runs on.
	ExternalAccessNodePort ExternalAccessType = "NodePort"
	// ExternalAccessLoadBalancer gives every Redis pod a LoadBalancer
	// Service; each node announces its load balancer's address.
	ExternalAccessLoadBalancer ExternalAccessType = "LoadBalancer"
)

// AnnounceType is the kind of endpoint Redis nodes give clients in
// CLUSTER SLOTS/SHARDS and in MOVED/ASK redirections.
// +kubebuilder:validation:Enum=IP;Hostname
type AnnounceType string

const (
	// AnnounceIP announces the pod IP (the default).
	AnnounceIP AnnounceType = "IP"
	// AnnounceHostname announces the pod's stable DNS name under the
	// headless Service (<pod>.<cluster>-nodes.<namespace>.svc.<domain>),
	// which survives pod IP changes and lets TLS clients verify names.
	AnnounceHostname AnnounceType = "Hostname"
)

// ExternalAccessSpec exposes every Redis node to clients outside Kubernetes:
// one Service per Redis pod (client and cluster-bus ports), and each node
// announces that Service's external endpoint, so CLUSTER SLOTS and MOVED/ASK
// redirections carry addresses such clients can reach. Redis 7.0 announces
// one address for clients and the cluster bus, so in-cluster clients and
// the nodes themselves use these endpoints too (docs/external-access.md).
//
// +kubebuilder:validation:XValidation:rule="self.type == 'NodePort' || !has(self.address)",fieldPath=".address",message="spec.externalAccess.address is only allowed with type NodePort: a LoadBalancer announces the address it is assigned"
// +kubebuilder:validation:XValidation:rule="self.type == 'LoadBalancer' || !has(self.loadBalancer)",fieldPath=".loadBalancer",message="spec.externalAccess.loadBalancer is only allowed with type LoadBalancer"
type ExternalAccessSpec struct {
	// Type is NodePort or LoadBalancer.
	Type ExternalAccessType `json:"type"`

	// Address (NodePort only) is announced instead of the address of the
	// node each pod runs on: an IP or DNS name that reaches the NodePorts of
	// every node (a VIP, or a name resolving to all nodes). A DNS name is
	// announced as the nodes' hostname (cluster-preferred-endpoint-type
	// hostname); the cluster bus then uses the nodes' own addresses.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="isIP(self) || self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="spec.externalAccess.address must be an IP address or a lowercase DNS name"
	// +optional
	Address string `json:"address,omitempty"`

	// LoadBalancer tunes the LoadBalancer Services.
	// +optional
	LoadBalancer *LoadBalancerSpec `json:"loadBalancer,omitempty"`
}

// LoadBalancerSpec tunes the per-pod LoadBalancer Services.
type LoadBalancerSpec struct {
	// Annotations are added to every per-pod Service (cloud load balancer
	// settings).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// LoadBalancerClass selects the load balancer implementation; unset
	// means the cluster's default.
	// +kubebuilder:validation:MinLength=1
	// +optional
	LoadBalancerClass *string `json:"loadBalancerClass,omitempty"`

	// SourceRanges restrict the client addresses the load balancers accept
	// (CIDRs). The Redis nodes reach each other through these addresses too:
	// include the ranges their traffic comes from.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(r, isCIDR(r))",message="spec.externalAccess.loadBalancer.sourceRanges must be CIDRs such as 203.0.113.0/24"
	// +optional
	SourceRanges []string `json:"sourceRanges,omitempty"`
}

// NodeEndpoint is the endpoint one Redis node announces: what clients are
// redirected to.
type NodeEndpoint struct {
	// Pod is the pod's name.
	Pod string `json:"pod"`

	// Address is host:port, the host being an IP or a DNS name.
	Address string `json:"address"`
}

// ExternalAccessStatus is what clients outside Kubernetes connect to.
type ExternalAccessStatus struct {
	// Endpoints are the announced endpoints of the Redis nodes, by pod;
	// any of them serves as a seed for a cluster-aware client.
	// +optional
	Endpoints []NodeEndpoint `json:"endpoints,omitempty"`
}
