package resource

import (
	"errors"
	"fmt"
	"strings"
)

// Template is a parsed key template such as "users:{id}" or
// "orders:{user_id}:{status}": a non-empty literal prefix followed by
// parameters, each followed by a literal delimiter (which only the last
// parameter may lack).
//
// # Matching rule
//
// A key matches when it starts with the prefix and every parameter can be
// read off as follows:
//
//   - A parameter that is followed by a literal extends to the first
//     occurrence of that literal, so its value never contains it.
//   - The last parameter, when the template ends with it, takes the rest of
//     the key, whatever it contains.
//   - The last parameter followed by a trailing literal extends to the first
//     occurrence of that literal, which must end the key.
//   - No parameter value is empty.
//
// So "users:1:2" matches "users:{id}" with id "1:2"; "orders:7:paid:x"
// matches "orders:{user_id}:{status}" with user_id "7" and status "paid:x";
// "users:" matches nothing. Expand is the inverse of Match for values that
// obey the same rule (non-empty, and not containing the literal that follows
// them), which is what makes a row's key computable from its columns.
//
// Param values are arbitrary bytes otherwise: the template layer does not
// require UTF-8. Whether a value can be bound to a query parameter is the
// loader's business (see package source/postgres).
//
// A Template is immutable and safe for concurrent use.
type Template struct {
	src    string
	prefix string   // literal before the first parameter; never empty
	names  []string // parameter names in template order
	lits   []string // lits[i] follows names[i]; only the last may be empty
}

// Errors returned by ParseTemplate, wrapped with detail. Branch on them
// with errors.Is.
var (
	// ErrTemplate is wrapped by every error ParseTemplate returns.
	ErrTemplate = errors.New("invalid key template")
)

// ParseTemplate parses a key template. Parameters are written {name}, where
// name is a non-empty run of ASCII letters, digits and underscores, unique
// within the template. Literal text may not contain '{' or '}' (there is no
// escape). A template must start with a literal prefix (so that it cannot
// swallow the plain keys of the shared key space), must have at least one
// parameter, and must have a literal between any two parameters (otherwise
// the split between them would be ambiguous).
func ParseTemplate(s string) (*Template, error) {
	t := &Template{src: s}
	lit := 0 // start of the current literal run
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '}':
			return nil, fmt.Errorf("%w %q: unbalanced '}' at offset %d", ErrTemplate, s, i)
		case '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%w %q: unbalanced '{' at offset %d", ErrTemplate, s, i)
			}
			name := s[i+1 : i+1+end]
			if err := checkParamName(s, name, i); err != nil {
				return nil, err
			}
			for _, n := range t.names {
				if n == name {
					return nil, fmt.Errorf("%w %q: duplicate parameter {%s}", ErrTemplate, s, name)
				}
			}
			text := s[lit:i]
			if len(t.names) == 0 {
				if text == "" {
					return nil, fmt.Errorf("%w %q: must start with a literal prefix such as \"users:\", not a parameter", ErrTemplate, s)
				}
				t.prefix = text
			} else {
				if text == "" {
					return nil, fmt.Errorf("%w %q: parameters {%s} and {%s} are adjacent; put a literal delimiter such as ':' between them",
						ErrTemplate, s, t.names[len(t.names)-1], name)
				}
				t.lits = append(t.lits, text)
			}
			t.names = append(t.names, name)
			i += end + 1
			lit = i + 1
		}
	}
	if len(t.names) == 0 {
		return nil, fmt.Errorf("%w %q: has no {parameter}; a resource key needs at least one, e.g. \"users:{id}\"", ErrTemplate, s)
	}
	t.lits = append(t.lits, s[lit:])
	return t, nil
}

func checkParamName(s, name string, off int) error {
	if name == "" {
		return fmt.Errorf("%w %q: empty parameter name at offset %d", ErrTemplate, s, off)
	}
	for j := 0; j < len(name); j++ {
		c := name[j]
		if c == '{' {
			return fmt.Errorf("%w %q: unbalanced '{' at offset %d", ErrTemplate, s, off)
		}
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("%w %q: parameter name %q: only letters, digits and '_' are allowed", ErrTemplate, s, name)
		}
	}
	return nil
}

// MustParseTemplate is like ParseTemplate but panics on error. It is meant
// for templates written in Go source, such as tests.
func MustParseTemplate(s string) *Template {
	t, err := ParseTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// Prefix returns the literal text before the first parameter. It is never
// empty.
func (t *Template) Prefix() string { return t.prefix }

// NumParams returns the number of parameters, at least 1.
func (t *Template) NumParams() int { return len(t.names) }

// Params returns the parameter names in template order, which is the order
// in which they bind to $1..$n of a resource's query.
func (t *Template) Params() []string { return append([]string(nil), t.names...) }

// Param returns the name of the i'th parameter (0-based).
func (t *Template) Param(i int) string { return t.names[i] }

// Matches reports whether key matches the template, without allocating.
func (t *Template) Matches(key string) bool {
	return t.scan(key, nil)
}

// Match reports whether key matches the template and, if so, returns the
// parameter values in template order. The values are substrings of key. It
// does not allocate when key does not match. See the type's documentation
// for the matching rule.
func (t *Template) Match(key string) (params []string, ok bool) {
	if !t.scan(key, nil) {
		return nil, false
	}
	params = make([]string, 0, len(t.names))
	t.scan(key, &params)
	return params, true
}

// AppendMatch is like Match but appends the values to dst, so a caller with
// a reused buffer matches without allocating. On no match it returns dst
// unchanged and false.
func (t *Template) AppendMatch(dst []string, key string) ([]string, bool) {
	n := len(dst)
	if !t.scan(key, &dst) {
		return dst[:n], false
	}
	return dst, true
}

// scan matches key and, when out is not nil, appends the parameter values
// to *out as it goes (so a failed scan may leave partial values behind).
func (t *Template) scan(key string, out *[]string) bool {
	if len(key) <= len(t.prefix) || key[:len(t.prefix)] != t.prefix {
		return false
	}
	rest := key[len(t.prefix):]
	last := len(t.names) - 1
	for i, lit := range t.lits {
		var v string
		switch {
		case i == last && lit == "":
			v, rest = rest, ""
		default:
			j := strings.Index(rest, lit)
			if j < 0 {
				return false
			}
			v, rest = rest[:j], rest[j+len(lit):]
			if i == last && rest != "" {
				return false
			}
		}
		if v == "" {
			return false
		}
		if out != nil {
			*out = append(*out, v)
		}
	}
	return true
}

// Expand builds the key for the given parameter values, in template order.
// It panics if the number of values differs from NumParams, a programming
// error. Expand does not check the values: Match recovers them only if each
// is non-empty and does not contain the literal that follows it (see the
// type's documentation).
func (t *Template) Expand(params ...string) string {
	if len(params) != len(t.names) {
		panic(fmt.Sprintf("resource: template %q has %d parameters, Expand got %d", t.src, len(t.names), len(params)))
	}
	n := len(t.prefix)
	for i, p := range params {
		n += len(p) + len(t.lits[i])
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(t.prefix)
	for i, p := range params {
		b.WriteString(p)
		b.WriteString(t.lits[i])
	}
	return b.String()
}
