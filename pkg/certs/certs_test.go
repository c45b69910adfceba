package certs

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)

func mustCA(t *testing.T, now time.Time) *KeyPair {
	t.Helper()
	ca, err := NewCA("test-ca", now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustServer(t *testing.T, ca *KeyPair, now time.Time, validity time.Duration, hosts ...string) *KeyPair {
	t.Helper()
	kp, err := IssueServer(ca, "redis", SANs(hosts), now, validity, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestIssuedServerCertificateVerifiesForItsNamesOnly(t *testing.T) {
	ca := mustCA(t, t0)
	kp := mustServer(t, ca, t0, ServerValidity, "*.rc-nodes.ns.svc.cluster.local", "rc.ns.svc.cluster.local", "203.0.113.7")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"rc-0-0.rc-nodes.ns.svc.cluster.local", true},
		{"rc.ns.svc.cluster.local", true},
		{"203.0.113.7", true},
		{"a.b.rc-nodes.ns.svc.cluster.local", false}, // a wildcard covers one label
		{"other.ns.svc.cluster.local", false},
		{"10.0.0.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kp.Cert.Verify(x509.VerifyOptions{DNSName: tc.name, Roots: roots, CurrentTime: t0.Add(time.Hour)})
			if (err == nil) != tc.ok {
				t.Fatalf("verify %s: err %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}

func TestServerCertificateNeverOutlivesItsCA(t *testing.T) {
	ca := mustCA(t, t0)
	late := ca.Cert.NotAfter.Add(-24 * time.Hour)
	kp := mustServer(t, ca, late, ServerValidity, "a")
	if !kp.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Fatalf("NotAfter %s, want the CA's %s", kp.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestIssueServerRefusesANonCAOrNoNames(t *testing.T) {
	ca := mustCA(t, t0)
	leaf := mustServer(t, ca, t0, time.Hour, "a")
	if _, err := IssueServer(leaf, "x", SANs([]string{"b"}), t0, time.Hour, rand.Reader); err == nil {
		t.Fatal("a leaf issued a certificate")
	}
	if _, err := IssueServer(ca, "x", Names{}, t0, time.Hour, rand.Reader); err == nil {
		t.Fatal("a certificate without names was issued")
	}
}

// Property: for random name sets and issue times, the certificate is valid
// at issue time for every one of its names, for server and client
// authentication, signed by the CA, and Covers exactly those names.
func TestIssuedCertificatesVerifyForRandomNames(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	ca := mustCA(t, t0)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for i := range 30 {
		var hosts []string
		for j := range 1 + r.IntN(6) {
			if r.IntN(3) == 0 {
				hosts = append(hosts, net.IPv4(10, byte(r.IntN(256)), byte(j), byte(r.IntN(256))).String())
				continue
			}
			hosts = append(hosts, fmt.Sprintf("n%d-%d.example.org", i, r.IntN(1000)))
		}
		now := t0.Add(time.Duration(r.IntN(1000)) * time.Hour)
		validity := time.Duration(1+r.IntN(2000)) * time.Hour
		kp := mustServer(t, ca, now, validity, hosts...)
		if !Covers(kp.Cert, SANs(hosts)) {
			t.Fatalf("case %d: certificate names %v %v, want %v", i, kp.Cert.DNSNames, kp.Cert.IPAddresses, hosts)
		}
		if got := kp.Cert.NotAfter.Sub(now); got != validity {
			t.Fatalf("case %d: validity %s, want %s", i, got, validity)
		}
		for _, h := range hosts {
			_, err := kp.Cert.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
			if err != nil {
				t.Fatalf("case %d: %s: %v", i, h, err)
			}
		}
		if f := Check(Bundle{Cert: kp.CertPEM, Key: kp.KeyPEM, CA: ca.CertPEM}, now); f.Problem != ProblemNone {
			t.Fatalf("case %d: Check: %s", i, f.Message)
		}
	}
}

func TestSANsSplitSortAndDeduplicate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hosts   []string
		dns, ip []string
	}{
		{"empty", nil, nil, nil},
		{"names sorted", []string{"b", "a"}, []string{"a", "b"}, nil},
		{"duplicates and empty dropped", []string{"a", "", "a", "10.0.0.1", "10.0.0.1"}, []string{"a"}, []string{"10.0.0.1"}},
		{"IPv6 is an IP", []string{"127.0.0.1", "::1"}, nil, []string{"::1", "127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := SANs(tc.hosts)
			ips := ipStrings(n.IPs)
			if !slices.Equal(n.DNS, tc.dns) || !slices.Equal(ips, tc.ip) && (len(ips) != 0 || len(tc.ip) != 0) {
				t.Fatalf("SANs(%v) = %v %v, want %v %v", tc.hosts, n.DNS, ips, tc.dns, tc.ip)
			}
		})
	}
}

func TestRenewalDue(t *testing.T) {
	notAfter := t0.Add(90 * 24 * time.Hour)
	for _, tc := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"freshly issued", t0, false},
		{"a second before the window", notAfter.Add(-30*24*time.Hour - time.Second), false},
		{"at the window's start", notAfter.Add(-30 * 24 * time.Hour), true},
		{"inside the window", notAfter.Add(-time.Hour), true},
		{"expired", notAfter.Add(time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RenewalDue(notAfter, tc.now, 30*24*time.Hour); got != tc.want {
				t.Fatalf("RenewalDue = %v, want %v", got, tc.want)
			}
		})
	}
	if d := DaysLeft(notAfter, t0); d != 90 {
		t.Fatalf("DaysLeft = %v, want 90", d)
	}
}

func TestCheckNamesTheProblemOfABundle(t *testing.T) {
	ca := mustCA(t, t0)
	other := mustCA(t, t0)
	kp := mustServer(t, ca, t0, ServerValidity, "a")
	kp2 := mustServer(t, ca, t0, ServerValidity, "b")
	foreign := mustServer(t, other, t0, ServerValidity, "a")
	serverOnly := serverAuthOnly(t, ca)
	both := append(append([]byte{}, other.CertPEM...), ca.CertPEM...)
	for _, tc := range []struct {
		name string
		b    Bundle
		now  time.Time
		want Problem
		msg  string
	}{
		{"a valid bundle", Bundle{kp.CertPEM, kp.KeyPEM, ca.CertPEM}, t0, ProblemNone, ""},
		{"two CAs during a rollover", Bundle{kp.CertPEM, kp.KeyPEM, both}, t0, ProblemNone, ""},
		{"tls.key missing", Bundle{kp.CertPEM, nil, ca.CertPEM}, t0, ProblemKeyMissing, "tls.key"},
		{"ca.crt empty", Bundle{kp.CertPEM, kp.KeyPEM, []byte(" \n")}, t0, ProblemKeyMissing, "ca.crt"},
		{"tls.crt not PEM", Bundle{[]byte("junk"), kp.KeyPEM, ca.CertPEM}, t0, ProblemInvalid, "tls.crt"},
		{"ca.crt not PEM", Bundle{kp.CertPEM, kp.KeyPEM, []byte("junk")}, t0, ProblemInvalid, "ca.crt"},
		{"certificate and key do not match", Bundle{kp.CertPEM, kp2.KeyPEM, ca.CertPEM}, t0, ProblemKeyMismatch, "not the private key"},
		{"expired", Bundle{kp.CertPEM, kp.KeyPEM, ca.CertPEM}, t0.Add(ServerValidity + time.Hour), ProblemExpired, "valid from"},
		{"not valid yet", Bundle{kp.CertPEM, kp.KeyPEM, ca.CertPEM}, t0.Add(-time.Hour), ProblemExpired, "not now"},
		{"signed by another CA", Bundle{foreign.CertPEM, foreign.KeyPEM, ca.CertPEM}, t0, ProblemNotSignedByCA, "does not verify"},
		{"server authentication only", Bundle{serverOnly.CertPEM, serverOnly.KeyPEM, ca.CertPEM}, t0, ProblemNotSignedByCA, "client authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Check(tc.b, tc.now)
			if f.Problem != tc.want || !strings.Contains(f.Message, tc.msg) {
				t.Fatalf("Check = %d %q, want %d containing %q", f.Problem, f.Message, tc.want, tc.msg)
			}
			if tc.want == ProblemNone && (f.Leaf == nil || Fingerprint(f.Leaf) != Fingerprint(kp.Cert)) {
				t.Fatalf("Check returned leaf %v, want the bundle's", f.Leaf)
			}
		})
	}
}

// serverAuthOnly issues a certificate usable for server authentication
// only, which Redis cannot present to its peers.
func serverAuthOnly(t *testing.T, ca *KeyPair) *KeyPair {
	t.Helper()
	tmpl := &x509.Certificate{
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"a"},
	}
	kp, err := issue(tmpl, ca, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestNeedsIssueSaysWhyTheCertificateIsIssuedAgain(t *testing.T) {
	ca := mustCA(t, t0)
	other := mustCA(t, t0)
	names := SANs([]string{"a", "b"})
	kp := mustServer(t, ca, t0, ServerValidity, "a", "b")
	foreign := mustServer(t, other, t0, ServerValidity, "a", "b")
	fewer := mustServer(t, ca, t0, ServerValidity, "a")
	current := Bundle{Cert: kp.CertPEM, Key: kp.KeyPEM, CA: ca.CertPEM}
	for _, tc := range []struct {
		name string
		b    Bundle
		now  time.Time
		want string
	}{
		{"up to date", current, t0.Add(time.Hour), ""},
		{"none yet", Bundle{}, t0, "no server certificate"},
		{"key of another certificate", Bundle{Cert: kp.CertPEM, Key: fewer.KeyPEM}, t0, "does not parse or match"},
		{"issued by another CA", Bundle{Cert: foreign.CertPEM, Key: foreign.KeyPEM}, t0, "does not verify"},
		{"names changed", Bundle{Cert: fewer.CertPEM, Key: fewer.KeyPEM}, t0, "names changed"},
		{"renewal due", current, t0.Add(ServerValidity - 29*24*time.Hour), "renewal due"},
		{"expired", current, t0.Add(ServerValidity + time.Hour), "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NeedsIssue(tc.b, ca, names, tc.now, 30*24*time.Hour)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("NeedsIssue = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBundleFingerprintFollowsTheCertificatesNotTheirPEMText(t *testing.T) {
	now := time.Now()
	a, err := NewCA("a", now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCA("b", now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fp := func(pemData []byte) string {
		t.Helper()
		s, err := BundleFingerprint(pemData)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ab := fp(append(append([]byte{}, a.CertPEM...), b.CertPEM...))
	if got := fp(append(append([]byte("# rollover: a then b\n"), a.CertPEM...), append([]byte("\n\n"), b.CertPEM...)...)); got != ab {
		t.Error("a comment and blank lines changed the fingerprint")
	}
	if fp(a.CertPEM) == ab || fp(append(append([]byte{}, b.CertPEM...), a.CertPEM...)) == ab {
		t.Error("bundles of other certificates, or in another order, share a fingerprint")
	}
	if _, err := BundleFingerprint([]byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")); err == nil {
		t.Error("a broken certificate was fingerprinted")
	}
}
