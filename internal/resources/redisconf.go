package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// NodeTimeoutMillis is the default cluster-node-timeout (spec.config may
// override it).
const NodeTimeoutMillis = 5000

// ownedDirectives are the redis.conf lines the operator always writes and
// spec.config cannot change (the CRD rejects them; see
// redisv1alpha1.ForbiddenConfigKeys). The address (cluster-announce-ip) and
// the password come from the container's arguments instead.
var ownedDirectives = [][2]string{
	{"port", fmt.Sprint(RedisPort)},
	{"cluster-enabled", "yes"},
	{"cluster-config-file", DataDir + "/" + NodesConfFile},
	{"dir", DataDir},
	// Clients reach pods through pod IPs and Services: listen on every
	// interface; protected mode would refuse them when no password is set.
	{"protected-mode", "no"},
	{"daemonize", "no"},
	// spec.users, as every running node accepted them (users.go).
	{"include", UsersFile},
}

// defaultDirectives are written unless spec.config sets the same key.
var defaultDirectives = [][2]string{
	{"cluster-node-timeout", fmt.Sprint(NodeTimeoutMillis)},
	{"appendonly", "yes"},
}

// RedisConf renders redis.conf for rc: the operator's fixed directives, the
// defaults not overridden by spec.config, then spec.config sorted by key.
// Values from spec.config are written verbatim after the key, as in
// redis.conf (for example `save: "3600 1 300 100"`); an empty value is
// written as "".
func RedisConf(rc *redisv1alpha1.RedisCluster) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# redis.conf for RedisCluster %s/%s, rendered by the redkube operator.\n", rc.Namespace, rc.Name)
	b.WriteString("# Edit spec.config of the RedisCluster instead of this ConfigMap.\n")
	for _, d := range ownedDirectives {
		if d[0] == "port" && rc.Spec.TLSEnabled() {
			continue // tlsDirectives: port 0, tls-port
		}
		fmt.Fprintf(&b, "%s %s\n", d[0], d[1])
	}
	if rc.Spec.TLSEnabled() {
		for _, d := range tlsDirectives(rc) {
			fmt.Fprintf(&b, "%s %s\n", d[0], d[1])
		}
	}
	if AnnouncesHostnames(rc) {
		b.WriteString("cluster-preferred-endpoint-type hostname\n")
	}
	overridden := make(map[string]bool, len(rc.Spec.Config))
	for k := range rc.Spec.Config {
		overridden[strings.ToLower(k)] = true
	}
	for _, d := range defaultDirectives {
		if !overridden[d[0]] {
			fmt.Fprintf(&b, "%s %s\n", d[0], d[1])
		}
	}
	if len(rc.Spec.Config) > 0 {
		b.WriteString("# spec.config\n")
		keys := make([]string, 0, len(rc.Spec.Config))
		for k := range rc.Spec.Config {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := string(rc.Spec.Config[k])
			if v == "" {
				v = `""`
			}
			fmt.Fprintf(&b, "%s %s\n", k, v)
		}
	}
	return b.String()
}

// configHash is the hash of the rendered redis.conf carried on the pod
// template (AnnotationConfigHash).
func configHash(conf string) string {
	sum := sha256.Sum256([]byte(conf))
	return hex.EncodeToString(sum[:8])
}

// ConfigMap renders the ConfigMap holding redis.conf under ConfigKey.
func ConfigMap(rc *redisv1alpha1.RedisCluster) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(rc, ConfigMapName(rc), Labels(rc)),
		Data:       map[string]string{ConfigKey: RedisConf(rc)},
	}
	if err := stampSpecHash(cm); err != nil {
		return nil, err
	}
	return cm, nil
}

// objectMeta is the metadata shared by every object of rc: namespace, labels
// and a controller owner reference to rc.
func objectMeta(rc *redisv1alpha1.RedisCluster, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       rc.Namespace,
		Labels:          labels,
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rc, redisv1alpha1.GroupVersion.WithKind("RedisCluster"))},
	}
}
