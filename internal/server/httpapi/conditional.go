package httpapi

import (
	"net/http"
	"strings"
)

// preconditions are a request's If-Match and If-None-Match header lines
// (RFC 9110 §13.1.1-2). strata has no Last-Modified, so the date-based
// conditions do not apply and are ignored.
type preconditions struct {
	ifMatch     []string
	ifNoneMatch []string
}

// readPreconditions returns r's conditional headers.
func readPreconditions(r *http.Request) preconditions {
	return preconditions{
		ifMatch:     r.Header.Values("If-Match"),
		ifNoneMatch: r.Header.Values("If-None-Match"),
	}
}

// present reports whether the request is conditional at all.
func (p preconditions) present() bool {
	return len(p.ifMatch) > 0 || len(p.ifNoneMatch) > 0
}

// The outcomes of evaluating preconditions.
const (
	proceed     = iota // perform the method
	failed             // 412 Precondition Failed
	notModified        // 304 Not Modified (GET and HEAD only)
)

// evaluate applies RFC 9110 §13.2.2 to the current state of the key (found,
// and its entity tag etag): If-Match first, with the strong comparison;
// then If-None-Match, with the weak comparison, which yields 304 for reads
// and 412 for writes. "*" matches any existing entry.
//
// Callers apply the rule of §13.2.1 themselves: preconditions are ignored
// when the request would fail without them (a GET or DELETE of an absent
// key is 404 whatever the conditions say).
func (p preconditions) evaluate(found bool, etag string, read bool) int {
	if len(p.ifMatch) > 0 && !matchETag(p.ifMatch, found, etag, false) {
		return failed
	}
	if len(p.ifNoneMatch) > 0 && matchETag(p.ifNoneMatch, found, etag, true) {
		if read {
			return notModified
		}
		return failed
	}
	return proceed
}

// matchETag reports whether any entity tag listed in the header lines
// matches etag, the strong tag of an entry that exists when found. Under the
// weak comparison W/"x" matches "x"; under the strong one a weak tag never
// matches. Tags may contain commas, so the list is scanned tag by tag rather
// than split; a malformed member is skipped up to the next comma.
func matchETag(lines []string, found bool, etag string, weak bool) bool {
	for _, s := range lines {
		if strings.TrimSpace(s) == "*" {
			return found
		}
		if !found {
			continue
		}
		for s != "" {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			isWeak := strings.HasPrefix(s, "W/")
			if isWeak {
				s = s[2:]
			}
			if s == "" || s[0] != '"' {
				i := strings.IndexByte(s, ',')
				if i < 0 {
					break
				}
				s = s[i+1:]
				continue
			}
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				break
			}
			tag := s[:end+2]
			s = s[end+2:]
			if tag == etag && (weak || !isWeak) {
				return true
			}
		}
	}
	return false
}
