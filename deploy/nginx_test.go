package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/node"
	"github.com/strata-cache/strata/internal/server/httpapi"
	"github.com/strata-cache/strata/internal/telemetry"
	"github.com/strata-cache/strata/internal/testenv/nginx"
	"github.com/strata-cache/strata/internal/testenv/procs"
)

// The shipped NGINX configuration (nginx/) and the placeholders in it that
// an operator edits, which the tests replace with their own addresses.
// Everything else in the files is tested as shipped.
const (
	nginxMain   = "nginx/nginx.conf"
	nginxHTTP   = "nginx/strata-http.conf"
	nginxStream = "nginx/strata-stream.conf"

	nginxHTTPListen   = "listen 80;"
	nginxStreamListen = "listen 6379;"
	// nginxModules is the line of nginx.conf that loads Debian's dynamic
	// modules; the tests load the stream module explicitly instead.
	nginxModules = "include /etc/nginx/modules-enabled/*.conf;"
	// nginxAccessLog is nginx.conf's access log, moved by the tests into
	// NGINX's temporary directory.
	nginxAccessLog = "access_log /var/log/nginx/access.log strata;"
)

var (
	nginxHTTPNodes   = []string{"127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"}
	nginxStreamNodes = []string{"127.0.0.1:6381", "127.0.0.1:6382", "127.0.0.1:6383"}
	// nginxMainPaths matches the main-context directives of nginx.conf
	// that name system paths or the worker count; the test harness gives
	// its own (nginx.Data.Main).
	nginxMainPaths = regexp.MustCompile(`(?m)^(worker_processes|error_log|pid)\s[^\n]*;\n`)
)

// replaceOnce replaces old with replacement in text, failing the test
// unless old occurs exactly once: a placeholder that moved or was
// duplicated would otherwise leave the shipped address in the test's
// configuration.
func replaceOnce(t *testing.T, where, text, old, replacement string) string {
	t.Helper()
	if n := strings.Count(text, old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", where, old, n)
	}
	return strings.Replace(text, old, replacement, 1)
}

// nginxWithStream finds nginx and returns the main-context directive that
// loads its stream module: "" when the module is built in, a load_module
// line when it is a dynamic module (Debian's libnginx-mod-stream). A
// missing nginx or module skips the test, or fails it under CI=true.
func nginxWithStream(t *testing.T) (bin, loadModule string) {
	t.Helper()
	bin, err := procs.LookPath("nginx", "apt-get install nginx", "/usr/sbin")
	procs.Require(t, err)
	out, err := exec.Command(bin, "-V").CombinedOutput() // nginx -V prints to stderr
	if err != nil {
		t.Fatalf("nginx -V: %v\n%s", err, out)
	}
	modules := ""
	stream := ""
	for _, f := range strings.Fields(string(out)) {
		switch {
		case f == "--with-stream" || f == "--with-stream=dynamic":
			stream = f
		case strings.HasPrefix(f, "--modules-path="):
			modules = strings.TrimPrefix(f, "--modules-path=")
		case strings.HasPrefix(f, "--prefix=") && modules == "":
			modules = filepath.Join(strings.TrimPrefix(f, "--prefix="), "modules")
		}
	}
	switch stream {
	case "--with-stream":
		return bin, ""
	case "--with-stream=dynamic":
		so := filepath.Join(modules, "ngx_stream_module.so")
		if _, err := os.Stat(so); err != nil {
			procs.Require(t, &procs.NotInstalledError{Binary: so, Hint: "apt-get install libnginx-mod-stream"})
		}
		return bin, "load_module " + so + ";"
	}
	procs.Require(t, &procs.NotInstalledError{Binary: "nginx with the stream module", Hint: "an nginx built --with-stream"})
	return "", ""
}

// TestNginxShippedConfigSyntax runs "nginx -t" on nginx/nginx.conf with its
// two includes, as shipped but for the paths NGINX writes to (moved into a
// temporary directory) and the module include (the stream module is loaded
// explicitly). Warnings fail the test too.
func TestNginxShippedConfigSyntax(t *testing.T) {
	bin, load := nginxWithStream(t)
	dir := t.TempDir()
	for _, f := range []string{nginxHTTP, nginxStream} {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), readFile(t, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := string(readFile(t, nginxMain))
	main = replaceOnce(t, nginxMain, main, "error_log /var/log/nginx/error.log notice;", "error_log "+filepath.Join(dir, "error.log")+" notice;")
	main = replaceOnce(t, nginxMain, main, "pid /run/nginx.pid;", "pid "+filepath.Join(dir, "nginx.pid")+";")
	main = replaceOnce(t, nginxMain, main, nginxModules, load)
	temps := ""
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		temps += "\n    " + d + "_temp_path " + filepath.Join(dir, d) + ";"
	}
	main = replaceOnce(t, nginxMain, main, nginxAccessLog, "access_log "+filepath.Join(dir, "access.log")+" strata;"+temps)
	mainPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainPath, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-p", dir, "-c", mainPath, "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		// The descriptor limit depends on the machine, not on the files.
		if strings.Contains(line, "[warn]") && !strings.Contains(line, "open file resource limit") {
			t.Errorf("nginx -t warns: %s", line)
		}
	}
	t.Logf("nginx -t:\n%s", out)
}

