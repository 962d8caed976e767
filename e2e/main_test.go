package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// strataBin is the absolute path of the strata binary under test, set by
// TestMain. It is empty in self-check mode.
var strataBin string

// selfCheck reports whether STRATA_E2E_SELFCHECK asks for the harness
// self-check: the differential test runs Redis against Redis and every test
// that needs strata skips.
var selfCheck = os.Getenv("STRATA_E2E_SELFCHECK") == "1"

// stopGrace is how long a stopped strata may take to exit after SIGTERM
// before it is killed; it matches shutdown.timeout's default of 10s.
const stopGrace = 10 * time.Second

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	switch {
	case selfCheck:
		fmt.Fprintln(os.Stderr, "e2e: STRATA_E2E_SELFCHECK=1: differential harness against two redis-servers; strata tests skip")
	case os.Getenv("STRATA_BIN") != "":
		p := os.Getenv("STRATA_BIN")
		if !filepath.IsAbs(p) {
			fmt.Fprintf(os.Stderr, "e2e: STRATA_BIN must be an absolute path, got %q\n", p)
			return 1
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			fmt.Fprintf(os.Stderr, "e2e: STRATA_BIN=%s is not an executable file (%v)\n", p, err)
			return 1
		}
		strataBin = p
	default:
		dir, err := os.MkdirTemp("", "strata-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		strataBin = filepath.Join(dir, "strata")
		// go test puts $GOROOT/bin first on PATH, so "go" is the toolchain
		// running these tests.
		cmd := exec.Command("go", "build", "-o", strataBin, "github.com/strata-cache/strata/cmd/strata")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: cannot build strata (go build ./cmd/strata: %v):\n%s\n"+
				"e2e: set STRATA_BIN=/absolute/path/to/strata to test a binary built elsewhere\n", err, out)
			return 1
		}
		fmt.Fprintf(os.Stderr, "e2e: built %s in %v\n", strataBin, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// requireStrata skips the test in self-check mode, where there is no binary.
func requireStrata(t testing.TB) {
	t.Helper()
	if selfCheck {
		t.Skip("STRATA_E2E_SELFCHECK=1: no strata binary")
	}
}

// requireTool returns the path of an external program the test needs. A
// missing program skips the test, or fails it when CI=true: CI must not
// pass by skipping.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s is not installed (CI=true makes a missing tool a failure)", name)
	}
	t.Skipf("%s is not installed; skipping (with CI=true this fails)", name)
	return ""
}

// freePorts reserves n distinct free TCP ports on 127.0.0.1. The listeners
// stay open until all ports are chosen, so none is returned twice; another
// process may still take one before the server binds it, which is why the
// start helpers retry.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserving a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a child
// process's output copier and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// strataOpts tunes startStrataWith.
type strataOpts struct {
	// args are appended to "serve --resp-addr ... --http-addr ...".
	args []string
	// env holds extra KEY=VALUE entries. The test process's own STRATA_*
	// variables (STRATA_BIN, say) are never passed on: strata rejects
	// unknown STRATA_* variables.
	env []string
	// textLogs disables the ECS check of stdout at exit.
	textLogs bool
}

// strataNode is a running `strata serve` child process.
type strataNode struct {
	t        testing.TB
	cmd      *exec.Cmd
	RESPAddr string // host:port of the RESP listener
	HTTPAddr string // host:port of the HTTP listener
	Stdout   *syncBuffer
	Stderr   *syncBuffer

	done    chan struct{} // closed when the process has exited
	waitErr error         // the exit status; read after done
}

// BaseURL returns the node's HTTP base URL.
func (n *strataNode) BaseURL() string { return "http://" + n.HTTPAddr }

// PID returns the process id.
func (n *strataNode) PID() int { return n.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (n *strataNode) Exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// startStrata starts `strata serve` on free loopback ports with extraArgs,
// waits until /readyz answers 200, and stops it in t.Cleanup: SIGTERM, then
// SIGKILL after 10s. The test fails if strata did not exit 0 or wrote a
// stdout line that is not an ECS JSON object. Its stdout and stderr are
// printed when the test fails.
func startStrata(t testing.TB, extraArgs ...string) *strataNode {
	t.Helper()
	return startStrataWith(t, strataOpts{args: extraArgs})
}

// startStrataWith is startStrata with environment and log options.
func startStrataWith(t testing.TB, o strataOpts) *strataNode {
	t.Helper()
	requireStrata(t)
	var lastErr error
	// A port reserved by FreePorts can be taken by someone else before
	// strata binds it; try again with fresh ports when that happens.
	for range 3 {
		n, err := launchStrata(t, o)
		if err == nil {
			return n
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("starting strata: %v", lastErr)
	return nil
}

func launchStrata(t testing.TB, o strataOpts) (*strataNode, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	n := &strataNode{
		t:        t,
		RESPAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		HTTPAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		Stdout:   &syncBuffer{},
		Stderr:   &syncBuffer{},
		done:     make(chan struct{}),
	}
	args := append([]string{"serve", "--resp-addr", n.RESPAddr, "--http-addr", n.HTTPAddr}, o.args...)
	n.cmd = exec.Command(strataBin, args...)
	n.cmd.Env = append(strataEnv(), o.env...)
	n.cmd.Stdout = n.Stdout
	n.cmd.Stderr = n.Stderr
	// Its own process group, and SIGKILL if the test binary dies, so that a
	// crashed test run does not leak servers.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		n.waitErr = n.cmd.Wait()
		close(n.done)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.waitReady(ctx); err != nil {
		n.kill()
		return nil, fmt.Errorf("%v\nstrata %s\n--- stdout ---\n%s--- stderr ---\n%s",
			err, strings.Join(args, " "), n.Stdout, n.Stderr)
	}

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("strata (pid %d) stdout:\n%s", n.PID(), n.Stdout)
			t.Logf("strata (pid %d) stderr:\n%s", n.PID(), n.Stderr)
		}
	})
	t.Cleanup(func() {
		if !n.Exited() {
			code, took, err := n.Stop(stopGrace)
			if err != nil {
				t.Errorf("stopping strata: %v", err)
			} else if code != 0 {
				t.Errorf("strata exited with status %d after SIGTERM (took %v), want 0", code, took)
			}
		}
		if !o.textLogs {
			checkECSLog(t, n.Stdout.String())
		}
	})
	return n, nil
}

