package v1alpha1

// UserSpec is an ACL user the operator keeps on every node
// (docs/security.md): applied live with ACL SETUSER, removed with ACL
// DELUSER when it leaves the list, and written to a file every pod
// includes at start, so a restarted pod comes back with it.
// +kubebuilder:validation:XValidation:rule="!self.rules.matches('(^|\\\\s)[<>#!]')",message="rules must not hold passwords (>, <, #, !): passwords come from passwordSecrets"
// +kubebuilder:validation:XValidation:rule="!self.rules.matches('(?i)(^|\\\\s)(on|off|reset|nopass|resetpass)(\\\\s|$)')",message="rules must not hold on, off, reset, nopass or resetpass: use enabled and passwordSecrets"
type UserSpec struct {
	// Name is the ACL user name. "default" (spec.passwordSecret) and names
	// starting with "redkube-" (the operator's) are reserved.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.:@-]*$`
	// +kubebuilder:validation:XValidation:rule="self != 'default'",message="the default user is configured by spec.passwordSecret"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('redkube-')",message="names starting with redkube- are reserved for the operator"
	Name string `json:"name"`

	// Rules are the user's permissions in Redis ACL syntax, without
	// passwords and without on/off, e.g. "~app:* &* -@all +@read +@write".
	// Redis judges them when they are first applied; rules it rejects are
	// applied nowhere (condition UsersApplied, reason UserRulesRejected).
	// +kubebuilder:validation:MaxLength=4096
	Rules string `json:"rules"`

	// PasswordSecrets are the user's passwords, one per Secret key; the
	// user accepts any of them. To rotate without a failed request, add the
	// new password's key, move the clients to it, then remove the old one.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	PasswordSecrets []PasswordSecretRef `json:"passwordSecrets"`

	// Enabled lets the user log in (default true). A disabled user keeps
	// its rules and passwords but every AUTH as it is refused.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// IsEnabled reports whether the user may log in (true when unset).
func (u UserSpec) IsEnabled() bool { return u.Enabled == nil || *u.Enabled }

// DefaultUserSpec restricts the default user, or gives it several
// passwords.
// +kubebuilder:validation:XValidation:rule="!has(self.enabled) || self.enabled || !has(self.passwordSecrets) || size(self.passwordSecrets) == 0",fieldPath=".passwordSecrets",message="a switched-off default user has no password: unset passwordSecrets when enabled is false"
type DefaultUserSpec struct {
	// Enabled false switches the default user off (no password, no
	// permission): every client must log in as one of spec.users. The
	// operator, replication and monitoring use their own users and keep
	// working. Requires spec.passwordSecret and passwordSecrets unset.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// PasswordSecrets are more passwords of the default user, one per
	// Secret key, accepted beside spec.passwordSecret's: the default user
	// accepts any of them, on every node, live (no pod restarts). To rotate
	// without a failed request, add the new password here, move the
	// clients to it, then make it spec.passwordSecret (or the only entry
	// here) and remove the old one.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	PasswordSecrets []PasswordSecretRef `json:"passwordSecrets,omitempty"`
}

// DefaultUserDisabled reports whether spec.defaultUser switches the
// default user off.
func (s RedisClusterSpec) DefaultUserDisabled() bool {
	return s.DefaultUser != nil && s.DefaultUser.Enabled != nil && !*s.DefaultUser.Enabled
}
