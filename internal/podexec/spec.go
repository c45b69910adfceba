package podexec

// InitArg0 is the argv[0] under which the re-executed binary acts as pod
// init instead of its normal main.
const InitArg0 = "redkube-pod-init"

// specEnv is the environment variable carrying the JSON Spec to the init.
const specEnv = "REDKUBE_POD_INIT_SPEC"

// InitFailedExitCode is the exit status of an init that could not set the
// container up (bad mount, missing binary, ...); its reason is on stderr.
const InitFailedExitCode = 128

// Mount is one bind mount inside the container's mount namespace.
type Mount struct {
	// Source is the host path (file or directory).
	Source string `json:"source"`
	// Target is the path inside the container.
	Target string `json:"target"`
	// ReadOnly remounts the bind read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
}

// Spec describes one process to start in a pod.
type Spec struct {
	// Path is the absolute path of the program to execute.
	Path string `json:"path"`
	// Args is the full argv (Args[0] is the program name).
	Args []string `json:"args"`
	// Env is the complete environment of the program.
	Env []string `json:"env"`
	// Dir is the working directory (inside the container's mount view).
	Dir string `json:"dir"`

	// NetnsPath is the pod's network namespace file (run mode).
	NetnsPath string `json:"netnsPath,omitempty"`
	// Hostname is set in the container's UTS namespace (run mode).
	Hostname string `json:"hostname,omitempty"`
	// Mounts are applied in order (run mode).
	Mounts []Mount `json:"mounts,omitempty"`
	// ScratchDir holds overlay upper/work directories for mount targets
	// missing on the host (run mode); it must be on a non-overlay
	// filesystem.
	ScratchDir string `json:"scratchDir,omitempty"`

	// User, when set, is who the program runs as (run mode): after the
	// mounts and the change of directory, which need root, the init sets
	// the supplementary groups, the group and the user, then execs. Nil
	// keeps the starting process's identity (the agent's: root).
	User *User `json:"user,omitempty"`

	// ReadOnlyRoot makes the container's view of the root filesystem
	// read-only (run mode; securityContext.readOnlyRootFilesystem): the
	// mounts above stay as they are, and other host filesystems mounted
	// below "/" (the agent shares the host's tree) keep their own flags.
	ReadOnlyRoot bool `json:"readOnlyRoot,omitempty"`
	// NoNewPrivs sets no_new_privs before the exec, so neither setuid
	// binaries nor file capabilities grant more than the process has
	// (securityContext.allowPrivilegeEscalation: false).
	NoNewPrivs bool `json:"noNewPrivs,omitempty"`

	// DieWithParent makes the kernel SIGKILL the process when the thread
	// that started it (in Go: the starting process) dies, so pods do not
	// outlive a crashed agent that was not meant to leave them running.
	DieWithParent bool `json:"-"`

	// JoinPID, when non-zero, selects join mode: enter the mount, network
	// and UTS namespaces of this process instead of creating new ones.
	JoinPID int `json:"joinPID,omitempty"`
}

// User is a numeric process identity, as a container's securityContext
// gives it.
type User struct {
	// UID and GID are the user and primary group.
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
	// Groups are the supplementary groups; empty means none (root's own
	// are dropped too).
	Groups []uint32 `json:"groups,omitempty"`
}
