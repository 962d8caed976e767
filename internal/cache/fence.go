package cache

import (
	"hash/maphash"
	"sync/atomic"
)

// fenceStripes is the number of invalidation sequences. Keys share a
// sequence by hash; a shared sequence can only make a fill be rejected that
// did not need to be (a key invalidated next to it), never let a stale one
// through, so the array is a fixed size whatever the key space.
const fenceStripes = 4096

// fence is the version fencing of fills: the mechanism that makes a stale
// set impossible. See "Fencing" in docs/architecture.md for the protocol
// and the proof sketch.
//
//   - A fill takes a token (token) before it queries the origin: the
//     invalidation sequence of its key's stripe and its resource's epoch.
//   - Invalidate(key) bumps the key's stripe sequence inside the tier's
//     Compute for key, the same per-key lock the fill's store takes, and
//     removes the entry.
//   - The fill stores its result inside Compute for key only if both
//     numbers still equal its token; otherwise it is rejected (its value is
//     still returned to the callers that waited for it, who asked before
//     the invalidation).
//
// So a fill whose query may have read the database before a write can
// never be stored after that write's invalidation was applied.
type fence struct {
	seed maphash.Seed
	seq  [fenceStripes]atomic.Uint64
}

// token is what a fill holds between taking it and storing.
type token struct {
	stripe uint32
	seq    uint64
	epoch  uint64
}

func (f *fence) stripe(key string) uint32 {
	return uint32(maphash.String(f.seed, key) % fenceStripes)
}

// take returns the token for key, a key of resource rs.
func (f *fence) take(key string, rs *resState) token {
	i := f.stripe(key)
	// The epoch is read first: InvalidateResource bumps it before it sweeps,
	// so a token never pairs a new sequence with an old epoch in a way that
	// matters (either change rejects the fill).
	ep := rs.epoch.Load()
	return token{stripe: i, seq: f.seq[i].Load(), epoch: ep}
}

// valid reports whether no invalidation of the token's key or resource
// happened since it was taken. Call it inside Compute for the key.
func (f *fence) valid(t token, rs *resState) bool {
	return f.seq[t.stripe].Load() == t.seq && rs.epoch.Load() == t.epoch
}

// bump invalidates every token taken for key so far. Call it inside
// Compute for the key.
func (f *fence) bump(key string) { f.seq[f.stripe(key)].Add(1) }
