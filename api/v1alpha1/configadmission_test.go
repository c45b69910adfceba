package v1alpha1_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// createConfig asks the API server (dry run: nothing is stored) to create
// a RedisCluster with config and returns its verdict.
func createConfig(t *testing.T, name string, config cfg) error {
	t.Helper()
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       redisv1alpha1.RedisClusterSpec{Config: config},
	}
	err := k8sClient.Create(context.Background(), rc, client.DryRunAll)
	if err != nil && !apierrors.IsInvalid(err) {
		t.Fatalf("create %v: %v (not a validation error)", config, err)
	}
	return err
}

// TestAcceptsGoodConfig checks that the API server accepts the good values
// of the shared cases and every directive's example value (the one the
// redis-server test in internal/resources starts a server with), in
// objects of at most 64 keys.
func TestAcceptsGoodConfig(t *testing.T) {
	needAPIServer(t)
	for _, c := range configCases {
		if len(c.want) > 0 {
			continue
		}
		if err := createConfig(t, "good", c.config); err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
	}
	all := cfg{}
	flush := func() {
		if err := createConfig(t, "examples", all); err != nil {
			t.Errorf("the directives' examples are refused: %v", err)
		}
		all = cfg{}
	}
	for _, d := range redisv1alpha1.ConfigDirectives {
		if d.AliasOf != "" {
			continue // would set the directive twice
		}
		all[d.Name] = redisv1alpha1.ConfigValue(d.Example)
		if len(all) == 64 {
			flush()
		}
	}
	flush()
}

// TestCELAgreesWithValidateConfig is a property test: for random
// spec.config maps (allowed, owned and unknown keys in random case, values
// from each type's edges and from the other types), the API server's CEL
// rules and ValidateConfig give the same verdict.
func TestCELAgreesWithValidateConfig(t *testing.T) {
	needAPIServer(t)
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 14))
	pool := valuePool()
	const trials = 400
	var valid int
	for i := range trials {
		config := randomConfig(r, pool)
		goErrs := redisv1alpha1.ValidateConfig(config)
		celErr := createConfig(t, "prop", config)
		if (len(goErrs) == 0) != (celErr == nil) {
			t.Errorf("trial %d: %q\nValidateConfig: %v\nAPI server: %v", i, config, goErrs, celErr)
		}
		if len(goErrs) == 0 {
			valid++
		}
	}
	t.Logf("%d of %d random configs valid", valid, trials)
	if valid < trials/5 || valid > trials*4/5 {
		t.Errorf("%d of %d valid: the generator should give both verdicts often", valid, trials)
	}
}

// valuePool is the values the property test draws from: every example,
// every type's edges and typical mistakes.
func valuePool() []string {
	pool := []string{
		"", `""`, "''", "0", "-0", "1", "-1", "+5", "010", "lots", "yes", "no", "YES", "true", "1gb",
		"1GB", "1tb", "1 gb", "gb", "999999999gb", "1000000000gb", "999999999999999999", "1000000000000000000",
		"9223372036854775807", "1048575", "1048576", "1mb", "1023kb", "1024kb", "100%", "101%", "5%",
		"3600 1", "3600 1 300", "0 1", "3600 0", "3600  1", " 3600 1", "3600 1 ", "KEA", "Ex", "Exq",
		"pubsub 32mb 8mb 60", "PUBSUB 32MB 8MB 60", "master 0 0 0", "pubsub 32mb 8mb -1",
		"normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60", `"3600 1`, "a\"b", `a\b`, "a\nb", "a\tb",
		"allkeys-lru", "ALLKEYS-LRU", "lru", "/tmp/x", "2147483647", "2147483648", "4294967295",
		"4294967296", "99", "100", "500", "501", "1000", "1001", "3600000", "3600001", "-5", "-6",
	}
	for _, d := range redisv1alpha1.ConfigDirectives {
		pool = append(pool, d.Example, strconv.FormatInt(d.Min, 10), strconv.FormatInt(d.Min-1, 10),
			strconv.FormatInt(d.Max, 10), strconv.FormatInt(d.Max+1, 10))
		pool = append(pool, d.Values...)
	}
	return pool
}

func randomConfig(r *rand.Rand, pool []string) cfg {
	ds := redisv1alpha1.ConfigDirectives
	config := cfg{}
	for range 1 + r.IntN(3) {
		var key string
		switch r.IntN(20) {
		case 0:
			key = redisv1alpha1.ForbiddenConfigKeys[r.IntN(len(redisv1alpha1.ForbiddenConfigKeys))]
		case 1:
			key = refusedByDesign[r.IntN(len(refusedByDesign))]
		case 2:
			key = fmt.Sprintf("unknown-%d", r.IntN(100))
		default:
			key = ds[r.IntN(len(ds))].Name
		}
		if r.IntN(8) == 0 {
			key = strings.ToUpper(key)
		}
		value := pool[r.IntN(len(pool))]
		if d, ok := redisv1alpha1.LookupConfigDirective(key); ok && r.IntN(2) == 0 {
			value = d.Example
		}
		config[key] = redisv1alpha1.ConfigValue(value)
	}
	return config
}
