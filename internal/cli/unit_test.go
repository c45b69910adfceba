package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

func TestExitCodeClassifiesErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"success is 0", nil, ExitOK},
		{"usage error is 2", usageErrorf("bad flag"), ExitUsage},
		{"wrapped usage error is 2", fmt.Errorf("ctx: %w", usageErrorf("bad")), ExitUsage},
		{"problems found is 1", errProblemsFound, ExitFailure},
		{"any other failure is 1", errors.New("boom"), ExitFailure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ExitCode(c.err); got != c.want {
				t.Fatalf("ExitCode(%v) = %d, want %d", c.err, got, c.want)
			}
		})
	}
}

func TestOneLineFoldsJoinedErrors(t *testing.T) {
	err := errors.Join(errors.New("first\n  detail"), errors.New("second"))
	got := oneLine(err)
	if strings.Contains(got, "\n") {
		t.Fatalf("oneLine kept a newline: %q", got)
	}
	if !strings.Contains(got, "first") || !strings.Contains(got, "second") {
		t.Fatalf("oneLine lost a part: %q", got)
	}
}

func TestParseHints(t *testing.T) {
	addrs := []string{"10.0.0.1:6379", "10.0.0.2:6379"}
	got, err := parseHints([]string{"10.0.0.1:6379=host-a,zone-1", "10.0.0.2:6379=host-b"}, addrs)
	if err != nil {
		t.Fatal(err)
	}
	if got["10.0.0.1:6379"] != (topology.Labels{Host: "host-a", Zone: "zone-1"}) || got["10.0.0.2:6379"] != (topology.Labels{Host: "host-b"}) {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{"10.0.0.1:6379", "10.0.0.1:6379=", "10.0.0.9:6379=h", "10.0.0.1:6379=h,z,x", "10.0.0.1:6379=,z"} {
		if _, err := parseHints([]string{bad}, addrs); ExitCode(err) != ExitUsage {
			t.Errorf("hint %q: err %v, want a usage error", bad, err)
		}
	}
}

func TestPasswordSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDISCLI_AUTH", "from-default-env")
	t.Setenv("MY_PW", "from-my-env")
	cases := []struct {
		name    string
		args    []string
		want    string
		wantErr int
	}{
		{"REDISCLI_AUTH by default", nil, "from-default-env", 0},
		{"named variable", []string{"--password-env", "MY_PW"}, "from-my-env", 0},
		{"first line of the file", []string{"--password-file", file}, "from-file", 0},
		{"both sources conflict", []string{"--password-env", "MY_PW", "--password-file", file}, "", ExitUsage},
		{"named variable unset", []string{"--password-env", "NOPE_NOT_SET"}, "", ExitUsage},
		{"missing file", []string{"--password-file", filepath.Join(dir, "missing")}, "", ExitFailure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := NewRootCommand(&strings.Builder{}, &strings.Builder{})
			if err := root.PersistentFlags().Parse(c.args); err != nil {
				t.Fatal(err)
			}
			var g globalOptions
			// The root's options are bound to its flags; read them back.
			g.passwordEnv, _ = root.PersistentFlags().GetString("password-env")
			g.passwordFile, _ = root.PersistentFlags().GetString("password-file")
			got, err := g.password(root.PersistentFlags())
			if code := ExitCode(err); code != c.wantErr {
				t.Fatalf("err %v (exit %d), want exit %d", err, code, c.wantErr)
			}
			if err == nil && got != c.want {
				t.Fatalf("password %q, want %q", got, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "from-") {
				t.Fatalf("error reveals a password: %v", err)
			}
		})
	}
}

func TestLineReporterPrintsPeriodicallyAndAtEnd(t *testing.T) {
	var b strings.Builder
	now := time.Unix(0, 0)
	l := &lineReporter{w: &b, every: 2 * time.Second, now: func() time.Time { return now }}
	l.Begin("rebalance", 100)
	now = now.Add(time.Second)
	l.Update(progressState{SlotsDone: 10, Keys: 100})
	now = now.Add(1500 * time.Millisecond)
	l.Update(progressState{SlotsDone: 50, Keys: 500})
	now = now.Add(500 * time.Millisecond)
	l.End(progressState{SlotsDone: 100, Keys: 1000})
	want := "rebalance: 100 slots to move\n" +
		"rebalance: 50/100 slots, 500 keys, 200 keys/s\n" +
		"rebalance: 100/100 slots, 1000 keys, 333 keys/s\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestLineReporterIsSilentBeforeBegin(t *testing.T) {
	var b strings.Builder
	l := &lineReporter{w: &b, every: 2 * time.Second, now: time.Now}
	// What the executor reports at the end of a plan that moved no slots.
	l.Update(progressState{})
	if b.String() != "" {
		t.Fatalf("printed %q before Begin", b.String())
	}
}

