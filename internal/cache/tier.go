package cache

// Op is what a Compute function decides to do with a key.
type Op int8

// The Compute outcomes.
const (
	// Keep leaves the key as it is; an absent key stays absent.
	Keep Op = iota
	// Write stores the returned entry.
	Write
	// Remove deletes the key.
	Remove
)

// Tier is an in-process tier that holds entries: the L1 (local.Tier). The
// Cache is its only writer. Every method is safe for concurrent use, and every
// method on one key is atomic.
type Tier interface {
	// Get returns the live entry for key and counts a hit or a miss.
	Get(key string) (Entry, bool)
	// Peek returns the live entry for key without counting it.
	Peek(key string) (Entry, bool)
	// Compute atomically replaces the entry for key with what f returns; f
	// sees the live entry and must not call the tier.
	Compute(key string, f func(old Entry, found bool) (Entry, Op)) (Entry, bool)
	// Delete removes key and returns the live entry it held.
	Delete(key string) (Entry, bool)
	// Scan returns the keys of the cursor's part of the key space (at least
	// count where that many remain) and the next cursor, 0 at the end. Keys
	// present during the whole iteration are returned at least once.
	Scan(cursor uint64, count int, dst []string) ([]string, uint64)
	// Each calls fn for every key until it returns false.
	Each(fn func(key string) bool)
	// RandomKey returns a random live key.
	RandomKey() (string, bool)
	// Len returns the number of entries.
	Len() int
	// Flush removes every entry.
	Flush()
	// UsedBytes and MaxBytes report the accounted memory and its bound.
	UsedBytes() uint64
	MaxBytes() uint64
	// SetMaxBytes changes the bound.
	SetMaxBytes(n uint64)
	// Weight returns the bytes an entry is accounted for.
	Weight(key string, e Entry) uint64
}
