package cache

// kvStore is where plain keys live. Alone, a node keeps them in its L1
// (localKV). In a fleet they live in the L2, and L1 holds copies kept
// coherent by the L2's invalidations (sharedKV, kvshared.go). Every
// operation may fail in a fleet (Redis unreachable): the error wraps
// ErrL2Unavailable, and nothing was changed by it that a client could see
// half of.
type kvStore interface {
	// get returns the live entry for key; count says whether a hit or a
	// miss is counted.
	get(key string, count bool) (Entry, bool, error)
	// compute atomically replaces key's entry with what f returns. f may
	// run more than once (optimistic retries in a fleet); its last run
	// decided.
	compute(key string, f func(old Entry, found bool) (Entry, Op)) (Entry, bool, error)
	// del removes key and returns the entry it held.
	del(key string) (Entry, bool, error)
	// scan returns keys matching pattern ("" all) from the cursor's part
	// of the key space and the next cursor (0 at the end).
	scan(cursor uint64, pattern string, count int, dst []string) ([]string, uint64, error)
	// randomKey returns a random key.
	randomKey() (string, bool, error)
	// size returns the number of keys (DBSIZE).
	size() (int, error)
	// flush removes every plain key.
	flush() error
}

// localKV keeps plain keys in the L1 tier: a node alone.
type localKV struct{ c *Cache }

func (l localKV) get(key string, count bool) (Entry, bool, error) {
	var e Entry
	var ok bool
	if count {
		e, ok = l.c.l1.Get(key)
	} else {
		e, ok = l.c.l1.Peek(key)
	}
	if !ok || !usable(e) {
		return Entry{}, false, nil
	}
	return e, true, nil
}

func (l localKV) compute(key string, f func(old Entry, found bool) (Entry, Op)) (Entry, bool, error) {
	e, ok := l.c.l1.Compute(key, f)
	return e, ok, nil
}

func (l localKV) del(key string) (Entry, bool, error) {
	e, ok := l.c.l1.Delete(key)
	return e, ok, nil
}

func (l localKV) scan(cursor uint64, pattern string, count int, dst []string) ([]string, uint64, error) {
	start := len(dst)
	dst, next := l.c.l1.Scan(cursor, count, dst)
	kept := dst[:start]
	for _, k := range dst[start:] {
		if pattern != "" && !Match(pattern, k) {
			continue
		}
		if e, ok := l.c.l1.Peek(k); ok && usable(e) {
			kept = append(kept, k)
		}
	}
	return kept, next, nil
}

func (l localKV) randomKey() (string, bool, error) {
	k, ok := l.c.l1.RandomKey()
	return k, ok, nil
}

func (l localKV) size() (int, error) { return l.c.l1.Len(), nil }

func (l localKV) flush() error {
	l.c.l1.Flush()
	return nil
}

// firstErr returns a if it is not nil, else b.
func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