// nginxTemplate builds an nginx.Options.Config template from the shipped
// files: nginx.conf with the harness's main and http directives in place of
// its system paths, and the two includes inlined with the placeholder
// node addresses and listen ports replaced. Every other directive is as
// shipped.
func nginxTemplate(t *testing.T, load string, httpNodes, respNodes []string, streamListen string) string {
	t.Helper()
	httpConf := string(readFile(t, nginxHTTP))
	for i, p := range nginxHTTPNodes {
		httpConf = replaceOnce(t, nginxHTTP, httpConf, "server "+p+" ", "server "+httpNodes[i]+" ")
	}
	httpConf = replaceOnce(t, nginxHTTP, httpConf, nginxHTTPListen, "listen {{.Listen}};")
	streamConf := string(readFile(t, nginxStream))
	for i, p := range nginxStreamNodes {
		streamConf = replaceOnce(t, nginxStream, streamConf, "server "+p+" ", "server "+respNodes[i]+" ")
	}
	streamConf = replaceOnce(t, nginxStream, streamConf, nginxStreamListen, "listen "+streamListen+";")
	main := string(readFile(t, nginxMain))
	if strings.Contains(main+string(readFile(t, nginxHTTP))+string(readFile(t, nginxStream)), "{{") {
		t.Fatal("the shipped files contain {{, which text/template would take for an action")
	}
	if n := len(nginxMainPaths.FindAllString(main, -1)); n != 3 {
		t.Fatalf("%s: %d of worker_processes, error_log and pid found at the start of a line, want 3", nginxMain, n)
	}
	main = "{{.Main}}\n" + nginxMainPaths.ReplaceAllString(main, "")
	main = replaceOnce(t, nginxMain, main, nginxModules, load)
	main = replaceOnce(t, nginxMain, main, nginxAccessLog, "access_log {{.Dir}}/logs/strata-access.log strata;\n{{.HTTP}}")
	main = replaceOnce(t, nginxMain, main, "include strata-http.conf;", httpConf)
	main = replaceOnce(t, nginxMain, main, "include strata-stream.conf;", streamConf)
	return main
}

// nginxFleet is three in-process strata nodes (embedded mode: L1 only, no
// Redis, no PostgreSQL) behind a real NGINX running the shipped
// configuration.
type nginxFleet struct {
	nodes  []*node.Node
	nginx  *nginx.Server
	stream string // NGINX's RESP address
	client *http.Client
	// accessLog is NGINX's access log in the shipped "strata" format.
	accessLog string
}

// startNginxFleet starts the nodes and NGINX, and stops them when the test
// ends (NGINX first).
func startNginxFleet(t *testing.T) *nginxFleet {
	t.Helper()
	_, load := nginxWithStream(t)
	f := &nginxFleet{client: &http.Client{Timeout: 30 * time.Second}}
	var httpNodes, respNodes []string
	for range 3 {
		n := startNode(t, nil)
		f.nodes = append(f.nodes, n)
		httpNodes = append(httpNodes, n.HTTPAddr())
		respNodes = append(respNodes, n.RESPAddr())
	}
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	f.stream = "127.0.0.1:" + strconv.Itoa(port)
	f.nginx = nginx.New(t, nginx.Options{Config: nginxTemplate(t, load, httpNodes, respNodes, f.stream)})
	f.accessLog = filepath.Join(filepath.Dir(f.nginx.ErrorLogPath()), "logs", "strata-access.log")
	t.Cleanup(func() {
		f.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("--- last lines of %s ---\n%s", f.accessLog, procs.Tail(f.accessLog, 40))
		}
	})
	return f
}

// do sends a request and returns the response with its body read.
func (f *nginxFleet) do(t *testing.T, method, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, string(b)
}

