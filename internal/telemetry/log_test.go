package telemetry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// decodeLines parses every line of out as a JSON object.
func decodeLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, sc.Text())
		}
		lines = append(lines, m)
	}
	return lines
}

func TestECSLinesHaveRequiredFields(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelDebug, FormatECS)
	log.Debug("debugging", "n", 1)
	log.Info("listening", "server.address", "127.0.0.1:6380")
	log.Warn("slow", "event.duration", 1500*time.Millisecond)
	log.Error("boom", Err(errors.New("disk on fire")), "quote", "a \"b\"\nc")
	log.With("event.dataset", "strata.wal").Info("applied")

	lines := decodeLines(t, buf.Bytes())
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5:\n%s", len(lines), buf.String())
	}
	wantLevels := []string{"debug", "info", "warn", "error", "info"}
	for i, m := range lines {
		for _, k := range []string{"@timestamp", "log.level", "message", "ecs.version", "service.name"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q: %v", i, k, m)
			}
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; ok {
				t.Errorf("line %d still has slog's %q: %v", i, k, m)
			}
		}
		if m["log.level"] != wantLevels[i] {
			t.Errorf("line %d: log.level = %v, want %s", i, m["log.level"], wantLevels[i])
		}
		if m["ecs.version"] != ECSVersion || m["service.name"] != "strata" {
			t.Errorf("line %d: ecs.version/service.name = %v/%v", i, m["ecs.version"], m["service.name"])
		}
		ts, _ := m["@timestamp"].(string)
		parsed, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !strings.HasSuffix(ts, "Z") || len(ts) != len(timestampLayout) {
			t.Errorf("line %d: @timestamp %q is not fixed-width RFC 3339 UTC: %v", i, ts, err)
		} else if time.Since(parsed) > time.Minute || time.Since(parsed) < -time.Minute {
			t.Errorf("line %d: @timestamp %q is not now", i, ts)
		}
	}
	if lines[2]["event.duration"] != float64(1500*time.Millisecond) {
		t.Errorf("event.duration = %v, want nanoseconds", lines[2]["event.duration"])
	}
	if lines[3]["error.message"] != "disk on fire" {
		t.Errorf("error.message = %v", lines[3]["error.message"])
	}
	if lines[4]["event.dataset"] != "strata.wal" {
		t.Errorf("event.dataset from With = %v", lines[4]["event.dataset"])
	}
}

func TestLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelWarn, FormatECS)
	log.Info("hidden")
	log.Warn("shown")
	if lines := decodeLines(t, buf.Bytes()); len(lines) != 1 || lines[0]["message"] != "shown" {
		t.Fatalf("level filter: %s", buf.String())
	}
}

func TestTextFormat(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(&buf, slog.LevelInfo, FormatText).Info("hello", "k", "v")
	if got := buf.String(); !strings.Contains(got, "msg=hello") || !strings.Contains(got, "k=v") {
		t.Fatalf("text output = %q", got)
	}
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelInfo, FormatECS)
	AccessLog(context.Background(), log, Access{
		Method:    "GET",
		Path:      "/v1/kv/users:42",
		Status:    200,
		Bytes:     123,
		Duration:  2 * time.Millisecond,
		ClientIP:  "10.0.0.7",
		RequestID: "req-1",
	})
	lines := decodeLines(t, buf.Bytes())
	if len(lines) != 1 {
		t.Fatalf("got %d lines", len(lines))
	}
	want := map[string]any{
		"message":                   "GET /v1/kv/users:42 200",
		"event.dataset":             AccessDataset,
		"http.request.method":       "GET",
		"url.path":                  "/v1/kv/users:42",
		"http.response.status_code": float64(200),
		"http.response.body.bytes":  float64(123),
		"event.duration":            float64(2 * time.Millisecond),
		"client.ip":                 "10.0.0.7",
		"http.request.id":           "req-1",
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("%s = %#v, want %#v", k, lines[0][k], v)
		}
	}
	if _, ok := lines[0]["user_agent.original"]; ok {
		t.Error("empty user agent was logged")
	}
}

func TestErrNil(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(&buf, slog.LevelInfo, FormatECS).Info("ok", Err(nil))
	if strings.Contains(buf.String(), "error") {
		t.Fatalf("nil error logged: %s", buf.String())
	}
}

// BenchmarkAccessLog measures one access log line to io.Discard.
func BenchmarkAccessLog(b *testing.B) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelInfo, FormatECS)
	a := Access{Method: "GET", Path: "/v1/kv/k", Status: 200, Bytes: 10, Duration: time.Millisecond, ClientIP: "10.0.0.1", RequestID: "r"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		AccessLog(ctx, log, a)
	}
}
