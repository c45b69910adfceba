package exporter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/test/redisenv"
)

// scrape collects c once through a registry, as the HTTP handler does, and
// returns the families by name.
func scrape(t *testing.T, c *Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value returns the value of the series of name whose labels include
// labels, failing t when there is none.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := lookup(fams, name, labels)
	if !ok {
		t.Fatalf("no series %s%v in the scrape", name, labels)
	}
	return v
}

func lookup(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func newCollector(t *testing.T, o Options) *Collector {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func client(t *testing.T, n *redisenv.Node) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: n.Addr, Username: n.Username, Password: n.Password})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestScrapeReadsTheServersCountersAndKeyspace(t *testing.T) {
	n := redisenv.Start(t, 1, redisenv.Standalone(), redisenv.WithConfig("maxmemory", "64mb"))[0]
	ctx := context.Background()
	rc := client(t, n)
	for i := range 3 {
		if err := rc.Set(ctx, "k"+strconv.Itoa(i), "v", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
	}
	rc2 := redis.NewClient(&redis.Options{Addr: n.Addr, DB: 2})
	defer func() { _ = rc2.Close() }()
	if err := rc2.Set(ctx, "other", "v", 0).Err(); err != nil {
		t.Fatalf("SET in db2: %v", err)
	}
	_ = rc.Get(ctx, "k0").Err()
	if err := rc.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET missing: %v", err)
	}

	fams := scrape(t, newCollector(t, Options{Addr: n.Addr}))

	version, err := rc.Do(ctx, "INFO", "server").Text()
	if err != nil {
		t.Fatalf("INFO server: %v", err)
	}
	wantVersion := parseInfo(version).fields["redis_version"]
	checks := []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
		says   string
	}{
		{"redis_up", nil, eq(1), "1"},
		{"redis_instance_info", map[string]string{"role": "master", "redis_mode": "standalone", "redis_version": wantVersion}, eq(1), "1"},
		{"redis_db_keys", map[string]string{"db": "db0"}, eq(3), "3"},
		{"redis_db_keys", map[string]string{"db": "db2"}, eq(1), "1"},
		{"redis_keyspace_hits_total", nil, eq(1), "1"},
		{"redis_keyspace_misses_total", nil, eq(1), "1"},
		{"redis_memory_max_bytes", nil, eq(64 << 20), "64 MiB"},
		{"redis_memory_used_bytes", nil, gt(0), "> 0"},
		{"redis_commands_processed_total", nil, gt(5), "> 5"},
		{"redis_connected_clients", nil, gt(1), "> 1 (two test clients and the exporter)"},
		{"redis_blocked_clients", nil, eq(0), "0"},
		{"redis_uptime_in_seconds", nil, func(v float64) bool { return v >= 0 && v < 600 }, "in [0, 600)"},
		{"redis_evicted_keys_total", nil, eq(0), "0"},
		{"redis_expired_keys_total", nil, eq(0), "0"},
		{"redis_rejected_connections_total", nil, eq(0), "0"},
		{"redis_connected_slaves", nil, eq(0), "0"},
		{"redis_master_repl_offset", nil, func(v float64) bool { return v >= 0 }, ">= 0"},
		{"redis_cluster_enabled", nil, eq(0), "0"},
		{"redis_exporter_scrape_errors_total", nil, eq(0), "0"},
	}
	for _, c := range checks {
		if v := value(t, fams, c.name, c.labels); !c.want(v) {
			t.Errorf("%s%v = %v, want %s", c.name, c.labels, v, c.says)
		}
	}
	for _, absent := range []string{"redis_cluster_state", "redis_master_link_up", "redis_connected_slave_offset_bytes"} {
		if _, ok := fams[absent]; ok {
			t.Errorf("%s exported by a standalone master without replicas", absent)
		}
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
func gt(min float64) func(float64) bool  { return func(v float64) bool { return v > min } }

func TestScrapeAuthenticates(t *testing.T) {
	n := redisenv.Start(t, 1, redisenv.Standalone(), redisenv.WithPassword("s3cret"))[0]
	tests := []struct {
		name       string
		password   string
		wantUp     float64
		wantErrors float64
	}{
		{name: "is up with the right password", password: "s3cret", wantUp: 1},
		{name: "is down with a wrong password", password: "wrong", wantUp: 0, wantErrors: 1},
		{name: "is down without a password", password: "", wantUp: 0, wantErrors: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []error
			c := newCollector(t, Options{Addr: n.Addr, Password: tt.password, OnError: func(err error) { got = append(got, err) }})
			fams := scrape(t, c)
			if v := value(t, fams, "redis_up", nil); v != tt.wantUp {
				t.Errorf("redis_up = %v, want %v", v, tt.wantUp)
			}
			if v := value(t, fams, "redis_exporter_scrape_errors_total", nil); v != tt.wantErrors {
				t.Errorf("redis_exporter_scrape_errors_total = %v, want %v", v, tt.wantErrors)
			}
			if len(got) != int(tt.wantErrors) {
				t.Errorf("OnError got %v, want %v errors", got, tt.wantErrors)
			}
			if _, ok := fams["redis_instance_info"]; ok != (tt.wantUp == 1) {
				t.Errorf("redis_instance_info exported = %v with redis_up %v", ok, tt.wantUp)
			}
		})
	}
}