// strataEnv is the test process's environment without STRATA_* variables.
func strataEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitReady polls /readyz until it answers 200, the process exits or ctx ends.
func (n *strataNode) waitReady(ctx context.Context) error {
	c := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		resp, err := c.Get(n.BaseURL() + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		last = err
		select {
		case <-n.done:
			return fmt.Errorf("strata exited before it was ready: %v", n.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("strata not ready: %v (last error: %v)", ctx.Err(), last)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM and waits up to grace for the process to exit; then it
// kills it and returns an error. It returns the exit status and how long the
// exit took.
func (n *strataNode) Stop(grace time.Duration) (code int, took time.Duration, err error) {
	start := time.Now()
	if !n.Exited() {
		if err := syscall.Kill(n.PID(), syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return -1, 0, err
		}
	}
	select {
	case <-n.done:
	case <-time.After(grace):
		n.kill()
		return -1, time.Since(start), fmt.Errorf("strata (pid %d) did not exit within %v of SIGTERM; killed", n.PID(), grace)
	}
	return exitCode(n.waitErr), time.Since(start), nil
}

// kill sends SIGKILL to the process group and waits for the exit.
func (n *strataNode) kill() {
	if !n.Exited() {
		_ = syscall.Kill(-n.PID(), syscall.SIGKILL)
	}
	<-n.done
}

// exitCode turns an exec wait error into an exit status; a death by signal
// is -1.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// checkECSLog fails t unless every line of out is a JSON object with the
// fields Elastic Common Schema requires of strata's log events.
func checkECSLog(t testing.TB, out string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 1; sc.Scan(); i++ {
		line := sc.Text()
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("stdout line %d is not JSON (%v): %q", i, err, line)
			continue
		}
		for _, f := range []string{"@timestamp", "log.level", "message", "ecs.version"} {
			if lookupDotted(ev, f) == nil {
				t.Errorf("stdout line %d lacks ECS field %q: %s", i, f, line)
			}
		}
		if ts, ok := ev["@timestamp"].(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Errorf("stdout line %d: @timestamp %q is not RFC 3339: %v", i, ts, err)
			}
		}
	}
}

// lookupDotted finds an ECS field either flat ("log.level": ...) or nested
// ("log": {"level": ...}); ECS allows both.
func lookupDotted(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	head, rest, ok := strings.Cut(key, ".")
	if !ok {
		return nil
	}
	sub, _ := m[head].(map[string]any)
	if sub == nil {
		return nil
	}
	return lookupDotted(sub, rest)
}

// startRedis starts a real redis-server on a free loopback port with
// persistence off and returns its address. It is stopped by PID at cleanup;
// its log is printed when the test fails.
func startRedis(t testing.TB) string {
	t.Helper()
	bin := requireTool(t, "redis-server")
	var lastErr error
	for range 3 {
		ports, err := freePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		out := &syncBuffer{}
		cmd := exec.Command(bin, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", t.TempDir())
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		if lastErr = waitPort(addr, done); lastErr != nil {
			cmd.Process.Kill()
			<-done
			lastErr = fmt.Errorf("%v\n%s", lastErr, out)
			continue
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(stopGrace):
				cmd.Process.Kill()
				<-done
				t.Errorf("redis-server (pid %d) ignored SIGTERM for %v; killed", cmd.Process.Pid, stopGrace)
			}
			if t.Failed() {
				t.Logf("redis-server %s log:\n%s", addr, out)
			}
		})
		return addr
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return ""
}

// waitPort waits up to 15s until addr accepts TCP connections, failing
// early when done (the server's exit) is closed.
func waitPort(addr string, done <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-done:
			return fmt.Errorf("server exited before accepting connections on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after 15s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// splitAddr splits host:port; it fails the test on a malformed address.
func splitAddr(t testing.TB, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// httpDo sends a request with an optional body and returns the response with
// its body read.
func httpDo(t testing.TB, method, url string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(b)
}

// metricValue returns the value of the Prometheus sample named name whose
// labels include every label in want (e.g. `tier="L1"`), and whether it was
// found.
func metricValue(text, name string, want ...string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // a longer metric name with the same prefix
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(","+labels+",", ","+w+",") {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			return v, true
		}
	}
	return 0, false
}
