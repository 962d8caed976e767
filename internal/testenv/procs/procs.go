// Package procs holds the plumbing shared by the testenv harnesses: finding
// installed server binaries, reserving free ports on 127.0.0.1, starting a
// server process with its output captured to a log file, waiting for it to
// accept connections, and stopping it by PID.
//
// Every harness follows the same contract: a missing binary is reported as an
// error for which IsNotInstalled is true, and the testing.TB wrappers turn it
// into t.Skip, except under CI=true where a missing server is a failure.
package procs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DefaultStopTimeout is how long Stop waits after SIGTERM before it sends
// SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// NotInstalledError reports that a server binary needed by a harness is not
// installed on this machine.
type NotInstalledError struct {
	// Binary is the program that was looked for, e.g. "redis-server".
	Binary string
	// Hint says how to install it.
	Hint string
}

// Error implements error.
func (e *NotInstalledError) Error() string {
	msg := "testenv: " + e.Binary + " is not installed"
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// IsNotInstalled reports whether err, or an error it wraps, is a
// *NotInstalledError.
func IsNotInstalled(err error) bool {
	var nie *NotInstalledError
	return errors.As(err, &nie)
}

// InCI reports whether the environment variable CI is set to a true value
// ("true", "1", ...). In CI a missing server is a failure rather than a skip.
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// Require ends the test when err is non-nil. A NotInstalledError skips the
// test, unless InCI is true, in which case it fails it like any other error.
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if IsNotInstalled(err) && !InCI() {
		t.Skipf("%v; skipping (set CI=true to make this a failure)", err)
	}
	t.Fatal(err)
}

// LookPath finds an executable by name, first in each of dirs and then on
// PATH. It returns a *NotInstalledError carrying hint when it is not found.
func LookPath(name, hint string, dirs ...string) (string, error) {
	for _, d := range dirs {
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", &NotInstalledError{Binary: name, Hint: hint}
}

// FreePorts reserves n distinct free TCP ports on 127.0.0.1. It holds all
// listeners open until every port is chosen so that no port is returned
// twice. Another process may still take a port before the caller binds it;
// harnesses retry startup for that reason.
func FreePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testenv: reserve free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePort reserves one free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	ps, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// WaitPort waits until addr accepts TCP connections, ctx ends, or p (when not
// nil) exits, whichever comes first.
func WaitPort(ctx context.Context, addr string, p *Process) error {
	return Poll(ctx, 20*time.Millisecond, p, func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// Poll calls check every interval until it returns nil, ctx ends, or p (when
// not nil) exits. On failure it returns the last error from check.
func Poll(ctx context.Context, interval time.Duration, p *Process, check func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var exited <-chan struct{}
	if p != nil {
		exited = p.Done()
	}
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-exited:
			return fmt.Errorf("testenv: %s exited before it was ready: %v (last error: %v)", p.Name(), p.Err(), err)
		case <-t.C:
		}
	}
}

// Spec describes a process to start.
type Spec struct {
	// Path is the executable.
	Path string
	// Args are the arguments, not including the program name.
	Args []string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Env, when not nil, replaces the inherited environment.
	Env []string
	// LogPath receives the process's stdout and stderr, appended.
	LogPath string
	// Credential, when not nil, runs the process as another user. The
	// harnesses use it to run PostgreSQL as "postgres" when the tests run as
	// root, without an intermediate runuser/su process, so that the PID we
	// signal is the server's own.
	Credential *syscall.Credential
}

// Process is a started server process. Its methods are safe for concurrent
// use.
type Process struct {
	cmd  *exec.Cmd
	log  *os.File
	name string
	done chan struct{}
	err  error // set before done is closed
}

// Start starts the process described by spec in its own process group, with
// SIGKILL as its parent-death signal so that a crashed test binary does not
// leak servers.
func Start(spec Spec) (*Process, error) {
	f, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testenv: open log: %w", err)
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: spec.Credential,
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("testenv: start %s: %w", spec.Path, err)
	}
	p := &Process{cmd: cmd, log: f, name: baseName(spec.Path), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func baseName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// Name returns the program's base name.
func (p *Process) Name() string { return p.name }

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done returns a channel closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns the process's exit error once Done is closed, nil before.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process (not its group).
func (p *Process) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return nil
	}
	if err := syscall.Kill(p.PID(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("testenv: signal %s (pid %d): %w", p.name, p.PID(), err)
	}
	return nil
}

// Kill sends SIGKILL to the process group, so that children such as
// PostgreSQL backends die too, and waits for the process to exit.
func (p *Process) Kill() {
	if p.Running() {
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	}
	<-p.done
}

// Wait waits until the process exits or ctx ends.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to exit, then
// kills its process group. It is idempotent and returns an error only if the
// process had to be killed.
func (p *Process) Stop(timeout time.Duration) error {
	if !p.Running() {
		return nil
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	p.Kill()
	return fmt.Errorf("testenv: %s (pid %d) ignored SIGTERM for %v and was killed", p.name, p.PID(), timeout)
}

// Tail returns the last n lines of the file at path, or a note saying why it
// could not be read.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Cleanup registers on t the end of a server's life: stop it, print the
// last lines of each of its logs if the test failed, then remove its
// directory dir. The logs are read after stop so that they are complete and
// before the directory goes away.
func Cleanup(t testing.TB, name string, logs []string, dir string, stop func() error) {
	t.Helper()
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("%s: stop: %v", name, err)
		}
		if t.Failed() {
			for _, l := range logs {
				t.Logf("--- last lines of %s log %s ---\n%s", name, l, Tail(l, 40))
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}

// TempDir creates a fresh directory under os.TempDir named after prefix,
// world-traversable (0755) so that servers run as another user (PostgreSQL
// as "postgres") can reach it. t.TempDir cannot serve here: its parent is
// private to the test user.
func TempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", "strata-"+prefix+"-")
	if err != nil {
		return "", fmt.Errorf("testenv: temp dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("testenv: temp dir: %w", err)
	}
	return dir, nil
}
