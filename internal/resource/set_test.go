package resource

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func spec(name, key string) Spec {
	s := DefaultSpec()
	s.Name, s.Key, s.Query, s.TTL = name, key, "SELECT 1", time.Minute
	return s
}

func TestSetLookup(t *testing.T) {
	set, err := NewSet(
		spec("users", "users:{id}"),
		spec("admins", "users:admin:{id}"),
		spec("orders", "orders:{user_id}:{status}"),
		spec("docs", "d/{id}.json"),
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key    string
		name   string // "" for a plain key
		params []string
	}{
		{"users:42", "users", []string{"42"}},
		{"users:admin:5", "admins", []string{"5"}}, // longest literal prefix wins
		{"users:admin:", "users", []string{"admin:"}},
		{"users:admin", "users", []string{"admin"}},
		{"orders:1:paid", "orders", []string{"1", "paid"}},
		{"orders:1", "", nil},
		{"d/7.json", "docs", []string{"7"}},
		{"d/7.txt", "", nil},
		{"session:abc", "", nil},
		{"", "", nil},
		{"users:", "", nil},
	}
	for _, tt := range tests {
		r, params, ok := set.Lookup(tt.key)
		if ok != (tt.name != "") || (ok && r.Spec.Name != tt.name) || !slices.Equal(params, tt.params) {
			t.Errorf("Lookup(%q) = %v, %q, %v; want %q %q", tt.key, r, params, ok, tt.name, tt.params)
		}
		if f := set.Find(tt.key); (f == nil) == ok || (ok && f != r) {
			t.Errorf("Find(%q) = %v, Lookup = %v", tt.key, f, r)
		}
	}
	if set.Len() != 4 || set.All()[0].Spec.Name != "admins" {
		t.Errorf("Len = %d, All[0] = %q", set.Len(), set.All()[0].Spec.Name)
	}
	if r, ok := set.Get("orders"); !ok || r.Template.NumParams() != 2 {
		t.Errorf("Get(orders) = %v, %v", r, ok)
	}
	var empty *Set
	if _, _, ok := empty.Lookup("users:1"); ok || empty.Len() != 0 || empty.Find("x") != nil {
		t.Error("nil Set is not empty")
	}
}

func TestSetLookupDoesNotAllocateForPlainKeys(t *testing.T) {
	set, err := NewSet(spec("users", "users:{id}"), spec("orders", "orders:{user_id}:{status}"))
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		set.Lookup("session:123")
		set.Lookup("users:")
		set.Lookup("orders:1")
		set.Find("users:1")
	})
	if allocs != 0 {
		t.Fatalf("allocs per run = %v, want 0", allocs)
	}
}

func TestNewSetErrors(t *testing.T) {
	_, err := NewSet(
		spec("orders", "orders:{id}"),
		spec("orders_by_status", "orders:{user_id}:{status}"),
		spec("users", "users:{id}"),
		spec("users", "people:{id}"),
		spec("bad", "bad"),
	)
	if err == nil {
		t.Fatal("NewSet accepted invalid specs")
	}
	msg := err.Error()
	for _, want := range []string{
		`strata: config: resources.orders_by_status.key: template "orders:{user_id}:{status}" overlaps resources.orders.key "orders:{id}": both start with the literal "orders:"`,
		`strata: config: resources.users: declared twice`,
		`strata: config: resources.bad.key: invalid key template "bad": has no {parameter}`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("errors.Is(err, ErrInvalid) = false")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Spec)
		want   []string // "" entries never occur; empty slice means valid
	}{
		{"ok", func(*Spec) {}, nil},
		{"empty name", func(s *Spec) { s.Name = "" }, []string{"resources.: resource name must not be empty"}},
		{"dotted name", func(s *Spec) { s.Name = "a.b" }, []string{`resources.a.b: resource name "a.b"`}},
		{"no key", func(s *Spec) { s.Key = "" }, []string{`resources.users.key: required`}},
		{"bad key", func(s *Spec) { s.Key = "users:{id" }, []string{`resources.users.key: invalid key template "users:{id": unbalanced '{'`}},
		{"no query", func(s *Spec) { s.Query = "" }, []string{"resources.users.query: required"}},
		{"no ttl", func(s *Spec) { s.TTL = 0 }, []string{"resources.users.ttl: must be > 0, got 0s"}},
		{"negative", func(s *Spec) {
			s.StaleWhileRevalidate, s.StaleIfError, s.NegativeTTL, s.QueryTimeout, s.MaxStaleness = -1, -1, -1, -1, -1
		}, []string{
			"resources.users.stale_while_revalidate: must be >= 0",
			"resources.users.stale_if_error: must be >= 0",
			"resources.users.negative_ttl: must be >= 0",
			"resources.users.query_timeout: must be >= 0",
			"resources.users.max_staleness: must be >= 0",
		}},
		{"jitter", func(s *Spec) { s.TTLJitter = 1 }, []string{"resources.users.ttl_jitter: must be a fraction in [0, 1), got 1"}},
		{"tables", func(s *Spec) {
			s.Tables = []TableBinding{{Table: "users", Columns: []string{"id"}}, {Columns: []string{"a", ""}}}
		}, []string{
			"resources.users.tables[1].table: required",
			"resources.users.tables[1].columns: needs one column per key parameter [id], got 2",
			"resources.users.tables[1].columns[1]: must not be empty",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec("users", "users:{id}")
			tt.modify(&s)
			err := s.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted the spec")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), "strata: config: "+w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Errorf("error is not a *FieldError: %T", err)
			}
		})
	}
}

func TestSpecTimeout(t *testing.T) {
	s := DefaultSpec()
	if s.Timeout() != DefaultQueryTimeout || s.TTLJitter != DefaultTTLJitter {
		t.Fatalf("defaults: timeout %v jitter %v", s.Timeout(), s.TTLJitter)
	}
	s.QueryTimeout = time.Second
	if s.Timeout() != time.Second {
		t.Fatalf("Timeout = %v", s.Timeout())
	}
}
