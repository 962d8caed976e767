package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reBenchLine matches redis-benchmark -q summary lines, e.g.
// "SET: 98039.22 requests per second, p50=0.135 msec".
var reBenchLine = regexp.MustCompile(`(?m)^\s*([A-Z][A-Za-z ()0-9]*?): +([0-9.]+) requests per second`)

// TestRedisBenchmark runs redis-benchmark to completion against strata,
// without and with pipelining. Throughput is printed, never asserted: the
// test machine's speed is not strata's.
func TestRedisBenchmark(t *testing.T) {
	t.Parallel()
	bench := requireTool(t, "redis-benchmark")
	_, addr := respTarget(t)
	host, port := splitAddr(t, addr)
	for _, pipeline := range []string{"1", "16"} {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		cmd := exec.CommandContext(ctx, bench, "-h", host, "-p", port,
			"-t", "set,get,incr,mset", "-n", "20000", "-c", "20", "-P", pipeline, "-q")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("redis-benchmark -P %s: %v\nstdout:\n%s\nstderr:\n%s", pipeline, err, stdout.String(), stderr.String())
			continue
		}
		got := map[string]float64{}
		// Progress lines end in \r, the final result of each test in \n.
		out := strings.ReplaceAll(stdout.String(), "\r", "\n")
		for _, m := range reBenchLine.FindAllStringSubmatch(out, -1) {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil || v <= 0 {
				t.Errorf("redis-benchmark -P %s: bad rate in %q", pipeline, m[0])
			}
			got[m[1]] = v
		}
		for _, test := range []string{"SET", "GET", "INCR", "MSET (10 keys)"} {
			if _, ok := got[test]; !ok {
				t.Errorf("redis-benchmark -P %s printed no %q result:\n%s\nstderr:\n%s", pipeline, test, out, stderr.String())
			}
		}
		t.Logf("redis-benchmark -n 20000 -c 20 -P %s: %v requests/s", pipeline, got)
	}
}