// holders returns the indexes of the running nodes (not in stopped) whose
// own HTTP API has key, asked directly rather than through NGINX.
func (f *nginxFleet) holders(t *testing.T, key string, stopped map[int]bool) []int {
	t.Helper()
	var out []int
	for i, n := range f.nodes {
		if stopped[i] {
			continue
		}
		resp, _ := f.do(t, http.MethodGet, "http://"+n.HTTPAddr()+httpapi.KeyPath(key), "", nil)
		switch resp.StatusCode {
		case http.StatusOK:
			out = append(out, i)
		case http.StatusNotFound:
		default:
			t.Fatalf("node %d: GET %q: %d", i, key, resp.StatusCode)
		}
	}
	return out
}

// httpCounter returns the sum over nodes of the counter name's series
// that are labelled proto="http" or have no proto label, read from the
// nodes' registries (not /metrics, whose scrape would open a connection).
func httpCounter(t *testing.T, nodes []*node.Node, name string) float64 {
	t.Helper()
	sum := 0.0
	for _, n := range nodes {
		mfs, err := n.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				proto := ""
				for _, l := range m.GetLabel() {
					if l.GetName() == "proto" {
						proto = l.GetValue()
					}
				}
				if proto == "" || proto == telemetry.ProtoHTTP {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// nginxKey returns the i-th test key. Some hold bytes that must be
// percent-encoded ('/', ' ', '?', '%', UTF-8), and a few are paths that
// NGINX normalizes ("..", "a//b", "x/../y"), so that hashing on NGINX's
// decoded and normalized $uri is exercised along with plain keys.
func nginxKey(i int) string {
	switch {
	case i == 5:
		return ".."
	case i == 15:
		return "a//b"
	case i == 25:
		return "x/../y"
	case i%10 == 0:
		return fmt.Sprintf("odd/key %d?x=%%2F ü", i)
	}
	return fmt.Sprintf("user:%d", i)
}

// escapeAll percent-encodes every byte of key: another spelling of the
// same key, which a node decodes to the same bytes and NGINX must hash
// alike.
func escapeAll(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		fmt.Fprintf(&b, "%%%02X", key[i])
	}
	return b.String()
}

// TestNginxFleet runs three strata nodes behind NGINX with the shipped
// configuration and shows, over HTTP, that each key lives on exactly one
// node and is always routed there, that keys spread over the nodes, that
// NGINX reuses its connections to the nodes, that a stopped node's keys are
// answered by the others (never NGINX's 502) while the other keys stay
// where they were; and, over RESP through the stream proxy, that commands
// work.
func TestNginxFleet(t *testing.T) {
	f := startNginxFleet(t)
	base := f.nginx.URL()
	const keys = 200

	// Every key is written through NGINX once; owner[i] is the node that
	// stored key i.
	owner := make([]int, keys)
	perNode := make([]int, len(f.nodes))
	for i := range keys {
		key := nginxKey(i)
		resp, body := f.do(t, http.MethodPut, base+httpapi.KeyPath(key), "v"+strconv.Itoa(i), nil)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %q through NGINX: %d %s", key, resp.StatusCode, body)
		}
		h := f.holders(t, key, nil)
		if len(h) != 1 {
			t.Fatalf("key %q is on nodes %v after one PUT through NGINX, want exactly one", key, h)
		}
		owner[i] = h[0]
		perNode[h[0]]++
	}

	t.Run("KeyAffinity", func(t *testing.T) {
		t.Logf("keys per node: %v", perNode)
		for i, n := range perNode {
			if n < keys*15/100 {
				t.Errorf("node %d holds %d of %d keys, want at least 15%%: %v", i, n, keys, perNode)
			}
		}
		for i := range keys {
			key, want := nginxKey(i), "v"+strconv.Itoa(i)
			// A GET that reached another node would be a 404: only the
			// owner has the key.
			for range 3 {
				resp, body := f.do(t, http.MethodGet, base+httpapi.KeyPath(key), "", nil)
				if resp.StatusCode != http.StatusOK || body != want {
					t.Fatalf("GET %q through NGINX: %d %q, want 200 %q", key, resp.StatusCode, body, want)
				}
			}
			// The same key spelt with every byte escaped reaches the same
			// node: NGINX hashes the decoded key.
			req, err := http.NewRequest(http.MethodGet, base+"/v1/kv/"+escapeAll(key), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := req.URL.EscapedPath(); got != "/v1/kv/"+escapeAll(key) {
				t.Fatalf("the HTTP client respelt the path: %s", got)
			}
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != want {
				t.Fatalf("GET %q spelt %s through NGINX: %d %q, want 200 %q", key, escapeAll(key), resp.StatusCode, body, want)
			}
			// /v1/explain/{key} describes the key on the node that holds
			// it.
			if i%20 == 0 || i%10 == 5 && i < 30 {
				resp, body := f.do(t, http.MethodGet, base+"/v1/explain/"+strings.TrimPrefix(httpapi.KeyPath(key), "/v1/kv/"), "", nil)
				var x struct{ State string }
				if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &x) != nil || x.State != "present" {
					t.Errorf("explain %q through NGINX: %d %s, want state present", key, resp.StatusCode, body)
				}
			}
		}
	})

	t.Run("HeadersPassThrough", func(t *testing.T) {
		key := nginxKey(1)
		resp, _ := f.do(t, http.MethodGet, base+httpapi.KeyPath(key), "", nil)
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag through NGINX")
		}
		// If-None-Match reaches the node, and its 304 reaches the client.
		resp, _ = f.do(t, http.MethodGet, base+httpapi.KeyPath(key), "", map[string]string{"If-None-Match": etag})
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET with If-None-Match through NGINX: %d, want 304", resp.StatusCode)
		}
		// A client's request id is kept; without one NGINX makes one up.
		resp, _ = f.do(t, http.MethodGet, base+httpapi.KeyPath(key), "", map[string]string{"X-Request-Id": "client-id-1"})
		if got := resp.Header.Get("X-Request-Id"); got != "client-id-1" {
			t.Errorf("X-Request-Id %q, want the client's client-id-1", got)
		}
		resp, _ = f.do(t, http.MethodGet, base+httpapi.KeyPath(key), "", nil)
		if got := resp.Header.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
			t.Errorf("X-Request-Id %q, want NGINX's $request_id (32 hex digits)", got)
		}
		// A node's problem+json error passes through as the node wrote it.
		resp, _ = f.do(t, http.MethodGet, base+httpapi.KeyPath("no-such-key"), "", nil)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET of a missing key through NGINX: %d %s, want 404 application/problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})

	t.Run("UpstreamKeepalive", func(t *testing.T) {
		// strata_connections_received_total{proto="http"} counts the
		// connections the nodes accepted; strata_http_requests_total the
		// requests they served.
		const requests = 300
		conns0 := httpCounter(t, f.nodes, "strata_connections_received_total")
		reqs0 := httpCounter(t, f.nodes, "strata_http_requests_total")
		for i := range requests {
			resp, _ := f.do(t, http.MethodGet, base+httpapi.KeyPath(nginxKey(i%keys)), "", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET through NGINX: %d", resp.StatusCode)
			}
		}
		conns := httpCounter(t, f.nodes, "strata_connections_received_total") - conns0
		reqs := httpCounter(t, f.nodes, "strata_http_requests_total") - reqs0
		t.Logf("%d requests through NGINX: the nodes served %.0f requests on %.0f new connections", requests, reqs, conns)
		if reqs < requests {
			t.Fatalf("the nodes served %.0f requests, want at least %d", reqs, requests)
		}
		if conns > requests/10 {
			t.Errorf("%.0f new upstream connections for %d requests: NGINX is not reusing connections", conns, requests)
		}
	})

	t.Run("RESP", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := redis.NewClient(&redis.Options{Addr: f.stream, MaxRetries: -1})
		defer c.Close()
		if v, err := c.Ping(ctx).Result(); err != nil || v != "PONG" {
			t.Fatalf("PING through NGINX: %q %v", v, err)
		}
		if err := c.Set(ctx, "resp:nginx", "hello", 0).Err(); err != nil {
			t.Fatalf("SET through NGINX: %v", err)
		}
		if v, err := c.Get(ctx, "resp:nginx").Result(); err != nil || v != "hello" {
			t.Fatalf("GET through NGINX: %q %v, want hello", v, err)
		}
		if v, err := c.Incr(ctx, "resp:counter").Result(); err != nil || v != 1 {
			t.Fatalf("INCR through NGINX: %d %v, want 1", v, err)
		}
		// Every connection from this host reaches the same node (the hash
		// is on the client's address), so a fresh connection reads the
		// write; and exactly one node has it.
		c2 := redis.NewClient(&redis.Options{Addr: f.stream, MaxRetries: -1})
		defer c2.Close()
		if v, err := c2.Get(ctx, "resp:nginx").Result(); err != nil || v != "hello" {
			t.Fatalf("GET on a second connection through NGINX: %q %v, want hello", v, err)
		}
		have := 0
		for _, n := range f.nodes {
			if resp(t, n.RESPAddr(), "GET", "resp:nginx") == "hello" {
				have++
			}
		}
		if have != 1 {
			t.Errorf("%d nodes have the key SET through NGINX, want 1", have)
		}
	})

	// Last: it stops a node.
	t.Run("NodeDown", func(t *testing.T) {
		const victim = 0
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.nodes[victim].Shutdown(ctx); err != nil {
			t.Fatalf("shutdown of node %d: %v", victim, err)
		}
		stopped := map[int]bool{victim: true}
		victimAddr := f.nodes[victim].HTTPAddr()

		// Its keys are answered by the live nodes, which do not have them:
		// a 404 problem from a node, never NGINX's 502.
		var ids []string
		for i := range keys {
			if owner[i] != victim {
				continue
			}
			id := "node-down-" + strconv.Itoa(i)
			ids = append(ids, id)
			resp, body := f.do(t, http.MethodGet, base+httpapi.KeyPath(nginxKey(i)), "", map[string]string{"X-Request-Id": id})
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %q (on the stopped node) through NGINX: %d %s, want 404 or 200 from a live node", nginxKey(i), resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode == http.StatusNotFound && ct != "application/problem+json" {
				t.Fatalf("GET %q through NGINX: 404 with Content-Type %q: not a node's answer", nginxKey(i), ct)
			}
		}
		if len(ids) == 0 {
			t.Fatal("the stopped node owned no keys")
		}
		// The other keys stay where they were: consistent hashing moves
		// only the stopped node's keys.
		for i := range keys {
			if owner[i] == victim {
				continue
			}
			resp, body := f.do(t, http.MethodGet, base+httpapi.KeyPath(nginxKey(i)), "", nil)
			if resp.StatusCode != http.StatusOK || body != "v"+strconv.Itoa(i) {
				t.Fatalf("GET %q (on live node %d) through NGINX after node %d stopped: %d %q", nginxKey(i), owner[i], victim, resp.StatusCode, body)
			}
		}
		// Written again, each of the stopped node's keys lands on one live
		// node and is read back from there.
		moved := make([]int, len(f.nodes))
		for i := range keys {
			if owner[i] != victim {
				continue
			}
			key, want := nginxKey(i), "w"+strconv.Itoa(i)
			resp, body := f.do(t, http.MethodPut, base+httpapi.KeyPath(key), want, nil)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("PUT %q through NGINX after node %d stopped: %d %s", key, victim, resp.StatusCode, body)
			}
			resp, body = f.do(t, http.MethodGet, base+httpapi.KeyPath(key), "", nil)
			if resp.StatusCode != http.StatusOK || body != want {
				t.Fatalf("GET %q through NGINX after rewriting it: %d %q, want 200 %q", key, resp.StatusCode, body, want)
			}
			h := f.holders(t, key, stopped)
			if len(h) != 1 {
				t.Fatalf("key %q is on live nodes %v, want exactly one", key, h)
			}
			moved[h[0]]++
		}
		t.Logf("node %d's %d keys moved to the live nodes as %v", victim, len(ids), moved)

		// The access log shows the retries: NGINX tried the stopped node
		// first for at least one of its keys and then another node, and
		// every request was answered by a live node.
		lines := accessLogLines(t, f.accessLog, ids)
		retried := 0
		for id, line := range lines {
			ups := regexp.MustCompile(`upstream=(.*?) upstream_status=`).FindStringSubmatch(line)
			if ups == nil {
				t.Fatalf("access log line for %s has no upstream: %s", id, line)
			}
			addrs := strings.Split(ups[1], ", ")
			if last := addrs[len(addrs)-1]; last == victimAddr {
				t.Errorf("request %s was answered by the stopped node %s: %s", id, victimAddr, line)
			}
			if len(addrs) > 1 && addrs[0] == victimAddr {
				retried++
			}
		}
		if retried == 0 {
			t.Errorf("no request for the stopped node's keys shows a retry from %s in the access log", victimAddr)
		}
	})
}

// accessLogLines waits (NGINX writes a request's log line after sending
// its response) until the access log has a line for every request id in
// ids, and returns them by id.
func accessLogLines(t *testing.T, path string, ids []string) map[string]string {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		found := map[string]string{}
		f, err := os.Open(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if f != nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				line := sc.Text()
				if i := strings.LastIndex(line, "request_id="); i >= 0 && want[line[i+len("request_id="):]] {
					found[line[i+len("request_id="):]] = line
				}
			}
			f.Close()
		}
		if len(found) == len(want) {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access log %s has lines for %d of %d requests", path, len(found), len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
