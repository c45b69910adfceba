package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/cli"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/writeload"
)

// bench holds the environment, the two targets and the report.
type bench struct {
	e   *env
	cfg config
	op  *target
	tut *target
	rep *report
}

func newOperatorTarget(e *env, p *pool, name string) *target {
	return &target{label: "operator", rc: name, selector: resources.LabelInstance + "=" + name, size: 6, e: e, pool: p}
}

// watchHealth polls t.health every 100 ms from now on, for at most d,
// and delivers the time it first passed.
func watchHealth(ctx context.Context, t *target, d time.Duration) <-chan timeOrErr {
	ch := make(chan timeOrErr, 1)
	go func() {
		var why string
		at, err := harness.Poll(ctx, d, 100*time.Millisecond, t.label+" healthy", func(ctx context.Context) (bool, error) {
			w, err := t.health(ctx, true)
			if err != nil {
				return false, err
			}
			why = w
			return w == "", errors.New(w)
		})
		if err != nil {
			err = fmt.Errorf("%w (last: %s)", err, why)
		}
		ch <- timeOrErr{at, err}
	}()
	return ch
}

type timeOrErr struct {
	at  time.Time
	err error
}

// createOperator applies a 3x1 RedisCluster and measures apply → Ready
// against the last replica's first sync.
func (b *bench) createOperator(ctx context.Context) error {
	mon := startSyncMonitor(ctx, b.op)
	t0 := time.Now()
	health := watchHealth(ctx, b.op, 4*time.Minute)
	if err := b.e.ApplyYAML(ctx, "rc-"+b.op.rc+".yaml", redisClusterYAML(b.op.rc)); err != nil {
		_, _, _ = mon.stop(0)
		return err
	}
	ready, err := harness.Poll(ctx, 4*time.Minute, 50*time.Millisecond, "RedisCluster Ready", func(ctx context.Context) (bool, error) {
		return b.op.readySince(ctx, t0)
	})
	h := <-health
	lastSync, podsUp, bound := mon.stop(3)
	if err != nil {
		return err
	}
	b.rep.set("create", "apply → all 6 claims Bound", colOp, since(t0, bound))
	b.rep.set("create", "apply → all 6 pods Ready", colOp, since(t0, podsUp))
	b.rep.set("create", "apply → last replica finished its first sync", colOp, since(t0, lastSync))
	b.rep.set("create", "apply → healthy, checked from outside", colOp, sinceOrErr(t0, h))
	b.rep.set("create", "apply → Ready condition True (operator) / bootstrap done by hand (tutorial)", colOp, since(t0, ready))
	if !lastSync.IsZero() {
		b.rep.setTarget("create", "Ready − last replica's first sync", colOp, dur(ready.Sub(lastSync)), "≤ 2 s")
	}
	return nil
}

