package deploy

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

const dashboardPath = "grafana/strata.json"

// dashboardPanels returns every panel of the dashboard, including those
// nested in collapsed rows.
func dashboardPanels(dash map[string]any) []map[string]any {
	var out []map[string]any
	var walk func(ps []any)
	walk = func(ps []any) {
		for _, p := range ps {
			m, ok := p.(map[string]any)
			if !ok {
				continue
			}
			out = append(out, m)
			walk(list(m, "panels"))
		}
	}
	walk(list(dash, "panels"))
	return out
}

// labelValues matches a Grafana label_values(metric{...}, label) variable
// query and captures the series selector.
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$`)

// TestGrafanaDashboard checks that the dashboard is valid JSON that Grafana
// can import with a Prometheus data source chosen at import time, that
// every panel has a unique id, a title and a place on the grid, and that
// every query names only metrics a strata node exports (or recording rules,
// or "up").
func TestGrafanaDashboard(t *testing.T) {
	var dash map[string]any
	if err := json.Unmarshal(readFile(t, dashboardPath), &dash); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardPath, err)
	}
	if v, _ := dash["schemaVersion"].(float64); v < 36 {
		t.Errorf("schemaVersion %v, want >= 36 (Grafana 9+)", dash["schemaVersion"])
	}
	if str(dash, "title") == "" || str(dash, "uid") == "" {
		t.Error("the dashboard has no title or uid")
	}
	input := false
	for _, in := range list(dash, "__inputs") {
		if str(in, "name") == "DS_PROMETHEUS" && str(in, "type") == "datasource" && str(in, "pluginId") == "prometheus" {
			input = true
		}
	}
	if !input {
		t.Error("__inputs has no DS_PROMETHEUS Prometheus data source")
	}

	known := exportedMetrics(t)
	recorded := recordedNames(t)
	checkExpr := func(where, expr string) {
		names := promqlMetricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: query %q selects no metric", where, expr)
		}
		for _, m := range names {
			if !known[m] && !recorded[m] && m != "up" {
				t.Errorf("%s: query names %s, which strata does not export and no rule records", where, m)
			}
		}
	}

	ids := map[float64]string{}
	used := map[string]bool{}
	for _, p := range dashboardPanels(dash) {
		title := str(p, "title")
		id, ok := p["id"].(float64)
		switch {
		case title == "":
			t.Errorf("panel %v has no title", p["id"])
		case !ok:
			t.Errorf("panel %q has no numeric id", title)
		case ids[id] != "":
			t.Errorf("panels %q and %q share id %v", ids[id], title, id)
		default:
			ids[id] = title
		}
		w, _ := dig(p, "gridPos", "w").(float64)
		h, _ := dig(p, "gridPos", "h").(float64)
		x, _ := dig(p, "gridPos", "x").(float64)
		if w <= 0 || h <= 0 || x+w > 24 {
			t.Errorf("panel %q: gridPos %v does not fit the 24-column grid", title, p["gridPos"])
		}
		typ := str(p, "type")
		if typ == "row" || typ == "text" {
			continue
		}
		if uid := str(p, "datasource", "uid"); uid != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: datasource uid %q, want ${DS_PROMETHEUS}", title, uid)
		}
		targets := list(p, "targets")
		if len(targets) == 0 {
			t.Errorf("panel %q has no queries", title)
		}
		for _, tg := range targets {
			if uid := str(tg, "datasource", "uid"); uid != "" && uid != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q: query datasource uid %q, want ${DS_PROMETHEUS}", title, uid)
			}
			expr := str(tg, "expr")
			checkExpr("panel "+title, expr)
			for _, m := range promqlMetricNames(expr) {
				used[m] = true
			}
		}
	}
	for _, v := range list(dash, "templating", "list") {
		q := str(v, "query", "query")
		if q == "" {
			q = str(v, "query")
		}
		if m := labelValues.FindStringSubmatch(q); m != nil {
			checkExpr("variable "+str(v, "name"), m[1])
		} else if q != "" && !strings.HasPrefix(q, "label_values(") {
			checkExpr("variable "+str(v, "name"), q)
		}
	}

	// The views the operator's kit promises.
	for _, m := range []string{
		"strata_keyspace_hits_total", "strata_keyspace_misses_total",
		"strata_commands_total", "strata_command_duration_seconds_bucket",
		"strata_connected_clients", "strata_memory_used_bytes", "strata_memory_max_bytes",
		"strata_evicted_keys_total", "strata_expired_keys_total", "strata_http_requests_total",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}
