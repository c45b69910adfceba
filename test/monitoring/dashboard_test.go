package monitoring

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"k8s.io/utils/ptr"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/pkg/exporter"
	"github.com/redkube/redkube/test/redisenv"
)

const dashboardPath = "../../charts/redkube/files/grafana-dashboard.json"

// promqlWords are PromQL functions, aggregations and keywords that may
// stand before "(", "[", "{" or ")" without being metric names.
var promqlWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`by without on ignoring group_left group_right bool and or unless offset
		sum min max avg count stddev stdvar topk bottomk quantile count_values group
		rate irate increase delta idelta deriv changes resets predict_linear histogram_quantile
		abs ceil floor round clamp clamp_min clamp_max exp ln log2 log10 sqrt sgn
		avg_over_time min_over_time max_over_time sum_over_time count_over_time last_over_time
		quantile_over_time stddev_over_time present_over_time absent absent_over_time
		label_replace label_join vector scalar time timestamp sort sort_desc`) {
		promqlWords[w] = true
	}
}

var (
	stringLit  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	labelList  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	matchers   = regexp.MustCompile(`\{[^}]*\}`)
	rangeSel   = regexp.MustCompile(`\[[^\]]*\]`)
	identifier = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[)]`)
)

// metricNames extracts the metric names of a PromQL expression: the
// identifiers standing before "{", "[" or ")" that are no PromQL function
// or keyword, after strings, label lists of by/on/... and the insides of
// selectors and ranges are removed.
func metricNames(expr string) []string {
	e := stringLit.ReplaceAllString(expr, `""`)
	e = labelList.ReplaceAllString(e, "$1")
	e = matchers.ReplaceAllString(e, "{}")
	e = rangeSel.ReplaceAllString(e, "[]")
	seen := map[string]bool{}
	var out []string
	for _, m := range identifier.FindAllStringSubmatch(e, -1) {
		if n := m[1]; !promqlWords[n] && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{name: "finds a bare metric before a closing parenthesis", expr: `sum(redis_up)`, want: []string{"redis_up"}},
		{name: "finds a metric before a selector and ignores label values", expr: `redis_up{namespace=~"a(b)"} == 0`, want: []string{"redis_up"}},
		{name: "skips functions, ranges and by-label lists",
			expr: `sum by (namespace, pod) (rate(redis_commands_processed_total{namespace=~"$namespace"}[$__rate_interval]))`,
			want: []string{"redis_commands_processed_total"}},
		{name: "finds both sides of a binary operation",
			expr: `redis_memory_used_bytes{pod="x"} / redis_memory_max_bytes{pod="x"} > 0.9`,
			want: []string{"redis_memory_max_bytes", "redis_memory_used_bytes"}},
		{name: "reads through histogram_quantile",
			expr: `histogram_quantile(0.99, sum by (le) (rate(redkube_reconcile_duration_seconds_bucket[5m])))`,
			want: []string{"redkube_reconcile_duration_seconds_bucket"}},
		{name: "finds nothing in a constant", expr: `vector(1)`, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := metricNames(tt.expr); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("metricNames(%q) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

type dashboard struct {
	Panels []struct {
		ID      int                      `json:"id"`
		Title   string                   `json:"title"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// dashboardMetrics returns each metric name the dashboard queries and the
// panels (or variables) that query it.
func dashboardMetrics(t *testing.T) map[string][]string {
	t.Helper()
	d := readDashboard(t)
	out := map[string][]string{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
			}
			for _, n := range names {
				out[n] = append(out[n], p.Title)
			}
		}
	}
	hasNamespace := false
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		hasNamespace = hasNamespace || v.Name == "namespace"
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(metric, label)", v.Name, q.Query)
		}
		out[m[1]] = append(out[m[1]], "variable "+v.Name)
	}
	if !hasNamespace {
		t.Error("the dashboard has no namespace variable")
	}
	return out
}

// gatherNames adds the metric families of g to names, with the series
// names of histograms and summaries (_bucket, _sum, _count).
func gatherNames(t *testing.T, g prometheus.Gatherer, names map[string]bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		names[mf.GetName()] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+s] = true
			}
		case dto.MetricType_SUMMARY:
			for _, s := range []string{"_sum", "_count"} {
				names[mf.GetName()+s] = true
			}
		}
	}
}

