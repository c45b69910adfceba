package certs

import (
	"bytes"
	"encoding/pem"
	"time"
)

// Step names a bundle on the way from what the nodes have to what is
// wanted.
type Step int

const (
	// StepWanted: the wanted bundle itself.
	StepWanted Step = iota
	// StepTrustBoth: the live certificate with ca.crt holding the CAs of
	// both bundles, so every node trusts the new certificate before any
	// node presents it.
	StepTrustBoth
	// StepNewCertificate: the wanted certificate with ca.crt still holding
	// both bundles' CAs, so a node that took it still trusts the peers
	// that present the old certificate.
	StepNewCertificate
)

// String is the step as the operator's messages name it.
func (s Step) String() string {
	switch s {
	case StepTrustBoth:
		return "CA rollover step 1 of 3: the nodes trust the old and the new CAs"
	case StepNewCertificate:
		return "CA rollover step 2 of 3: the nodes present the new certificate, trusting both CAs"
	default:
		return "the wanted certificate and CAs"
	}
}

// Next is NextBundle's answer.
type Next struct {
	// Bundle is what the nodes' Secret should hold now.
	Bundle Bundle
	// Step is what Bundle is on the way to the wanted one.
	Step Step
	// Waiting is set when Bundle is the live one, kept until every node
	// applied it although it is not the wanted one.
	Waiting bool
}

// NextBundle returns the bundle the nodes should be given next on the way
// from live (what their Secret holds; applied on every running node when
// liveApplied) to want, so that at no moment two nodes fail to verify
// each other: nodes reload one at a time, so a node that took the next
// bundle must trust, and be trusted by, a node still on the live one.
//
// Nothing new is given before every node applied the live bundle (a node
// might otherwise still hold an older one, which want was never compared
// with). Then, when the two certificates verify against both bundles' CAs
// the way is want itself (a renewal from the same CA, a CA added to
// ca.crt, the last step of a rollover); otherwise (a certificate of a new
// CA with ca.crt holding only the new CA, as cert-manager writes it when
// an issuer's CA is replaced) it goes through the live certificate with
// both CAs, then the new certificate with both CAs. live without a
// certificate (nothing given to the nodes yet) goes straight to want.
// Both bundles must have passed Check.
func NextBundle(live, want Bundle, liveApplied bool, now time.Time) Next {
	if len(live.Cert) == 0 || (bytes.Equal(live.Cert, want.Cert) && bytes.Equal(live.Key, want.Key) && sameCAs(live.CA, want.CA)) {
		return Next{Bundle: want, Step: StepWanted}
	}
	if !liveApplied {
		return Next{Bundle: live, Step: stepOf(live, want, now), Waiting: true}
	}
	if trusts(live.CA, want.Cert, now) && trusts(want.CA, live.Cert, now) {
		return Next{Bundle: want, Step: StepWanted}
	}
	both := unionCAs(want.CA, live.CA)
	if !sameCAs(live.CA, both) {
		return Next{Bundle: Bundle{Cert: live.Cert, Key: live.Key, CA: both}, Step: StepTrustBoth}
	}
	return Next{Bundle: Bundle{Cert: want.Cert, Key: want.Key, CA: both}, Step: StepNewCertificate}
}

// stepOf names the step of a rollover to want that live is.
func stepOf(live, want Bundle, now time.Time) Step {
	both := sameCAs(live.CA, unionCAs(want.CA, live.CA)) && !sameCAs(live.CA, want.CA)
	switch {
	case both && bytes.Equal(live.Cert, want.Cert):
		return StepNewCertificate
	case both && !trusts(want.CA, live.Cert, now):
		return StepTrustBoth
	default:
		return StepWanted
	}
}

// trusts reports whether the certificate chain certPEM verifies against
// the CAs of caPEM at now (verifyNodeChain).
func trusts(caPEM, certPEM []byte, now time.Time) bool {
	cas, err := ParseCertificates(caPEM)
	if err != nil {
		return false
	}
	chain, err := ParseCertificates(certPEM)
	return err == nil && verifyNodeChain(chain, cas, now) == nil
}

// unionCAs is a PEM bundle of the certificates of a, then those of b that
// a does not hold.
func unionCAs(a, b []byte) []byte {
	var out bytes.Buffer
	seen := map[string]bool{}
	for _, bundle := range [][]byte{a, b} {
		cs, err := ParseCertificates(bundle)
		if err != nil {
			continue
		}
		for _, c := range cs {
			if seen[string(c.Raw)] {
				continue
			}
			seen[string(c.Raw)] = true
			// Encoding to a bytes.Buffer cannot fail.
			_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
	}
	return out.Bytes()
}

// sameCAs reports whether two PEM bundles hold the same set of
// certificates.
func sameCAs(a, b []byte) bool {
	set := func(p []byte) map[string]bool {
		m := map[string]bool{}
		cs, err := ParseCertificates(p)
		if err != nil {
			return m
		}
		for _, c := range cs {
			m[string(c.Raw)] = true
		}
		return m
	}
	x, y := set(a), set(b)
	if len(x) != len(y) {
		return false
	}
	for k := range x {
		if !y[k] {
			return false
		}
	}
	return true
}
