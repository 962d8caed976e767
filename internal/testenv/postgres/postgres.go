// Package postgres runs a throwaway PostgreSQL 15 server for integration and
// end-to-end tests.
//
// The server is configured for what strata needs from a real database:
// logical replication (wal_level=logical, replication slots and WAL senders),
// pg_stat_statements preloaded and created in every new database, and trust
// authentication on 127.0.0.1 for ordinary and replication connections. It
// trades durability for speed (fsync=off, full_page_writes=off) but keeps
// synchronous_commit on, so commit and WAL-position semantics stay real.
//
// Use New in a test, or Start/Close from TestMain to share one server across
// a package. PostgreSQL refuses to run as root; when the tests run as root the
// server runs as the "postgres" user.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-cache/strata/internal/testenv/procs"
)

// DefaultBinDir is where Debian's postgresql-15 package installs the server.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// Superuser is the name of the bootstrap superuser every DSN connects as.
const Superuser = "postgres"

const installHint = "apt-get install postgresql-15 postgresql-contrib"

// StopMode is a pg_ctl shutdown mode.
type StopMode string

// Shutdown modes, as in pg_ctl stop -m.
const (
	// StopSmart waits for clients to disconnect.
	StopSmart StopMode = "smart"
	// StopFast rolls back open transactions and shuts down cleanly.
	StopFast StopMode = "fast"
	// StopImmediate aborts without a shutdown checkpoint, like a crash;
	// the next Start performs crash recovery.
	StopImmediate StopMode = "immediate"
)

// Options configures a server. The zero value is ready to use.
type Options struct {
	// BinDir holds initdb, postgres and pg_ctl. Default DefaultBinDir, then
	// PATH.
	BinDir string
	// Settings are extra postgresql.conf parameters; they override the
	// harness's defaults of the same name.
	Settings map[string]string
	// StartTimeout bounds initdb plus the wait for readiness. Default 60s.
	StartTimeout time.Duration
}

// Server is a running (or deliberately stopped) PostgreSQL server.
type Server struct {
	binDir  string
	dir     string // removed by Close
	dataDir string
	sockDir string
	logPath string
	cred    *syscall.Credential
	timeout time.Duration

	mu   sync.Mutex
	port int
	proc *procs.Process
}

// New starts a server for the test and stops it when the test ends. A missing
// PostgreSQL installation skips the test, or fails it when CI=true.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout(opts))
	defer cancel()
	s, err := Start(ctx, opts)
	procs.Require(t, err)
	procs.Cleanup(t, "postgres", []string{s.logPath}, s.dir, s.stop)
	return s
}

func startTimeout(opts Options) time.Duration {
	if opts.StartTimeout > 0 {
		return opts.StartTimeout
	}
	return 60 * time.Second
}

// Start initialises a data directory in a fresh temporary directory and
// starts a server on a free port of 127.0.0.1. The caller must Close it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	binDir := opts.BinDir
	if binDir == "" {
		binDir = DefaultBinDir
	}
	postgresPath, err := procs.LookPath("postgres", installHint, binDir)
	if err != nil {
		return nil, err
	}
	binDir = filepath.Dir(postgresPath)
	for _, b := range []string{"initdb", "pg_ctl"} {
		if _, err := procs.LookPath(b, installHint, binDir); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(binDir, "..", "lib", "pg_stat_statements.so")); err != nil {
		if _, err2 := os.Stat("/usr/lib/postgresql/15/lib/pg_stat_statements.so"); err2 != nil {
			return nil, &procs.NotInstalledError{Binary: "pg_stat_statements", Hint: "apt-get install postgresql-contrib"}
		}
	}

	dir, err := procs.TempDir("pg")
	if err != nil {
		return nil, err
	}
	s := &Server{
		binDir:  binDir,
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		sockDir: filepath.Join(dir, "sock"),
		logPath: filepath.Join(dir, "postgres.log"),
		timeout: startTimeout(opts),
	}
	if err := s.setup(ctx, opts); err != nil {
		tail := procs.Tail(s.logPath, 30)
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\n--- postgres log ---\n%s", err, tail)
	}
	return s, nil
}

