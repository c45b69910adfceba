package nodeagent

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestExpandVars(t *testing.T) {
	vals := map[string]string{"POD_IP": "10.0.0.5", "N": "3"}
	cases := []struct{ name, in, want string }{
		{"expands a defined variable", "--ip $(POD_IP)", "--ip 10.0.0.5"},
		{"keeps an undefined reference", "$(NOPE)-x", "$(NOPE)-x"},
		{"unescapes $$", "$$(POD_IP)", "$(POD_IP)"},
		{"expands several", "$(N)/$(N)", "3/3"},
		{"leaves a lone dollar", "cost $5 $", "cost $5 $"},
		{"leaves an unterminated reference", "$(POD_IP", "$(POD_IP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := expandVars(c.in, vals); got != c.want {
				t.Errorf("expandVars(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestImageBase(t *testing.T) {
	for in, want := range map[string]string{
		"redis":                        "redis",
		"redis:7.2":                    "redis",
		"docker.io/library/redis:7":    "redis",
		"registry:5000/team/redis:1":   "redis",
		"redis@sha256:abc":             "redis",
		"quay.io/x/redis:7@sha256:abc": "redis",
	} {
		if got := imageBase(in); got != want {
			t.Errorf("imageBase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommandFor(t *testing.T) {
	cfg := Config{Images: map[string]string{"myapp": "true"}}
	t.Run("redis image without command runs redis-server with the args", func(t *testing.T) {
		bin, argv, _, err := cfg.commandFor(corev1.Container{Image: "docker.io/library/redis:7", Args: []string{"/etc/redis.conf"}})
		if err != nil {
			t.Skipf("redis-server not installed: %v", err)
		}
		if argv[0] != "redis-server" || argv[1] != "/etc/redis.conf" || bin == "" {
			t.Errorf("bin=%s argv=%v", bin, argv)
		}
	})
	t.Run("a command maps command[0] by PATH, image ignored", func(t *testing.T) {
		bin, argv, _, err := cfg.commandFor(corev1.Container{Image: "busybox", Command: []string{"/bin/sh", "-c"}, Args: []string{"exit 0"}})
		if err != nil || bin == "" || len(argv) != 3 || argv[0] != "/bin/sh" {
			t.Errorf("bin=%s argv=%v err=%v", bin, argv, err)
		}
	})
	t.Run("an image path missing on the host maps by base name", func(t *testing.T) {
		bin, _, _, err := cfg.commandFor(corev1.Container{Command: []string{"/opt/image/bin/sh"}})
		if err != nil || bin == "" {
			t.Errorf("bin=%s err=%v", bin, err)
		}
	})
	t.Run("a configured image is used", func(t *testing.T) {
		if _, _, _, err := cfg.commandFor(corev1.Container{Image: "example.com/myapp:2"}); err != nil {
			t.Error(err)
		}
	})
	t.Run("an unmapped image is ImageNotMapped", func(t *testing.T) {
		_, _, reason, err := cfg.commandFor(corev1.Container{Image: "nginx:1"})
		if reason != waitingImageNotMapped || !errors.Is(err, errImageNotMapped) {
			t.Errorf("reason=%q err=%v", reason, err)
		}
	})
	t.Run("an image mapped to a missing binary is ImageNotMapped naming the binary", func(t *testing.T) {
		cfg := Config{Images: map[string]string{"redkube-operator": "/nonexistent/bin/manager"}}
		_, _, reason, err := cfg.commandFor(corev1.Container{Image: "ghcr.io/redkube/redkube-operator:v1@sha256:abc"})
		if reason != waitingImageNotMapped || !errors.Is(err, errImageNotMapped) || !strings.Contains(err.Error(), "/nonexistent/bin/manager") {
			t.Errorf("reason=%q err=%v", reason, err)
		}
	})
	t.Run("a mapped command runs the mapped binary, by its base name too", func(t *testing.T) {
		want, err := exec.LookPath("true")
		if err != nil {
			t.Skip("no true on the host")
		}
		cfg := Config{Commands: map[string]string{"redkube-exporter": want}}
		bin, argv, _, err := cfg.commandFor(corev1.Container{Command: []string{"/redkube-exporter"}, Args: []string{"--x"}})
		if err != nil || bin != want || len(argv) != 2 || argv[0] != "/redkube-exporter" {
			t.Errorf("bin=%s argv=%v err=%v", bin, argv, err)
		}
	})
	t.Run("a mapped command whose binary is missing fails instead of using the PATH", func(t *testing.T) {
		cfg := Config{Commands: map[string]string{"sh": "/nonexistent/sh"}}
		_, _, reason, err := cfg.commandFor(corev1.Container{Command: []string{"/bin/sh"}})
		if reason != waitingRunError || err == nil || !strings.Contains(err.Error(), "/nonexistent/sh") {
			t.Errorf("reason=%q err=%v", reason, err)
		}
	})
	t.Run("an unknown command is RunContainerError", func(t *testing.T) {
		_, _, reason, err := cfg.commandFor(corev1.Container{Command: []string{"no-such-binary-xyz"}})
		if reason != waitingRunError || err == nil {
			t.Errorf("reason=%q err=%v", reason, err)
		}
	})
}

func TestRestartWanted(t *testing.T) {
	exited := func(code int32) *ctr {
		return &ctr{term: &corev1.ContainerStateTerminated{ExitCode: code}}
	}
	cases := []struct {
		name   string
		policy corev1.RestartPolicy
		c      *ctr
		want   bool
	}{
		{"never-run container starts under any policy", corev1.RestartPolicyNever, &ctr{}, true},
		{"Always restarts a success", corev1.RestartPolicyAlways, exited(0), true},
		{"OnFailure restarts a failure", corev1.RestartPolicyOnFailure, exited(1), true},
		{"OnFailure keeps a success", corev1.RestartPolicyOnFailure, exited(0), false},
		{"Never keeps a failure", corev1.RestartPolicyNever, exited(2), false},
	}
	for _, c := range cases {
		if got := restartWanted(c.policy, c.c); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
}

func TestNextBackoffDoublesToTheCap(t *testing.T) {
	var got []int
	b := time.Duration(0)
	for range 7 {
		b = nextBackoff(b, 10*time.Second, 5*time.Minute)
		got = append(got, int(b/time.Second))
	}
	want := []int{10, 20, 40, 80, 160, 300, 300}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("back-off sequence = %v, want %v", got, want)
		}
	}
}
