package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrL2Unavailable means an operation on a plain key could not reach the
// L2 that holds it in a fleet (Redis down, failing over, or too slow).
// Nothing was changed; the client may retry. Front ends answer -TRYAGAIN
// and 503 with Retry-After.
var ErrL2Unavailable = errors.New("L2 unavailable")

// ErrWriteConflict means a plain-key write lost its optimistic race to
// writers on other nodes too many times in a row.
var ErrWriteConflict = fmt.Errorf("%w: too many concurrent writers of the key on other nodes", ErrL2Unavailable)

// SharedKV is the L2's part for plain keys: in a fleet their values live
// in Redis (raw strings with Redis TTLs, so every node sees one value) and
// each node's L1 keeps copies that the L2's invalidations evict.
type SharedKV interface {
	// KVGet reads key's value and absolute expiry in Unix milliseconds
	// (0: none).
	KVGet(ctx context.Context, key string) (value []byte, expireAtMs int64, found bool, err error)
	// KVSwap replaces key's value if it still holds old (value and expiry;
	// oldFound false: absent) and reports whether it did. remove deletes
	// the key instead of writing value.
	KVSwap(ctx context.Context, key string, old []byte, oldExpMs int64, oldFound bool, value []byte, expMs int64, remove bool) (bool, error)
	// KVSet stores value under key unconditionally (expMs 0: no expiry)
	// and returns the value it held.
	KVSet(ctx context.Context, key string, value []byte, expMs int64) (old []byte, found bool, err error)
	// KVDel deletes key and returns what it held.
	KVDel(ctx context.Context, key string) (value []byte, expireAtMs int64, found bool, err error)
	// KVScan scans the plain keys matching pattern ("" all).
	KVScan(ctx context.Context, cursor uint64, pattern string, count int) ([]string, uint64, error)
	// KVSize counts the plain keys.
	KVSize(ctx context.Context) (int, error)
	// KVRandomKey returns a random plain key.
	KVRandomKey(ctx context.Context) (string, bool, error)
	// KVFlush deletes every plain key.
	KVFlush(ctx context.Context) error
}

// maxSwapAttempts bounds the optimistic retries of one write.
const maxSwapAttempts = 32

// sharedKV keeps plain keys in the L2 and copies in L1.
//
// Reads: L1, else the L2, whose value is copied into L1 if no
// invalidation of the key arrived since the read began (a per-key stripe
// sequence, as for resource fills, and the drop time below).
//
// Writes are optimistic and atomic per key across the fleet: read the
// value from the L2, run the command's logic on it, and swap it in with a
// compare-and-set script that checks value and expiry; on a conflict, run
// again. Writers of one key on one node queue on a local lock first, so
// conflicts only come from other nodes.
//
// DropAll (the feed was lost) marks every plain entry stored before it as
// dead at once (its StoredAt is not after droppedAt) and then sweeps.
type sharedKV struct {
	c  *Cache
	l2 Shared
	// f's stripe sequences fence L1 copies as they fence resource fills:
	// a push for a key bumps its stripe.
	f       fence
	locks   [256]sync.Mutex
	dropped atomic.Int64 // Unix ns of the last DropAll
	// hits and misses count reads that missed L1 and went to the L2.
	hits, misses atomic.Uint64
}

// L2Reads returns how many plain-key reads that missed L1 found the key in
// the L2 (hits) or not (misses); 0, 0 for a node alone.
func (c *Cache) L2Reads() (hits, misses uint64) {
	if c.shared == nil {
		return 0, 0
	}
	return c.shared.hits.Load(), c.shared.misses.Load()
}

func newSharedKV(c *Cache, l2 Shared) *sharedKV {
	return &sharedKV{c: c, l2: l2, f: fence{seed: maphash.MakeSeed()}}
}

// lock queues this node's writers of key (conflicts then come only from
// other nodes) and returns key's fence stripe; call unlock when done.
func (s *sharedKV) lock(key string) (stripe uint32, unlock func()) {
	stripe = s.f.stripe(key)
	mu := &s.locks[stripe%uint32(len(s.locks))]
	mu.Lock()
	return stripe, mu.Unlock
}

// ctx is a backstop for one plain-key command: the L2 bounds each call by
// redis.timeout, and its retries across a failover by redis.failover_wait.
func (s *sharedKV) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

// kvFresh reports whether an L1 copy of a plain key may be served: always
// for a node alone; in a fleet, when it was stored after the last DropAll.
func (c *Cache) kvFresh(e Entry) bool {
	return c.shared == nil || e.Fill != nil || e.StoredAt > c.shared.dropped.Load()
}

func unavailable(err error) error {
	if errors.Is(err, ErrL2Unavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrL2Unavailable, err)
}

func (s *sharedKV) get(key string, count bool) (Entry, bool, error) {
	var e Entry
	var ok bool
	if count {
		e, ok = s.c.l1.Get(key)
	} else {
		e, ok = s.c.l1.Peek(key)
	}
	if ok && usable(e) && s.c.kvFresh(e) {
		return e, true, nil
	}
	if s.c.ResourceOf(key) != nil {
		return Entry{}, false, nil
	}
	i := s.f.stripe(key)
	seq := s.f.seq[i].Load()
	ctx, cancel := s.ctx()
	defer cancel()
	v, exp, found, err := s.l2.KVGet(ctx, key)
	if err != nil {
		return Entry{}, false, unavailable(err)
	}
	if !found {
		s.misses.Add(1)
		return Entry{}, false, nil
	}
	now := s.c.now()
	e = Entry{Value: v[:len(v):len(v)], ExpireAt: exp * 1e6, StoredAt: now}
	if e.Expired(now) {
		s.misses.Add(1)
		return Entry{}, false, nil
	}
	s.hits.Add(1)
	s.fill(key, i, seq, e)
	return e, true, nil
}