func (s *Server) setup(ctx context.Context, opts Options) error {
	if os.Geteuid() == 0 {
		cred, err := postgresCredential()
		if err != nil {
			return err
		}
		s.cred = cred
	}
	for _, d := range []string{s.dataDir, s.sockDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if s.cred != nil {
			if err := os.Chown(d, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				return fmt.Errorf("postgres: chown %s: %w", d, err)
			}
		}
	}
	// -N skips fsync of the new cluster; trust auth for every local and
	// 127.0.0.1 connection including replication is what initdb writes
	// for --auth=trust, and is rewritten below to be explicit.
	if err := s.run(ctx, "initdb", "-D", s.dataDir, "-U", Superuser, "--auth=trust",
		"-E", "UTF8", "--locale=C", "-N"); err != nil {
		return err
	}
	if err := s.writeConfig(opts.Settings); err != nil {
		return err
	}
	var err error
	for range 3 { // a reserved port can be taken before the server binds it
		if s.port, err = procs.FreePort(); err != nil {
			return err
		}
		if err = s.Start(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	// Databases created later copy template1, so this gives every new
	// database the extension.
	for _, db := range []string{"template1", "postgres"} {
		if err := s.Exec(ctx, db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
			return err
		}
	}
	return nil
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root needs a \"postgres\" user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) writeConfig(extra map[string]string) error {
	settings := map[string]string{
		"listen_addresses":         "'127.0.0.1'",
		"unix_socket_directories":  "'" + s.sockDir + "'",
		"wal_level":                "logical",
		"max_replication_slots":    "10",
		"max_wal_senders":          "10",
		"shared_preload_libraries": "'pg_stat_statements'",
		"fsync":                    "off",
		"full_page_writes":         "off",
		"max_connections":          "100",
		"shared_buffers":           "64MB",
		"log_min_messages":         "warning",
		"log_line_prefix":          "'%m [%p] %q%u@%d '",
	}
	for k, v := range extra {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n# strata testenv\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	conf := filepath.Join(s.dataDir, "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("postgres: write %s: %w", conf, err)
	}
	hba := "local all all trust\n" +
		"local replication all trust\n" +
		"host all all 127.0.0.1/32 trust\n" +
		"host replication all 127.0.0.1/32 trust\n"
	// WriteFile keeps the existing file's owner (postgres).
	if err := os.WriteFile(filepath.Join(s.dataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("postgres: write pg_hba.conf: %w", err)
	}
	return nil
}

// run runs a PostgreSQL utility from the bin directory, as the server's
// user, with its output appended to the server log.
func (s *Server) run(ctx context.Context, name string, args ...string) error {
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, name), args...)
	cmd.Dir = s.dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("postgres: %s: %w", name, err)
	}
	return nil
}

// Start starts the server again on the same data directory and port after
// Stop. Tests use Stop and Start to take the database away mid-test. It is
// a no-op while the server runs.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && s.proc.Running() {
		return nil
	}
	p, err := procs.Start(procs.Spec{
		Path:       filepath.Join(s.binDir, "postgres"),
		Args:       []string{"-D", s.dataDir, "-p", strconv.Itoa(s.port), "-k", s.sockDir},
		Dir:        s.dir,
		LogPath:    s.logPath,
		Credential: s.cred,
	})
	if err != nil {
		return err
	}
	s.proc = p
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = procs.Poll(ctx, 50*time.Millisecond, p, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, dsn(s.port, "postgres"))
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		return c.Ping(ctx)
	})
	if err != nil {
		p.Kill()
		return fmt.Errorf("postgres: not ready on port %d: %w", s.port, err)
	}
	return nil
}

// Stop shuts the server down with pg_ctl stop -m mode and waits for the
// postmaster to exit. The data directory and port are kept for Start.
func (s *Server) Stop(ctx context.Context, mode StopMode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(ctx, mode)
}

func (s *Server) stopLocked(ctx context.Context, mode StopMode) error {
	if s.proc == nil || !s.proc.Running() {
		return nil
	}
	err := s.run(ctx, "pg_ctl", "stop", "-D", s.dataDir, "-m", string(mode), "-w", "-t", "30")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if werr := s.proc.Wait(wctx); werr != nil {
		s.proc.Kill()
		return errors.Join(err, fmt.Errorf("postgres: postmaster did not exit after pg_ctl stop: %w", werr))
	}
	return err
}

// Close stops the server (fast shutdown, then SIGKILL) and removes its
// temporary directory. It is idempotent.
func (s *Server) Close() error {
	return errors.Join(s.stop(), os.RemoveAll(s.dir))
}

// stop shuts the server down for good: fast shutdown, then SIGKILL of its
// process group.
func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || !s.proc.Running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := s.stopLocked(ctx, StopFast)
	s.proc.Kill()
	return err
}

// Running reports whether the server process is up (it may still be
// starting or stopping).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && s.proc.Running()
}

// PID returns the postmaster's process id, or 0 when stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || !s.proc.Running() {
		return 0
	}
	return s.proc.PID()
}

// Port returns the TCP port the server listens on, on 127.0.0.1. It stays
// the same across Stop and Start.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port()) }

// DSN returns a URL connection string for database db as the superuser.
func (s *Server) DSN(db string) string { return dsn(s.Port(), db) }

func dsn(port int, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     "127.0.0.1:" + strconv.Itoa(port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// ReplicationDSN returns DSN(db) for a logical replication connection
// (replication=database), as used by pglogrepl.
func (s *Server) ReplicationDSN(db string) string {
	return s.DSN(db) + "&replication=database"
}

// DataDir returns the data directory.
func (s *Server) DataDir() string { return s.dataDir }

// LogPath returns the file receiving the server's log.
func (s *Server) LogPath() string { return s.logPath }

// Exec runs sql with args in database db and discards any rows.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	c, err := pgx.Connect(ctx, s.DSN(db))
	if err != nil {
		return fmt.Errorf("postgres: connect %s: %w", db, err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("postgres: exec in %s: %w", db, err)
	}
	return nil
}

// CreateDatabase creates database name. It has pg_stat_statements installed
// because it is copied from template1.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	return s.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}
