package resources

import (
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// TLS volume and paths (spec.tls).
const (
	// TLSVolumeName is the volume that mounts the TLS Secret.
	TLSVolumeName = "tls"
	// TLSDir is where the TLS Secret is mounted in the Redis and exporter
	// containers.
	TLSDir = "/etc/redis-tls"
	// TLSCertFile, TLSKeyFile and TLSCAFile are the paths redis.conf names.
	TLSCertFile = TLSDir + "/" + redisv1alpha1.TLSCertKey
	TLSKeyFile  = TLSDir + "/" + redisv1alpha1.TLSKeyKey
	TLSCAFile   = TLSDir + "/" + redisv1alpha1.TLSCAKey
)

// TLSServerSecretName is the Secret holding the operator-issued server
// certificate (cert-manager layout).
func TLSServerSecretName(rc *redisv1alpha1.RedisCluster) string { return rc.Name + "-tls" }

// TLSIssuerSecretName is the Secret holding the operator's CA certificate
// and its private key; only the operator reads it.
func TLSIssuerSecretName(rc *redisv1alpha1.RedisCluster) string { return rc.Name + "-tls-ca" }

// TLSCASecretName is the Secret holding only ca.crt, for clients
// (status.tls.caSecretName), whoever issued the certificates.
func TLSCASecretName(rc *redisv1alpha1.RedisCluster) string { return rc.Name + "-ca" }

// TLSCABundleKey is the key under which <name>-tls holds the CA bundle
// whose fingerprint (certs.BundleFingerprint) is fp, beside ca.crt. The
// operator points a node's tls-ca-cert-file at it to reload the CAs: Redis
// refuses the path until the kubelet has refreshed the pod's copy of the
// Secret, and CONFIG GET tls-ca-cert-file then tells which bundle the node
// trusts, which no TLS handshake shows.
func TLSCABundleKey(fp string) string { return "ca-" + fp[:16] + ".crt" }

// TLSCABundleFile is the path of TLSCABundleKey(fp) in the pods.
func TLSCABundleFile(fp string) string { return TLSDir + "/" + TLSCABundleKey(fp) }

// TLSServerName is the name the operator sends as SNI and tells clients to
// verify when they connect by IP: the access Service's fully qualified
// name, which the operator-issued certificate holds.
func TLSServerName(rc *redisv1alpha1.RedisCluster, clusterDomain string) string {
	return AccessServiceName(rc) + "." + rc.Namespace + ".svc." + clusterDomain
}

// TLSHosts are the names and addresses the operator-issued certificate is
// valid for. It is one certificate for every pod, so that it exists before
// the pods (pod IPs are not known then) and survives their replacement:
// every pod's DNS name under the headless Service (a wildcard), the access
// Service's names, the external address when spec.externalAccess sets one,
// and localhost for the pod's own probes and sidecars. Clients that reach
// a node by an address the certificate cannot name (a pod IP, a node IP
// with NodePorts, a load balancer IP) verify TLSServerName instead.
func TLSHosts(rc *redisv1alpha1.RedisCluster, clusterDomain string) []string {
	headless := HeadlessServiceName(rc) + "." + rc.Namespace + ".svc"
	access := AccessServiceName(rc)
	hosts := []string{
		"*." + headless + "." + clusterDomain,
		"*." + headless,
		headless + "." + clusterDomain,
		access,
		access + "." + rc.Namespace,
		access + "." + rc.Namespace + ".svc",
		TLSServerName(rc, clusterDomain),
		"localhost",
		"127.0.0.1",
	}
	if ea := rc.Spec.ExternalAccess; ea != nil && ea.Address != "" {
		hosts = append(hosts, ea.Address)
		if net.ParseIP(ea.Address) == nil {
			// A name resolving to every node: the nodes are told apart by port.
			hosts = append(hosts, "*."+ea.Address)
		}
	}
	return hosts
}

// tlsDirectives are the redis.conf lines of spec.tls: the client port
// speaks only TLS, and the cluster bus and replication use TLS too.
func tlsDirectives(rc *redisv1alpha1.RedisCluster) [][2]string {
	auth := "no"
	if rc.Spec.TLS.AuthClients {
		auth = "yes"
	}
	return [][2]string{
		{"port", "0"},
		{"tls-port", strconv.Itoa(RedisPort)},
		{"tls-cert-file", TLSCertFile},
		{"tls-key-file", TLSKeyFile},
		{"tls-ca-cert-file", TLSCAFile},
		{"tls-auth-clients", auth},
		{"tls-cluster", "yes"},
		{"tls-replication", "yes"},
	}
}

// cliTLSFlags are the redis-cli flags of the pod's own scripts under TLS:
// the mounted CA, presenting the mounted certificate (needed with
// spec.tls.authClients).
var cliTLSFlags = strings.Join([]string{"--tls", "--cacert", TLSCAFile, "--cert", TLSCertFile, "--key", TLSKeyFile}, " ") + " "

// redisCLITLSFlags are cliTLSFlags under TLS, empty without.
func redisCLITLSFlags(rc *redisv1alpha1.RedisCluster) string {
	if !rc.Spec.TLSEnabled() {
		return ""
	}
	return cliTLSFlags
}

// mountsTLS reports whether the pods mount <name>-tls: under TLS, and
// while a running cluster is switched to it (Options.TLSFilesMounted).
func mountsTLS(rc *redisv1alpha1.RedisCluster, o Options) bool {
	return rc.Spec.TLSEnabled() || o.TLSFilesMounted
}

// tlsVolume mounts <name>-tls, the Secret the operator writes once the
// certificates passed its checks (a user's spec.tls.secretName is copied
// into it, never mounted as it is), readable by the pod's group (fsGroup)
// only, so the exporter (another uid) reads it too.
func tlsVolume(rc *redisv1alpha1.RedisCluster) corev1.Volume {
	return corev1.Volume{
		Name: TLSVolumeName,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  TLSServerSecretName(rc),
			DefaultMode: ptr.To(int32(0o440)),
		}},
	}
}

// tlsMount is the TLS volume's mount; not a subPath, so that the pods see
// a renewed Secret without a restart.
func tlsMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: TLSVolumeName, MountPath: TLSDir, ReadOnly: true}
}

// exporterTLSArgs are the exporter's flags under TLS; while the cluster is
// switched to TLS, the exporter also speaks plain text to a node that
// still serves it.
func exporterTLSArgs(rc *redisv1alpha1.RedisCluster, o Options) []string {
	if !mountsTLS(rc, o) {
		return nil
	}
	args := []string{"--tls-ca-file", TLSCAFile, "--tls-cert-file", TLSCertFile, "--tls-key-file", TLSKeyFile}
	if !rc.Spec.TLSEnabled() {
		args = append(args, "--tls-plain-text-fallback")
	}
	return args
}

// TLSSecret renders an operator-owned TLS Secret: the server certificate
// (kubernetes.io/tls with ca.crt, the cert-manager layout), the issuer
// (CA certificate and key), or the clients' ca.crt. It carries no spec
// hash: the controller compares its data.
func TLSSecret(rc *redisv1alpha1.RedisCluster, name string, data map[string][]byte) *corev1.Secret {
	t := corev1.SecretTypeOpaque
	if _, ok := data[redisv1alpha1.TLSKeyKey]; ok {
		t = corev1.SecretTypeTLS
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(rc, name, Labels(rc)),
		Type:       t,
		Data:       data,
	}
}
