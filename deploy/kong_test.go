package deploy

import (
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestKongConfig parses deploy/kong/kong.yml and checks what strata relies
// on: the key-auth, rate-limiting and request-id (correlation-id) plugins,
// an upstream with the nodes and a /readyz health check, and routes that
// leave key paths alone.
func TestKongConfig(t *testing.T) {
	b, err := os.ReadFile("kong/kong.yml")
	if err != nil {
		t.Fatal(err)
	}
	type plugin struct {
		Name    string         `yaml:"name"`
		Service string         `yaml:"service"`
		Config  map[string]any `yaml:"config"`
	}
	var k struct {
		Format    string `yaml:"_format_version"`
		Upstreams []struct {
			Name         string `yaml:"name"`
			Algorithm    string `yaml:"algorithm"`
			Healthchecks struct {
				Active struct {
					HTTPPath string `yaml:"http_path"`
				} `yaml:"active"`
			} `yaml:"healthchecks"`
			Targets []struct {
				Target string `yaml:"target"`
			} `yaml:"targets"`
		} `yaml:"upstreams"`
		Services []struct {
			Name   string `yaml:"name"`
			Host   string `yaml:"host"`
			Routes []struct {
				Name         string   `yaml:"name"`
				Paths        []string `yaml:"paths"`
				StripPath    bool     `yaml:"strip_path"`
				PathHandling string   `yaml:"path_handling"`
			} `yaml:"routes"`
			Plugins []plugin `yaml:"plugins"`
		} `yaml:"services"`
		Plugins   []plugin `yaml:"plugins"`
		Consumers []struct {
			Username string `yaml:"username"`
		} `yaml:"consumers"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatalf("kong.yml: %v", err)
	}
	if k.Format != "3.0" {
		t.Errorf("_format_version = %q, want 3.0", k.Format)
	}
	if len(k.Upstreams) != 1 || len(k.Upstreams[0].Targets) < 2 || k.Upstreams[0].Algorithm != "consistent-hashing" ||
		k.Upstreams[0].Healthchecks.Active.HTTPPath != "/readyz" {
		t.Errorf("want one consistent-hashing upstream with the strata nodes, checked on /readyz: %+v", k.Upstreams)
	}
	if len(k.Services) != 1 || k.Services[0].Host != k.Upstreams[0].Name {
		t.Fatalf("want one service proxying to the upstream: %+v", k.Services)
	}
	all := append(slices.Clone(k.Plugins), k.Services[0].Plugins...)
	byName := map[string]plugin{}
	for _, p := range all {
		byName[p.Name] = p
	}
	if p, ok := byName["key-auth"]; !ok || !slices.Contains(p.Config["key_names"].([]any), any("X-API-Key")) {
		t.Errorf("key-auth plugin missing or not on X-API-Key: %+v", p)
	}
	if p, ok := byName["rate-limiting"]; !ok || p.Config["second"] == nil {
		t.Errorf("rate-limiting plugin missing or without a per-second limit: %+v", p)
	}
	if p, ok := byName["correlation-id"]; !ok || p.Config["header_name"] != "X-Request-Id" {
		t.Errorf("request-id (correlation-id) plugin missing or not on X-Request-Id: %+v", p)
	}
	for _, r := range k.Services[0].Routes {
		if r.StripPath {
			t.Errorf("route %s strips its path: strata's routes need it whole", r.Name)
		}
	}
	if len(k.Consumers) == 0 {
		t.Error("no consumers: key-auth would refuse everyone")
	}
}
