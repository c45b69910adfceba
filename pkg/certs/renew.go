package certs

import (
	"crypto/x509"
	"fmt"
	"time"
)

// NeedsIssue says why the operator must issue its server certificate again
// ("" when it need not): current (the Secret the pods mount) holds no
// usable certificate of ca, it does not name exactly names, or it is due
// for renewal (renewBefore or less before it expires).
func NeedsIssue(current Bundle, ca *KeyPair, names Names, now time.Time, renewBefore time.Duration) string {
	if len(current.Cert) == 0 {
		return "no server certificate yet"
	}
	kp, err := ParseKeyPair(current.Cert, current.Key)
	if err != nil || !publicKeyMatches(kp) {
		return "the current certificate or its key does not parse or match"
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return "the current certificate does not verify against the cluster's CA"
	}
	if !Covers(kp.Cert, names) {
		return "the cluster's names changed"
	}
	if RenewalDue(kp.Cert.NotAfter, now, renewBefore) {
		return fmt.Sprintf("renewal due (expires %s, renewBefore %s)", kp.Cert.NotAfter.UTC().Format(time.RFC3339), renewBefore)
	}
	return ""
}
