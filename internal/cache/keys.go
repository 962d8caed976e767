package cache

import "context"

// Rename moves src's entry (value and expiry) to dst, replacing dst unless nx
// is set. It returns ErrNoSuchKey when src does not exist, and false when nx
// kept an existing dst. Hold Isolation exclusively for atomicity.
func (c *Cache) Rename(src, dst string, nx bool) (bool, error) {
	if err := c.CheckKey(dst); err != nil {
		return false, err
	}
	e, ok := c.l1.Peek(src)
	if !ok {
		return false, ErrNoSuchKey
	}
	if src == dst {
		return !nx, nil
	}
	if nx {
		if _, exists := c.l1.Peek(dst); exists {
			return false, nil
		}
	}
	c.l1.Compute(dst, func(Entry, bool) (Entry, Op) { return e, Write })
	c.l1.Delete(src)
	return true, nil
}

// Copy copies src's entry to dst and reports whether it did; an existing dst
// is kept unless replace is set. Hold Isolation exclusively for atomicity.
func (c *Cache) Copy(src, dst string, replace bool) (bool, error) {
	if err := c.CheckKey(dst); err != nil {
		return false, err
	}
	e, ok := c.l1.Peek(src)
	if !ok {
		return false, nil
	}
	// Values are immutable, so the copy shares src's bytes, but not its spare
	// capacity: APPEND grows a value in place within its capacity, and two
	// entries growing into the same bytes would overwrite each other.
	e.Value = e.Value[:len(e.Value):len(e.Value)]
	copied := false
	c.l1.Compute(dst, func(old Entry, found bool) (Entry, Op) {
		if found && !replace {
			return old, Keep
		}
		copied = true
		return e, Write
	})
	return copied, nil
}

// MSetNX stores every pair only if none of the keys exists, and reports
// whether it did. Hold Isolation exclusively for atomicity.
func (c *Cache) MSetNX(pairs [][]byte) (bool, error) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := c.CheckKey(string(pairs[i])); err != nil {
			return false, err
		}
		if err := c.CheckValue(len(pairs[i+1])); err != nil {
			return false, err
		}
		if _, ok := c.l1.Peek(string(pairs[i])); ok {
			return false, nil
		}
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if _, err := c.Set(string(pairs[i]), pairs[i+1], SetOptions{}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Touch reports whether key exists, counting an access for eviction.
func (c *Cache) Touch(key string) bool {
	_, _, ok := c.Get(key)
	return ok
}

// Exists reports whether key exists, without counting an access.
func (c *Cache) Exists(key string) bool {
	_, ok := c.Peek(key)
	return ok
}

// Scan returns up to about count live keys matching pattern ("" matches all)
// from the cursor's part of the key space, and the next cursor (0 at the end).
func (c *Cache) Scan(cursor uint64, pattern string, count int, dst []string) ([]string, uint64) {
	if count < 1 {
		count = 10
	}
	start := len(dst)
	dst, next := c.l1.Scan(cursor, count, dst)
	kept := dst[:start]
	for _, k := range dst[start:] {
		if pattern != "" && !Match(pattern, k) {
			continue
		}
		if _, ok := c.Peek(k); ok {
			kept = append(kept, k)
		}
	}
	return kept, next
}

// Keys returns every live key matching pattern.
func (c *Cache) Keys(pattern string) []string {
	var out []string
	c.l1.Each(func(k string) bool {
		if Match(pattern, k) {
			if _, ok := c.Peek(k); ok {
				out = append(out, k)
			}
		}
		return true
	})
	return out
}

// RandomKey returns a random live key.
func (c *Cache) RandomKey() (string, bool) { return c.l1.RandomKey() }

// Len returns the number of keys (DBSIZE).
func (c *Cache) Len() int { return c.l1.Len() }

// Flush removes every key. Hold Isolation exclusively. Resource loads in
// flight are fenced off: none of them stores its result afterwards.
//
// With an L2, every resource is also invalidated fleet-wide (its epoch
// moves), so FLUSHALL on any node empties every node of resource entries.
func (c *Cache) Flush() {
	if c.rt != nil {
		c.rt.bumpAll()
		if c.l2 != nil {
			for name := range c.rt.states {
				ctx, cancel := context.WithTimeout(c.rt.base, sharedTimeout)
				if c.l2.InvalidateResource(ctx, name) != nil {
					c.rt.sharedErrs.Add(1)
				}
				cancel()
			}
		}
	}
	c.l1.Flush()
}

// MemoryUsage returns the bytes key is accounted for, and whether it exists.
func (c *Cache) MemoryUsage(key string) (uint64, bool) {
	e, ok := c.l1.Peek(key)
	if !ok {
		return 0, false
	}
	return c.l1.Weight(key, e), true
}
