package resources

import (
	"crypto/rand"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/certs"
)

// tlsCluster has TLS with client certificates, the exporter, and pods
// announced by DNS name.
func tlsCluster() *redisv1alpha1.RedisCluster {
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "secure", Namespace: "ns", UID: "00000000-0000-0000-0000-000000000007"},
		Spec: redisv1alpha1.RedisClusterSpec{
			Announce:   redisv1alpha1.AnnounceHostname,
			TLS:        &redisv1alpha1.TLSSpec{Enabled: true, AuthClients: true},
			Monitoring: &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true}},
		},
	}
	redisv1alpha1.SetDefaults(rc)
	return rc
}

func TestTLSRedisConfServesOnlyTLSOnTheClientPort(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tls       *redisv1alpha1.TLSSpec
		want, not []string
	}{
		{"off", nil, []string{"port 6379\n"}, []string{"tls-port", "port 0"}},
		{"disabled", &redisv1alpha1.TLSSpec{Enabled: false}, []string{"port 6379\n"}, []string{"tls-port"}},
		{"on", &redisv1alpha1.TLSSpec{Enabled: true}, []string{
			"port 0\n", "tls-port 6379\n", "tls-cluster yes\n", "tls-replication yes\n", "tls-auth-clients no\n",
			"tls-cert-file /etc/redis-tls/tls.crt\n", "tls-key-file /etc/redis-tls/tls.key\n", "tls-ca-cert-file /etc/redis-tls/ca.crt\n",
		}, []string{"\nport 6379"}},
		{"client certificates", &redisv1alpha1.TLSSpec{Enabled: true, AuthClients: true}, []string{"tls-auth-clients yes\n"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := tlsCluster()
			rc.Spec.TLS = tc.tls
			conf := RedisConf(rc)
			for _, w := range tc.want {
				if !strings.Contains(conf, w) {
					t.Errorf("redis.conf lacks %q:\n%s", w, conf)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(conf, n) {
					t.Errorf("redis.conf has %q:\n%s", n, conf)
				}
			}
		})
	}
}

func TestTLSPodsMountTheSecretAndTheirScriptsSpeakTLS(t *testing.T) {
	// The pods mount <name>-tls in both cases: the operator copies a
	// user's Secret into it only once it passed its checks.
	for _, tc := range []struct {
		name, userSecret string
	}{
		{"operator-issued", ""},
		{"user's Secret, copied into <name>-tls", "my-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := tlsCluster()
			rc.Spec.TLS.SecretName = tc.userSecret
			sts, err := ShardStatefulSet(rc, 0, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			pod := sts.Spec.Template.Spec
			i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == TLSVolumeName })
			if i < 0 || pod.Volumes[i].Secret == nil || pod.Volumes[i].Secret.SecretName != "secure-tls" {
				t.Fatalf("no TLS volume of Secret secure-tls in %+v", pod.Volumes)
			}
			for _, c := range pod.Containers {
				if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == TLSVolumeName && m.SubPath == "" }) {
					t.Errorf("container %s does not mount the TLS volume (without subPath)", c.Name)
				}
			}
			pre := strings.Join(pod.Containers[0].Lifecycle.PreStop.Exec.Command, " ")
			if !strings.Contains(pre, "redis-cli --user redkube-monitor --tls --cacert /etc/redis-tls/ca.crt --cert /etc/redis-tls/tls.crt --key /etc/redis-tls/tls.key -p 6379") {
				t.Errorf("preStop does not use TLS: %s", pre)
			}
			if args := strings.Join(pod.Containers[1].Args, " "); !strings.Contains(args, "--tls-ca-file /etc/redis-tls/ca.crt") {
				t.Errorf("exporter args lack the CA: %s", args)
			}
		})
	}
}

// TestTLSHostsCertificateCoversEveryNameClientsUse issues a certificate for
// TLSHosts and checks the names clients verify.
func TestTLSHostsCertificateCoversEveryNameClientsUse(t *testing.T) {
	rc := tlsCluster()
	rc.Spec.Announce = redisv1alpha1.AnnounceIP
	rc.Spec.ExternalAccess = &redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessNodePort, Address: "redis.example.com"}
	now := time.Now()
	ca, err := certs.NewCA("ca", now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := certs.IssueServer(ca, "secure", certs.SANs(TLSHosts(rc, "cluster.local")), now, time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, name := range []string{
		PodFQDN(rc, 2, 1, "cluster.local"),
		PodDNSName(rc, 0, 0),
		"secure", "secure.ns", "secure.ns.svc", TLSServerName(rc, "cluster.local"),
		"redis.example.com", "localhost", "127.0.0.1",
	} {
		if _, err := kp.Cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := kp.Cert.Verify(x509.VerifyOptions{DNSName: "other.ns.svc.cluster.local", Roots: roots}); err == nil {
		t.Error("the certificate is valid for another Service")
	}
}

// TestTLSSwitchTemplateMountsTheFilesAndSpeaksEither renders the template
// a running plain-text cluster is rolled to before it is switched to TLS
// live: plain-text redis.conf (the config hash of a plain cluster), the
// TLS Secret mounted in both containers, a preStop hook that falls back to
// TLS, and an exporter told to fall back to plain text.
func TestTLSSwitchTemplateMountsTheFilesAndSpeaksEither(t *testing.T) {
	rc := tlsCluster()
	rc.Spec.TLS.Enabled = false
	o := testOptions
	o.TLSFilesMounted = true
	sts, err := ShardStatefulSet(rc, 0, o)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ShardStatefulSet(rc, 0, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	tpl := sts.Spec.Template
	if got, want := tpl.Annotations[AnnotationConfigHash], plain.Spec.Template.Annotations[AnnotationConfigHash]; got != want {
		t.Errorf("config hash %s, want the plain cluster's %s", got, want)
	}
	if tpl.Annotations[AnnotationTLSSwitch] != TLSSwitchFilesMounted {
		t.Errorf("annotations %v lack %s", tpl.Annotations, AnnotationTLSSwitch)
	}
	if _, ok := plain.Spec.Template.Annotations[AnnotationTLSSwitch]; ok {
		t.Errorf("a plain template carries %s", AnnotationTLSSwitch)
	}
	b, err := yaml.Marshal(sts)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "tls-switch-statefulset.yaml", b)
}
