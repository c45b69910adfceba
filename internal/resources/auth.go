package resources

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// Keys of the applied-password Secret.
const (
	AppliedPasswordKey = "password"
	AppliedRotationKey = "rotation"
)

// AppliedPassword is what the operator records of the password the nodes
// require: during a change of spec.passwordSecret the recorded password is
// the only copy of the old one, with which the operator still reaches the
// nodes it has not changed yet.
type AppliedPassword struct {
	// Password is what the nodes require ("" for none).
	Password string
	// Rotation counts the changes carried out (Options.PasswordRotation).
	Rotation int
}

// AppliedPasswordSecretName is the name of the Secret holding it.
func AppliedPasswordSecretName(rc *redisv1alpha1.RedisCluster) string {
	return rc.Name + "-applied-password"
}

// AppliedPasswordSecret renders that Secret. It carries no spec hash (a
// hash of a password is a way to guess it): the controller compares its
// data.
func AppliedPasswordSecret(rc *redisv1alpha1.RedisCluster, a AppliedPassword) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(rc, AppliedPasswordSecretName(rc), Labels(rc)),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			AppliedPasswordKey: []byte(a.Password),
			AppliedRotationKey: []byte(strconv.Itoa(a.Rotation)),
		},
	}
}

// ParseAppliedPassword reads the Secret AppliedPasswordSecret rendered.
func ParseAppliedPassword(sec *corev1.Secret) (AppliedPassword, error) {
	pw, ok := sec.Data[AppliedPasswordKey]
	if !ok {
		return AppliedPassword{}, fmt.Errorf("applied-password Secret %s has no key %q", sec.Name, AppliedPasswordKey)
	}
	n, err := strconv.Atoi(string(sec.Data[AppliedRotationKey]))
	if err != nil || n < 0 {
		return AppliedPassword{}, fmt.Errorf("applied-password Secret %s: key %q is not a count: %q", sec.Name, AppliedRotationKey, sec.Data[AppliedRotationKey])
	}
	return AppliedPassword{Password: string(pw), Rotation: n}, nil
}
