package nodeagent

import (
	"context"
	"errors"
	"os/exec"
	"runtime"
)

// spawner starts processes from one OS thread that lives as long as the
// agent. The kernel's parent-death signal (podexec.Spec.DieWithParent)
// fires when the *thread* that forked a child exits; Go may end a thread
// that a locked goroutine left, so forking from arbitrary threads could
// kill a pod at a random moment. One dedicated thread avoids that.
type spawner struct {
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// errSpawnerStopped is returned when the agent is stopping.
var errSpawnerStopped = errors.New("nodeagent: process spawner stopped")

func newSpawner() *spawner { return &spawner{reqs: make(chan spawnReq)} }

// run serves start requests until ctx ends.
func (s *spawner) run(ctx context.Context) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-s.reqs:
			r.done <- r.cmd.Start()
		}
	}
}

// start runs cmd.Start on the spawner's thread.
func (s *spawner) start(ctx context.Context, cmd *exec.Cmd) error {
	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return errSpawnerStopped
	}
	return <-r.done
}
