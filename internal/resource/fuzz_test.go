package resource

import (
	"slices"
	"strings"
	"testing"
)

// Seeds shared by the fuzz targets; the committed corpora under
// testdata/fuzz/ hold more.
var fuzzTemplates = []string{
	"users:{id}",
	"orders:{user_id}:{status}",
	"u:{id}.json",
	"a:{x}--{y}",
	"{id}",
	"users:{a}{b}",
	"users:{id",
	"users:}{",
}

func FuzzParseTemplate(f *testing.F) {
	for _, s := range fuzzTemplates {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tmpl, err := ParseTemplate(s)
		if err != nil {
			if tmpl != nil {
				t.Fatalf("ParseTemplate(%q) returned a template and an error", s)
			}
			return
		}
		if tmpl.Prefix() == "" || tmpl.NumParams() == 0 || len(tmpl.lits) != tmpl.NumParams() || tmpl.String() != s {
			t.Fatalf("ParseTemplate(%q) = %+v breaks an invariant", s, tmpl)
		}
		// Writing the parts back out gives the source.
		var b strings.Builder
		b.WriteString(tmpl.prefix)
		for i, n := range tmpl.names {
			if n == "" || (i < len(tmpl.names)-1 && tmpl.lits[i] == "") {
				t.Fatalf("ParseTemplate(%q): empty name or adjacent parameters", s)
			}
			b.WriteString("{" + n + "}" + tmpl.lits[i])
		}
		if b.String() != s {
			t.Fatalf("ParseTemplate(%q) reassembles to %q", s, b.String())
		}
		// Values that obey the matching rule survive Expand then Match.
		vals := make([]string, tmpl.NumParams())
		for i := range vals {
			vals[i] = "v" + strings.Repeat("x", i)
		}
		if obeysRule(tmpl, vals) {
			got, ok := tmpl.Match(tmpl.Expand(vals...))
			if !ok || !slices.Equal(got, vals) {
				t.Fatalf("%q: Match(Expand(%q)) = %q, %v", s, vals, got, ok)
			}
		}
	})
}

func FuzzMatch(f *testing.F) {
	keys := []string{"users:42", "users:1:2", "orders:7:paid:x", "u:1.json.json", "a:1---2", "users:", "x"}
	for i, s := range fuzzTemplates {
		f.Add(s, keys[i%len(keys)])
	}
	f.Fuzz(func(t *testing.T, tmplSrc, key string) {
		tmpl, err := ParseTemplate(tmplSrc)
		if err != nil {
			return
		}
		params, ok := tmpl.Match(key)
		if tmpl.Matches(key) != ok {
			t.Fatalf("%q: Matches(%q) disagrees with Match", tmplSrc, key)
		}
		buf, ok2 := tmpl.AppendMatch(nil, key)
		if ok2 != ok || !slices.Equal(buf, params) {
			t.Fatalf("%q: AppendMatch(%q) = %q, %v; Match = %q, %v", tmplSrc, key, buf, ok2, params, ok)
		}
		set, err := NewSet(Spec{Name: "r", Key: tmplSrc, Query: "q", TTL: 1})
		if err != nil {
			t.Fatal(err)
		}
		if r, p, ok3 := set.Lookup(key); ok3 != ok || (ok && (r == nil || !slices.Equal(p, params))) {
			t.Fatalf("%q: Set.Lookup(%q) = %q, %v; Match = %q, %v", tmplSrc, key, p, ok3, params, ok)
		}
		if !ok {
			return
		}
		if len(params) != tmpl.NumParams() {
			t.Fatalf("%q: Match(%q) = %q: wrong count", tmplSrc, key, params)
		}
		if !obeysRule(tmpl, params) {
			t.Fatalf("%q: Match(%q) = %q breaks the matching rule", tmplSrc, key, params)
		}
		if got := tmpl.Expand(params...); got != key {
			t.Fatalf("%q: Expand(Match(%q)) = %q", tmplSrc, key, got)
		}
	})
}

// obeysRule reports whether vals are values Match can return: non-empty,
// and none contains the literal that follows it.
func obeysRule(tmpl *Template, vals []string) bool {
	for i, v := range vals {
		if v == "" || (tmpl.lits[i] != "" && strings.Contains(v, tmpl.lits[i])) {
			return false
		}
	}
	return true
}
