package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"time"
)

// Problem is what is wrong with a certificate bundle; ProblemNone when
// nothing is.
type Problem int

// The problems Check finds, in the order it looks for them.
const (
	ProblemNone Problem = iota
	// ProblemKeyMissing: tls.crt, tls.key or ca.crt is absent or empty.
	ProblemKeyMissing
	// ProblemInvalid: a PEM block does not parse.
	ProblemInvalid
	// ProblemKeyMismatch: the private key is not the certificate's.
	ProblemKeyMismatch
	// ProblemExpired: the certificate is expired or not valid yet.
	ProblemExpired
	// ProblemNotSignedByCA: no CA of ca.crt signed the certificate.
	ProblemNotSignedByCA
)

// Bundle is the content of a TLS Secret in the cert-manager layout. A nil
// field is a missing key.
type Bundle struct {
	Cert, Key, CA []byte
}

// Finding is the verdict on a bundle: the problem and a message naming it,
// or the parsed leaf when there is none.
type Finding struct {
	Problem Problem
	Message string
	// Leaf is the server certificate (set when Problem is ProblemNone).
	Leaf *x509.Certificate
	// CAs are the CA certificates of ca.crt (ProblemNone only).
	CAs []*x509.Certificate
}

// Check verifies a bundle before it reaches the nodes: every key present,
// the certificate matching its key, valid at now, and signed (possibly
// through intermediates in tls.crt) by a CA in ca.crt, for server and
// client authentication. Names are not checked: clients verify those.
func Check(b Bundle, now time.Time) Finding {
	for _, k := range []struct {
		name string
		data []byte
	}{{"tls.crt", b.Cert}, {"tls.key", b.Key}, {"ca.crt", b.CA}} {
		if len(bytes.TrimSpace(k.data)) == 0 {
			return Finding{Problem: ProblemKeyMissing, Message: fmt.Sprintf("key %s is missing or empty", k.name)}
		}
	}
	kp, err := ParseKeyPair(b.Cert, b.Key)
	if err != nil {
		return Finding{Problem: ProblemInvalid, Message: fmt.Sprintf("tls.crt/tls.key: %v", err)}
	}
	cas, err := ParseCertificates(b.CA)
	if err != nil {
		return Finding{Problem: ProblemInvalid, Message: fmt.Sprintf("ca.crt: %v", err)}
	}
	if !publicKeyMatches(kp) {
		return Finding{Problem: ProblemKeyMismatch, Message: "tls.key is not the private key of the certificate in tls.crt"}
	}
	leaf := kp.Cert
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return Finding{Problem: ProblemExpired, Message: fmt.Sprintf("the certificate in tls.crt is valid from %s to %s, not now (%s)",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	}
	chain, _ := ParseCertificates(b.Cert)
	if err := verifyNodeChain(chain, cas, now); err != nil {
		return Finding{Problem: ProblemNotSignedByCA, Message: fmt.Sprintf("the certificate in tls.crt does not verify against ca.crt for server and client authentication: %v", err)}
	}
	return Finding{Leaf: leaf, CAs: cas}
}

// verifyNodeChain verifies chain (leaf first, then intermediates) against
// the CAs cas at now, for server and for client authentication: a node's
// certificate serves clients and dials its peers.
func verifyNodeChain(chain, cas []*x509.Certificate, now time.Time) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	// KeyUsages accepts any one of its usages: verify each on its own.
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			return err
		}
	}
	return nil
}

// publicKeyMatches reports whether kp's key is its certificate's.
func publicKeyMatches(kp *KeyPair) bool {
	type equaler interface{ Equal(x crypto.PublicKey) bool }
	pub, ok := kp.Key.Public().(equaler)
	return ok && pub.Equal(kp.Cert.PublicKey)
}

// SANs splits hosts into DNS names and IP addresses, dropping empty and
// duplicate entries, sorted, so that the same hosts give the same names.
func SANs(hosts []string) Names {
	var n Names
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			n.IPs = append(n.IPs, ip)
			continue
		}
		n.DNS = append(n.DNS, h)
	}
	slices.Sort(n.DNS)
	slices.SortFunc(n.IPs, func(a, b net.IP) int { return bytes.Compare(a.To16(), b.To16()) })
	return n
}

// Covers reports whether c is valid for exactly the names of want (no
// more, no fewer): a certificate whose names differ is issued again.
func Covers(c *x509.Certificate, want Names) bool {
	got := SANs(append(slices.Clone(c.DNSNames), ipStrings(c.IPAddresses)...))
	w := SANs(append(slices.Clone(want.DNS), ipStrings(want.IPs)...))
	return slices.Equal(got.DNS, w.DNS) && slices.EqualFunc(got.IPs, w.IPs, net.IP.Equal)
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}
