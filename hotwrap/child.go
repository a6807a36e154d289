package main

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// One goroutine reaps every child (wait4(-1)) and hands each exit status to
// whoever spawned that pid. hotwrap is often PID 1 in its container: processes a
// command left behind are then re-parented to it and must be reaped too, or
// they pile up as zombies in a hot container; statuses of pids nobody waits for
// are dropped. A single reaper is what makes that safe: os/exec's per-process
// Wait would race with a wait4(-1) for the same pids.
var reaper struct {
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus
}

func startReaper() {
	reaper.waiting = make(map[int]chan syscall.WaitStatus)
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	go func() {
		for range sigchld {
			reapAll()
		}
	}()
}

func reapAll() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		reaper.mu.Lock()
		if ch, ok := reaper.waiting[pid]; ok {
			ch <- status // buffered: never blocks
			delete(reaper.waiting, pid)
		}
		reaper.mu.Unlock()
	}
}

// child is a running command: our ends of its pipes and its exit status.
type child struct {
	pid    int
	stdin  *os.File
	stdout *os.File
	stderr *os.File
	exited chan syscall.WaitStatus
	code   int
	reaped bool
}

// spawn starts argv (program is its resolved path, no shell) in a new session,
// so the command and everything it starts share one process group to kill.
func spawn(program string, argv, env []string) (*child, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	c := &child{stdin: inW, stdout: outR, stderr: errR, exited: make(chan syscall.WaitStatus, 1)}
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{inR.Fd(), outW.Fd(), errW.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	// Registered under the lock the reaper takes, so a command that exits at
	// once cannot be reaped before anyone waits for it.
	reaper.mu.Lock()
	pid, err := syscall.ForkExec(program, argv, attr)
	if err == nil {
		c.pid = pid
		reaper.waiting[pid] = c.exited
	}
	reaper.mu.Unlock()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, err
	}
	return c, nil
}

// killGroup sends SIGKILL to the command and every process it started. Also safe
// after the command was reaped: the group's id stays reserved while any member
// lives, and is gone (ESRCH) once none does.
func (c *child) killGroup() {
	syscall.Kill(-c.pid, syscall.SIGKILL)
}

// wait waits for the command to exit, kills what it left behind (background
// processes would pile up in a hot container and keep its stdout open) and
// returns its status: the exit code, or minus the signal that killed it.
func (c *child) wait() int {
	if !c.reaped {
		status := <-c.exited
		c.reaped = true
		c.killGroup()
		if status.Signaled() {
			c.code = -int(status.Signal())
		} else {
			c.code = status.ExitStatus()
		}
	}
	return c.code
}

// closePipes closes our ends of the pipes; a read blocked on them returns.
func (c *child) closePipes() {
	c.stdin.Close()
	c.stdout.Close()
	c.stderr.Close()
}

const stderrTail = 4096

// buffers are the 64 KiB pipe buffers of calls: reused, since a fresh set per
// call would make most of hotwrap's garbage.
var buffers = sync.Pool{New: func() any { b := make([]byte, 1<<16); return &b }}

// pumpStderr copies the command's stderr to ours (the container's log) as it is
// written, until EOF; it sends the last stderrTail bytes, for error messages.
func (c *child) pumpStderr() <-chan []byte {
	tail := make(chan []byte, 1)
	go func() {
		pooled := buffers.Get().(*[]byte)
		defer buffers.Put(pooled)
		buf := *pooled
		var kept []byte
		for {
			n, err := c.stderr.Read(buf)
			if n > 0 {
				os.Stderr.Write(buf[:n])
				kept = append(kept, buf[:n]...)
				if len(kept) > stderrTail {
					kept = append([]byte(nil), kept[len(kept)-stderrTail:]...)
				}
			}
			if err != nil {
				tail <- kept
				return
			}
		}
	}()
	return tail
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGSYS: "SIGSYS",
}

// describeExit: "exited with code 3" / "was killed by signal SIGKILL".
func describeExit(code int) string {
	if code >= 0 {
		return "exited with code " + itoa(code)
	}
	name, ok := signalNames[syscall.Signal(-code)]
	if !ok {
		name = itoa(-code)
	}
	return "was killed by signal " + name
}