// TestScrapeWithPlainTextFallbackReachesAPlainAndATLSServer: while a
// cluster is switched to TLS the exporter is given the TLS files and
// PlainTextFallback; it scrapes its node whichever it serves.
func TestScrapeWithPlainTextFallbackReachesAPlainAndATLSServer(t *testing.T) {
	certs := redisenv.NewCerts(t)
	plain := redisenv.Start(t, 1, redisenv.Standalone())[0]
	secure := redisenv.Start(t, 1, redisenv.Standalone(), redisenv.WithTLS(certs))[0]
	for _, n := range []*redisenv.Node{plain, secure} {
		c := newCollector(t, Options{Addr: n.Addr, TLSConfig: certs.ClientTLSConfig(), PlainTextFallback: true})
		if v := value(t, scrape(t, c), "redis_up", nil); v != 1 {
			t.Errorf("redis_up of %s (TLS %v) = %v, want 1", n.Addr, n.TLS != nil, v)
		}
	}
}

func TestAScrapeOfAStoppedServerAnswers200WithRedisUp0(t *testing.T) {
	n := redisenv.Start(t, 1, redisenv.Standalone())[0]
	c := newCollector(t, Options{Addr: n.Addr, Timeout: time.Second})
	srv := httptest.NewServer(Handler(c))
	defer srv.Close()
	get := func() string {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatalf("GET /metrics: %v", err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200:\n%s", resp.StatusCode, b)
		}
		return string(b)
	}
	if body := get(); !strings.Contains(body, "\nredis_up 1\n") {
		t.Fatalf("running server: no redis_up 1 in\n%s", body)
	}
	n.Kill()
	for i, want := range []string{"redis_exporter_scrape_errors_total 1\n", "redis_exporter_scrape_errors_total 2\n"} {
		body := get()
		if !strings.Contains(body, "\nredis_up 0\n") {
			t.Errorf("scrape %d of a stopped server: no redis_up 0 in\n%s", i+1, body)
		}
		if !strings.Contains(body, want) {
			t.Errorf("scrape %d of a stopped server: no %q in\n%s", i+1, want, body)
		}
		if strings.Contains(body, "redis_instance_info") {
			t.Errorf("scrape %d of a stopped server exports redis_instance_info", i+1)
		}
	}
}

