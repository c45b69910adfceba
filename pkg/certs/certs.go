// Package certs issues and checks the TLS certificates of a Redis Cluster:
// a self-signed CA, one server certificate shared by every node (ECDSA
// P-256), and the checks a certificate bundle in the cert-manager layout
// (tls.crt, tls.key, ca.crt) must pass before the nodes are given it. The
// functions are pure: the caller passes the time and the randomness.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"time"
)

// Validity of the certificates the operator issues.
const (
	// CAValidity is how long an issued CA is valid (10 years): rolling a CA
	// over needs every client to trust the new one, so it is rare.
	CAValidity = 10 * 365 * 24 * time.Hour
	// ServerValidity is how long an issued server certificate is valid.
	ServerValidity = 90 * 24 * time.Hour
	// backdate covers clocks a little behind the operator's.
	backdate = 5 * time.Minute
)

// KeyPair is a certificate with its private key, parsed and in PEM.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// Names are the names and addresses a server certificate is valid for.
type Names struct {
	DNS []string
	IPs []net.IP
}

// NewCA issues a self-signed CA certificate valid from now for CAValidity.
func NewCA(commonName string, now time.Time, rand io.Reader) (*KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"redkube"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return issue(tmpl, nil, rand)
}

// IssueServer issues a certificate signed by ca for names, valid from now
// for validity (at most until the CA expires), usable for server and client
// authentication: Redis nodes present it to each other on the cluster bus
// and for replication.
func IssueServer(ca *KeyPair, commonName string, names Names, now time.Time, validity time.Duration, rand io.Reader) (*KeyPair, error) {
	if ca == nil || !ca.Cert.IsCA {
		return nil, errors.New("issue server certificate: the issuer is not a CA")
	}
	if len(names.DNS) == 0 && len(names.IPs) == 0 {
		return nil, errors.New("issue server certificate: no names")
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: []string{"redkube"}},
		NotBefore:   now.Add(-backdate),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    slices.Clone(names.DNS),
		IPAddresses: slices.Clone(names.IPs),
	}
	return issue(tmpl, ca, rand)
}

// issue creates a P-256 key and the certificate of tmpl, signed by parent
// (self-signed when nil).
func issue(tmpl *x509.Certificate, parent *KeyPair, rand io.Reader) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := randSerial(rand)
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// randSerial is a positive 128-bit serial number.
func randSerial(rand io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("read serial number: %w", err)
	}
	b[0] &= 0x7f
	n := new(big.Int).SetBytes(b)
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n, nil
}

// ParseKeyPair parses a PEM certificate (leaf first) and its PEM private key.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: certs[0], Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// ParseCertificates parses every CERTIFICATE block of pemData; there must
// be at least one.
func ParseCertificates(pemData []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// parseKey parses a PEM private key in PKCS#8, SEC 1 (EC) or PKCS#1 (RSA).
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	for rest := keyPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("private key of type %T cannot sign", k)
		}
		return s, nil
	}
}

// Fingerprint is the hex SHA-256 of a certificate's DER encoding.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// BundleFingerprint is the hex SHA-256 of the DER encodings of the
// certificates in a PEM bundle (a ca.crt), in order: two bundles that
// differ only in PEM comments or line breaks have the same fingerprint.
func BundleFingerprint(pemData []byte) (string, error) {
	certs, err := ParseCertificates(pemData)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, c := range certs {
		h.Write(c.Raw)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// RenewalDue reports whether a certificate valid until notAfter is to be
// renewed at now: renewBefore (or less) before it expires.
func RenewalDue(notAfter, now time.Time, renewBefore time.Duration) bool {
	return !now.Before(notAfter.Add(-renewBefore))
}

// DaysLeft is the number of days (fractional) until notAfter; negative
// once expired.
func DaysLeft(notAfter, now time.Time) float64 {
	return notAfter.Sub(now).Hours() / 24
}
