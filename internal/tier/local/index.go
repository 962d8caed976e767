package local

import (
	"hash/maphash"
	"math/rand/v2"
	"sync"
)

// indexShards is the number of key-index shards. A SCAN cursor names a shard,
// so a full SCAN takes at least len/avg-per-call round trips; 1024 keeps each
// shard small (about 1,000 keys at 1M keys) while the empty-shard walk of a
// tiny keyspace stays cheap.
const indexShards = 1024

// keyIndex is a sharded set of the keys present in the tier.
//
// otter has no stable iteration order, so it cannot give SCAN its guarantee
// (every key present for the whole scan is returned at least once). The index
// gives each key a fixed shard by hash, and a cursor is the next shard to visit:
// a key that stays present is in its shard when that shard is visited. The
// index is kept exactly in step with otter: keys are added inside otter's
// Compute and removed by OnAtomicDeletion, both under the key's bucket lock.
// It counts nodes rather than keys because a write over an entry that expired
// but was not yet removed adds the new node before otter reports the old
// node's removal; the count goes 1 -> 2 -> 1 and the key stays indexed.
//
// No library offers a concurrent set with resumable iteration over otter's
// contents, which is why this is hand-written.
type keyIndex struct {
	seed   maphash.Seed
	shards [indexShards]indexShard
}

type indexShard struct {
	mu   sync.Mutex
	keys map[string]uint32
	_    [48]byte // keep neighbouring shard locks on separate cache lines
}

func newKeyIndex() *keyIndex {
	ix := &keyIndex{seed: maphash.MakeSeed()}
	for i := range ix.shards {
		ix.shards[i].keys = make(map[string]uint32)
	}
	return ix
}

func (ix *keyIndex) shard(key string) *indexShard {
	return &ix.shards[maphash.String(ix.seed, key)%indexShards]
}

func (ix *keyIndex) add(key string) {
	s := ix.shard(key)
	s.mu.Lock()
	s.keys[key]++
	s.mu.Unlock()
}

func (ix *keyIndex) remove(key string) {
	s := ix.shard(key)
	s.mu.Lock()
	if n := s.keys[key]; n > 1 {
		s.keys[key] = n - 1
	} else {
		delete(s.keys, key)
	}
	s.mu.Unlock()
}

// scan appends to dst the keys of shards starting at cursor until at least
// count keys were visited or the shards ran out, and returns the next cursor
// (0 when the iteration is complete).
func (ix *keyIndex) scan(cursor uint64, count int, dst []string) ([]string, uint64) {
	if cursor >= indexShards {
		return dst, 0
	}
	visited := 0
	for i := cursor; i < indexShards; i++ {
		s := &ix.shards[i]
		s.mu.Lock()
		for k := range s.keys {
			dst = append(dst, k)
		}
		visited += len(s.keys)
		s.mu.Unlock()
		if visited >= count {
			if i+1 == indexShards {
				return dst, 0
			}
			return dst, i + 1
		}
	}
	return dst, 0
}

// each calls fn for every indexed key until fn returns false. Each shard is
// copied before fn runs, so fn may call back into the tier.
func (ix *keyIndex) each(fn func(key string) bool) {
	var buf []string
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		buf = buf[:0]
		for k := range s.keys {
			buf = append(buf, k)
		}
		s.mu.Unlock()
		for _, k := range buf {
			if !fn(k) {
				return
			}
		}
	}
}

// random returns a key from a random non-empty shard.
func (ix *keyIndex) random() (string, bool) {
	start := rand.IntN(indexShards)
	for j := range indexShards {
		s := &ix.shards[(start+j)%indexShards]
		s.mu.Lock()
		for k := range s.keys { // map iteration order is randomised
			s.mu.Unlock()
			return k, true
		}
		s.mu.Unlock()
	}
	return "", false
}

// compact gives emptied shards a fresh map, releasing the buckets that a
// large deleted population left behind (Go maps never shrink).
func (ix *keyIndex) compact() {
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		if len(s.keys) == 0 {
			s.keys = make(map[string]uint32)
		}
		s.mu.Unlock()
	}
}
