package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// kvURL is the /v1/kv/ URL of key with every byte outside the unreserved
// set percent-encoded (so "/" is %2F and NUL is %00).
func kvURL(n *strataNode, key string) string {
	return n.BaseURL() + "/v1/kv/" + url.PathEscape(key)
}

// TestHTTPKV exercises the REST front end with net/http: the verbs, ETags
// and conditional requests, TTLs, encoded keys, and the single key space
// shared with RESP.
func TestHTTPKV(t *testing.T) {
	t.Parallel()
	n := startStrata(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: n.RESPAddr, Protocol: 3})
	defer rdb.Close()

	u := kvURL(n, "greeting")
	resp, body := httpDo(t, http.MethodPut, u, strings.NewReader("hello"), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("PUT new key: %s %q, want 201 Created", resp.Status, body)
	}
	resp, body = httpDo(t, http.MethodPut, u, strings.NewReader("hello, world"), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("PUT existing key: %s %q, want 204 No Content", resp.Status, body)
	}
	etagPut := resp.Header.Get("ETag")

	resp, body = httpDo(t, http.MethodGet, u, nil, nil)
	if resp.StatusCode != http.StatusOK || body != "hello, world" {
		t.Fatalf("GET: %s %q, want 200 \"hello, world\"", resp.Status, body)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("GET: no ETag header")
	}
	if etagPut != "" && etagPut != etag {
		t.Errorf("ETag of PUT %s differs from ETag of GET %s for the same value", etagPut, etag)
	}
	if xc := resp.Header.Get("X-Cache"); !strings.Contains(xc, "L1") {
		t.Errorf("GET: X-Cache = %q, want the tier (L1)", xc)
	}

	// Conditional requests.
	resp, body = httpDo(t, http.MethodGet, u, nil, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("GET If-None-Match: current ETag: %s %q, want 304 with no body", resp.Status, body)
	}
	if resp.Header.Get("ETag") != etag {
		t.Errorf("304 ETag = %q, want %q", resp.Header.Get("ETag"), etag)
	}
	resp, _ = httpDo(t, http.MethodGet, u, nil, map[string]string{"If-None-Match": `"stale"`})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET If-None-Match: other ETag: %s, want 200", resp.Status)
	}
	resp, body = httpDo(t, http.MethodPut, u, strings.NewReader("lost update"), map[string]string{"If-Match": `"stale"`})
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PUT If-Match: other ETag: %s %q, want 412", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("412 Content-Type = %q, want application/problem+json", ct)
	}
	resp, body = httpDo(t, http.MethodPut, u, strings.NewReader("updated"), map[string]string{"If-Match": etag})
	if resp.StatusCode/100 != 2 {
		t.Errorf("PUT If-Match: current ETag: %s %q, want 2xx", resp.Status, body)
	}

	// HEAD: the headers of GET, no body.
	resp, body = httpDo(t, http.MethodHead, u, nil, nil)
	if resp.StatusCode != http.StatusOK || body != "" || resp.ContentLength != int64(len("updated")) {
		t.Errorf("HEAD: %s, body %q, Content-Length %d; want 200, no body, %d", resp.Status, body, resp.ContentLength, len("updated"))
	}
	if resp.Header.Get("ETag") == "" {
		t.Error("HEAD: no ETag header")
	}

	// DELETE, then the key is gone.
	resp, body = httpDo(t, http.MethodDelete, u, nil, nil)
	if resp.StatusCode/100 != 2 {
		t.Errorf("DELETE: %s %q, want 2xx", resp.Status, body)
	}
	resp, body = httpDo(t, http.MethodGet, u, nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET after DELETE: %s %q, want 404", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("404 Content-Type = %q, want application/problem+json", ct)
	}
	resp, _ = httpDo(t, http.MethodDelete, u, nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE missing key: %s, want 404", resp.Status)
	}

	// TTL from ?ttl=, seen over RESP.
	resp, body = httpDo(t, http.MethodPut, kvURL(n, "ttl-key")+"?ttl=30s", strings.NewReader("v"), nil)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT ?ttl=30s: %s %q", resp.Status, body)
	}
	if ttl, err := rdb.TTL(ctx, "ttl-key").Result(); err != nil || ttl < 25*time.Second || ttl > 30*time.Second {
		t.Errorf("RESP TTL of a key PUT with ?ttl=30s = %v, %v; want 25s..30s", ttl, err)
	}
	resp, body = httpDo(t, http.MethodPut, kvURL(n, "ttl-key")+"?ttl=soon", strings.NewReader("v"), nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT ?ttl=soon: %s %q, want 400", resp.Status, body)
	}

	// Keys that need percent-encoding, written over HTTP, read over RESP
	// and back.
	for _, key := range []string{"a/b", "nul\x00key", "sp ace?&#%", "ütf-8", "..", "%2F"} {
		value := "value of " + key
		resp, body := httpDo(t, http.MethodPut, kvURL(n, key), strings.NewReader(value), nil)
		if resp.StatusCode/100 != 2 {
			t.Errorf("PUT %q (%s): %s %q", key, kvURL(n, key), resp.Status, body)
			continue
		}
		if got, err := rdb.Get(ctx, key).Result(); err != nil || got != value {
			t.Errorf("RESP GET %q after HTTP PUT = %q, %v; want %q", key, got, err, value)
		}
		resp, body = httpDo(t, http.MethodGet, kvURL(n, key), nil, nil)
		if resp.StatusCode != http.StatusOK || body != value {
			t.Errorf("HTTP GET %q = %s %q, want %q", key, resp.Status, body, value)
		}
	}

	// Written over RESP, read and deleted over HTTP.
	bin := "\x00\xff\r\nbinary"
	if err := rdb.Set(ctx, "from/resp", bin, 0).Err(); err != nil {
		t.Fatal(err)
	}
	resp, body = httpDo(t, http.MethodGet, kvURL(n, "from/resp"), nil, nil)
	if resp.StatusCode != http.StatusOK || body != bin {
		t.Errorf("HTTP GET of a key SET over RESP: %s %q, want %q", resp.Status, body, bin)
	}
	if err := rdb.Set(ctx, "from/resp", "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	resp, body = httpDo(t, http.MethodGet, kvURL(n, "from/resp"), nil, map[string]string{"If-None-Match": resp.Header.Get("ETag")})
	if resp.StatusCode != http.StatusOK || body != "v2" {
		t.Errorf("GET If-None-Match: ETag of a value since overwritten over RESP: %s %q, want 200 \"v2\"", resp.Status, body)
	}
	httpDo(t, http.MethodDelete, kvURL(n, "from/resp"), nil, nil)
	if n, err := rdb.Exists(ctx, "from/resp").Result(); err != nil || n != 0 {
		t.Errorf("RESP EXISTS after HTTP DELETE = %d, %v; want 0", n, err)
	}

	// Health, stats and metrics.
	for _, p := range []string{"/livez", "/readyz"} {
		if resp, body := httpDo(t, http.MethodGet, n.BaseURL()+p, nil, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s %q", p, resp.Status, body)
		}
	}
	var stats struct {
		Tiers map[string]struct {
			Hits      *float64 `json:"hits"`
			Misses    *float64 `json:"misses"`
			Evictions *float64 `json:"evictions"`
			Keys      *float64 `json:"keys"`
			UsedBytes *float64 `json:"used_bytes"`
			MaxBytes  *float64 `json:"max_bytes"`
		} `json:"tiers"`
	}
	resp, body = httpDo(t, http.MethodGet, n.BaseURL()+"/v1/stats", nil, nil)
	if err := json.Unmarshal([]byte(body), &stats); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/v1/stats: %s %v: %s", resp.Status, err, body)
	}
	l1, ok := stats.Tiers["L1"]
	switch {
	case !ok:
		t.Errorf("/v1/stats has no tiers.L1: %s", body)
	case l1.Hits == nil || l1.Misses == nil || l1.Evictions == nil || l1.Keys == nil || l1.UsedBytes == nil || l1.MaxBytes == nil:
		t.Errorf("/v1/stats tiers.L1 lacks one of hits, misses, evictions, keys, used_bytes, max_bytes: %s", body)
	case *l1.Hits < 1 || *l1.Keys < 1:
		t.Errorf("/v1/stats tiers.L1 counts no hits or no keys after the requests above: %s", body)
	}
	_, metrics := httpDo(t, http.MethodGet, n.BaseURL()+"/metrics", nil, nil)
	for _, m := range []struct{ name, label string }{
		{"strata_keyspace_hits_total", `tier="L1"`},
		{"strata_evicted_keys_total", `tier="L1"`},
		{"strata_memory_used_bytes", `tier="L1"`},
		{"strata_memory_max_bytes", `tier="L1"`},
		{"strata_commands_total", `cmd="get"`},
	} {
		if _, ok := metricValue(metrics, m.name, m.label); !ok {
			t.Errorf("/metrics has no %s{%s}", m.name, m.label)
		}
	}
	if v, _ := metricValue(metrics, "strata_memory_max_bytes", `tier="L1"`); v != 1<<30 {
		t.Errorf(`strata_memory_max_bytes{tier="L1"} = %v, want the default 1GiB`, v)
	}
}

