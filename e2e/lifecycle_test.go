package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to name in a fresh temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runStrata runs a strata subcommand to completion and returns its output
// and exit status.
func runStrata(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, strataBin, args...)
	cmd.Env = append(strataEnv(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil && exitCode(err) < 0 {
		t.Fatalf("strata %v: %v", args, err)
	}
	return o.String(), e.String(), exitCode(err)
}

// TestGracefulShutdown sends SIGTERM while a slow HTTP upload and a large
// RESP pipeline are in flight: /readyz must turn 503 during the drain delay,
// both requests must complete, and the process must exit 0 within
// shutdown.timeout.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	requireStrata(t)
	const (
		drainDelay = time.Second
		timeout    = 5 * time.Second
	)
	cfg := writeFile(t, "strata.yaml", fmt.Sprintf("shutdown:\n  drain_delay: %s\n", drainDelay))
	n := startStrata(t, "--config", cfg, "--shutdown-timeout", timeout.String())

	// The slow upload: headers and the first half of the body now, the
	// rest trickling in until well after the drain delay.
	const half = 64 << 10
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, kvURL(n, "slow/upload"), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 2 * half
	type result struct {
		status int
		body   string
		err    error
	}
	putDone := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			putDone <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		putDone <- result{status: resp.StatusCode, body: string(b)}
	}()
	if _, err := pw.Write(bytes.Repeat([]byte("a"), half)); err != nil {
		t.Fatal(err)
	}

	// The RESP pipeline: written in full before SIGTERM; its replies are
	// still being produced and read when the signal arrives.
	const batch = 2000
	rc, err := net.DialTimeout("tcp", n.RESPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	value := strings.Repeat("v", 4096)
	var pipeline bytes.Buffer
	for i := range batch {
		key := fmt.Sprintf("batch:%d", i)
		fmt.Fprintf(&pipeline, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, len(value), value)
	}
	firstReply := make(chan struct{})
	respDone := make(chan error, 2)
	go func() {
		r := bufio.NewReader(rc)
		rc.SetReadDeadline(time.Now().Add(30 * time.Second))
		for i := range batch {
			line, err := r.ReadString('\n')
			if err != nil {
				respDone <- fmt.Errorf("reply %d of %d: %v", i+1, batch, err)
				return
			}
			if line != "+OK\r\n" {
				respDone <- fmt.Errorf("reply %d of %d: %q, want +OK", i+1, batch, line)
				return
			}
			if i == 0 {
				close(firstReply)
			}
		}
		// After the last reply the server closes the connection.
		if b, err := r.ReadByte(); err == nil {
			respDone <- fmt.Errorf("unexpected byte %q after the last reply", b)
			return
		}
		respDone <- nil
	}()
	go func() {
		if _, err := rc.Write(pipeline.Bytes()); err != nil {
			respDone <- fmt.Errorf("writing the pipeline: %v", err)
		}
	}()
	select {
	case <-firstReply:
	case err := <-respDone:
		t.Fatalf("RESP pipeline before SIGTERM: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no RESP reply within 30s")
	}

	// SIGTERM, then watch /readyz during the drain delay.
	sigAt := time.Now()
	stopped := make(chan struct{})
	var code int
	var took time.Duration
	var stopErr error
	go func() {
		code, took, stopErr = n.Stop(stopGrace)
		close(stopped)
	}()
	saw503 := false
	deadline := sigAt.Add(drainDelay)
	for time.Now().Before(deadline) && !saw503 {
		resp, err := (&http.Client{Timeout: time.Second}).Get(n.BaseURL() + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			saw503 = resp.StatusCode == http.StatusServiceUnavailable
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !saw503 {
		t.Errorf("/readyz never answered 503 during the %v drain delay after SIGTERM", drainDelay)
	}

	// Finish the upload only after the drain delay has passed, when the
	// listeners are closed and Shutdown waits for active requests.
	go func() {
		time.Sleep(time.Until(sigAt.Add(drainDelay + 300*time.Millisecond)))
		chunk := bytes.Repeat([]byte("b"), half/4)
		for range 4 {
			if _, err := pw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	select {
	case r := <-putDone:
		if r.err != nil || r.status != http.StatusCreated {
			t.Errorf("PUT in flight at SIGTERM: status %d, %v, %q; want 201 Created", r.status, r.err, r.body)
		}
	case <-time.After(timeout + 5*time.Second):
		t.Error("PUT in flight at SIGTERM did not complete")
	}
	if err := <-respDone; err != nil {
		t.Errorf("RESP pipeline in flight at SIGTERM: %v", err)
	}

	<-stopped
	if stopErr != nil {
		t.Fatal(stopErr)
	}
	t.Logf("strata exited with status %d %v after SIGTERM (drain delay %v, shutdown timeout %v)", code, took.Round(time.Millisecond), drainDelay, timeout)
	if code != 0 {
		t.Errorf("exit status %d after a graceful shutdown, want 0", code)
	}
	// The upload ends about 1.7s after SIGTERM; the whole shutdown must
	// fit in shutdown.timeout, with a second of slack for process teardown.
	if took > timeout+time.Second {
		t.Errorf("exit took %v after SIGTERM, want within shutdown.timeout %v", took, timeout)
	}
}

// TestShutdownIdle checks that SIGTERM with only idle connections open
// closes them and exits 0 promptly, without waiting out the timeout.
func TestShutdownIdle(t *testing.T) {
	t.Parallel()
	n := startStrata(t, "--shutdown-timeout", "8s")
	rc, err := net.DialTimeout("tcp", n.RESPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(rc)
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("inline PING: %q, %v", line, err)
	}
	// An idle keep-alive HTTP connection.
	httpDo(t, http.MethodGet, n.BaseURL()+"/livez", nil, nil)

	code, took, err := n.Stop(stopGrace)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("idle shutdown: exit status %d after %v", code, took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if took > 5*time.Second {
		t.Errorf("idle shutdown took %v; with no request in flight it should not wait for the 8s timeout", took)
	}
	rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := r.ReadByte(); err == nil {
		t.Errorf("idle RESP connection got %q after shutdown, want it closed", b)
	}
}

// TestShutdownTimeout checks that a client stalling mid-request cannot keep
// the process alive past shutdown.timeout.
func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	n := startStrata(t, "--shutdown-timeout", timeout.String())
	c, err := net.DialTimeout("tcp", n.HTTPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Headers promising a body that never comes.
	fmt.Fprintf(c, "PUT /v1/kv/stalled HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000000\r\n\r\npartial", n.HTTPAddr)
	time.Sleep(200 * time.Millisecond)

	code, took, err := n.Stop(stopGrace)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shutdown with a stalled upload: exit status %d after %v (timeout %v)", code, took.Round(time.Millisecond), timeout)
	if took > timeout+2*time.Second {
		t.Errorf("exit took %v, want about shutdown.timeout %v", took, timeout)
	}
}

// TestConfigValidate checks `strata config validate` on good and bad files.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	requireStrata(t)
	good := writeFile(t, "good.yaml", `# a typical production file
resp:
  addr: 127.0.0.1:6380
http:
  addr: 127.0.0.1:8080
cache:
  max_memory: 512mb
log:
  level: info
  format: ecs
shutdown:
  timeout: 15s
  drain_delay: 2s
`)
	out, errOut, code := runStrata(t, nil, "config", "validate", good)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("config validate good file: exit %d, stdout %q, stderr %q; want 0 and ok", code, out, errOut)
	}

	for _, bad := range []struct{ name, content, field string }{
		{"unknown-field", "cache:\n  max_memroy: 1gb\n", "cache.max_memroy"},
		{"bad-size", "cache:\n  max_memory: lots\n", "cache.max_memory"},
		{"zero-size", "cache:\n  max_memory: 0\n", "cache.max_memory"},
		{"bad-duration", "shutdown:\n  timeout: soon\n", "shutdown.timeout"},
		{"bad-enum", "log:\n  format: xml\n", "log.format"},
		{"unknown-section", "caches:\n  max_memory: 1gb\n", "caches"},
	} {
		p := writeFile(t, bad.name+".yaml", bad.content)
		out, errOut, code := runStrata(t, nil, "config", "validate", p)
		if code == 0 || !strings.Contains(out+errOut, bad.field) {
			t.Errorf("config validate %s (%q): exit %d, stdout %q, stderr %q; want non-zero and the field %s",
				bad.name, bad.content, code, out, errOut, bad.field)
		}
	}
	_, errOut, code = runStrata(t, nil, "config", "validate", filepath.Join(t.TempDir(), "missing.yaml"))
	if code == 0 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("config validate of a missing file: exit %d, stderr %q; want non-zero naming the file", code, errOut)
	}

	out, _, code = runStrata(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "strata ") {
		t.Errorf("strata version: exit %d, %q", code, out)
	}
}

// TestEnvConfig checks STRATA_<SECTION>_<FIELD> configuration and the
// rejection of unknown STRATA_* variables.
func TestEnvConfig(t *testing.T) {
	t.Parallel()
	n := startStrataWith(t, strataOpts{env: []string{"STRATA_CACHE_MAX_MEMORY=32mb"}})
	var stats struct {
		Tiers map[string]struct {
			MaxBytes float64 `json:"max_bytes"`
		} `json:"tiers"`
	}
	_, body := httpDo(t, http.MethodGet, n.BaseURL()+"/v1/stats", nil, nil)
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	if got := stats.Tiers["L1"].MaxBytes; got != 32<<20 {
		t.Errorf("STRATA_CACHE_MAX_MEMORY=32mb: tiers.L1.max_bytes = %.0f, want %d", got, 32<<20)
	}

	// Flags override the environment.
	n2 := startStrataWith(t, strataOpts{env: []string{"STRATA_CACHE_MAX_MEMORY=32mb"}, args: []string{"--max-memory", "16mb"}})
	_, body = httpDo(t, http.MethodGet, n2.BaseURL()+"/v1/stats", nil, nil)
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	if got := stats.Tiers["L1"].MaxBytes; got != 16<<20 {
		t.Errorf("--max-memory 16mb with STRATA_CACHE_MAX_MEMORY=32mb: max_bytes = %.0f, want %d", got, 16<<20)
	}

	// A typo in a variable name is an error naming it; serve does not start.
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runStrata(t, []string{"STRATA_CACHE_MAX_MEMROY=32mb"}, "serve",
		"--resp-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--http-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]))
	if code == 0 || !strings.Contains(errOut, "STRATA_CACHE_MAX_MEMROY") {
		t.Errorf("serve with STRATA_CACHE_MAX_MEMROY: exit %d, stderr %q; want non-zero naming the variable", code, errOut)
	}
}

// TestECSLog runs a node at debug level, drives both front ends (including
// failing requests) and checks every stdout line is an ECS JSON event.
func TestECSLog(t *testing.T) {
	t.Parallel()
	n := startStrata(t, "--log-level", "debug", "--log-format", "ecs")
	httpDo(t, http.MethodPut, kvURL(n, "k"), strings.NewReader("v"), nil)
	httpDo(t, http.MethodGet, kvURL(n, "missing"), nil, nil)
	httpDo(t, http.MethodPut, kvURL(n, "k")+"?ttl=bad", strings.NewReader("v"), nil)
	if c, err := net.DialTimeout("tcp", n.RESPAddr, 5*time.Second); err == nil {
		// A protocol error makes the server log and drop the connection.
		c.Write([]byte("*1\r\n$abc\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
	}
	code, _, err := n.Stop(stopGrace)
	if err != nil || code != 0 {
		t.Fatalf("stop: status %d, %v", code, err)
	}
	out := n.Stdout.String()
	lines := strings.Count(out, "\n")
	if lines < 2 {
		t.Errorf("stdout has %d log lines, want at least the start and stop events:\n%s", lines, out)
	}
	checkECSLog(t, out)
	if s := n.Stderr.String(); s != "" {
		t.Logf("stderr (not checked as ECS):\n%s", s)
	}
}
