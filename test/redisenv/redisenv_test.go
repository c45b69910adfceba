package redisenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStartAnswersPingAndRestartKeepsNodesConf(t *testing.T) {
	nodes := Start(t, 3)
	for _, nd := range nodes {
		if !ping(nd.Addr) {
			t.Fatalf("%s does not answer PING", nd.Addr)
		}
	}
	nd := nodes[0]
	conf := filepath.Join(nd.Dir, "nodes.conf")
	before, err := os.ReadFile(conf)
	if err != nil {
		t.Fatalf("read nodes.conf: %v", err)
	}
	oldPid := nd.Pid()
	nd.Restart()
	if nd.Pid() == oldPid || nd.Pid() == 0 {
		t.Fatalf("restart kept pid %d / got %d", oldPid, nd.Pid())
	}
	after, err := os.ReadFile(conf)
	if err != nil {
		t.Fatalf("read nodes.conf after restart: %v", err)
	}
	// The node ID (first field) must survive the restart.
	if string(before[:40]) != string(after[:40]) {
		t.Fatalf("node id changed across restart: %q -> %q", before[:40], after[:40])
	}
	nd.Kill()
	if ping(nd.Addr) {
		t.Fatalf("%s still answers after Kill", nd.Addr)
	}
	if nd.Pid() != 0 {
		t.Fatalf("Pid after Kill = %d, want 0", nd.Pid())
	}
}

func TestPasswordNodeAnswersNoAuth(t *testing.T) {
	nodes := Start(t, 1, WithPassword("s3cret"), Standalone())
	if !ping(nodes[0].Addr) {
		t.Fatalf("%s does not answer", nodes[0].Addr)
	}
	if nodes[0].BusPort != 0 {
		t.Fatalf("standalone node has bus port %d", nodes[0].BusPort)
	}
}
