package redisenv

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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

func TestTLSAndACLNodesReplicateOverTLSAndRefuseOthers(t *testing.T) {
	certs := NewCerts(t)
	nodes := Start(t, 2, Standalone(), WithTLS(certs), WithACLUser("admin", "pw-1"), WithConfig("repl-diskless-sync-delay", "0"))
	master, replica := nodes[0], nodes[1]
	if master.TLS != certs || master.Username != "admin" || master.Password != "pw-1" {
		t.Fatalf("node exposes TLS %p user %q password %q", master.TLS, master.Username, master.Password)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dial := func(nd *Node, user, pw string, tc *tls.Config) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: nd.Addr, Username: user, Password: pw, TLSConfig: tc,
			Protocol: 2, DisableIdentity: true, MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	// Plain TCP gets no Redis reply, a client without a certificate is
	// refused, and so is one that trusts another CA.
	if ping(master.Addr) {
		t.Fatalf("%s answers plain-text PING", master.Addr)
	}
	noCert := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: master.ClientTLSConfig().RootCAs}
	if err := dial(master, "admin", "pw-1", noCert).Ping(ctx).Err(); err == nil {
		t.Fatalf("a client without certificate was accepted")
	}
	if err := dial(master, "admin", "pw-1", NewCerts(t).ClientTLSConfig()).Ping(ctx).Err(); err == nil {
		t.Fatalf("a client trusting another CA was accepted")
	}
	// The default user is off; a wrong password is WRONGPASS.
	if err := dial(master, "", "", master.ClientTLSConfig()).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without AUTH: %v, want NOAUTH", err)
	}
	if err := dial(master, "admin", "nope", master.ClientTLSConfig()).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("PING with a wrong password: %v, want WRONGPASS", err)
	}

	// Replication authenticates as the ACL user over TLS.
	m := dial(master, master.Username, master.Password, master.ClientTLSConfig())
	r := dial(replica, replica.Username, replica.Password, replica.ClientTLSConfig())
	if err := m.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.ReplicaOf(ctx, "127.0.0.1", strconv.Itoa(master.Port)).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := r.Get(ctx, "k").Result()
		if err == nil && v == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica never got the key (%q, %v); replica log:%s", v, err, replica.logTail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	info, err := r.Info(ctx, "replication").Result()
	if err != nil || !strings.Contains(info, "master_link_status:up") {
		t.Fatalf("replica link not up (%v):\n%s", err, info)
	}
}
