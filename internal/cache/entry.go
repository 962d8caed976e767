package cache

import "time"

// Entry is one cached value and the metadata every tier keeps with it.
//
// An Entry's Value is immutable once the Entry is stored: readers may hold the
// slice while a writer replaces the entry, so a writer that changes bytes must
// build a new slice. The one exception is growth past len(Value) inside
// cap(Value) (APPEND), which no earlier reader can observe because every
// reader's slice ends at its own len.
type Entry struct {
	// Value is the payload, a Redis string.
	Value []byte
	// ExpireAt is the absolute expiry time in Unix nanoseconds; 0 means the
	// entry never expires.
	ExpireAt int64
	// StoredAt is when the value was written or filled, in Unix nanoseconds. It
	// feeds the HTTP Age header and explain.
	StoredAt int64
	// Fill is set on entries loaded from the origin (resource keys) and nil
	// on plain keys, so plain entries pay one pointer for it. It is
	// immutable once stored.
	Fill *Fill
}

// FillKind says how a resource entry was filled.
type FillKind uint8

// The fill kinds.
const (
	// FillOrigin: a read missed and loaded the key.
	FillOrigin FillKind = iota + 1
	// FillRefresh: a background refresh of a stale entry
	// (stale_while_revalidate).
	FillRefresh
	// FillBypass: a bypass read (Cache-Control: no-cache, STRATA.GET
	// NOCACHE) read the origin and refreshed the entry.
	FillBypass
)

// String returns the name used by explain: origin, refresh or bypass.
func (k FillKind) String() string {
	switch k {
	case FillOrigin:
		return "origin"
	case FillRefresh:
		return "refresh"
	case FillBypass:
		return "bypass"
	}
	return "none"
}

// Fill is the read-through metadata of a resource entry.
//
// A resource entry has two deadlines: FreshUntil, the end of its TTL, and
// Entry.ExpireAt, FreshUntil plus the longer of the resource's
// stale_while_revalidate and stale_if_error windows, when the tier drops
// it. Between the two the entry is stale: served while one background load
// refreshes it (within stale_while_revalidate) or when the origin is
// unavailable (within stale_if_error), and never otherwise.
type Fill struct {
	// FreshUntil is the end of the TTL, in Unix nanoseconds.
	FreshUntil int64
	// Duration is how long the load that filled the entry took.
	Duration time.Duration
	// Kind says how the entry was filled.
	Kind FillKind
	// Negative marks a cached miss: the query returned no row. Value is
	// nil, and reads answer "no such key" until FreshUntil.
	Negative bool
	// epoch is the resource's invalidation epoch when the fill took its
	// fencing token; an entry whose epoch is behind res.epoch was
	// invalidated by InvalidateResource and is never served.
	epoch uint64
	res   *resState
}

// current reports whether f survived every InvalidateResource of its
// resource.
func (f *Fill) current() bool { return f.epoch == f.res.epoch.Load() }

// Expired reports whether e has expired at now (Unix nanoseconds).
func (e Entry) Expired(now int64) bool {
	return e.ExpireAt != 0 && e.ExpireAt <= now
}

// TTL returns the remaining lifetime at now in nanoseconds, or -1 when the
// entry never expires. An expired entry returns 0.
func (e Entry) TTL(now int64) int64 {
	if e.ExpireAt == 0 {
		return -1
	}
	if d := e.ExpireAt - now; d > 0 {
		return d
	}
	return 0
}
