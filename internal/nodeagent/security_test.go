package nodeagent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/redkube/redkube/internal/podexec"
)

// securePod returns a pod with one container "c" and the given pod and
// container security contexts.
func securePod(psc *corev1.PodSecurityContext, sc *corev1.SecurityContext) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"},
		Spec: corev1.PodSpec{
			SecurityContext: psc,
			Containers:      []corev1.Container{{Name: "c", SecurityContext: sc}},
		},
	}
}

func TestContainerUser(t *testing.T) {
	cases := []struct {
		name    string
		psc     *corev1.PodSecurityContext
		sc      *corev1.SecurityContext
		want    *podexec.User
		wantErr string
	}{
		{name: "no security context keeps the agent's identity"},
		{name: "the pod's user, group, fsGroup and supplemental groups",
			psc:  &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](999), RunAsGroup: ptr.To[int64](998), FSGroup: ptr.To[int64](997), SupplementalGroups: []int64{5}},
			want: &podexec.User{UID: 999, GID: 998, Groups: []uint32{997, 5}}},
		{name: "the container's user and group win over the pod's",
			psc:  &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](999), RunAsGroup: ptr.To[int64](998)},
			sc:   &corev1.SecurityContext{RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65533)},
			want: &podexec.User{UID: 65532, GID: 65533}},
		{name: "a user without a group runs with group 0",
			sc:   &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)},
			want: &podexec.User{UID: 1000}},
		{name: "an fsGroup alone keeps root and adds the group",
			psc:  &corev1.PodSecurityContext{FSGroup: ptr.To[int64](2000)},
			want: &podexec.User{Groups: []uint32{2000}}},
		{name: "runAsNonRoot with a non-root user runs it",
			psc:  &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532)},
			want: &podexec.User{UID: 65532}},
		{name: "runAsNonRoot without a user is refused: the image would run as root",
			psc:     &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
			wantErr: `container has runAsNonRoot and image will run as root (pod: "p_ns(u)", container: c)`},
		{name: "runAsNonRoot with user 0 is refused",
			sc:      &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](0)},
			wantErr: `container's runAsUser breaks non-root policy (pod: "p_ns(u)", container: c)`},
		{name: "the container's runAsNonRoot=false lifts the pod's",
			psc:  &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
			sc:   &corev1.SecurityContext{RunAsNonRoot: ptr.To(false)},
			want: nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pod := securePod(c.psc, c.sc)
			got, err := containerUser(pod, &pod.Spec.Containers[0])
			if c.wantErr != "" {
				if !errors.Is(err, errNonRoot) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (c.want == nil) || got != nil && (got.UID != c.want.UID || got.GID != c.want.GID || !slices.Equal(got.Groups, c.want.Groups)) {
				t.Errorf("user = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestFSUser(t *testing.T) {
	user := func(u int64) *corev1.SecurityContext { return &corev1.SecurityContext{RunAsUser: ptr.To(u)} }
	cases := []struct {
		name string
		pod  *corev1.Pod
		want *int64
	}{
		{"the pod's user when no container overrides it",
			securePod(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](999)}, nil), ptr.To[int64](999)},
		{"none when the container has no user", securePod(nil, nil), nil},
		{"none when an init container runs as another user",
			func() *corev1.Pod {
				p := securePod(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](999)}, nil)
				p.Spec.InitContainers = []corev1.Container{{Name: "i", SecurityContext: user(0)}}
				return p
			}(), nil},
		{"the shared user of two containers",
			func() *corev1.Pod {
				p := securePod(nil, user(7))
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "d", SecurityContext: user(7)})
				return p
			}(), ptr.To[int64](7)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := fsUser(c.pod)
			if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
				t.Errorf("fsUser = %v, want %v", got, c.want)
			}
		})
	}
}

func TestCachedTokenIsRefreshedAfterFourFifthsOfItsLifetimeOrADay(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	hour := cachedToken{at: at, expires: at.Add(time.Hour)}
	year := cachedToken{at: at, expires: at.Add(365 * 24 * time.Hour)}
	cases := []struct {
		name string
		tok  cachedToken
		now  time.Time
		want bool
	}{
		{"an hour-long token is kept for 47 minutes", hour, at.Add(47 * time.Minute), false},
		{"an hour-long token is replaced after 49 minutes", hour, at.Add(49 * time.Minute), true},
		{"a year-long token is kept for a day", year, at.Add(23 * time.Hour), false},
		{"a year-long token is replaced after a day", year, at.Add(25 * time.Hour), true},
	}
	for _, c := range cases {
		if got := c.tok.needsRefresh(c.now); got != c.want {
			t.Errorf("%s: needsRefresh = %v", c.name, got)
		}
	}
}

func TestSetVolumeOwnershipGivesTheGroupReadAndWriteAsKubeletDoes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's group to any gid needs root")
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(sub, "token")
	if err := os.WriteFile(token, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("token", filepath.Join(sub, "link")); err != nil {
		t.Fatal(err)
	}
	check := func(p string, wantMode os.FileMode) {
		t.Helper()
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		gid := st.Sys().(*syscall.Stat_t).Gid
		if gid != 4321 || st.Mode()&(os.ModePerm|os.ModeSetgid) != wantMode {
			t.Errorf("%s: group %d mode %v, want group 4321 mode %v", p, gid, st.Mode(), wantMode)
		}
	}
	t.Run("read-only volume: group read, folders searchable and set-group-ID", func(t *testing.T) {
		if err := setVolumeOwnership(dir, 4321, true); err != nil {
			t.Fatal(err)
		}
		check(token, 0o640)
		check(sub, 0o750|os.ModeSetgid)
	})
	t.Run("writable volume: group read and write", func(t *testing.T) {
		if err := setVolumeOwnership(dir, 4321, false); err != nil {
			t.Fatal(err)
		}
		check(token, 0o660)
		check(sub, 0o770|os.ModeSetgid)
		st, err := os.Stat(token) // through the link: the link changed nothing more
		if err != nil || st.Mode().Perm() != 0o660 {
			t.Errorf("token through the link: %v, %v", st.Mode(), err)
		}
	})
}