// TestHTTPCurl talks to the REST front end with curl, as an operator would.
func TestHTTPCurl(t *testing.T) {
	t.Parallel()
	curl := requireTool(t, "curl")
	n := startStrata(t)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, curl, append([]string{"-sS"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	base := n.BaseURL() + "/v1/kv/"

	if code := run("-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "curl value", base+"dir%2Fkey"); code != "201" {
		t.Errorf("curl PUT: status %s, want 201", code)
	}
	if body := run(base + "dir%2Fkey"); body != "curl value" {
		t.Errorf("curl GET = %q, want \"curl value\"", body)
	}
	headers := run("-I", base+"dir%2Fkey")
	var etag string
	for _, l := range strings.Split(headers, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "ETag") {
			etag = strings.TrimSpace(v)
		}
	}
	if !strings.HasPrefix(headers, "HTTP/1.1 200") || etag == "" {
		t.Fatalf("curl -I: want 200 with an ETag, got:\n%s", headers)
	}
	if code := run("-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: "+etag, base+"dir%2Fkey"); code != "304" {
		t.Errorf("curl GET If-None-Match %s: status %s, want 304", etag, code)
	}
	if code := run("-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "x", "-H", `If-Match: "other"`, base+"dir%2Fkey"); code != "412" {
		t.Errorf("curl PUT If-Match other: status %s, want 412", code)
	}
	if code := run("-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "nul", base+"nul%00key"); code != "201" {
		t.Errorf("curl PUT key with %%00: status %s, want 201", code)
	}
	if body := run(base + "nul%00key"); body != "nul" {
		t.Errorf("curl GET key with %%00 = %q, want \"nul\"", body)
	}
	if code := run("-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", base+"dir%2Fkey"); code != "204" {
		t.Errorf("curl DELETE: status %s, want 204", code)
	}
	if code := run("-o", "/dev/null", "-w", "%{http_code}", base+"dir%2Fkey"); code != "404" {
		t.Errorf("curl GET after DELETE: status %s, want 404", code)
	}
	if code := run("-o", "/dev/null", "-w", "%{http_code}", n.BaseURL()+"/readyz"); code != "200" {
		t.Errorf("curl /readyz: status %s, want 200", code)
	}
}

// TestCLIVerbs runs strata's client verbs against a node.
func TestCLIVerbs(t *testing.T) {
	t.Parallel()
	n := startStrata(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: n.RESPAddr, Protocol: 3})
	defer rdb.Close()
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, strataBin, append(args, "--server", n.BaseURL())...)
		cmd.Env = strataEnv()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil && exitCode(err) < 0 {
			t.Fatalf("strata %v: %v", args, err)
		}
		return stdout.String(), stderr.String(), exitCode(err)
	}

	if out, errOut, code := run("set", "cli/key", "cli value"); code != 0 || strings.TrimSpace(out) != "OK" {
		t.Errorf("strata set: exit %d, stdout %q, stderr %q; want 0, OK", code, out, errOut)
	}
	if out, errOut, code := run("get", "cli/key"); code != 0 || out != "cli value\n" {
		t.Errorf("strata get: exit %d, stdout %q, stderr %q; want 0, \"cli value\\n\"", code, out, errOut)
	}
	if got, err := rdb.Get(ctx, "cli/key").Result(); err != nil || got != "cli value" {
		t.Errorf("RESP GET of a key set by the CLI = %q, %v", got, err)
	}
	if out, errOut, code := run("get", "cli/missing"); code != 1 || errOut == "" {
		t.Errorf("strata get missing: exit %d, stdout %q, stderr %q; want exit 1 and a message", code, out, errOut)
	}
	if _, errOut, code := run("set", "cli/ttl", "v", "--ttl", "30s"); code != 0 {
		t.Errorf("strata set --ttl 30s: exit %d, stderr %q", code, errOut)
	}
	if ttl, err := rdb.TTL(ctx, "cli/ttl").Result(); err != nil || ttl < 25*time.Second || ttl > 30*time.Second {
		t.Errorf("RESP TTL of a key set with --ttl 30s = %v, %v", ttl, err)
	}
	if err := rdb.Set(ctx, "resp/key", "from resp", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if out, _, code := run("get", "resp/key"); code != 0 || out != "from resp\n" {
		t.Errorf("strata get of a key SET over RESP: exit %d, %q", code, out)
	}
	if out, errOut, code := run("del", "cli/key", "cli/ttl", "cli/missing"); code != 0 || strings.TrimSpace(out) != "2" {
		t.Errorf("strata del (2 existing, 1 missing): exit %d, stdout %q, stderr %q; want 0, 2", code, out, errOut)
	}
	out, errOut, code := run("stats")
	var stats struct {
		Tiers map[string]map[string]any `json:"tiers"`
	}
	if err := json.Unmarshal([]byte(out), &stats); err != nil || code != 0 {
		t.Fatalf("strata stats: exit %d, %v: %q %q", code, err, out, errOut)
	}
	if _, ok := stats.Tiers["L1"]["keys"]; !ok {
		t.Errorf("strata stats has no tiers.L1.keys: %s", out)
	}

	// A node that is not there: a clear error, exit non-zero.
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, strataBin, "get", "k", "--server", fmt.Sprintf("http://127.0.0.1:%d", ports[0]))
	cmd.Env = strataEnv()
	b, err := cmd.CombinedOutput()
	if exitCode(err) == 0 || !strings.Contains(string(b), "--server") {
		t.Errorf("strata get against no server: exit %d, output %q; want non-zero and a hint about --server", exitCode(err), b)
	}
}
