package resources

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/auth"
)

// The users file (spec.users): an operator-owned Secret holds the `user`
// directives every running node accepted, and each pod includes it at
// start, so a restarted pod comes back with the users. The live nodes are
// changed with ACL SETUSER/DELUSER; the Secret is written after them, so a
// rule Redis rejects never reaches a file a pod would fail to start with.
const (
	// UsersVolumeName is the pod volume of the users file.
	UsersVolumeName = "users"
	// UsersDir is where it is mounted (not a subPath: a restarted container
	// sees the file as the kubelet last refreshed it).
	UsersDir = "/etc/redis-users"
	// UsersConfKey is the Secret key (and file name) of the directives.
	UsersConfKey = "users.conf"
	// UsersACLListKey holds the ACL LIST lines of the managed users as a
	// node reported them once every node accepted the file: the normal
	// form the other nodes are compared with.
	UsersACLListKey = "acl-list"
	// UsersRemovedKey lists the users deleted from the spec (newest last,
	// one per line), which a node that missed the deletion must not hold.
	UsersRemovedKey = "removed"
	// Keys of the operator's users' passwords (auth.SystemUsers), generated
	// once with the Secret. Only the replication and monitor passwords
	// reach the Redis pods, and the backup password the backup and restore
	// Jobs, as environment variables.
	UsersOperatorPasswordKey    = "operator-password"
	UsersReplicationPasswordKey = "replication-password"
	UsersMonitorPasswordKey     = "monitor-password"
	UsersBackupPasswordKey      = "backup-password"
	// ReplicationPasswordEnv and MonitorPasswordEnv hold them in the Redis
	// container (masterauth; the preStop hook) and MonitorPasswordEnv the
	// exporter's password.
	ReplicationPasswordEnv = "REDKUBE_REPLICATION_PASSWORD"
	MonitorPasswordEnv     = "REDKUBE_MONITOR_PASSWORD"
	// UsersFile is the file redis.conf includes.
	UsersFile = UsersDir + "/" + UsersConfKey
)

// UsersSecretName is the name of the users Secret.
func UsersSecretName(rc *redisv1alpha1.RedisCluster) string {
	return rc.Name + "-users"
}

// UsersSecret renders the users Secret with a users file (conf), the
// reference ACL LIST lines (aclList, one per line) and the names removed. Like the
// applied-password Secret it carries no spec hash: the controller compares
// its data.
func UsersSecret(rc *redisv1alpha1.RedisCluster, u UsersData) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(rc, UsersSecretName(rc), Labels(rc)),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			UsersConfKey:                []byte(u.Conf),
			UsersACLListKey:             []byte(u.ACLList),
			UsersRemovedKey:             []byte(u.Removed),
			UsersOperatorPasswordKey:    []byte(u.Passwords.Operator),
			UsersReplicationPasswordKey: []byte(u.Passwords.Replication),
			UsersMonitorPasswordKey:     []byte(u.Passwords.Monitor),
			UsersBackupPasswordKey:      []byte(u.Passwords.Backup),
		},
	}
}

// UsersData is the content of the users Secret.
type UsersData struct {
	// Conf is the users file; ACLList the reference ACL LIST lines and
	// Removed the names removed, one per line.
	Conf, ACLList, Removed string
	// Passwords are the operator's users' passwords.
	Passwords auth.SystemPasswords
}

// ParseUsersSecret reads a users Secret; passwords missing from it come
// back empty.
func ParseUsersSecret(sec *corev1.Secret) UsersData {
	d := sec.Data
	return UsersData{
		Conf: string(d[UsersConfKey]), ACLList: string(d[UsersACLListKey]), Removed: string(d[UsersRemovedKey]),
		Passwords: auth.SystemPasswords{
			Operator:    string(d[UsersOperatorPasswordKey]),
			Replication: string(d[UsersReplicationPasswordKey]),
			Monitor:     string(d[UsersMonitorPasswordKey]),
			Backup:      string(d[UsersBackupPasswordKey]),
		},
	}
}

// usersEnv is the environment variable name holding key of the users Secret.
func usersEnv(rc *redisv1alpha1.RedisCluster, name, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: UsersSecretName(rc)}, Key: key,
	}}}
}

// usersVolume mounts the users file (only that key: the reference lines
// stay out of the pods).
func usersVolume(rc *redisv1alpha1.RedisCluster) corev1.Volume {
	return corev1.Volume{
		Name: UsersVolumeName,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  UsersSecretName(rc),
			Items:       []corev1.KeyToPath{{Key: UsersConfKey, Path: UsersConfKey}},
			DefaultMode: ptr.To(int32(0o440)),
		}},
	}
}

func usersMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: UsersVolumeName, MountPath: UsersDir, ReadOnly: true}
}
