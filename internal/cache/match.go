package cache

// Match reports whether KEYS or SCAN MATCH with the Redis glob pattern would
// return s: '*' any run, '?' one byte, '[abc]', '[^abc]', '[a-z]' classes and
// '\' escapes. It follows Redis's stringmatchlen byte for byte (not
// path.Match, which treats '/' specially and rejects malformed patterns that
// Redis accepts), which is why it is hand-written. Two consequences worth
// knowing: a pattern other than "" matches the empty key only if it is
// exactly "*" (KEYS and SCAN short-cut that pattern; stringmatchlen itself
// does not match "" against "**"), and an unterminated class ends at the end
// of the pattern ("[^" matches any one byte).
//
// Time is O(len(pattern) * len(s)): as in Redis, once the rest of the pattern
// after a '*' has failed at every position of the rest of s, no earlier '*'
// can make it match by taking a longer run, so the search stops there instead
// of backtracking into the earlier stars (which is exponential on patterns
// such as "a*a*a*a*b").
func Match(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	var giveUp bool
	return matchFrom(pattern, s, &giveUp, 0)
}

// maxMatchNesting bounds the '*' recursion as Redis does: a match that needs
// to descend through more than this many '*' runs fails.
const maxMatchNesting = 1000

// matchFrom is stringmatchlen_impl. C reads the pattern's terminating NUL where
// the Go code checks the length; no decision depends on anything else past
// the end.
func matchFrom(p, s string, giveUp *bool, nesting int) bool {
	if nesting > maxMatchNesting {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for ; len(s) > 0; s = s[1:] {
				if matchFrom(p[1:], s, giveUp, nesting+1) {
					return true
				}
				if *giveUp {
					return false
				}
			}
			// The rest of the pattern matches no suffix of s, so no earlier
			// '*' taking a longer run can help either.
			*giveUp = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			hit := false
			for {
				if len(p) >= 2 && p[0] == '\\' {
					p = p[1:]
					if p[0] == s[0] {
						hit = true
					}
				} else if len(p) > 0 && p[0] == ']' {
					break
				} else if len(p) == 0 {
					// Unterminated class: it ends at the end of the pattern.
					// Redis steps back one byte so that the step below lands
					// on the end again.
					break
				} else if len(p) >= 3 && p[1] == '-' {
					lo, hi := p[0], p[2]
					if lo > hi {
						lo, hi = hi, lo
					}
					p = p[2:]
					if s[0] >= lo && s[0] <= hi {
						hit = true
					}
				} else if p[0] == s[0] {
					hit = true
				}
				p = p[1:]
			}
			if not {
				hit = !hit
			}
			if !hit {
				return false
			}
			s = s[1:]
			if len(p) == 0 {
				continue // the unterminated class consumed the pattern
			}
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
