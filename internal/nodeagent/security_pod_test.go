package nodeagent_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// A pod with a numeric non-root user, group, fsGroup and supplemental
// group, and the service account volume the admission plugin adds: the
// process runs as that user, reads its token (its own, mode 0640 with
// the fsGroup) and the CA, and writes its emptyDir and working folder.
func TestAgentRunsAContainerAsItsSecurityContextUser(t *testing.T) {
	e := newEnv(t)
	e.startAgent(false)
	ctx := context.Background()
	const script = `set -e
echo "id $(id -u) $(id -g) $(id -G)"
echo "home $HOME"
d=/var/run/secrets/kubernetes.io/serviceaccount
echo "token $(stat -c '%a %u %g' $d/token) $(head -c 3 $d/token)"
echo "ca $(stat -c '%a %u %g' $d/ca.crt) $(head -c 27 $d/ca.crt)"
echo "namespace $(cat $d/namespace)"
touch /scratch/f
echo "scratch $(stat -c '%u %g' /scratch/f)"
touch ./w
echo "workdir writable"
`
	e.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "as-user"}, Spec: corev1.PodSpec{
		NodeName:      e.cluster.Nodes[0],
		RestartPolicy: corev1.RestartPolicyNever,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1001), RunAsGroup: ptr.To[int64](1002),
			FSGroup: ptr.To[int64](1003), SupplementalGroups: []int64{1004},
		},
		Containers: []corev1.Container{{
			Name: "c", Image: "busybox", Command: []string{"sh", "-c", script},
			VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
		}},
		Volumes: []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}})
	e.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "non-root-unknown"}, Spec: corev1.PodSpec{
		NodeName:        e.cluster.Nodes[0],
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
		Containers:      []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "60"}}},
	}})

	t.Run("the process runs as the user and reads and writes what kubelet lets it", func(t *testing.T) {
		p := e.waitPod("as-user", "finished", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		})
		logs, err := e.client.CoreV1().Pods(e.ns).GetLogs("as-user", &corev1.PodLogOptions{Container: "c"}).DoRaw(ctx)
		if err != nil {
			t.Fatalf("logs: %v", err)
		}
		if p.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("phase %s; log:\n%s", p.Status.Phase, logs)
		}
		want := []string{
			"id 1001 1002 1002 1003 1004",
			"home /",
			"token 640 1001 1003 eyJ",
			"ca 644 0 1003 -----BEGIN CERTIFICATE-----",
			"namespace " + e.ns,
			"scratch 1001 1003",
			"workdir writable",
		}
		if got := strings.Split(strings.TrimSpace(string(logs)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("container output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("runAsNonRoot without a user is refused as kubelet refuses a root image", func(t *testing.T) {
		p := e.waitPod("non-root-unknown", "CreateContainerConfigError", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CreateContainerConfigError"
		})
		if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "container has runAsNonRoot and image will run as root") {
			t.Errorf("waiting message = %q", msg)
		}
		e.waitEvent("non-root-unknown", "Failed", "runAsNonRoot")
	})
}