func TestScrapeOfAReplicationPair(t *testing.T) {
	nodes := redisenv.Start(t, 2, redisenv.Standalone(), redisenv.WithConfig("repl-diskless-sync-delay", "0"))
	master, replica := nodes[0], nodes[1]
	ctx := context.Background()
	if err := client(t, replica).ReplicaOf(ctx, "127.0.0.1", strconv.Itoa(master.Port)).Err(); err != nil {
		t.Fatalf("REPLICAOF: %v", err)
	}
	if err := client(t, master).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	rc := newCollector(t, Options{Addr: replica.Addr})
	mc := newCollector(t, Options{Addr: master.Addr})
	slaveLabels := map[string]string{"slave_ip": "127.0.0.1", "slave_port": strconv.Itoa(replica.Port), "slave_state": "online"}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, m := scrape(t, rc), scrape(t, mc)
		up, _ := lookup(r, "redis_master_link_up", nil)
		off, ok := lookup(m, "redis_connected_slave_offset_bytes", slaveLabels)
		moff, _ := lookup(m, "redis_master_repl_offset", nil)
		if up == 1 && ok && off > 0 && off <= moff {
			if v := value(t, r, "redis_instance_info", map[string]string{"role": "slave"}); v != 1 {
				t.Errorf("replica's redis_instance_info{role=slave} = %v", v)
			}
			if v := value(t, m, "redis_connected_slaves", nil); v != 1 {
				t.Errorf("master's redis_connected_slaves = %v, want 1", v)
			}
			if v := value(t, m, "redis_connected_slave_lag_seconds", slaveLabels); v < 0 || v > 10 {
				t.Errorf("redis_connected_slave_lag_seconds = %v, want in [0, 10]", v)
			}
			if _, ok := m["redis_master_link_up"]; ok {
				t.Error("the master exports redis_master_link_up")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica never synced in the scrapes: master_link_up %v, slave offset %v (found %v), master offset %v", up, off, ok, moff)
		}
		time.Sleep(100 * time.Millisecond)
	}

	master.Kill()
	deadline = time.Now().Add(15 * time.Second)
	for {
		if up := value(t, scrape(t, rc), "redis_master_link_up", nil); up == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis_master_link_up stayed 1 after the master was killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestScrapeOfAClusterNodeReportsClusterInfo(t *testing.T) {
	n := redisenv.Start(t, 1)[0]
	c := newCollector(t, Options{Addr: n.Addr})
	ctx := context.Background()

	fams := scrape(t, c)
	if v := value(t, fams, "redis_cluster_state", nil); v != 0 {
		t.Errorf("redis_cluster_state without slots = %v, want 0", v)
	}
	if v := value(t, fams, "redis_cluster_slots_assigned", nil); v != 0 {
		t.Errorf("redis_cluster_slots_assigned without slots = %v, want 0", v)
	}
	if v := value(t, fams, "redis_instance_info", map[string]string{"redis_mode": "cluster"}); v != 1 {
		t.Errorf("redis_instance_info{redis_mode=cluster} = %v", v)
	}

	if err := client(t, n).Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams = scrape(t, c)
		if v, _ := lookup(fams, "redis_cluster_state", nil); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis_cluster_state never became 1 after all slots were assigned")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, want := range map[string]float64{
		"redis_cluster_enabled":              1,
		"redis_cluster_slots_assigned":       16384,
		"redis_cluster_slots_ok":             16384,
		"redis_cluster_slots_pfail":          0,
		"redis_cluster_slots_fail":           0,
		"redis_cluster_known_nodes":          1,
		"redis_cluster_size":                 1,
		"redis_exporter_scrape_errors_total": 0,
	} {
		if v := value(t, fams, name, nil); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v := value(t, fams, "redis_cluster_current_epoch", nil); v < 0 {
		t.Errorf("redis_cluster_current_epoch = %v", v)
	}
}

func TestParseSlave(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    slave
		wantErr bool
	}{
		{name: "reads every field of an online replica", line: "ip=10.0.0.7,port=6379,state=online,offset=1234,lag=1",
			want: slave{ip: "10.0.0.7", port: "6379", state: "online", offset: 1234, lag: 1}},
		{name: "rejects a line without a port", line: "ip=10.0.0.7,state=online,offset=1,lag=0", wantErr: true},
		{name: "rejects a non-numeric offset", line: "ip=a,port=1,state=online,offset=x,lag=0", wantErr: true},
		{name: "rejects a part without '='", line: "ip=a,port", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSlave(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewRejectsAnEmptyAddress(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New with no address returned no error")
	}
}

func TestTheFirstScrapeAfterARedisRestartIsUp(t *testing.T) {
	n := redisenv.Start(t, 1, redisenv.Standalone())[0]
	c := newCollector(t, Options{Addr: n.Addr, Timeout: time.Second})
	if v := value(t, scrape(t, c), "redis_up", nil); v != 1 {
		t.Fatalf("redis_up before the restart = %v, want 1", v)
	}
	n.Restart() // the exporter's pooled connection is now closed by the peer
	fams := scrape(t, c)
	if v := value(t, fams, "redis_up", nil); v != 1 {
		t.Errorf("redis_up in the first scrape after the restart = %v, want 1 (a stale connection must not count as Redis down)", v)
	}
	if v := value(t, fams, "redis_exporter_scrape_errors_total", nil); v != 0 {
		t.Errorf("redis_exporter_scrape_errors_total = %v, want 0", v)
	}
	if v := value(t, fams, "redis_uptime_in_seconds", nil); v > 5 {
		t.Errorf("redis_uptime_in_seconds = %v: the scrape did not read the restarted server", v)
	}
}
