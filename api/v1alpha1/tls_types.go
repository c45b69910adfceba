package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Keys of a TLS Secret in the cert-manager layout (the layout of a
// kubernetes.io/tls Secret plus ca.crt), so a cert-manager Certificate's
// Secret works as it is.
const (
	// TLSCertKey holds the PEM server certificate (leaf first, then any
	// intermediates).
	TLSCertKey = "tls.crt"
	// TLSKeyKey holds the PEM private key of the certificate.
	TLSKeyKey = "tls.key"
	// TLSCAKey holds the PEM CA certificates clients verify the nodes
	// against (several during a CA rollover).
	TLSCAKey = "ca.crt"
	// DefaultTLSRenewBefore is spec.tls.renewBefore when unset: an
	// operator-issued certificate (valid 90 days) is renewed 30 days before
	// it expires.
	DefaultTLSRenewBefore = 30 * 24 * 60 * 60 // seconds
)

// TLSSpec turns on TLS for clients, the cluster bus and replication. With
// TLS on, the client port (6379) speaks only TLS (port 0, tls-port 6379),
// and the nodes talk to each other over TLS (tls-cluster, tls-replication).
// Certificates come from SecretName when set, otherwise the operator issues
// a CA and one certificate shared by all the pods (docs/tls.md).
//
// +kubebuilder:validation:XValidation:rule="!has(self.secretName) || !has(self.renewBefore)",fieldPath=".renewBefore",message="spec.tls.renewBefore applies to operator-issued certificates only: the issuer of spec.tls.secretName (for example cert-manager) renews that Secret"
type TLSSpec struct {
	// Enabled turns TLS on. Turning it on or off for a cluster that already
	// runs is refused (the TLSReady condition says so) and the cluster keeps
	// serving as it does: Redis nodes with and without TLS cannot share a
	// cluster bus.
	Enabled bool `json:"enabled"`

	// SecretName names a Secret in the cluster's namespace holding tls.crt,
	// tls.key and ca.crt (the cert-manager layout). The certificate must be
	// signed by a CA in ca.crt and be valid for both server and client
	// authentication (the nodes present it to each other). Unset means the
	// operator issues the certificates (Secrets <name>-tls-ca and
	// <name>-tls). A change of the Secret's content is applied to the
	// running nodes without restarting them.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// AuthClients makes Redis require a certificate signed by the CA from
	// every client (tls-auth-clients yes). Off by default: clients verify
	// the server, and authenticate with a password or ACL user.
	// +optional
	AuthClients bool `json:"authClients,omitempty"`

	// RenewBefore is how long before its expiry an operator-issued server
	// certificate is renewed (default 720h, i.e. 30 days; the certificates
	// are valid 90 days). Only without SecretName.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) < duration('2160h')",message="spec.tls.renewBefore must be at least 1m and less than 2160h (the 90 days an issued certificate is valid)"
	// +optional
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
}

// TLSEnabled reports whether spec.tls.enabled is set.
func (s *RedisClusterSpec) TLSEnabled() bool { return s.TLS != nil && s.TLS.Enabled }

// TLSStatus tells clients how to verify the nodes and how far a certificate
// change has got.
type TLSStatus struct {
	// Enabled is whether the running pods serve TLS (what the pods were
	// created with; spec.tls.enabled may differ while a toggle is refused).
	Enabled bool `json:"enabled"`

	// CASecretName names the Secret whose key ca.crt holds the CA
	// certificates clients verify the nodes against; it holds no private
	// key.
	// +optional
	CASecretName string `json:"caSecretName,omitempty"`

	// NotAfter is when the server certificate expires.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`

	// CertificateFingerprint is the SHA-256 of the server certificate that
	// every node was verified (by a TLS handshake) to serve.
	// +optional
	CertificateFingerprint string `json:"certificateFingerprint,omitempty"`

	// CAFingerprint is the SHA-256 of the CA bundle (ca.crt's certificates)
	// every node was verified (by CONFIG GET tls-ca-cert-file) to have
	// loaded: what the nodes trust for the cluster bus, replication and
	// client certificates.
	// +optional
	CAFingerprint string `json:"caFingerprint,omitempty"`
}

// ConditionTLSReady (only with spec.tls, or while a cluster created with
// TLS runs) is True when every node serves the current certificate; False
// names the problem with the certificate or the nodes still serving an
// older one. While it is False the nodes keep the certificate they serve.
const ConditionTLSReady ConditionType = "TLSReady"

// Reasons of TLSReady.
const (
	// ReasonCertificateApplied: every node serves the current certificate
	// (checked by a TLS handshake).
	ReasonCertificateApplied ConditionReason = "CertificateApplied"
	// ReasonApplyingCertificate: some nodes still serve an older
	// certificate; the operator reloads their TLS files as soon as the
	// pods see the new ones.
	ReasonApplyingCertificate ConditionReason = "ApplyingCertificate"
	// ReasonTLSSecretNotFound: spec.tls.secretName names no Secret.
	ReasonTLSSecretNotFound ConditionReason = "SecretNotFound"
	// ReasonTLSSecretKeyMissing: the Secret lacks tls.crt, tls.key or ca.crt.
	ReasonTLSSecretKeyMissing ConditionReason = "SecretKeyMissing"
	// ReasonCertificateInvalid: a PEM block does not parse.
	ReasonCertificateInvalid ConditionReason = "CertificateInvalid"
	// ReasonCertificateKeyMismatch: tls.key is not the certificate's key.
	ReasonCertificateKeyMismatch ConditionReason = "CertificateKeyMismatch"
	// ReasonCertificateExpired: the certificate expired (or is not valid yet).
	ReasonCertificateExpired ConditionReason = "CertificateExpired"
	// ReasonCertificateNotSignedByCA: no CA in ca.crt signed the certificate.
	ReasonCertificateNotSignedByCA ConditionReason = "CertificateNotSignedByCA"
	// ReasonTLSToggleRefused: spec.tls.enabled was turned off for a
	// running TLS cluster; the nodes keep serving TLS.
	ReasonTLSToggleRefused ConditionReason = "TLSToggleRefused"
	// ReasonSwitchingToTLS: spec.tls.enabled was turned on for a running
	// cluster, which is on its way there (the message names the step:
	// mounting the files, switching the nodes live, rolling the pods).
	ReasonSwitchingToTLS ConditionReason = "SwitchingToTLS"
)
