package localkube

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

func TestGeneratePKI(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	p, err := generatePKI(dir, pkiSpec{
		apiServerIPs:   []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP("10.96.0.1")},
		apiServerNames: []string{"localhost", "kubernetes.default.svc"},
		nodes:          []string{"node-1", "node-2"},
		kubeletIPs:     []net.IP{net.ParseIP("10.244.0.1")},
	}, now)
	if err != nil {
		t.Fatalf("generatePKI: %v", err)
	}
	roots := x509.NewCertPool()
	ca := loadCert(t, p.CA.Cert)
	if !ca.IsCA {
		t.Fatalf("CA certificate is not a CA")
	}
	roots.AddCert(ca)

	verify := func(t *testing.T, cf certFiles, usage x509.ExtKeyUsage, dnsName string) *x509.Certificate {
		t.Helper()
		if _, err := tls.LoadX509KeyPair(cf.Cert, cf.Key); err != nil {
			t.Fatalf("certificate and key do not match: %v", err)
		}
		cert := loadCert(t, cf.Cert)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: dnsName, CurrentTime: now}); err != nil {
			t.Fatalf("verify %s: %v", cert.Subject.CommonName, err)
		}
		st, err := os.Stat(cf.Key)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("key %s has mode %v, want 0600", cf.Key, st.Mode().Perm())
		}
		return cert
	}

	t.Run("API server serving certificate covers its addresses and names", func(t *testing.T) {
		cert := verify(t, p.APIServer, x509.ExtKeyUsageServerAuth, "kubernetes.default.svc")
		for _, ip := range []string{"127.0.0.1", "10.96.0.1"} {
			if err := cert.VerifyHostname(ip); err != nil {
				t.Errorf("API server certificate does not cover %s: %v", ip, err)
			}
		}
		if err := cert.VerifyHostname("10.96.0.2"); err == nil {
			t.Errorf("API server certificate covers an address it was not issued for")
		}
	})
	t.Run("client identities carry user and group", func(t *testing.T) {
		cases := []struct {
			name  string
			cf    certFiles
			user  string
			group string
		}{
			{"admin", p.Admin, adminUser, mastersGroup},
			{"controller-manager", p.ControllerManager, controllerManagerUser, ""},
			{"scheduler", p.Scheduler, schedulerUser, ""},
			{"node-2", p.Nodes["node-2"], "system:node:node-2", nodesGroup},
			{"apiserver to etcd", p.APIServerEtcd, apiserverEtcdUser, ""},
			{"apiserver to kubelets", p.KubeletClient, KubeletClientUser, ""},
		}
		for _, tc := range cases {
			cert := verify(t, tc.cf, x509.ExtKeyUsageClientAuth, "")
			if cert.Subject.CommonName != tc.user {
				t.Errorf("%s: user %q, want %q", tc.name, cert.Subject.CommonName, tc.user)
			}
			if tc.group != "" && !slices.Contains(cert.Subject.Organization, tc.group) {
				t.Errorf("%s: groups %v, want %q among them", tc.name, cert.Subject.Organization, tc.group)
			}
			if slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
				t.Errorf("%s: client certificate is also valid for serving", tc.name)
			}
		}
	})
	t.Run("etcd and component serving certificates cover loopback", func(t *testing.T) {
		for _, cf := range []certFiles{p.EtcdServer, p.ComponentsServing} {
			cert := verify(t, cf, x509.ExtKeyUsageServerAuth, "localhost")
			if err := cert.VerifyHostname("127.0.0.1"); err != nil {
				t.Errorf("%s does not cover 127.0.0.1: %v", cert.Subject.CommonName, err)
			}
		}
	})
	t.Run("kubelet serving certificates cover their node's name, loopback and the kubelet addresses", func(t *testing.T) {
		for _, n := range []string{"node-1", "node-2"} {
			cert := verify(t, p.KubeletServing[n], x509.ExtKeyUsageServerAuth, n)
			for _, ip := range []string{"127.0.0.1", "10.244.0.1"} {
				if err := cert.VerifyHostname(ip); err != nil {
					t.Errorf("kubelet certificate of %s does not cover %s: %v", n, ip, err)
				}
			}
			if slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
				t.Errorf("kubelet serving certificate of %s is also a client certificate", n)
			}
		}
	})
	t.Run("service-account keys form a pair", func(t *testing.T) {
		priv := readPEM(t, p.ServiceAccountKey, "PRIVATE KEY")
		pub := readPEM(t, p.ServiceAccountPub, "PUBLIC KEY")
		key, err := x509.ParsePKCS8PrivateKey(priv)
		if err != nil {
			t.Fatalf("parse service-account key: %v", err)
		}
		pk, err := x509.ParsePKIXPublicKey(pub)
		if err != nil {
			t.Fatalf("parse service-account public key: %v", err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			t.Fatalf("service-account key %T cannot sign", key)
		}
		if !signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pk) {
			t.Errorf("service-account public key does not match the private key")
		}
	})
	t.Run("another PKI does not trust this one", func(t *testing.T) {
		other, err := generatePKI(t.TempDir(), pkiSpec{nodes: []string{"node-1"}}, now)
		if err != nil {
			t.Fatal(err)
		}
		cert := loadCert(t, other.Admin.Cert)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
			t.Errorf("a certificate of another cluster verified against this CA")
		}
	})
}

func loadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cert, err := x509.ParseCertificate(readPEM(t, path, "CERTIFICATE"))
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return cert
}

func readPEM(t *testing.T, path, typ string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		t.Fatalf("%s: no %s PEM block", path, typ)
	}
	return blk.Bytes
}
