package cache

import (
	"math"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// ETag returns the strong HTTP entity tag of a value: a quoted 64-bit xxHash.
func ETag(value []byte) string {
	var b [18]byte
	b[0] = '"'
	h := strconv.AppendUint(b[:1], xxhash.Sum64(value), 16)
	return string(append(h, '"'))
}

// IncrBy adds delta to the integer stored at key (a missing key counts as
// 0) and returns the new value. The key's expiry is kept.
func (c *Cache) IncrBy(key string, delta int64) (int64, error) {
	if err := c.CheckKey(key); err != nil {
		return 0, err
	}
	now := c.now()
	var n int64
	var err error
	c.l1.Compute(key, func(old Entry, found bool) (Entry, Op) {
		cur := int64(0)
		if found {
			cur, err = ParseInt(old.Value)
			if err != nil {
				return old, Keep
			}
		}
		if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
			err = ErrOverflow
			return old, Keep
		}
		n = cur + delta
		ne := Entry{Value: strconv.AppendInt(make([]byte, 0, 20), n, 10), ExpireAt: old.ExpireAt, StoredAt: now}
		return ne, Write
	})
	return n, err
}

// IncrByFloat adds delta to the float stored at key and returns the new
// value formatted as Redis formats it.
func (c *Cache) IncrByFloat(key string, delta float64) ([]byte, error) {
	if err := c.CheckKey(key); err != nil {
		return nil, err
	}
	now := c.now()
	var out []byte
	var err error
	c.l1.Compute(key, func(old Entry, found bool) (Entry, Op) {
		cur := 0.0
		if found {
			cur, err = ParseFloat(old.Value)
			if err != nil {
				return old, Keep
			}
		}
		f := cur + delta
		if math.IsNaN(f) || math.IsInf(f, 0) {
			err = ErrNaN
			return old, Keep
		}
		out = FormatFloat(f)
		return Entry{Value: out, ExpireAt: old.ExpireAt, StoredAt: now}, Write
	})
	return out, err
}

// Append appends value to key's value (creating it) and returns the new
// length. It grows the slice in place when capacity allows; see Entry.
func (c *Cache) Append(key string, value []byte) (int, error) {
	if err := c.CheckKey(key); err != nil {
		return 0, err
	}
	now := c.now()
	var n int
	var err error
	c.l1.Compute(key, func(old Entry, found bool) (Entry, Op) {
		if !found {
			old = Entry{}
		}
		n = len(old.Value) + len(value)
		if err = c.CheckValue(n); err != nil {
			return old, Keep
		}
		var v []byte
		if cap(old.Value) >= n {
			v = append(old.Value, value...)
		} else {
			// Grow geometrically so that repeated APPENDs are amortised O(1).
			v = make([]byte, n, n+n/2)
			copy(v, old.Value)
			copy(v[len(old.Value):], value)
		}
		return Entry{Value: v, ExpireAt: old.ExpireAt, StoredAt: now}, Write
	})
	return n, err
}

// SetRange overwrites key's value from offset with value, zero-padding, and
// returns the new length. An empty value leaves the key unchanged.
func (c *Cache) SetRange(key string, offset int, value []byte) (int, error) {
	if err := c.CheckKey(key); err != nil {
		return 0, err
	}
	now := c.now()
	var n int
	var err error
	c.l1.Compute(key, func(old Entry, found bool) (Entry, Op) {
		if !found {
			old = Entry{}
		}
		n = len(old.Value)
		if len(value) == 0 {
			return old, Keep
		}
		if offset+len(value) > n {
			n = offset + len(value)
		}
		if err = c.CheckValue(n); err != nil {
			return old, Keep
		}
		v := make([]byte, n)
		copy(v, old.Value)
		copy(v[offset:], value)
		return Entry{Value: v, ExpireAt: old.ExpireAt, StoredAt: now}, Write
	})
	return n, err
}

// ParseInt parses a Redis integer: optional '-', no '+', no leading zeros or
// spaces, within int64.
func ParseInt(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, ErrNotInteger
	}
	i := 0
	neg := b[0] == '-'
	if neg {
		i = 1
		if len(b) == 1 {
			return 0, ErrNotInteger
		}
	}
	if b[i] == '0' && len(b) > i+1 {
		return 0, ErrNotInteger
	}
	var n uint64
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d > 9 {
			return 0, ErrNotInteger
		}
		if n > (math.MaxUint64-uint64(d))/10 {
			return 0, ErrNotInteger
		}
		n = n*10 + uint64(d)
	}
	if neg {
		if n > 1<<63 {
			return 0, ErrNotInteger
		}
		if n == 0 && len(b) > 1 {
			return 0, ErrNotInteger // "-0"
		}
		return -int64(n), nil
	}
	if n > math.MaxInt64 {
		return 0, ErrNotInteger
	}
	return int64(n), nil
}

// ParseFloat parses a Redis float: no surrounding spaces, no NaN.
func ParseFloat(b []byte) (float64, error) {
	s := string(b)
	if s == "" || strings.TrimSpace(s) != s {
		return 0, ErrNotFloat
	}
	switch strings.ToLower(s) {
	case "inf", "+inf", "infinity", "+infinity":
		return math.Inf(1), nil
	case "-inf", "-infinity":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, ErrNotFloat
	}
	return f, nil
}

// FormatFloat formats f as Redis's INCRBYFLOAT does: plain decimal notation
// with up to 17 significant digits and no trailing zeros.
func FormatFloat(f float64) []byte {
	b := strconv.AppendFloat(nil, f, 'f', -1, 64)
	if len(b) > 0 && strings.ContainsRune(string(b), '.') {
		b = []byte(strings.TrimRight(strings.TrimRight(string(b), "0"), "."))
	}
	return b
}