// createTutorial applies the tutorial's PVs, ConfigMap, headless Service
// and StatefulSet, and bootstraps with rcctl create the moment all six
// pods are Ready (a script with no human delay).
func (b *bench) createTutorial(ctx context.Context) error {
	dir := b.cfg.tutorialDir
	pvRoot := filepath.Join(b.e.Work, "tutorial-pv")
	pv, err := os.ReadFile(filepath.Join(dir, "pv.yaml"))
	if err != nil {
		return fmt.Errorf("read tutorial PVs: %w", err)
	}
	if err := b.e.ApplyYAML(ctx, "tutorial-pv.yaml", strings.ReplaceAll(string(pv), "${PV_ROOT}", pvRoot)); err != nil {
		return err
	}
	for _, f := range []string{"redis-conf.yaml", "headless-service.yaml"} {
		if _, err := b.e.Kubectl(ctx, "apply", "-f", filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	mon := startSyncMonitor(ctx, b.tut)
	t0 := time.Now()
	health := watchHealth(ctx, b.tut, 4*time.Minute)
	if _, err := b.e.Kubectl(ctx, "apply", "-f", filepath.Join(dir, "redis.yaml")); err != nil {
		_, _, _ = mon.stop(0)
		return err
	}
	podsUp, err := harness.Poll(ctx, 4*time.Minute, 100*time.Millisecond, "tutorial pods Ready", func(ctx context.Context) (bool, error) {
		pods, err := b.tut.livePods(ctx)
		if err != nil {
			return false, err
		}
		n := 0
		for _, p := range pods {
			if p.ready {
				n++
			}
		}
		return n == b.tut.size, nil
	})
	if err != nil {
		_, _, _ = mon.stop(0)
		return err
	}
	pods, err := b.tut.livePods(ctx)
	if err != nil {
		_, _, _ = mon.stop(0)
		return err
	}
	// The tutorial's pods have no readiness probe: Ready comes as the
	// process starts, a moment before Redis listens. Wait for every PING.
	if _, err := harness.Poll(ctx, time.Minute, 50*time.Millisecond, "tutorial pods answer PING", func(ctx context.Context) (bool, error) {
		for _, p := range pods {
			if err := b.tut.pool.get(p.addr()).Ping(ctx).Err(); err != nil {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		_, _, _ = mon.stop(0)
		return err
	}
	args := []string{"create"}
	for _, p := range pods {
		args = append(args, p.addr())
	}
	args = append(args, "--replicas", "1", "--no-progress")
	for _, p := range pods {
		args = append(args, "--hint", p.addr()+"="+p.node)
	}
	var out bytes.Buffer
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	code := cli.Run(cctx, args, &out, &out)
	cancel()
	created := time.Now()
	if code != cli.ExitOK {
		_, _, _ = mon.stop(0)
		return fmt.Errorf("rcctl %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
	}
	h := <-health
	lastSync, _, bound := mon.stop(3)
	b.rep.set("create", "apply → all 6 claims Bound", colTut, since(t0, bound))
	b.rep.set("create", "apply → all 6 pods Ready", colTut, since(t0, podsUp))
	b.rep.set("create", "apply → last replica finished its first sync", colTut, since(t0, lastSync))
	b.rep.set("create", "apply → healthy, checked from outside", colTut, sinceOrErr(t0, h))
	b.rep.set("create", "apply → Ready condition True (operator) / bootstrap done by hand (tutorial)", colTut, since(t0, created))
	return nil
}

// podDisruption is one master pod deletion under a writer.
type podDisruption struct {
	force bool
	slot  int // the victim is the master of this slot
}

// deletePod deletes the master of d.slot under a writer and measures the
// client-visible unavailability, the acknowledged writes lost, the time
// until every other node routes the shard to a live master that is not
// at the old address, and the time until healthy (and, for the operator,
// Ready) again.
func (b *bench) deletePod(ctx context.Context, t *target, d podDisruption) error {
	section, kind := "graceful delete", "graceful"
	if d.force {
		section, kind = "force delete", "force"
	}
	col := colFor(t)
	if err := b.waitQuiet(ctx, t); err != nil {
		return err
	}
	pods, err := t.livePods(ctx)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return errors.New("no pods")
	}
	view, err := t.pool.view(ctx, pods[0].addr())
	if err != nil {
		return err
	}
	ownerID := view.SlotOwners()[d.slot]
	master := view.Node(ownerID)
	if master == nil {
		return fmt.Errorf("slot %d has no owner", d.slot)
	}
	var victim string
	var survivors, all []string
	for _, p := range pods {
		all = append(all, p.addr())
		if p.ip == master.Host() {
			victim = p.name
		} else {
			survivors = append(survivors, p.addr())
		}
	}
	if victim == "" {
		return fmt.Errorf("no pod at %s", master.Addr)
	}
	var replicaID topology.NodeID
	if reps := view.ReplicasOf(ownerID); len(reps) > 0 {
		replicaID = reps[0].ID
	}
	before, _ := readCounters(ctx, b.e.mgr)

	// A replacement pod starts here in about a second (no image pull, no
	// volume attach), usually before anyone has failed over. As in the
	// tutorial e2e test, the nodes are cordoned until the shard is served
	// again, so the replacement cannot hide the failover path.
	if err := b.cordon(ctx, true); err != nil {
		return err
	}
	uncordoned := false
	defer func() {
		if !uncordoned {
			_ = b.cordon(context.WithoutCancel(ctx), false)
		}
	}()
	w := writeload.Start(ctx, all, t.label+"-"+kind)
	time.Sleep(time.Second)
	// The delete goes through the API client, as kubectl delete [--force
	// --grace-period=0] sends it, so kubectl's own start-up is not timed.
	t0 := time.Now()
	if err := b.e.DeletePod(ctx, namespace, victim, d.force); err != nil {
		w.Stop()
		return err
	}
	var owner topology.NodeID
	served, servedErr := harness.Poll(ctx, 90*time.Second, 50*time.Millisecond, "shard served again", func(ctx context.Context) (bool, error) {
		live, err := t.liveIPs(ctx)
		if err != nil {
			return false, err
		}
		var ok bool
		owner, ok = t.served(ctx, survivors, d.slot, master.Addr, live)
		return ok, nil
	})
	uncordoned = true
	if err := b.cordon(ctx, false); err != nil {
		w.Stop()
		return err
	}
	healthy, ready, err := b.waitRecovered(ctx, t, t0, 2*time.Minute)
	time.Sleep(time.Second)
	res := w.Stop()
	if err != nil {
		return err
	}
	addrs, err := t.addrs(ctx)
	if err != nil {
		return err
	}
	tally := writeTally(ctx, addrs, t.label+"-"+kind, res)
	after, _ := readCounters(ctx, b.e.mgr)

	var who string
	switch {
	case servedErr != nil:
		who = "not served"
	case owner == replicaID:
		who = "its replica, promoted"
	case owner == ownerID:
		who = "the old master, back at a new IP"
	default:
		who = "another node " + string(owner)
	}
	if t.rc != "" {
		g, f := after.failovers["graceful"]-before.failovers["graceful"], after.failovers["force"]-before.failovers["force"]
		who += fmt.Sprintf(" (operator failovers: %v graceful, %v forced)", g, f)
	}
	b.rep.setText(section, "victim", col, fmt.Sprintf("%s (master of slot %d)", victim, d.slot))
	servedTarget := ""
	if d.force {
		servedTarget = "≤ 1 s"
	}
	if servedErr != nil {
		b.rep.setText(section, "delete → every other node routes the shard to a live master", col, servedErr.Error())
	} else {
		b.rep.setTarget(section, "delete → every other node routes the shard to a live master", col, dur(served.Sub(t0)), servedTarget)
	}
	b.rep.setText(section, "… who serves it", col, who)
	unavailTarget := ""
	if !d.force {
		unavailTarget = "≤ 200 ms"
	}
	b.rep.setTarget(section, "writer: worst unavailability (longest gap between acks)", col, dur(res.WorstGap), unavailTarget)
	b.rep.setText(section, "… gap started after the delete", col, fmtDur(res.GapStart.Sub(t0)))
	b.rep.setTarget(section, "writer: longest single blocked write", col, dur(res.LongestCall), "")
	b.rep.setText(section, "writer: errors / acknowledged / lost acknowledged", col, tally)
	if res.FirstErr != nil {
		b.rep.note(fmt.Sprintf("%s, %s: first write error: %v", section, t.label, res.FirstErr))
	}
	b.rep.set(section, "delete → 6 nodes, replicas in sync, checked from outside (nodes uncordoned once served)", col, since(t0, healthy))
	stale, err := t.staleSelf(ctx)
	if err != nil {
		return err
	}
	b.rep.setText(section, "nodes reporting themselves at an old IP afterwards", col, staleText(stale))
	b.placement(ctx, section, t, t0)
	if t.rc != "" {
		b.rep.set(section, "delete → Ready condition True again", col, since(t0, ready))
	}
	return nil
}

// waitQuiet waits until the operator has nothing left to do with t: Ready,
// one master per node, and both still true 2 s later. A master-spread
// handover the operator starts on its own would otherwise race the
// disruption (seen once: a 2 s gap when the delete hit the pod the operator
// was handing the master role to). The tutorial target needs no wait.
func (b *bench) waitQuiet(ctx context.Context, t *target) error {
	if t.rc == "" {
		return nil
	}
	var calm time.Time
	_, err := harness.Poll(ctx, 2*time.Minute, 200*time.Millisecond, "operator quiet (Ready, one master per node, for 2 s)", func(ctx context.Context) (bool, error) {
		ready, err := t.readySince(ctx, time.Time{})
		if err != nil {
			return false, err
		}
		worst, err := t.mastersPerNode(ctx)
		if err != nil {
			return false, err
		}
		if !ready || worst != 1 {
			calm = time.Time{}
			return false, nil
		}
		if calm.IsZero() {
			calm = time.Now()
		}
		return time.Since(calm) >= 2*time.Second, nil
	})
	return err
}

// waitRecovered polls, every 100 ms for at most d, until t is healthy
// from outside and (for a RedisCluster) Ready with a transition at or
// after since. It returns when each first held.
func (b *bench) waitRecovered(ctx context.Context, t *target, since time.Time, d time.Duration) (healthy, ready time.Time, err error) {
	var why string
	_, err = harness.Poll(ctx, d, 100*time.Millisecond, t.label+" recovered", func(ctx context.Context) (bool, error) {
		if healthy.IsZero() {
			w, err := t.health(ctx, false)
			if err != nil {
				return false, err
			}
			why = w
			if w == "" {
				healthy = time.Now()
			}
		}
		if t.rc != "" && ready.IsZero() {
			ok, err := t.readySince(ctx, since)
			if err != nil {
				return false, err
			}
			if ok {
				ready = time.Now()
			}
		}
		return !healthy.IsZero() && (t.rc == "" || !ready.IsZero()), nil
	})
	if err != nil {
		err = fmt.Errorf("%w (last: %s)", err, why)
	}
	return healthy, ready, err
}

func colFor(t *target) int {
	if t.rc == "" {
		return colTut
	}
	return colOp
}

// cordon cordons (or uncordons) every Kubernetes node.
func (b *bench) cordon(ctx context.Context, on bool) error { return b.e.Cordon(ctx, on) }

func staleText(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", len(s), strings.Join(s, "; "))
}

// placement reports whether a master and its replica share a Kubernetes
// node: for the operator, the time from t0 until none does (it moves
// them); for the tutorial, the state now (nobody moves them).
func (b *bench) placement(ctx context.Context, section string, t *target, t0 time.Time) {
	const metric = "… master and replica on different nodes again (from the disruption)"
	if t.rc == "" {
		w, err := t.health(ctx, true)
		switch {
		case err != nil:
			b.rep.setText(section, metric, colTut, err.Error())
		case w == "":
			b.rep.setText(section, metric, colTut, "yes")
		default:
			b.rep.setText(section, metric, colTut, "no, nobody moves them: "+w)
		}
		return
	}
	var why string
	at, err := harness.Poll(ctx, time.Minute, 100*time.Millisecond, "placement", func(ctx context.Context) (bool, error) {
		w, err := t.health(ctx, true)
		why = w
		return err == nil && w == "", err
	})
	if err != nil {
		b.rep.setText(section, metric, colOp, fmt.Sprintf("%v (last: %s)", err, why))
		return
	}
	b.rep.set(section, metric, colOp, dur(at.Sub(t0)))
}

// scale changes spec.masters of the operator's cluster from 3 to 4 and
// back under a writer, and reports how long each change took to Ready, the
// writer's worst gap and the acknowledged writes lost. The tutorial has no
// counterpart but hand work (kubectl scale, redis-cli --cluster add-node,
// reshard, del-node), so its column says so.
func (b *bench) scale(ctx context.Context) error {
	const section = "scale out and in"
	t := b.op
	if err := b.waitQuiet(ctx, t); err != nil {
		return err
	}
	addrs, err := t.addrs(ctx)
	if err != nil {
		return err
	}
	w := writeload.Start(ctx, addrs, t.label+"-scale")
	time.Sleep(time.Second)
	for _, step := range []struct {
		masters int32
		metric  string
	}{
		{4, "spec.masters 3 → 4 → Ready (new shard attached, a quarter of the slots moved onto it)"},
		{3, "spec.masters 4 → 3 → Ready (slots moved off, shard reset, forgotten, deleted)"},
	} {
		rc := &redisv1alpha1.RedisCluster{}
		if err := b.e.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: t.rc}, rc); err != nil {
			w.Stop()
			return fmt.Errorf("get RedisCluster %s: %w", t.rc, err)
		}
		patch := client.MergeFrom(rc.DeepCopy())
		rc.Spec.Masters = step.masters
		t0 := time.Now()
		if err := b.e.Client.Patch(ctx, rc, patch); err != nil {
			w.Stop()
			return fmt.Errorf("set spec.masters to %d: %w", step.masters, err)
		}
		at, err := harness.Poll(ctx, 5*time.Minute, 100*time.Millisecond, "Ready after the scale", func(ctx context.Context) (bool, error) {
			return t.readySince(ctx, t0)
		})
		if err != nil {
			b.rep.setText(section, step.metric, colOp, err.Error())
			continue
		}
		b.rep.set(section, step.metric, colOp, dur(at.Sub(t0)))
		b.rep.setText(section, step.metric, colTut, "by hand (kubectl scale, redis-cli --cluster add-node / reshard / del-node)")
	}
	time.Sleep(time.Second)
	res := w.Stop()
	addrs, err = t.addrs(ctx)
	if err != nil {
		return err
	}
	b.rep.set(section, "writer across both changes: worst unavailability (longest gap between acks)", colOp, dur(res.WorstGap))
	b.rep.setText(section, "writer: errors / acknowledged / lost acknowledged", colOp, writeTally(ctx, addrs, t.label+"-scale", res))
	if res.FirstErr != nil {
		b.rep.note(fmt.Sprintf("%s: first write error: %v", section, res.FirstErr))
	}
	return nil
}

// writeTally reads back a writer's acknowledged keys and returns the
// report cell "errors / acknowledged / lost". When the keys cannot be read
// back (the tutorial's nodes may announce an IP they no longer have, so
// clients cannot reach a shard), the cell says so instead of a count.
func writeTally(ctx context.Context, addrs []string, prefix string, res writeload.Result) string {
	lost, err := writeload.Lost(ctx, addrs, prefix, res.Acked)
	if err != nil {
		return fmt.Sprintf("%d / %d / cannot read back: %v", res.Errors, len(res.Acked), err)
	}
	return fmt.Sprintf("%d / %d / %d", res.Errors, len(res.Acked), len(lost))
}
