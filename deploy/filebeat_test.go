package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

const filebeatPath = "filebeat/filebeat.yml"

// TestFilebeatConfig checks that filebeat.yml parses and that every input
// decodes strata's ECS lines the way the logs need: JSON into the event
// root, dotted keys expanded, strata's fields winning over Filebeat's, and
// undecodable lines flagged rather than dropped.
func TestFilebeatConfig(t *testing.T) {
	doc := yamlDoc(t, filebeatPath)
	inputs := list(doc, "filebeat.inputs")
	if len(inputs) == 0 {
		t.Fatalf("%s has no filebeat.inputs", filebeatPath)
	}
	// wantDecoder checks the settings common to the ndjson parser and the
	// decode_json_fields processor.
	wantDecoder := func(where string, m any) {
		t.Helper()
		for _, k := range []string{"expand_keys", "add_error_key", "overwrite_keys"} {
			if v, _ := dig(m, k).(bool); !v {
				t.Errorf("%s: %s is %v, want true", where, k, dig(m, k))
			}
		}
		if target, ok := dig(m, "target").(string); !ok || target != "" {
			t.Errorf("%s: target is %v, want \"\" (the event root)", where, dig(m, "target"))
		}
	}
	ids := map[string]bool{}
	filestream := false
	for i, in := range inputs {
		id, typ := str(in, "id"), str(in, "type")
		if id == "" || ids[id] {
			t.Errorf("input %d: id %q is empty or not unique", i, id)
		}
		ids[id] = true
		where := "input " + id
		switch typ {
		case "filestream":
			filestream = true
			if len(list(in, "paths")) == 0 {
				t.Errorf("%s: no paths", where)
			}
			var ndjson any
			for _, p := range list(in, "parsers") {
				if v := dig(p, "ndjson"); v != nil {
					ndjson = v
				}
			}
			if ndjson == nil {
				t.Errorf("%s: no ndjson parser", where)
				continue
			}
			wantDecoder(where+" ndjson parser", ndjson)
		case "journald":
			var decode any
			for _, p := range list(in, "processors") {
				if v := dig(p, "decode_json_fields"); v != nil {
					decode = v
				}
			}
			if decode == nil {
				t.Errorf("%s: no decode_json_fields processor", where)
				continue
			}
			wantDecoder(where+" decode_json_fields", decode)
			if f := list(decode, "fields"); len(f) != 1 || f[0] != "message" {
				t.Errorf("%s: decode_json_fields.fields = %v, want [message]", where, f)
			}
		default:
			t.Errorf("%s: type %q; want filestream or journald (the log input is deprecated)", where, typ)
		}
	}
	if !filestream {
		t.Error("no filestream input")
	}
	hosts := list(doc, "output.elasticsearch", "hosts")
	if len(hosts) == 0 || !strings.Contains(hosts[0].(string), "${ELASTICSEARCH_HOSTS") {
		t.Errorf("output.elasticsearch.hosts = %v, want the ELASTICSEARCH_HOSTS variable", hosts)
	}
}

// TestNodeLogsAreECS runs a node whose ECS logger writes to a buffer, makes
// HTTP requests (including errors and health checks) and RESP commands,
// shuts it down, and checks that every line it wrote is a JSON object with
// the fields Filebeat and Kibana rely on, and every access log line has
// the HTTP fields. @timestamp must parse as RFC 3339, which is what
// Filebeat requires to use it as the event time.
func TestNodeLogsAreECS(t *testing.T) {
	var logs syncBuffer
	n := startNode(t, &logs)
	base := "http://" + n.HTTPAddr()
	requests := 0
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPut, "/v1/kv/user:1", `{"name":"a \"quoted\"\nline"}`},
		{http.MethodGet, "/v1/kv/user:1", ""},
		{http.MethodGet, "/v1/kv/missing", ""},
		{http.MethodDelete, "/v1/kv/user:1", ""},
		{http.MethodPost, "/v1/kv/user:1", "x"}, // 405
		{http.MethodGet, "/nope", ""},           // 404
		{http.MethodGet, "/livez", ""},
		{http.MethodGet, "/readyz", ""},
		{http.MethodGet, "/metrics", ""},
		{http.MethodGet, "/v1/stats", ""},
	} {
		httpDo(t, r.method, base+r.path, r.body)
		requests++
	}
	resp(t, n.RESPAddr(), "SET", "k", "v")
	resp(t, n.RESPAddr(), "GET", "k")
	n.Shutdown(t.Context())

	var access, lines int
	sc := bufio.NewScanner(bytes.NewReader(logs.Bytes()))
	for sc.Scan() {
		lines++
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("line %d is not a JSON object: %v\n%s", lines, err, sc.Text())
			continue
		}
		for _, k := range []string{"@timestamp", "log.level", "message", "ecs.version", "service.name"} {
			if _, ok := m[k].(string); !ok {
				t.Errorf("line %d: %s is %v, want a string\n%s", lines, k, m[k], sc.Text())
			}
		}
		if ts, _ := m["@timestamp"].(string); ts != "" {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				t.Errorf("line %d: @timestamp %q is not RFC 3339: %v", lines, ts, err)
			}
		}
		for k, v := range m {
			if _, nested := v.(map[string]any); nested {
				t.Errorf("line %d: %s is a nested object; ECS keys must be dotted\n%s", lines, k, sc.Text())
			}
		}
		if m["event.dataset"] != "strata.access" {
			continue
		}
		access++
		for _, k := range []string{"http.request.method", "url.path"} {
			if _, ok := m[k].(string); !ok {
				t.Errorf("access line %d: %s is %v, want a string\n%s", lines, k, m[k], sc.Text())
			}
		}
		if code, ok := m["http.response.status_code"].(float64); !ok || code < 100 || code > 599 {
			t.Errorf("access line %d: http.response.status_code is %v\n%s", lines, m["http.response.status_code"], sc.Text())
		}
		if d, ok := m["event.duration"].(float64); !ok || d < 0 {
			t.Errorf("access line %d: event.duration is %v, want nanoseconds\n%s", lines, m["event.duration"], sc.Text())
		}
	}
	if lines == 0 {
		t.Fatal("the node wrote no log lines")
	}
	if access < requests {
		t.Errorf("%d access log lines for %d HTTP requests", access, requests)
	}
	t.Logf("%d log lines, %d access log lines", lines, access)
}
