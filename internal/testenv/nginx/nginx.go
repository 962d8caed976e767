// Package nginx runs a throwaway nginx for tests of the load-balancing tier:
// the caller supplies an nginx.conf template, the harness fills in the
// listen address, the upstream addresses and the paths nginx must write to,
// and runs nginx in the foreground from a fresh temporary directory.
package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/strata-cache/strata/internal/testenv/procs"
)

const installHint = "apt-get install nginx"

// DefaultConfig is a plain reverse proxy from Listen to the upstreams,
// round-robin, with keepalive to the upstreams. Tests of the shipped
// deploy/nginx configuration pass their own template instead.
const DefaultConfig = `{{.Main}}
events { worker_connections 1024; }
http {
	{{.HTTP}}
	upstream backend {
{{- range .Upstreams}}
		server {{.}};
{{- end}}
		keepalive 16;
	}
	server {
		listen {{.Listen}};
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
`

// Data is what a config template is executed with.
type Data struct {
	// Listen is the address nginx must listen on, "127.0.0.1:port".
	Listen string
	// Port is Listen's port.
	Port int
	// Upstreams are the backend addresses given in Options.
	Upstreams []string
	// Dir is nginx's prefix directory (writable, removed on Close).
	Dir string
	// Main holds the main-context directives the harness needs: pid file,
	// worker count, and "user root;" when running as root (workers would
	// otherwise run as nobody and be unable to use the private temporary
	// directory). Put it at the top level of the config.
	Main string
	// HTTP holds http-context directives that keep every temporary and log
	// path inside Dir. Put it inside the http block.
	HTTP string
}

// Options configures nginx.
type Options struct {
	// Config is a text/template for nginx.conf executed with Data. Default
	// DefaultConfig.
	Config string
	// Upstreams are the backend addresses, made available as
	// Data.Upstreams.
	Upstreams []string
	// StartTimeout bounds the wait for the port. Default 20s.
	StartTimeout time.Duration
}

// Server is a running nginx.
type Server struct {
	dir     string
	conf    string
	logPath string
	errLog  string
	port    int
	tmpl    *template.Template

	mu   sync.Mutex
	proc *procs.Process
}

// New starts nginx for the test and stops it when the test ends. A missing
// nginx skips the test, or fails it when CI=true.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	procs.Require(t, err)
	procs.Cleanup(t, "nginx", []string{s.logPath, s.errLog}, s.dir, s.stop)
	return s
}

// Start renders the config and starts nginx in the foreground. The caller
// must Close it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := procs.LookPath("nginx", installHint, "/usr/sbin")
	if err != nil {
		return nil, err
	}
	text := opts.Config
	if text == "" {
		text = DefaultConfig
	}
	tmpl, err := template.New("nginx.conf").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("nginx: config template: %w", err)
	}
	dir, err := procs.TempDir("nginx")
	if err != nil {
		return nil, err
	}
	s := &Server{
		dir:     dir,
		conf:    filepath.Join(dir, "nginx.conf"),
		logPath: filepath.Join(dir, "nginx.out"),
		errLog:  filepath.Join(dir, "error.log"),
		tmpl:    tmpl,
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for range 3 { // a reserved port can be taken before nginx binds it
		if s.port, err = procs.FreePort(); err != nil {
			break
		}
		if err = s.render(opts.Upstreams); err != nil {
			break
		}
		if err = s.start(ctx, bin); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		tail := procs.Tail(s.errLog, 20) + "\n" + procs.Tail(s.logPath, 20)
		os.RemoveAll(dir)
		return nil, fmt.Errorf("nginx: %w\n--- nginx logs ---\n%s", err, tail)
	}
	return s, nil
}

func (s *Server) render(upstreams []string) error {
	for _, d := range []string{"tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	main := "pid " + filepath.Join(s.dir, "nginx.pid") + ";\nworker_processes 2;\nerror_log " + s.errLog + " notice;\n"
	if os.Geteuid() == 0 {
		main = "user root;\n" + main
	}
	tmp := filepath.Join(s.dir, "tmp")
	http := "access_log " + filepath.Join(s.dir, "logs", "access.log") + ";\n"
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		http += "\t" + d + "_temp_path " + filepath.Join(tmp, d) + ";\n"
	}
	var b bytes.Buffer
	err := s.tmpl.Execute(&b, Data{
		Listen:    s.Addr(),
		Port:      s.port,
		Upstreams: upstreams,
		Dir:       s.dir,
		Main:      main,
		HTTP:      http,
	})
	if err != nil {
		return fmt.Errorf("config template: %w", err)
	}
	return os.WriteFile(s.conf, b.Bytes(), 0o644)
}

func (s *Server) start(ctx context.Context, bin string) error {
	// -e sets the error log used before the config is read, which would
	// otherwise be the packaged /var/log/nginx/error.log.
	p, err := procs.Start(procs.Spec{
		Path:    bin,
		Args:    []string{"-p", s.dir, "-c", s.conf, "-e", s.errLog, "-g", "daemon off;"},
		Dir:     s.dir,
		LogPath: s.logPath,
	})
	if err != nil {
		return err
	}
	if err := procs.WaitPort(ctx, s.Addr(), p); err != nil {
		p.Kill()
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// Reload re-renders the config with new upstreams and makes nginx load it
// (SIGHUP). nginx keeps the old config if the new one is invalid; check the
// error log then.
func (s *Server) Reload(upstreams []string) error {
	if err := s.render(upstreams); err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.Signal(syscall.SIGHUP)
}

// Addr returns the listen address, "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns "http://127.0.0.1:port".
func (s *Server) URL() string { return "http://" + s.Addr() }

// Port returns the listen port.
func (s *Server) Port() int { return s.port }

// ErrorLogPath returns nginx's error log.
func (s *Server) ErrorLogPath() string { return s.errLog }

// Close stops nginx (SIGTERM, a fast shutdown, then SIGKILL after a
// timeout) and removes its directory.
func (s *Server) Close() error {
	return errors.Join(s.stop(), os.RemoveAll(s.dir))
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.Stop(procs.DefaultStopTimeout)
}
