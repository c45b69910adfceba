package nodeagent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/redkube/redkube/internal/podexec"
)

// errNonRoot is wrapped by containerUser's refusals of runAsNonRoot.
var errNonRoot = errors.New("runAsNonRoot")

// containerUser returns the identity a container's process runs with, from
// the pod's and the container's securityContext (the container's fields
// win), as kubelet and the container runtime compute it: runAsUser (0 when
// only runAsGroup is set), runAsGroup (0 when unset: there is no image
// /etc/passwd to take the user's group from), and as supplementary groups
// the pod's fsGroup and supplementalGroups. It returns nil when none of
// them is set: the process keeps the agent's identity, root, as an image
// without a USER runs.
//
// With runAsNonRoot it refuses, in kubelet's words, a runAsUser of 0 and a
// container without runAsUser: the agent has no image metadata, so such a
// container would run as root.
func containerUser(pod *corev1.Pod, c *corev1.Container) (*podexec.User, error) {
	var uid, gid *int64
	var nonRoot *bool
	var groups []int64
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid, gid, nonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
		if psc.FSGroup != nil {
			groups = append(groups, *psc.FSGroup)
		}
		groups = append(groups, psc.SupplementalGroups...)
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
	}
	if nonRoot != nil && *nonRoot {
		switch {
		case uid == nil:
			return nil, fmt.Errorf("%w: container has runAsNonRoot and image will run as root (pod: %q, container: %s): the node agent has no image metadata and runs a container without runAsUser as root", errNonRoot, pod.Name+"_"+pod.Namespace+"("+string(pod.UID)+")", c.Name)
		case *uid == 0:
			return nil, fmt.Errorf("%w: container's runAsUser breaks non-root policy (pod: %q, container: %s)", errNonRoot, pod.Name+"_"+pod.Namespace+"("+string(pod.UID)+")", c.Name)
		}
	}
	if uid == nil && gid == nil && len(groups) == 0 {
		return nil, nil
	}
	u := &podexec.User{}
	var err error
	if uid != nil {
		if u.UID, err = id32("runAsUser", *uid); err != nil {
			return nil, err
		}
	}
	if gid != nil {
		if u.GID, err = id32("runAsGroup", *gid); err != nil {
			return nil, err
		}
	}
	for _, g := range groups {
		v, err := id32("supplemental group", g)
		if err != nil {
			return nil, err
		}
		u.Groups = append(u.Groups, v)
	}
	return u, nil
}

func id32(what string, v int64) (uint32, error) {
	if v < 0 || v > 1<<32-2 {
		return 0, fmt.Errorf("%s %d is not a valid id", what, v)
	}
	return uint32(v), nil
}

// fsUser returns the runAsUser every container of the pod (init
// containers included) shares, nil when one has none or they differ:
// kubelet then makes service account tokens owned by that user and
// readable by it alone (volume/util.FsUserFrom).
func fsUser(pod *corev1.Pod) *int64 {
	var user *int64
	all := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for i := range all {
		var u *int64
		if psc := pod.Spec.SecurityContext; psc != nil {
			u = psc.RunAsUser
		}
		if sc := all[i].SecurityContext; sc != nil && sc.RunAsUser != nil {
			u = sc.RunAsUser
		}
		if u == nil || (user != nil && *user != *u) {
			return nil
		}
		user = u
	}
	return user
}

// fsGroup returns the pod's fsGroup, nil when it has none.
func fsGroup(pod *corev1.Pod) *int64 {
	if psc := pod.Spec.SecurityContext; psc != nil {
		return psc.FSGroup
	}
	return nil
}

// Kubelet's fsGroup permission masks (volume.SetVolumeOwnership).
const (
	ownershipRW   = 0o660
	ownershipRO   = 0o440
	ownershipExec = 0o110
)

// setVolumeOwnership gives group gid every file and folder under dir and
// adds group read (and, unless readOnly, write) permission, plus search
// and set-group-ID on folders, as kubelet does for the volumes of a pod
// with an fsGroup. Symbolic links change group only.
func setVolumeOwnership(dir string, gid int64, readOnly bool) error {
	mask := fs.FileMode(ownershipRW)
	if readOnly {
		mask = ownershipRO
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, int(gid)); err != nil {
			return fmt.Errorf("give %s to group %d: %w", p, gid, err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		m := mask
		if d.IsDir() {
			m |= fs.ModeSetgid | ownershipExec
		}
		if err := os.Chmod(p, info.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSetuid|fs.ModeSticky)|m); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set volume ownership for fsGroup %d: %w", gid, err)
	}
	return nil
}

// readOnlyRoot reports the container's securityContext.readOnlyRootFilesystem.
func readOnlyRoot(c *corev1.Container) bool {
	sc := c.SecurityContext
	return sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
}

// noNewPrivs is what kubelet sets no_new_privs from: an explicit
// securityContext.allowPrivilegeEscalation: false.
func noNewPrivs(c *corev1.Container) bool {
	sc := c.SecurityContext
	return sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
}
