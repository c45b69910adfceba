package resources

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartScriptAnnouncesThePodsLine runs the start script with sh, its
// announce folder moved to a temp dir and redis-server replaced by a
// program printing its arguments one per line. The replication user's
// password comes from the environment; the default user's is in the users
// file, never on the command line.
func TestStartScriptAnnouncesThePodsLine(t *testing.T) {
	conf := ConfigDir + "/" + ConfigKey
	cases := []struct {
		name     string
		line     string // "" writes no file
		password string
		want     []string
	}{
		{"no line yet: the pod IP", "", "", []string{conf, "--cluster-announce-ip", "10.244.0.7", "--masteruser", "redkube-replication", "--masterauth", "repl-pw"}},
		{"node ports on the pod's node", "host 31001 31002\n", "", []string{conf, "--cluster-announce-ip", "10.243.0.12", "--cluster-announce-port", "31001", "--cluster-announce-bus-port", "31002", "--masteruser", "redkube-replication", "--masterauth", "repl-pw"}},
		{"a load balancer's address", "203.0.113.5 6379 16379\n", "", []string{conf, "--cluster-announce-ip", "203.0.113.5", "--cluster-announce-port", "6379", "--cluster-announce-bus-port", "16379", "--masteruser", "redkube-replication", "--masterauth", "repl-pw"}},
		{"the pod's DNS name", "pod 6379 16379 r-0-0.r-nodes.ns.svc.cluster.local\n", "", []string{conf, "--cluster-announce-ip", "10.244.0.7", "--cluster-announce-port", "6379", "--cluster-announce-bus-port", "16379", "--cluster-announce-hostname", "r-0-0.r-nodes.ns.svc.cluster.local", "--masteruser", "redkube-replication", "--masterauth", "repl-pw"}},
		{"the default user's password stays off the command line (the users file has it)", "host 31001 31002 redis.example.com\n", "s3cret", []string{conf, "--cluster-announce-ip", "10.243.0.12", "--cluster-announce-port", "31001", "--cluster-announce-bus-port", "31002", "--cluster-announce-hostname", "redis.example.com", "--masteruser", "redkube-replication", "--masterauth", "repl-pw"}},
		{"a line is read, never run", "$(touch pwned) `touch pwned` ;touch\n", "", []string{conf, "--cluster-announce-ip", "$(touch", "--cluster-announce-port", "pwned)", "--cluster-announce-bus-port", "`touch", "--cluster-announce-hostname", "pwned` ;touch", "--masteruser", "redkube-replication", "--masterauth", "repl-pw"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin")
			if err := os.Mkdir(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(bin, "redis-server"), []byte("#!/bin/sh\nfor a; do printf '%s\\n' \"$a\"; done\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if c.line != "" {
				if err := os.WriteFile(filepath.Join(dir, "r-0-0"), []byte(c.line), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("sh", "-c", strings.ReplaceAll(StartScript, AnnounceDir, dir))
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", PodNameEnv + "=r-0-0", PodIPEnv + "=10.244.0.7", HostIPEnv + "=10.243.0.12", ReplicationPasswordEnv + "=repl-pw"}
			if c.password != "" {
				cmd.Env = append(cmd.Env, PasswordEnv+"="+c.password)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("start script: %v\n%s", err, out)
			}
			if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("redis-server got\n  %q\nwant\n  %q", got, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
				t.Error("the script ran a command from the announce line")
			}
		})
	}
}
