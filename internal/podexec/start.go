package podexec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Command returns an unstarted command that runs spec through the pod init.
// The caller sets Stdout/Stderr and calls Start (and Wait). The process
// leads its own process group, so KillGroup reaches its children too.
func Command(spec Spec) (*exec.Cmd, error) {
	if spec.Path == "" || len(spec.Args) == 0 {
		return nil, errors.New("podexec: spec needs a path and argv")
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("podexec: encode spec: %w", err)
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if spec.DieWithParent {
		attr.Pdeathsig = syscall.SIGKILL
	}
	if spec.JoinPID == 0 {
		attr.Cloneflags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS
	}
	return &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{InitArg0},
		Env:         []string{specEnv + "=" + string(raw)},
		SysProcAttr: attr,
	}, nil
}

// StartTicks returns the start time of pid in clock ticks since boot
// (field 22 of /proc/<pid>/stat). Together with the PID it identifies a
// process across PID reuse.
func StartTicks(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%w: pid %d", errNoProcess, pid)
		}
		return 0, fmt.Errorf("podexec: read stat of pid %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("podexec: malformed stat of pid %d", pid)
	}
	fields := bytes.Fields(data[i+1:])
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("podexec: short stat of pid %d", pid)
	}
	if fields[0][0] == 'Z' || fields[0][0] == 'X' {
		return 0, fmt.Errorf("%w: pid %d is a zombie", errNoProcess, pid)
	}
	v, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("podexec: parse start time of pid %d: %w", pid, err)
	}
	return v, nil
}

// Alive reports whether pid is a live (non-zombie) process that started at
// ticks.
func Alive(pid int, ticks uint64) bool {
	got, err := StartTicks(pid)
	return err == nil && got == ticks
}

// Signal sends sig to pid if it is still the process that started at ticks.
func Signal(pid int, ticks uint64, sig syscall.Signal) error {
	if !Alive(pid, ticks) {
		return nil
	}
	if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("podexec: signal %v to pid %d: %w", sig, pid, err)
	}
	return nil
}

// KillGroup sends SIGKILL to the process group led by pid (the container
// process and whatever it started), if pid is still the process that
// started at ticks; ticks 0 skips that check.
func KillGroup(pid int, ticks uint64) error {
	if ticks != 0 && !Alive(pid, ticks) {
		// The leader is gone; its group may still hold children.
		if err := unix.Kill(-pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("podexec: kill process group %d: %w", pid, err)
		}
		return nil
	}
	if err := unix.Kill(-pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("podexec: kill process group %d: %w", pid, err)
	}
	return nil
}

// IsNoProcess reports whether err says the process does not exist.
func IsNoProcess(err error) bool { return errors.Is(err, errNoProcess) }
