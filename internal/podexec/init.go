package podexec

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaybeInit turns the process into a pod init when it was started as one
// (argv[0] == InitArg0): it sets the container up and execs its command, so
// it never returns in that case. In any other process it returns at once.
// Call it first thing in main().
func MaybeInit() {
	if filepath.Base(os.Args[0]) != InitArg0 {
		return
	}
	// Namespace changes made by setns(2) are per thread; execve(2) keeps
	// the calling thread's, so everything happens on this one.
	runtime.LockOSThread()
	err := runInit()
	fmt.Fprintf(os.Stderr, "redkube pod init: %v\n", err)
	os.Exit(InitFailedExitCode)
}

func runInit() error {
	raw := os.Getenv(specEnv)
	if raw == "" {
		return fmt.Errorf("no %s in the environment", specEnv)
	}
	var spec Spec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return fmt.Errorf("decode spec: %w", err)
	}
	if spec.JoinPID != 0 {
		if err := joinNamespaces(spec.JoinPID); err != nil {
			return err
		}
	} else if err := setupContainer(spec); err != nil {
		return err
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("change directory to %s: %w", dir, err)
	}
	if spec.User != nil && spec.JoinPID == 0 {
		if err := becomeUser(*spec.User); err != nil {
			return err
		}
	}
	if spec.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if err := syscall.Exec(spec.Path, spec.Args, spec.Env); err != nil {
		return fmt.Errorf("exec %s: %w", spec.Path, err)
	}
	return nil
}

// becomeUser gives up root for u: supplementary groups, group, then user
// (the order in which each step is still permitted). The syscall package
// applies each to every thread of the process, so the exec that follows
// runs as u whichever thread makes it.
func becomeUser(u User) error {
	groups := make([]int, len(u.Groups))
	for i, g := range u.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("set supplementary groups %v: %w", u.Groups, err)
	}
	if err := syscall.Setgid(int(u.GID)); err != nil {
		return fmt.Errorf("set group %d: %w", u.GID, err)
	}
	if err := syscall.Setuid(int(u.UID)); err != nil {
		return fmt.Errorf("set user %d: %w", u.UID, err)
	}
	return nil
}

func joinNamespaces(pid int) error {
	// A thread sharing its fs_struct with others cannot change mount ns.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	type nsFile struct {
		name string
		flag int
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}()
	kinds := []nsFile{{"net", unix.CLONE_NEWNET}, {"uts", unix.CLONE_NEWUTS}, {"mnt", unix.CLONE_NEWNS}}
	for _, k := range kinds {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, k.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s namespace of pid %d: %w", k.name, pid, err)
		}
		fds = append(fds, fd)
	}
	for i, k := range kinds {
		if err := unix.Setns(fds[i], k.flag); err != nil {
			return fmt.Errorf("enter %s namespace of pid %d: %w", k.name, pid, err)
		}
	}
	return nil
}

func setupContainer(spec Spec) error {
	if spec.NetnsPath != "" {
		fd, err := unix.Open(spec.NetnsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", spec.NetnsPath, err)
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		_ = unix.Close(fd)
		if err != nil {
			return fmt.Errorf("enter netns %s: %w", spec.NetnsPath, err)
		}
	}
	// The process was cloned into a new mount namespace; make it a slave so
	// our mounts stay here and host unmounts (netns files) still arrive.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / a recursive slave: %w", err)
	}
	ov := overlays{scratch: spec.ScratchDir, done: map[string]bool{}}
	// Mount points first: an overlay made for one must not hide the bind
	// mount of another.
	for _, m := range spec.Mounts {
		st, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("mount source %s: %w", m.Source, err)
		}
		if err := ov.ensureTarget(m.Target, st.IsDir()); err != nil {
			return err
		}
	}
	for _, m := range spec.Mounts {
		if err := ov.bind(m); err != nil {
			return err
		}
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.ReadOnlyRoot {
		// A bind remount changes the flags of this namespace's copy of
		// the root mount only; the host's stays writable.
		if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make the root filesystem read-only: %w", err)
		}
	}
	return nil
}

type overlays struct {
	scratch string
	done    map[string]bool
	n       int
}

func (o *overlays) bind(m Mount) error {
	if err := unix.Mount(m.Source, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		if err := unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// ensureTarget makes the mount point exist without touching the host: its
// nearest existing ancestor is covered by an overlay first when that
// ancestor holds no other mounts (which an overlay would hide).
func (o *overlays) ensureTarget(target string, dir bool) error {
	if _, err := os.Stat(target); err == nil {
		return nil
	}
	anc := filepath.Dir(target)
	for {
		if _, err := os.Stat(anc); err == nil {
			break
		}
		anc = filepath.Dir(anc)
	}
	if real, err := filepath.EvalSymlinks(anc); err == nil {
		anc = real
	}
	if !o.done[anc] {
		sub, err := hasSubmounts(anc)
		if err != nil {
			return err
		}
		if anc != "/" && !sub && o.scratch != "" {
			o.n++
			base := filepath.Join(o.scratch, "overlay", strconv.Itoa(o.n))
			upper, work := filepath.Join(base, "upper"), filepath.Join(base, "work")
			for _, d := range []string{upper, work} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return fmt.Errorf("create overlay dir %s: %w", d, err)
				}
			}
			opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", anc, upper, work)
			if err := unix.Mount("overlay", anc, "overlay", 0, opts); err != nil {
				return fmt.Errorf("overlay %s to create %s: %w", anc, target, err)
			}
			o.done[anc] = true
		}
		// Otherwise the mount point is created on the host (an empty
		// directory or file, the only trace left there).
	}
	if dir {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("create mount point %s: %w", target, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("create mount point parent of %s: %w", target, err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create mount point %s: %w", target, err)
	}
	return f.Close()
}

// hasSubmounts reports whether a mount point lies strictly below dir.
func hasSubmounts(dir string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read mountinfo: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only; sc.Err reports read errors
	prefix := strings.TrimSuffix(dir, "/") + "/"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeOctal(fields[4])
		if mp != dir && strings.HasPrefix(mp, prefix) {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read mountinfo: %w", err)
	}
	return false, nil
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// errNoProcess is returned by StartTicks for a PID that does not exist.
var errNoProcess = errors.New("podexec: no such process")
