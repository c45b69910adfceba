package controller

import (
	"slices"
	"testing"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/auth"
)

func TestPlanUsersNamesTheNodesThatDiffer(t *testing.T) {
	target := []auth.ConfUser{{Name: "app", Args: []string{"reset", "on"}}}
	ref := map[string]string{"app": "user app on #h ~* +@all"}
	for _, tc := range []struct {
		name    string
		removed []string
		nodes   map[string]map[string]string
		want    []string
	}{
		{name: "every node holds the users", nodes: map[string]map[string]string{
			"p-0": {"app": "user app on #h ~* +@all", "default": "user default on nopass"},
			"p-1": {"app": "user app on #h ~* +@all"},
		}},
		{name: "a restarted node without the user", nodes: map[string]map[string]string{
			"p-0": {"app": "user app on #h ~* +@all"},
			"p-1": {"default": "user default on nopass"},
		}, want: []string{"p-1"}},
		{name: "a node with an old password", nodes: map[string]map[string]string{
			"p-1": {"app": "user app on #old ~* +@all"},
			"p-0": {"app": "user app on #old ~* +@all"},
		}, want: []string{"p-0", "p-1"}},
		{name: "a node that missed a deletion", removed: []string{"gone"}, nodes: map[string]map[string]string{
			"p-0": {"app": "user app on #h ~* +@all"},
			"p-1": {"app": "user app on #h ~* +@all", "gone": "user gone on #x"},
		}, want: []string{"p-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planUsers(target, tc.removed, ref, tc.nodes)
			if !slices.Equal(p.pods(), tc.want) {
				t.Errorf("lagging = %v, want %v", p.pods(), tc.want)
			}
			if len(p.change.Set) != 1 || !slices.Equal(p.change.Delete, tc.removed) {
				t.Errorf("change = %+v: want the target set and the removed deleted", p.change)
			}
		})
	}
}

func TestMergeRemovedForgetsUsersThatCameBack(t *testing.T) {
	got := mergeRemoved([]string{"a", "b"}, []string{"c", "a"}, []auth.ConfUser{{Name: "b"}})
	if want := []string{"a", "c"}; !slices.Equal(got, want) {
		t.Errorf("mergeRemoved = %v, want %v", got, want)
	}
	var many []string
	for i := range 100 {
		many = append(many, string(rune('A'+i%26))+string(rune('a'+i/26)))
	}
	if got := mergeRemoved(nil, many, nil); len(got) != 64 || got[63] != many[99] {
		t.Errorf("mergeRemoved keeps %d names ending %q; want the 64 newest", len(got), got[len(got)-1])
	}
}

func TestReferencedSecretsAreEverySecretTheSpecNames(t *testing.T) {
	rc := &redisv1alpha1.RedisCluster{Spec: redisv1alpha1.RedisClusterSpec{
		PasswordSecret: &redisv1alpha1.PasswordSecretRef{Name: "default-pw"},
		Users: []redisv1alpha1.UserSpec{
			{Name: "app", PasswordSecrets: []redisv1alpha1.PasswordSecretRef{{Name: "app-pw"}, {Name: "app-pw-next"}}},
			{Name: "ro", PasswordSecrets: []redisv1alpha1.PasswordSecretRef{{Name: "app-pw", Key: "ro"}}},
		},
		TLS: &redisv1alpha1.TLSSpec{SecretName: "certs"},
	}}
	if got, want := referencedSecrets(rc), []string{"app-pw", "app-pw-next", "certs", "default-pw"}; !slices.Equal(got, want) {
		t.Errorf("referencedSecrets = %v, want %v", got, want)
	}
	if got := referencedSecrets(&redisv1alpha1.RedisCluster{}); len(got) != 0 {
		t.Errorf("a spec naming no Secret: %v", got)
	}
}
