package resource

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		in      string
		prefix  string
		params  []string
		wantErr string // substring; "" means success
	}{
		{in: "users:{id}", prefix: "users:", params: []string{"id"}},
		{in: "orders:{user_id}:{status}", prefix: "orders:", params: []string{"user_id", "status"}},
		{in: "u{id}.json", prefix: "u", params: []string{"id"}},
		{in: "a:{x}-{y}/{z}!", prefix: "a:", params: []string{"x", "y", "z"}},
		{in: "", wantErr: "has no {parameter}"},
		{in: "users:", wantErr: "has no {parameter}"},
		{in: "{id}", wantErr: "must start with a literal prefix"},
		{in: "{id}:x", wantErr: "must start with a literal prefix"},
		{in: "users:{}", wantErr: "empty parameter name"},
		{in: "users:{id}:{id}", wantErr: "duplicate parameter {id}"},
		{in: "users:{a}{b}", wantErr: "are adjacent"},
		{in: "users:{id", wantErr: "unbalanced '{'"},
		{in: "users:{a{b}", wantErr: "unbalanced '{'"},
		{in: "users:id}", wantErr: "unbalanced '}'"},
		{in: "users:{id}}", wantErr: "unbalanced '}'"},
		{in: "users:{ id }", wantErr: "only letters, digits and '_'"},
		{in: "users:{i-d}", wantErr: "only letters, digits and '_'"},
	}
	for _, tt := range tests {
		tmpl, err := ParseTemplate(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrTemplate) {
				t.Errorf("ParseTemplate(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", tt.in, err)
			continue
		}
		if tmpl.Prefix() != tt.prefix || !slices.Equal(tmpl.Params(), tt.params) || tmpl.String() != tt.in ||
			tmpl.NumParams() != len(tt.params) {
			t.Errorf("ParseTemplate(%q) = prefix %q params %q, want %q %q", tt.in, tmpl.Prefix(), tmpl.Params(), tt.prefix, tt.params)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		tmpl string
		key  string
		want []string // nil: no match
	}{
		{"users:{id}", "users:42", []string{"42"}},
		{"users:{id}", "users:1:2", []string{"1:2"}}, // the last parameter takes the rest
		{"users:{id}", "users:", nil},                // parameter values are never empty
		{"users:{id}", "users", nil},
		{"users:{id}", "user:1", nil},
		{"users:{id}", "Users:1", nil},
		{"users:{id}", "", nil},
		{"users:{id}", "users:' OR '1'='1", []string{"' OR '1'='1"}},
		{"users:{id}", "users:\x00\xff", []string{"\x00\xff"}},
		{"orders:{user_id}:{status}", "orders:7:paid", []string{"7", "paid"}},
		{"orders:{user_id}:{status}", "orders:7:paid:x", []string{"7", "paid:x"}},
		{"orders:{user_id}:{status}", "orders:7", nil},
		{"orders:{user_id}:{status}", "orders:7:", nil},
		{"orders:{user_id}:{status}", "orders::paid", nil},
		{"u:{id}.json", "u:1.json", []string{"1"}},
		{"u:{id}.json", "u:1.json.json", nil}, // a value never contains the literal after it
		{"u:{id}.json", "u:1.jso", nil},
		{"u:{id}.json", "u:.json", nil},
		{"a:{x}--{y}", "a:1---2", []string{"1", "-2"}},
		{"a:{x}--{y}", "a:--2", nil},
	}
	for _, tt := range tests {
		tmpl := MustParseTemplate(tt.tmpl)
		got, ok := tmpl.Match(tt.key)
		if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
			t.Errorf("%q.Match(%q) = %q, %v; want %q", tt.tmpl, tt.key, got, ok, tt.want)
		}
		if tmpl.Matches(tt.key) != ok {
			t.Errorf("%q.Matches(%q) = %v, want %v", tt.tmpl, tt.key, !ok, ok)
		}
		buf := []string{"keep"}
		buf, ok2 := tmpl.AppendMatch(buf, tt.key)
		if ok2 != ok || buf[0] != "keep" || !slices.Equal(buf[1:], tt.want) {
			t.Errorf("%q.AppendMatch(%q) = %q, %v", tt.tmpl, tt.key, buf, ok2)
		}
		if ok {
			if k := tmpl.Expand(got...); k != tt.key {
				t.Errorf("%q.Expand(%q) = %q, want %q", tt.tmpl, got, k, tt.key)
			}
		}
	}
}

func TestExpand(t *testing.T) {
	tmpl := MustParseTemplate("orders:{user_id}:{status}")
	if got := tmpl.Expand("7", "paid"); got != "orders:7:paid" {
		t.Fatalf("Expand = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Expand with the wrong number of values did not panic")
		}
	}()
	tmpl.Expand("7")
}

// The hot path asks the resource set about every key; plain keys must not
// allocate, and neither must a match into a reused buffer.
func TestMatchDoesNotAllocate(t *testing.T) {
	tmpl := MustParseTemplate("orders:{user_id}:{status}")
	buf := make([]string, 0, 4)
	allocs := testing.AllocsPerRun(100, func() {
		tmpl.Match("orders:7")        // prefix matches, rest does not
		tmpl.Match("session:abcdef")  // plain key
		tmpl.Matches("orders:7:paid") // matches
		buf, _ = tmpl.AppendMatch(buf[:0], "orders:7:paid")
	})
	if allocs != 0 {
		t.Fatalf("allocs per run = %v, want 0", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	tmpl := MustParseTemplate("orders:{user_id}:{status}")
	b.Run("miss", func(b *testing.B) { // 0 allocs/op
		b.ReportAllocs()
		for b.Loop() {
			tmpl.Match("session:0123456789abcdef")
		}
	})
	b.Run("hit", func(b *testing.B) { // 1 allocs/op (the params slice)
		b.ReportAllocs()
		for b.Loop() {
			tmpl.Match("orders:12345:shipped")
		}
	})
}
