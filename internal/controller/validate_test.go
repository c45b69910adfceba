package controller

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// TestValidateRefusesAConfigTheCRDWouldRefuse covers objects stored before
// the CRD's rules on spec.config existed: the pass stops before applying
// anything, with a message naming the key.
func TestValidateRefusesAConfigTheCRDWouldRefuse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config redisv1alpha1.RedisConfig
		want   string
	}{
		{"a path-taking directive", redisv1alpha1.RedisConfig{"logfile": "/host/x.log"}, "spec.config: logfile is not a directive redkube lets you set"},
		{"a value redis-server exits on", redisv1alpha1.RedisConfig{"maxmemory": "lots"}, "spec.config: maxmemory must be a memory size"},
		{"a good config", redisv1alpha1.RedisConfig{"maxmemory": "2gb", "save": ""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}}
			redisv1alpha1.SetDefaults(rc)
			rc.Spec.Config = tc.config
			st := &state{rc: rc}
			if err := (&Reconciler{}).validate(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			if (tc.want == "") != (st.invalid == "") || !strings.HasPrefix(st.invalid, tc.want) {
				t.Errorf("invalid = %q, want it to start with %q", st.invalid, tc.want)
			}
		})
	}
}
