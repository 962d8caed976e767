package cache

import "context"

// Rename moves src's entry (value and expiry) to dst, replacing dst unless nx
// is set. It returns ErrNoSuchKey when src does not exist, and false when nx
// kept an existing dst. Hold Isolation exclusively for atomicity (in a
// fleet that makes it atomic for this node's clients only).
func (c *Cache) Rename(src, dst string, nx bool) (bool, error) {
	if err := c.CheckKey(dst); err != nil {
		return false, err
	}
	e, ok, err := c.kv.get(src, false)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, ErrNoSuchKey
	}
	if src == dst {
		return !nx, nil
	}
	moved := true
	_, _, err = c.kv.compute(dst, func(old Entry, found bool) (Entry, Op) {
		if nx && found {
			moved = false
			return old, Keep
		}
		moved = true
		return e, Write
	})
	if err != nil || !moved {
		return false, err
	}
	if _, _, err := c.kv.del(src); err != nil {
		return false, err
	}
	return true, nil
}

// Copy copies src's entry to dst and reports whether it did; an existing dst
// is kept unless replace is set. Hold Isolation exclusively for atomicity.
func (c *Cache) Copy(src, dst string, replace bool) (bool, error) {
	if err := c.CheckKey(dst); err != nil {
		return false, err
	}
	e, ok, err := c.kv.get(src, false)
	if err != nil || !ok {
		return false, err
	}
	// Values are immutable, so the copy shares src's bytes, but not its spare
	// capacity: APPEND grows a value in place within its capacity, and two
	// entries growing into the same bytes would overwrite each other.
	e.Value = e.Value[:len(e.Value):len(e.Value)]
	copied := false
	_, _, err = c.kv.compute(dst, func(old Entry, found bool) (Entry, Op) {
		if found && !replace {
			copied = false
			return old, Keep
		}
		copied = true
		return e, Write
	})
	return copied && err == nil, err
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
		_, ok, err := c.kv.get(string(pairs[i]), false)
		if err != nil {
			return false, err
		}
		if ok {
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
func (c *Cache) Touch(key string) (bool, error) {
	_, _, ok, err := c.Get(key)
	return ok, err
}

// Exists reports whether key exists, without counting an access.
func (c *Cache) Exists(key string) (bool, error) {
	_, ok, err := c.Peek(key)
	return ok, err
}

// Scan returns up to about count live keys matching pattern ("" matches all)
// from the cursor's part of the key space, and the next cursor (0 at the end).
func (c *Cache) Scan(cursor uint64, pattern string, count int, dst []string) ([]string, uint64, error) {
	if count < 1 {
		count = 10
	}
	return c.kv.scan(cursor, pattern, count, dst)
}

// Keys returns every live key matching pattern.
func (c *Cache) Keys(pattern string) ([]string, error) {
	var out []string
	var cursor uint64
	for {
		var err error
		out, cursor, err = c.kv.scan(cursor, pattern, 1000, out)
		if err != nil {
			return nil, err
		}
		if cursor == 0 {
			return out, nil
		}
	}
}

// RandomKey returns a random live key.
func (c *Cache) RandomKey() (string, bool, error) { return c.kv.randomKey() }

// Len returns the number of entries in this node's L1.
func (c *Cache) Len() int { return c.l1.Len() }

// DBSize returns the number of keys (DBSIZE): L1's alone, the L2's plain
// keys in a fleet.
func (c *Cache) DBSize() (int, error) { return c.kv.size() }

// Flush removes every key. Hold Isolation exclusively. Resource loads in
// flight are fenced off: none of them stores its result afterwards.
//
// With an L2, every resource is also invalidated fleet-wide (its epoch
// moves) and the plain keys are deleted from the L2, so FLUSHALL on any
// node empties the fleet.
func (c *Cache) Flush() error {
	if c.rt != nil {
		c.rt.bumpAll()
		for name := range c.rt.states {
			c.toShared(func(ctx context.Context) error { return c.l2.InvalidateResource(ctx, name) })
		}
	}
	err := c.kv.flush()
	c.l1.Flush()
	return err
}

// MemoryUsage returns the bytes key is accounted for, and whether it exists.
func (c *Cache) MemoryUsage(key string) (uint64, bool) {
	e, ok := c.l1.Peek(key)
	if !ok {
		if c.shared == nil || c.ResourceOf(key) != nil {
			return 0, false
		}
		// In a fleet the key may live in the L2 only: what it would
		// weigh in L1.
		if e, ok, err := c.kv.get(key, false); err == nil && ok {
			return c.l1.Weight(key, e), true
		}
		return 0, false
	}
	return c.l1.Weight(key, e), true
}
