package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/strata-cache/strata/internal/testenv/procs"
	"github.com/strata-cache/strata/internal/testenv/prometheus"
)

// Paths of the Prometheus files, relative to this directory.
const (
	promConfig    = "prometheus/prometheus.yml"
	promRules     = "prometheus/rules/strata.rules.yml"
	promRulesTest = "prometheus/rules/strata.rules.test.yml"
	operationsDoc = "../docs/operations.md"
)

// promtool returns the path of promtool. A missing promtool skips the
// test, or fails it when CI=true.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := procs.LookPath("promtool", "apt-get install prometheus")
	procs.Require(t, err)
	return path
}

// runPromtool runs promtool with args in dir and fails the test with its
// output if it exits non-zero.
func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

// TestPromtoolCheckConfig checks prometheus.yml, and with it the rule
// files it loads and the target files it names.
func TestPromtoolCheckConfig(t *testing.T) {
	runPromtool(t, "prometheus", "check", "config", "prometheus.yml")
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "prometheus/rules", "check", "rules", "strata.rules.yml")
}

// TestPromtoolTestRules runs the rule unit tests, which fire and do not
// fire every alert.
func TestPromtoolTestRules(t *testing.T) {
	runPromtool(t, "prometheus/rules", "test", "rules", "strata.rules.test.yml")
}

// rule is one rule of a Prometheus rule file.
type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

// loadRules returns every rule of strata.rules.yml.
func loadRules(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	if err := yaml.Unmarshal(readFile(t, promRules), &f); err != nil {
		t.Fatalf("%s: %v", promRules, err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no rules", promRules)
	}
	return out
}

// recordedNames returns the names of the recording rules.
func recordedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, r := range loadRules(t) {
		if r.Record != "" {
			names[r.Record] = true
		}
	}
	return names
}

// TestAlertsDocumentedAndTested checks that every alert has a severity, a
// summary, a description and a runbook_url whose anchor is a section of
// docs/operations.md, and that the unit tests both fire it and keep it
// quiet at least once.
func TestAlertsDocumentedAndTested(t *testing.T) {
	doc := string(readFile(t, operationsDoc))
	var tests struct {
		Tests []struct {
			Name          string `yaml:"name"`
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(readFile(t, promRulesTest), &tests); err != nil {
		t.Fatalf("%s: %v", promRulesTest, err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	alerts := 0
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		alerts++
		if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if r.Annotations[k] == "" {
				t.Errorf("%s: no %s annotation", r.Alert, k)
			}
		}
		anchor := "#" + strings.ToLower(r.Alert)
		if !strings.HasSuffix(r.Annotations["runbook_url"], "docs/operations.md"+anchor) {
			t.Errorf("%s: runbook_url %q does not end in docs/operations.md%s", r.Alert, r.Annotations["runbook_url"], anchor)
		}
		if !strings.Contains(doc, "\n### "+r.Alert+"\n") {
			t.Errorf("%s: %s has no section \"### %s\" for the runbook link", r.Alert, operationsDoc, r.Alert)
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no test in %s fires it", r.Alert, promRulesTest)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: no test in %s checks that it stays quiet", r.Alert, promRulesTest)
		}
	}
	if alerts == 0 {
		t.Fatal("no alerts")
	}
}

// TestRuleMetricsExist checks that every metric a rule reads is exported by
// a strata node, is a recording rule, or is Prometheus's own "up".
func TestRuleMetricsExist(t *testing.T) {
	known := exportedMetrics(t)
	recorded := recordedNames(t)
	for _, r := range loadRules(t) {
		name := r.Record + r.Alert
		for _, m := range promqlMetricNames(r.Expr) {
			if !known[m] && !recorded[m] && m != "up" {
				t.Errorf("rule %s reads %s, which strata does not export and no rule records", name, m)
			}
		}
	}
}

// promqlKeywords are the identifiers of PromQL that are not metric names
// when they are not followed by "(".
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "inf": true, "nan": true, "atan2": true,
	// Aggregations may be followed by a "by (...)" clause before their "(".
	"sum": true, "min": true, "max": true, "avg": true, "group": true,
	"stddev": true, "stdvar": true, "count": true, "count_values": true,
	"bottomk": true, "topk": true, "quantile": true,
}

// promqlLabelLists are the keywords followed by a parenthesised list of
// label names, which are not metric names either.
var promqlLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true,
}

// grafanaVariable matches a Grafana template variable: $name, ${name} or
// ${name:format}, including the built-in $__rate_interval.
var grafanaVariable = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*`)

// promqlMetricNames returns the metric names a PromQL expression selects,
// in order of appearance. It is a small scanner, not a parser: it skips
// strings, label matchers {...}, ranges [...], numbers and durations,
// function and aggregation names, keywords and label lists, and reports
// the identifiers that remain. Grafana variables are removed first.
func promqlMetricNames(expr string) []string {
	s := grafanaVariable.ReplaceAllString(expr, "")
	var out []string
	isIdentStart := func(c byte) bool {
		return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	isIdent := func(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
	// skipTo returns the index after the first unquoted close at or after i.
	skipTo := func(i int, close byte) int {
		for i < len(s) && s[i] != close {
			if c := s[i]; c == '"' || c == '\'' || c == '`' {
				i++
				for i < len(s) && s[i] != c {
					if s[i] == '\\' && c != '`' {
						i++
					}
					i++
				}
			}
			i++
		}
		return i + 1
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipTo(i+1, c)
		case c == '{':
			i = skipTo(i+1, '}')
		case c == '[':
			i = skipTo(i+1, ']')
		case c == '#': // a comment runs to the end of the line
			i = skipTo(i+1, '\n')
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
				k++
			}
			followedByParen := k < len(s) && s[k] == '('
			switch {
			case promqlLabelLists[word] && followedByParen:
				j = skipTo(k+1, ')')
			case followedByParen || promqlKeywords[strings.ToLower(word)]:
			default:
				out = append(out, word)
			}
			i = j
		default:
			i++
		}
	}
	return out
}

func TestPromqlMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up{job="strata"} == 0`, []string{"up"}},
		{`sum by (job, tier) (rate(a_total{x="}"}[5m])) / ignoring(cmd) group_left(tier) b`, []string{"a_total", "b"}},
		{`histogram_quantile(0.99, sum(rate(h_bucket{cmd=~"$cmd"}[$__rate_interval])) by (le))`, []string{"h_bucket"}},
		{`x offset 1h and bool y > 1e3 or sum without(instance)(z)`, []string{"x", "y", "z"}},
		{`changes((sum(increase(c{code="503"}[2m])) > bool 0)[15m:30s]) >= 2`, []string{"c"}},
		{`level:metric:rate5m > inf`, []string{"level:metric:rate5m"}},
	} {
		if got := promqlMetricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// TestPrometheusScrapesStrata runs a strata node in this process, puts a
// little load on it over RESP, and lets a real Prometheus scrape it every
// second with strata's recording and alert rules loaded. It waits (bounded)
// for the strata series, then checks that every rule evaluates without
// error against real data and that a healthy node fires no alert.
func TestPrometheusScrapesStrata(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus; skipped with -short")
	}
	n := startNode(t, nil)
	rdb := redis.NewClient(&redis.Options{Addr: n.RESPAddr()})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const keys = 10
	for i := range keys {
		if err := rdb.Set(ctx, fmt.Sprintf("key:%d", i), "value", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		if err := rdb.Get(ctx, fmt.Sprintf("key:%d", i)).Err(); err != nil {
			t.Fatalf("GET: %v", err)
		}
		if err := rdb.Get(ctx, fmt.Sprintf("missing:%d", i)).Err(); err != redis.Nil {
			t.Fatalf("GET of a missing key: %v, want redis.Nil", err)
		}
	}

	rules, err := filepath.Abs(promRules)
	if err != nil {
		t.Fatal(err)
	}
	srv := prometheus.New(t, prometheus.Options{
		Config: `global:
  scrape_interval: {{.ScrapeInterval}}
  evaluation_interval: {{.ScrapeInterval}}
rule_files:
  - ` + fmt.Sprintf("%q", rules) + `
scrape_configs:
  - job_name: strata
    static_configs:
      - targets: [{{range $i, $t := .Targets}}{{if $i}}, {{end}}"{{$t}}"{{end}}]
`,
		Targets:        []string{n.HTTPAddr()},
		ScrapeInterval: time.Second,
	})

	start := time.Now()
	for _, q := range []string{
		`up{job="strata"} == 1`,
		`strata_keyspace_hits_total{job="strata"} >= ` + fmt.Sprint(keys),
		`strata_keyspace_misses_total{job="strata"} >= ` + fmt.Sprint(keys),
		`strata_commands_total{job="strata", cmd="get"} >= ` + fmt.Sprint(2*keys),
		`strata_commands_total{job="strata", cmd="set"} >= ` + fmt.Sprint(keys),
		`strata_command_duration_seconds_count{job="strata", cmd="get"} >= ` + fmt.Sprint(2*keys),
		`strata_memory_max_bytes{job="strata"} > 0`,
		`strata_build_info{job="strata"} == 1`,
		// Recording rules need two scrapes and an evaluation.
		`instance_cmd:strata_commands:rate5m{job="strata", cmd="get"}`,
		`instance_tier:strata_keyspace_hit_ratio:rate5m{job="strata"}`,
	} {
		res, err := srv.WaitQuery(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v (after %v)", q, res[0].Metric, time.Since(start).Round(time.Millisecond))
	}

	// Every rule has been evaluated at least once without error.
	var rulesHealth map[string]health
	err = procs.Poll(ctx, 500*time.Millisecond, nil, func(ctx context.Context) error {
		h, err := ruleHealth(ctx, srv.URL())
		if err != nil {
			return err
		}
		var unknown []string
		for name, rh := range h {
			if rh.health == "unknown" {
				unknown = append(unknown, name)
			}
		}
		if len(unknown) > 0 {
			return fmt.Errorf("rules not evaluated yet: %v", unknown)
		}
		rulesHealth = h
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range rulesHealth {
		if h.health != "ok" {
			t.Errorf("rule %s: health %s: %s", name, h.health, h.lastError)
		}
	}
	if firing, err := srv.Query(ctx, `ALERTS{alertstate="firing"}`); err != nil {
		t.Fatal(err)
	} else {
		for _, a := range firing {
			t.Errorf("a healthy node fires %s: %v", a.Metric["alertname"], a.Metric)
		}
	}
}

// health is the state of one rule as /api/v1/rules reports it.
type health struct {
	health, lastError string
}

// ruleHealth returns the health of every rule Prometheus at base has
// loaded, by rule name.
func ruleHealth(ctx context.Context, base string) (map[string]health, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/rules", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("/api/v1/rules: %w", err)
	}
	out := map[string]health{}
	for _, g := range r.Data.Groups {
		for _, rl := range g.Rules {
			out[rl.Name] = health{rl.Health, rl.LastError}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("/api/v1/rules: no rules loaded")
	}
	return out, nil
}
