// Package redisserver runs a throwaway standalone redis-server for tests and
// benchmarks that compare strata with Redis or use Redis as a plain store.
//
// The server binds 127.0.0.1 on a free port, keeps nothing on disk
// (save "", appendonly no) and runs in a fresh temporary directory that
// Close removes. Use New in a test, or Start/Close from TestMain to share one
// server across a package.
package redisserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/testenv/procs"
)

const installHint = "apt-get install redis-server"

// Options configures a server. The zero value is ready to use.
type Options struct {
	// Config holds extra redis.conf directives, one per entry, e.g.
	// "maxmemory 100mb". They are written after the harness's defaults and
	// so override them.
	Config []string
	// StartTimeout bounds the wait for the port to accept connections.
	// Default 20s.
	StartTimeout time.Duration
}

// Server is a running redis-server.
type Server struct {
	dir     string
	logPath string
	port    int
	proc    *procs.Process
}

// New starts a server for the test and stops it when the test ends. A missing
// redis-server skips the test, or fails it when CI=true.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	procs.Require(t, err)
	procs.Cleanup(t, "redis-server", []string{s.logPath}, s.dir, s.stop)
	return s
}

// Start starts a server. The caller must Close it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := procs.LookPath("redis-server", installHint)
	if err != nil {
		return nil, err
	}
	dir, err := procs.TempDir("redis")
	if err != nil {
		return nil, err
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := &Server{dir: dir, logPath: filepath.Join(dir, "redis.log")}
	for range 3 { // a reserved port can be taken before the server binds it
		if s.port, err = procs.FreePort(); err != nil {
			break
		}
		if err = s.start(ctx, bin, opts.Config); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		tail := procs.Tail(s.logPath, 30)
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redisserver: %w\n--- redis-server log ---\n%s", err, tail)
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, bin string, extra []string) error {
	conf := filepath.Join(s.dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(Config(s.port, s.dir, extra)), 0o644); err != nil {
		return err
	}
	p, err := procs.Start(procs.Spec{Path: bin, Args: []string{conf}, Dir: s.dir, LogPath: s.logPath})
	if err != nil {
		return err
	}
	if err := procs.WaitPort(ctx, s.Addr(), p); err != nil {
		p.Kill()
		return err
	}
	s.proc = p
	return nil
}

// Config returns the redis.conf text the harnesses use for a server on
// 127.0.0.1:port working in dir, followed by the extra directives. It is
// exported for the cluster harness.
func Config(port int, dir string, extra []string) string {
	lines := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(port),
		"protected-mode no",
		"daemonize no",
		"dir " + dir,
		`save ""`,
		"appendonly no",
		`logfile ""`,
		"loglevel notice",
	}
	lines = append(lines, extra...)
	return strings.Join(lines, "\n") + "\n"
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port returns the TCP port.
func (s *Server) Port() int { return s.port }

// PID returns the server's process id.
func (s *Server) PID() int { return s.proc.PID() }

// LogPath returns the file receiving the server's log.
func (s *Server) LogPath() string { return s.logPath }

// Close stops the server (SIGTERM, then SIGKILL after a timeout) and removes
// its directory. It is idempotent.
func (s *Server) Close() error {
	return errors.Join(s.stop(), os.RemoveAll(s.dir))
}

func (s *Server) stop() error { return s.proc.Stop(procs.DefaultStopTimeout) }
