// Command rcbench is the helper of bench/rcctl-vs-redis-cli.sh: it loads and
// verifies keys through a cluster client and waits for cluster_state:ok on a
// set of nodes. It exists so the script spends its time in the tools being
// compared, not in loading data.
//
//	rcbench load   -seed ADDR -keys N        write key:0..N-1
//	rcbench verify -seed ADDR -keys N        read them back, exit 1 on a miss
//	rcbench wait-ok ADDR...                  until every node says cluster_state:ok
//	rcbench dbsize ADDR                      print DBSIZE of one node
//	rcbench free-ports N                     print N free loopback ports
//	rcbench check -seed ADDR [-ready FILE]   run the consistency checker (test/checker)
//	                                         until SIGTERM/SIGINT, print its verdict,
//	                                         delete its keys; exit 1 on a violation
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/test/checker"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rcbench load|verify|wait-ok|dbsize ...")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "load", "verify":
		fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
		seed := fs.String("seed", "", "address of one cluster node")
		keys := fs.Int("keys", 100000, "number of keys")
		size := fs.Int("value-size", 0, "bytes per value (0: about 80, the default values)")
		_ = fs.Parse(os.Args[2:])
		v := values{size: *size}
		if os.Args[1] == "load" {
			err = load(ctx, *seed, *keys, v)
		} else {
			err = verify(ctx, *seed, *keys, v)
		}
	case "check":
		fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
		seed := fs.String("seed", "", "address of one cluster node")
		ready := fs.String("ready", "", "file created once every client reached every master")
		rseed := fs.Int64("rand-seed", time.Now().UnixNano(), "seed of the clients' choices")
		_ = fs.Parse(os.Args[2:])
		err = check(ctx, *seed, *ready, *rseed)
	case "wait-ok":
		err = waitOK(ctx, os.Args[2:])
	case "dbsize":
		err = dbsize(ctx, os.Args[2])
	case "free-ports":
		var n int
		if _, err = fmt.Sscan(os.Args[2], &n); err == nil {
			err = freePorts(n)
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rcbench:", err)
		os.Exit(1)
	}
}

func key(i int) string { return fmt.Sprintf("key:%d", i) }

// values makes key i's value: "value-<i>-" padded with x to size bytes, or
// to 64 x's past the prefix when size is 0.
type values struct{ size int }

func (v values) of(i int) string {
	prefix := fmt.Sprintf("value-%d-", i)
	pad := 64
	if v.size > 0 {
		pad = max(v.size-len(prefix), 0)
	}
	return prefix + strings.Repeat("x", pad)
}

// batch is how many keys one pipeline carries: about 2 MB of values.
func (v values) batch() int {
	if v.size <= 1000 {
		return 2000
	}
	return max(2<<20/v.size, 1)
}

func cluster(seed string) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{seed}, MaxRedirects: 16})
}

func load(ctx context.Context, seed string, n int, v values) error {
	c := cluster(seed)
	// The pipelines below report every write; Close only releases pooled
	// connections, so its error has nothing left to tell.
	defer func() { _ = c.Close() }()
	batch := v.batch()
	for lo := 0; lo < n; lo += batch {
		pipe := c.Pipeline()
		for i := lo; i < min(lo+batch, n); i++ {
			pipe.Set(ctx, key(i), v.of(i), 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("load keys %d..: %w", lo, err)
		}
	}
	return nil
}

func verify(ctx context.Context, seed string, n int, v values) error {
	c := cluster(seed)
	defer func() { _ = c.Close() }() // read-only; nothing to report on release
	batch := v.batch()
	bad := 0
	for lo := 0; lo < n; lo += batch {
		pipe := c.Pipeline()
		cmds := make([]*redis.StringCmd, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			cmds = append(cmds, pipe.Get(ctx, key(i)))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("read keys %d..: %w", lo, err)
		}
		for j, cmd := range cmds {
			if got, err := cmd.Result(); err != nil || got != v.of(lo+j) {
				bad++
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d keys missing or wrong", bad, n)
	}
	return nil
}

func waitOK(ctx context.Context, addrs []string) error {
	clients := make([]*redis.Client, len(addrs))
	for i, a := range addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: a})
		defer func() { _ = clients[i].Close() }() // read-only probes
	}
	for {
		ok := 0
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				ok++
			}
		}
		if ok == len(clients) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for cluster_state:ok: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func dbsize(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }() // read-only
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("dbsize %s: %w", addr, err)
	}
	fmt.Println(n)
	return nil
}

func freePorts(n int) error {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// check runs the checker until SIGTERM or SIGINT, prints its summary and
// violations, deletes its keys (so DBSIZE counts only the benchmark's keys)
// and fails when a promise was broken.
func check(ctx context.Context, seed, ready string, rseed int64) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	ck, err := checker.Start(ctx, checker.Config{Seed: rseed, NewClient: func() *redis.ClusterClient { return cluster(seed) }})
	if err != nil {
		return err
	}
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", ready, err)
		}
	}
	<-sig
	res, err := ck.Stop()
	if err != nil {
		return err
	}
	fmt.Printf("%s (seed %d)\n", res.Summary(), rseed)
	for _, v := range res.Violations {
		fmt.Println("violation:", v)
	}
	cc := cluster(seed)
	defer func() { _ = cc.Close() }()
	for _, k := range ck.Keys() {
		if err := cc.Del(ctx, k).Err(); err != nil {
			return fmt.Errorf("delete checker key %s: %w", k, err)
		}
	}
	if len(res.Violations) > 0 {
		return fmt.Errorf("%d violations", len(res.Violations))
	}
	return nil
}