func TestUsageErrorsExitTwoWithOneLine(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"status", "127.0.0.1:1", "--bogus"}, "unknown flag"},
		{"missing argument", []string{"status"}, "needs 1 argument"},
		{"bad address", []string{"check", "no-port"}, "not a host:port"},
		{"too few nodes for replicas", []string{"create", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:5", "--replicas", "1"}, "too few nodes"},
		{"address listed twice", []string{"create", "127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:3"}, "listed twice"},
		{"force and takeover", []string{"failover", "127.0.0.1:1", "--force", "--takeover"}, "mutually exclusive"},
		{"reshard without target", []string{"reshard", "127.0.0.1:1", "--from", "all", "--slots", "5"}, "--from and --to"},
		{"bad weight", []string{"rebalance", "127.0.0.1:1", "--weight", "abc"}, "--weight"},
		{"tls cert without key", []string{"status", "127.0.0.1:1", "--tls-cert", "x.pem"}, "--tls-key"},
		{"too few masters asked", []string{"create", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "--masters", "2"}, "--masters 2: a cluster needs at least 3 masters"},
		{"negative masters", []string{"create", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "--masters", "-1"}, "--masters -1: must not be negative"},
		{"more masters than nodes", []string{"create", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "--masters", "4"}, "4 masters with 0 replica(s) each need 4 nodes, got 3"},
		{"negative join timeout", []string{"create", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "--join-node-timeout", "-1s"}, "--join-node-timeout -1s: must not be negative"},
		{"negative replicas to create", []string{"create", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "--replicas", "-3"}, "--replicas must be >= 0"},
		{"zero timeout", []string{"status", "127.0.0.1:1", "--timeout", "0"}, "--timeout 0s: must be positive"},
		{"negative timeout", []string{"check", "127.0.0.1:1", "--timeout", "-1s"}, "--timeout -1s: must be positive"},
		{"timeout no round trip can meet", []string{"check", "127.0.0.1:1", "--timeout", "1ns"}, "--timeout 1ns: must be at least 1ms"},
		{"negative expected replicas", []string{"check", "127.0.0.1:1", "--replicas", "-3"}, "--replicas -3: must not be negative"},
		{"negative replica lag", []string{"check", "127.0.0.1:1", "--max-lag", "-1"}, "--max-lag -1: must not be negative"},
		{"mistyped command", []string{"stauts", "127.0.0.1:1"}, `unknown command "stauts"`},
		{"weight given twice", []string{"rebalance", "127.0.0.1:1", "--weight", "127.0.0.1:2=1", "--weight", "127.0.0.1:2=3"}, "127.0.0.1:2 is given a weight twice"},
		{"NaN weight", []string{"rebalance", "127.0.0.1:1", "--weight", "127.0.0.1:2=NaN"}, "W a finite number >= 0"},
		{"NaN threshold", []string{"rebalance", "127.0.0.1:1", "--threshold", "NaN"}, "--threshold NaN: must be a finite number >= 0"},
		{"infinite rate", []string{"reshard", "127.0.0.1:1", "--rate", "Inf"}, "--rate +Inf: must be a finite number >= 0"},
		{"all in a source list", []string{"reshard", "127.0.0.1:1", "--from", "all,abcdef", "--to", "abcdef12", "--slots", "5"}, `"all" stands alone`},
		{"empty node to delete", []string{"del-node", "127.0.0.1:1", " "}, "NODE is empty"},
		{"user without password", []string{"status", "127.0.0.1:1", "--user", "admin", "--password-env", "RCCTL_EMPTY_FOR_TEST"}, "--user admin needs a password"},
		{"hint given twice", []string{"create", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "--hint", "127.0.0.1:1=a", "--hint", "127.0.0.1:1=b"}, "127.0.0.1:1 has a hint already"},
	}
	t.Setenv("RCCTL_EMPTY_FOR_TEST", "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oneLineErr(t, rcctl(t, c.args...), ExitUsage, c.want)
		})
	}
}

// handoverSnapshot is a cluster of two masters where a run was killed
// while handing slots 100-101 from a to b: b owns them at a higher epoch,
// a still claims them, MIGRATING to b when migrating is set.
func handoverSnapshot(t *testing.T, migrating bool) *topology.Snapshot {
	t.Helper()
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	aSlots := "0-8191"
	if migrating {
		aSlots += " [100->-" + b + "] [101->-" + b + "]"
	}
	views := map[string]string{
		"10.0.0.1:6379": a + " 10.0.0.1:6379@16379 myself,master - 0 0 1 connected " + aSlots + "\n" +
			b + " 10.0.0.2:6379@16379 master - 0 1 3 connected 8192-16383\n",
		"10.0.0.2:6379": b + " 10.0.0.2:6379@16379 myself,master - 0 0 3 connected 100-101 8192-16383\n" +
			a + " 10.0.0.1:6379@16379 master - 0 1 1 connected 0-99 102-8191\n",
	}
	snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}}
	for addr, text := range views {
		v, err := topology.ParseClusterNodes(text)
		if err != nil {
			t.Fatal(err)
		}
		snap.Nodes[v.Myself().ID] = &topology.NodeState{Addr: addr, View: v, ClusterStateOK: true,
			Replication: topology.Replication{Role: "master"}}
	}
	return snap
}

func TestPreflightResumesAHandoverKilledHalfWay(t *testing.T) {
	plan, err := preflight(handoverSnapshot(t, true))
	if err != nil {
		t.Fatalf("preflight refused an interrupted handover: %v", err)
	}
	if len(plan.Steps) != 1 {
		t.Fatalf("resume plan %+v, want one migration closing slots 100-101", plan)
	}
	step, ok := plan.Steps[0].(planner.MigrateSlots)
	if !ok || step.Slots.String() != "100-101" || !strings.HasPrefix(string(step.Target), "bbbb") {
		t.Fatalf("resume step %+v, want slots 100-101 to b", plan.Steps[0])
	}
}

func TestPreflightRefusesADisagreementNoMigrationExplains(t *testing.T) {
	_, err := preflight(handoverSnapshot(t, false))
	if err == nil || !strings.Contains(err.Error(), "disagrees with the cluster about the owner of 2 slots") {
		t.Fatalf("preflight = %v, want a refusal naming the disputed slots", err)
	}
}
