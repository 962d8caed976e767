package config

import (
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/resource"
)

func TestResourcesDecodeOntoDefaultSpec(t *testing.T) {
	path := writeYAML(t, `
resources:
  users:
    key: "users:{id}"
    query: "SELECT row_to_json(u)::text FROM users u WHERE u.id = $1"
    ttl: 10m
    stale_if_error: 5m
`)
	c, err := Load(path, []string{"STRATA_POSTGRES_DSN=postgres://127.0.0.1/app"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Postgres.DSN != "postgres://127.0.0.1/app" {
		t.Errorf("postgres.dsn from the environment = %q", c.Postgres.DSN)
	}
	specs := c.ResourceSpecs()
	if len(specs) != 1 {
		t.Fatalf("specs = %+v", specs)
	}
	s := specs[0]
	if s.Name != "users" || s.TTL != 10*time.Minute || s.StaleIfError != 5*time.Minute || s.TTLJitter != resource.DefaultTTLJitter {
		t.Errorf("spec = %+v; want name, ttl, stale_if_error set and ttl_jitter defaulted", s)
	}
}

func TestResourceErrorsNameResourceAndField(t *testing.T) {
	path := writeYAML(t, `
postgres:
  dsn: postgres://127.0.0.1/app
resources:
  users:
    key: "users:{id}"
    query: "SELECT 1"
    ttl: 1m
  orders:
    key: "orders:{id}"
    query: "SELECT 1"
    ttl: 1m
    ttl_jitter: 1.5
  people:
    key: "users:{uid}"
    query: "SELECT 1"
    ttl: 1m
`)
	_, err := Load(path, nil, nil)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, want := range []string{"resources.users.key: ", "overlaps resources.people.key", "resources.orders.ttl_jitter: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
