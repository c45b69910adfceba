package certs

import (
	mrand "math/rand/v2"
	"testing"
	"time"
)

// rolloverWorld is a few CAs and a certificate from each, to build bundles
// from.
type rolloverWorld struct {
	cas   []*KeyPair
	certs []*KeyPair
}

func newRolloverWorld(t *testing.T, n int) rolloverWorld {
	t.Helper()
	var w rolloverWorld
	for range n {
		ca := mustCA(t, t0)
		w.cas = append(w.cas, ca)
		w.certs = append(w.certs, mustServer(t, ca, t0, time.Hour, "redis.example"))
	}
	return w
}

// bundle is certificate i with ca.crt holding the CAs listed.
func (w rolloverWorld) bundle(i int, cas ...int) Bundle {
	b := Bundle{Cert: w.certs[i].CertPEM, Key: w.certs[i].KeyPEM}
	for _, c := range cas {
		b.CA = append(b.CA, w.cas[c].CertPEM...)
	}
	return b
}

func TestNextBundleTakesTheWayThatKeepsNodesTrustingEachOther(t *testing.T) {
	w := newRolloverWorld(t, 2)
	now := t0.Add(time.Minute)
	for _, tc := range []struct {
		name        string
		live, want  Bundle
		liveApplied bool
		step        Step
		waiting     bool
		cert        int
		cas         []int
	}{
		{"nothing given yet: the wanted bundle", Bundle{}, w.bundle(1, 1), false, StepWanted, false, 1, []int{1}},
		{"a CA added to ca.crt: the wanted bundle", w.bundle(0, 0), w.bundle(0, 0, 1), true, StepWanted, false, 0, []int{0, 1}},
		{"a certificate of a CA the nodes trust already: the wanted bundle", w.bundle(0, 0, 1), w.bundle(1, 0, 1), true, StepWanted, false, 1, []int{0, 1}},
		{"a new CA at once: first the old certificate trusting both", w.bundle(0, 0), w.bundle(1, 1), true, StepTrustBoth, false, 0, []int{1, 0}},
		{"a new CA at once, both trusted everywhere: the new certificate trusting both", w.bundle(0, 1, 0), w.bundle(1, 1), true, StepNewCertificate, false, 1, []int{1, 0}},
		{"the new certificate everywhere: the old CA dropped", w.bundle(1, 1, 0), w.bundle(1, 1), true, StepWanted, false, 1, []int{1}},
		{"step 1 not applied everywhere yet: kept", w.bundle(0, 1, 0), w.bundle(1, 1), false, StepTrustBoth, true, 0, []int{1, 0}},
		{"step 2 not applied everywhere yet: kept", w.bundle(1, 1, 0), w.bundle(1, 1), false, StepNewCertificate, true, 1, []int{1, 0}},
		{"a renewal not applied everywhere yet: kept, even for a bundle the nodes would trust", w.bundle(0, 0, 1), w.bundle(1, 0, 1), false, StepWanted, true, 0, []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := NextBundle(tc.live, tc.want, tc.liveApplied, now)
			got, step := next.Bundle, next.Step
			want := w.bundle(tc.cert, tc.cas...)
			if next.Waiting != tc.waiting || step != tc.step || string(got.Cert) != string(want.Cert) || string(got.Key) != string(want.Key) || !sameCAs(got.CA, want.CA) {
				t.Fatalf("NextBundle = step %v, a bundle with certificate %v; want step %v, certificate %d with CAs %v", step, got.Cert != nil, tc.step, tc.cert, tc.cas)
			}
			if f := Check(got, now); f.Problem != ProblemNone {
				t.Fatalf("the next bundle does not pass Check: %s", f.Message)
			}
		})
	}
}

// TestNextBundleNeverSplitsTheNodes follows NextBundle from random valid
// bundles to random valid bundles, every step applied before the next: in
// every change from one bundle to the next, each certificate verifies
// against both bundles' CAs (nodes reload one at a time, so both are
// present at once), and the way ends at the wanted bundle within three
// steps.
func TestNextBundleNeverSplitsTheNodes(t *testing.T) {
	w := newRolloverWorld(t, 3)
	now := t0.Add(time.Minute)
	rng := mrand.New(mrand.NewPCG(11, 13))
	random := func() Bundle {
		cert := rng.IntN(len(w.certs))
		cas := []int{cert}
		for c := range w.cas {
			if c != cert && rng.IntN(2) == 0 {
				cas = append(cas, c)
			}
		}
		rng.Shuffle(len(cas), func(i, j int) { cas[i], cas[j] = cas[j], cas[i] })
		return w.bundle(cert, cas...)
	}
	for round := range 300 {
		live, want := random(), random()
		for steps := 0; ; steps++ {
			if steps > 3 {
				t.Fatalf("round %d: more than 3 steps", round)
			}
			n := NextBundle(live, want, true, now)
			next, step := n.Bundle, n.Step
			if n.Waiting {
				t.Fatalf("round %d: waits although every step was applied", round)
			}
			if f := Check(next, now); f.Problem != ProblemNone {
				t.Fatalf("round %d, step %v: %s", round, step, f.Message)
			}
			for _, ca := range [][]byte{live.CA, next.CA} {
				if !trusts(ca, live.Cert, now) || !trusts(ca, next.Cert, now) {
					t.Fatalf("round %d, step %v: during the change a node would refuse a peer's certificate", round, step)
				}
			}
			if step == StepWanted {
				if string(next.Cert) != string(want.Cert) || string(next.CA) != string(want.CA) {
					t.Fatalf("round %d: ended on another bundle than the wanted one", round)
				}
				break
			}
			live = next
		}
	}
}