// fill copies e into L1 unless key was invalidated since seq was read.
func (s *sharedKV) fill(key string, stripe uint32, seq uint64, e Entry) {
	key = strings.Clone(key) // callers may pass a view of a reused buffer; L1 keeps it
	s.c.l1.Compute(key, func(old Entry, found bool) (Entry, Op) {
		if s.f.seq[stripe].Load() != seq || e.StoredAt <= s.dropped.Load() {
			return old, Keep
		}
		return e, Write
	})
}

func (s *sharedKV) compute(key string, f func(old Entry, found bool) (Entry, Op)) (Entry, bool, error) {
	i, unlock := s.lock(key)
	defer unlock()
	ctx, cancel := s.ctx()
	defer cancel()
	for range maxSwapAttempts {
		seq := s.f.seq[i].Load()
		v, exp, found, err := s.l2.KVGet(ctx, key)
		if err != nil {
			return Entry{}, false, unavailable(err)
		}
		now := s.c.now()
		old := Entry{}
		if found {
			old = Entry{Value: v[:len(v):len(v)], ExpireAt: exp * 1e6, StoredAt: now}
		}
		ne, op := f(old, found)
		if op == Keep {
			if found {
				s.fill(key, i, seq, old)
			}
			return old, found, nil
		}
		if op == Write && ne.ExpireAt != 0 && ne.ExpireAt <= now {
			op = Remove
		}
		if op == Remove && !found {
			return Entry{}, false, nil
		}
		newExp := int64(0)
		if op == Write && ne.ExpireAt != 0 {
			newExp = (ne.ExpireAt + 999_999) / 1e6 // Redis keeps milliseconds; never expire early
		}
		ok, err := s.l2.KVSwap(ctx, key, v, exp, found, ne.Value, newExp, op == Remove)
		if err != nil {
			return Entry{}, false, unavailable(err)
		}
		if !ok {
			continue // another node wrote the key in between: run again
		}
		if op == Remove {
			s.evict(key)
			return Entry{}, false, nil
		}
		ne.StoredAt = now
		if ne.ExpireAt != 0 {
			ne.ExpireAt = newExp * 1e6
		}
		s.fill(key, i, seq, ne)
		return ne, true, nil
	}
	return Entry{}, false, ErrWriteConflict
}

// set is SET without a condition: one round trip, no compare-and-set.
func (s *sharedKV) set(key string, value []byte, expireAt int64) (SetResult, error) {
	i, unlock := s.lock(key)
	defer unlock()
	seq := s.f.seq[i].Load()
	ctx, cancel := s.ctx()
	defer cancel()
	now := s.c.now()
	exp := int64(0)
	if expireAt != 0 {
		exp = (expireAt + 999_999) / 1e6 // Redis keeps milliseconds; never expire early
	}
	old, found, err := s.l2.KVSet(ctx, key, value, exp)
	if err != nil {
		return SetResult{}, unavailable(err)
	}
	s.fill(key, i, seq, Entry{Value: value, ExpireAt: exp * 1e6, StoredAt: now})
	return SetResult{Old: Entry{Value: old}, HadOld: found, Written: true}, nil
}

func (s *sharedKV) del(key string) (Entry, bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	v, exp, found, err := s.l2.KVDel(ctx, key)
	s.evict(key)
	if err != nil {
		return Entry{}, false, unavailable(err)
	}
	if !found {
		return Entry{}, false, nil
	}
	return Entry{Value: v, ExpireAt: exp * 1e6}, true, nil
}

// evict removes key's L1 copy and fences fills of it that began before.
func (s *sharedKV) evict(key string) {
	s.c.l1.Compute(key, func(old Entry, found bool) (Entry, Op) {
		s.f.bump(key)
		if found && old.Fill == nil {
			return old, Remove
		}
		return old, Keep
	})
}

func (s *sharedKV) scan(cursor uint64, pattern string, count int, dst []string) ([]string, uint64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	keys, next, err := s.l2.KVScan(ctx, cursor, pattern, count)
	if err != nil {
		return dst, 0, unavailable(err)
	}
	return append(dst, keys...), next, nil
}

func (s *sharedKV) randomKey() (string, bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	k, ok, err := s.l2.KVRandomKey(ctx)
	if err != nil {
		return "", false, unavailable(err)
	}
	return k, ok, nil
}

func (s *sharedKV) size() (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	n, err := s.l2.KVSize(ctx)
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

func (s *sharedKV) flush() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*sharedTimeout)
	defer cancel()
	if err := s.l2.KVFlush(ctx); err != nil {
		return unavailable(err)
	}
	s.drop()
	return nil
}

// drop marks every plain L1 copy stored so far dead.
func (s *sharedKV) drop() {
	now := s.c.now()
	for cur := s.dropped.Load(); now > cur && !s.dropped.CompareAndSwap(cur, now); cur = s.dropped.Load() {
	}
	for i := range s.f.seq {
		s.f.seq[i].Add(1)
	}
}