// exporterNames scrapes the exporter of a master and of its replica in a
// real two-node Redis Cluster serving every slot.
func exporterNames(t *testing.T) map[string]bool {
	t.Helper()
	nodes := redisenv.Start(t, 2, redisenv.WithConfig("repl-diskless-sync-delay", "0"))
	master, replica := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mc := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer func() { _ = mc.Close() }()
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr})
	defer func() { _ = rc.Close() }()
	if err := mc.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	if err := rc.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(master.Port), strconv.Itoa(master.BusPort)).Err(); err != nil {
		t.Fatalf("CLUSTER MEET: %v", err)
	}
	masterID, err := mc.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER MYID: %v", err)
	}
	for {
		err := rc.ClusterReplicate(ctx, masterID).Err()
		if err == nil {
			break
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "nknown node") {
			t.Fatalf("CLUSTER REPLICATE: %v (the last attempt: %v)", ctx.Err(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	names := map[string]bool{}
	for _, n := range nodes {
		c, err := exporter.New(exporter.Options{Addr: n.Addr})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		// Wait until the master lists its replica online, so the
		// replication series exist.
		for {
			got := map[string]bool{}
			gatherNames(t, reg, got)
			_, slaves := got["redis_connected_slave_offset_bytes"]
			_, link := got["redis_master_link_up"]
			if (n == master && slaves) || (n == replica && link) {
				for k := range got {
					names[k] = true
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("scrape of %s never showed its replication series: %v", n.Addr, ctx.Err())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return names
}

// operatorNames gathers controller-runtime's registry, which the manager
// serves, after creating the series a running operator has: a
// RedisCluster's (InitMetrics) and those of a started controller-runtime
// controller (controller_runtime_reconcile_*, workqueue_*), which exist
// only once a controller starts.
func operatorNames(t *testing.T, names map[string]bool) {
	t.Helper()
	controller.InitMetrics("dashboard-test", "cache")
	controller.InitBackupMetrics("dashboard-test", "cache", time.Now(), time.Hour)
	c, err := crcontroller.NewUnmanaged("monitoring-test", crcontroller.Options{
		Reconciler:         reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) { return reconcile.Result{}, nil }),
		SkipNameValidation: ptr.To(true),
	})
	if err != nil {
		t.Fatalf("controller-runtime controller: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Start creates the series, then returns at once
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start the controller: %v", err)
	}
	gatherNames(t, ctrlmetrics.Registry, names)
}

func TestEveryMetricTheDashboardAndAlertsQueryAppearsInARealScrape(t *testing.T) {
	want := dashboardMetrics(t)
	if len(want) < 10 {
		t.Fatalf("only %d metrics found in the dashboard: %v", len(want), want)
	}
	for _, a := range alerts(t) {
		for _, n := range metricNames(a.Expr) {
			want[n] = append(want[n], "alert "+a.Alert)
		}
	}
	have := exporterNames(t)
	operatorNames(t, have)
	for name, users := range want {
		if !have[name] {
			t.Errorf("%s (in %q) is in no scrape of the exporter or the operator", name, users)
		}
	}
}

// selector is a series selector with its matchers.
var selector = regexp.MustCompile(`\b((?:redis|redkube)_[a-z0-9_]+)\s*(\{[^}]*\})?`)

func TestEveryDashboardQueryFiltersByNamespaceAndCluster(t *testing.T) {
	d := readDashboard(t)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, v := range []string{"datasource", "namespace", "cluster"} {
		if !vars[v] {
			t.Errorf("the dashboard has no %s variable", v)
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range selector.FindAllStringSubmatch(tg.Expr, -1) {
				name, matchers := m[1], m[2]
				if !strings.Contains(matchers, `namespace=~"$namespace"`) {
					t.Errorf("panel %q: %s is not filtered by $namespace in %q", p.Title, name, tg.Expr)
				}
				if !strings.Contains(matchers, "$cluster") {
					t.Errorf("panel %q: %s is not filtered by $cluster in %q", p.Title, name, tg.Expr)
				}
			}
		}
	}
}

func TestDashboardPanelsHaveUniqueIDsAndDoNotOverlap(t *testing.T) {
	d := readDashboard(t)
	ids := map[int]string{}
	for i, p := range d.Panels {
		if other, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, g)
		}
		for _, q := range d.Panels[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q %+v and %q %+v overlap", q.Title, h, p.Title, g)
			}
		}
	}
}

// readDashboard decodes the chart's Grafana dashboard.
func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("decode %s: %v", dashboardPath, err)
	}
	return d
}
