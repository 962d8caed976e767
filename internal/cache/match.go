package cache

// Match reports whether s matches the Redis glob pattern: '*' any run, '?'
// one byte, '[abc]', '[^abc]', '[a-z]' classes and '\' escapes. It follows
// Redis's stringmatchlen byte for byte (not path.Match, which treats '/'
// specially and rejects malformed patterns that Redis accepts), which is why
// it is hand-written.
func Match(pattern, s string) bool {
	return match(pattern, s, 0)
}

func match(p, s string, depth int) bool {
	if depth > 1000 { // bound the recursion a hostile pattern could cause
		return false
	}
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if match(p[1:], s[i:], depth+1) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			s = s[1:]
		case '[':
			if len(s) == 0 {
				return false
			}
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			hit := false
			for {
				if len(p) == 0 {
					break // unterminated class: Redis treats the end as ']'
				}
				if p[0] == '\\' && len(p) >= 2 {
					p = p[1:]
					if p[0] == s[0] {
						hit = true
					}
				} else if p[0] == ']' {
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
				return len(s) == 0
			}
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if len(s) == 0 || p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
	}
	return len(s) == 0
}
