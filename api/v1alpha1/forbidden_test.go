package v1alpha1_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// TestForbiddenKeysMatchCRD checks that the CEL rule in the generated CRD
// forbids exactly ForbiddenConfigKeys (the API-server suite checks that each
// of them is rejected; this catches a key the rule has and the list lacks).
func TestForbiddenKeysMatchCRD(t *testing.T) {
	b, err := os.ReadFile(crdDir + "/redis.redkube.io_redisclusters.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The rule and its messageExpression each hold the list once:
	// k.lowerAscii() in ['appendfilename', ...]. YAML may fold it over lines
	// and doubles the quotes inside single-quoted scalars.
	text := strings.Join(strings.Fields(string(b)), " ")
	lists := regexp.MustCompile(`lowerAscii\(\) in \[([^\]]*)\]`).FindAllStringSubmatch(text, -1)
	if len(lists) != 2 {
		t.Fatalf("found %d forbidden-key lists in the CRD, want 2 (rule and messageExpression)", len(lists))
	}
	for _, l := range lists {
		var keys []string
		for _, k := range strings.Split(l[1], ",") {
			keys = append(keys, strings.Trim(strings.TrimSpace(k), "'"))
		}
		slices.Sort(keys)
		want := slices.Sorted(slices.Values(redisv1alpha1.ForbiddenConfigKeys))
		if !slices.Equal(keys, want) {
			t.Errorf("CRD forbids %v,\nForbiddenConfigKeys is %v", keys, want)
		}
	}
}
