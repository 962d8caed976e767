package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConsole checks the web console (web/, served at /ui/) in a real
// browser: web/build.sh --check proves the committed web/dist matches
// web/src, then web/test/console.test.mjs drives Debian's chromium through
// playwright-core against a strata that requires API keys, while this test
// keeps a RESP load running. The script checks that the 401 is shown as a
// message, that the overview's numbers move under load, and that a key is
// found by prefix, inspected and deleted (see the script for the rest).
//
// It needs node, npm and chromium: missing ones skip the test, or fail it
// under CI=true. STRATA_CONSOLE_SCREENSHOTS=DIR also writes a screenshot
// of each screen to DIR (docs/console/ holds the committed ones).
func TestConsole(t *testing.T) {
	requireStrata(t)
	nodeBin := requireTool(t, "node")
	requireTool(t, "npm")
	chromium := requireTool(t, "chromium")
	web, err := filepath.Abs("../web")
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, filepath.Join(web, "build.sh"), "--check")
	build.Dir = web
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("web/build.sh --check: %v\n%s", err, out)
	}

	const adminKey = "sk_console-e2e-admin"
	cfg := writeFile(t, "strata.yaml", fmt.Sprintf(`gateway:
  keys:
    - {name: console, hash: %q, scopes: [read, write, admin]}
slowlog:
  log_slower_than: 0s
  max_len: 64
`, gwHash(adminKey)))
	n := startStrata(t, "--config", cfg)

	const prefix = "console:e2e:"
	put := func(key, value string) {
		req, _ := http.NewRequest(http.MethodPut, n.BaseURL()+"/v1/kv/"+key, strings.NewReader(value))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("PUT %s: %s", key, resp.Status)
		}
	}
	put(prefix+"json", `{"name":"Ada","langs":["en","fr"]}`)
	put(prefix+"text", "hello")

	// Load over RESP for as long as the browser runs: SETs and GETs (hits
	// and misses), about 500 commands a second.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var loadErr error
	c := gwDial(t, n.RESPAddr)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if r, err := c.do("AUTH", adminKey); r != "+OK" {
			loadErr = fmt.Errorf("AUTH: %q %v", r, err)
			return
		}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			k := "load:" + strconv.Itoa(i%200)
			cmd := []string{"GET", k}
			if i%3 == 0 {
				cmd = []string{"SET", k, strings.Repeat("v", 64)}
			}
			if _, err := c.do(cmd...); err != nil {
				loadErr = fmt.Errorf("%s: %w", cmd[0], err)
				return
			}
		}
	}()

	args := []string{"test/console.test.mjs", n.BaseURL(), "--key", adminKey, "--prefix", prefix}
	if dir := os.Getenv("STRATA_CONSOLE_SCREENSHOTS"); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--screenshots", abs)
	}
	script := exec.CommandContext(ctx, nodeBin, args...)
	script.Dir = web
	script.Env = append(strataEnv(), "CHROMIUM="+chromium)
	start := time.Now()
	out, err := script.CombinedOutput()
	stopLoad()
	wg.Wait()
	t.Logf("console.test.mjs (%v):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("the browser test failed: %v", err)
	}
	if loadErr != nil {
		t.Fatalf("load: %v", loadErr)
	}
}
