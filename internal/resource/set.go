package resource

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Resource is a validated declaration with its parsed key template.
type Resource struct {
	// Spec is the declaration as configured.
	Spec Spec
	// Template is Spec.Key, parsed.
	Template *Template
}

// New validates spec and parses its key template.
func New(spec Spec) (*Resource, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	// Validate parsed the key already; parsing again cannot fail.
	return &Resource{Spec: spec, Template: MustParseTemplate(spec.Key)}, nil
}

// Set is the configured resources, indexed for the hot path: every key the
// node serves is looked up to tell resource keys from plain keys.
//
// Lookup picks, among the templates whose literal prefix starts the key,
// the one with the longest prefix that matches. So with "users:{id}" and
// "users:admin:{id}" configured, "users:admin:5" belongs to the second and
// "users:5" to the first. Two templates with the same literal prefix are
// rejected by NewSet: which of them owns a key would be ambiguous.
//
// A nil *Set is an empty set. A Set is immutable and safe for concurrent
// use.
type Set struct {
	byName   map[string]*Resource
	byPrefix map[string]*Resource
	lens     []int       // distinct prefix lengths, longest first
	first    [256]bool   // first bytes of the prefixes: a one-load reject
	all      []*Resource // sorted by name
}

// NewSet validates the specs and indexes them. It returns every problem at
// once (errors.Join of *FieldError): invalid fields, duplicate names, and
// templates that share a literal prefix.
func NewSet(specs ...Spec) (*Set, error) {
	s := &Set{byName: make(map[string]*Resource), byPrefix: make(map[string]*Resource)}
	var errs []error
	for _, spec := range specs {
		r, err := New(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := s.byName[spec.Name]; dup {
			errs = append(errs, &FieldError{Resource: spec.Name, Err: errors.New("declared twice")})
			continue
		}
		s.byName[spec.Name] = r
		s.all = append(s.all, r)
	}
	slices.SortFunc(s.all, func(a, b *Resource) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	for _, r := range s.all {
		p := r.Template.Prefix()
		if other, dup := s.byPrefix[p]; dup {
			errs = append(errs, &FieldError{Resource: r.Spec.Name, Field: "key", Err: fmt.Errorf(
				"template %q overlaps resources.%s.key %q: both start with the literal %q, so which one owns a key would be ambiguous; give each resource a distinct literal prefix",
				r.Spec.Key, other.Spec.Name, other.Spec.Key, p)})
			continue
		}
		s.byPrefix[p] = r
		s.first[p[0]] = true
		if !slices.Contains(s.lens, len(p)) {
			s.lens = append(s.lens, len(p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(s.lens, func(a, b int) int { return b - a })
	return s, nil
}

// Len returns the number of resources.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.all)
}

// All returns the resources sorted by name. The caller must not modify the
// slice.
func (s *Set) All() []*Resource {
	if s == nil {
		return nil
	}
	return s.all
}

// Get returns the resource with the given name.
func (s *Set) Get(name string) (*Resource, bool) {
	if s == nil {
		return nil, false
	}
	r, ok := s.byName[name]
	return r, ok
}

// Lookup returns the resource that owns key and the key's parameter
// values, or ok false for a plain key. It does not allocate when key is not
// a resource key.
func (s *Set) Lookup(key string) (r *Resource, params []string, ok bool) {
	if r = s.Find(key); r == nil {
		return nil, nil, false
	}
	params, _ = r.Template.Match(key)
	return r, params, true
}

// Find returns the resource that owns key, or nil for a plain key, without
// allocating. Front ends use it to refuse writes to resource keys.
func (s *Set) Find(key string) *Resource {
	if s == nil || key == "" || !s.first[key[0]] {
		return nil
	}
	for _, n := range s.lens {
		if n >= len(key) {
			continue // a parameter value is never empty
		}
		if r := s.byPrefix[key[:n]]; r != nil && r.Template.Matches(key) {
			return r
		}
	}
	return nil
}
