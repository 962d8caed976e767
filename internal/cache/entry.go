package cache

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
}

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
