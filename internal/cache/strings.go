package cache

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
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
	_, _, cerr := c.kv.compute(key, func(old Entry, found bool) (Entry, Op) {
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
	return n, firstErr(cerr, err)
}

// IncrByFloat adds delta to the float stored at key and returns the new
// value formatted as Redis formats it.
//
// Redis adds in C long double (x87 extended precision, a 64-bit mantissa) and
// prints the sum with "%.17Lf", trimming trailing zeros, so 0.1 + 0.2 gives
// "0.3" where float64 arithmetic gives "0.30000000000000004". The sum is
// computed the same way here, in a 64-bit-mantissa big.Float: the stored value
// is parsed from its text as strtold parses it, and delta from its shortest
// decimal form, which is the text the client sent unless that had more than 17
// significant digits.
func (c *Cache) IncrByFloat(key string, delta float64) ([]byte, error) {
	if err := c.CheckKey(key); err != nil {
		return nil, err
	}
	if math.IsNaN(delta) || math.IsInf(delta, 0) {
		return nil, ErrNaN
	}
	now := c.now()
	var out []byte
	var err error
	_, _, cerr := c.kv.compute(key, func(old Entry, found bool) (Entry, Op) {
		cur := new(big.Float).SetPrec(longDoublePrec)
		if found {
			var f float64
			f, err = parseFloat(old.Value)
			if errors.Is(err, strconv.ErrRange) {
				// Beyond float64 but within C's long double, as Redis
				// stores after adding near 1e308: the big parse below
				// reads it.
				f, err = 0, nil
			}
			if err != nil {
				return old, Keep
			}
			if math.IsInf(f, 0) {
				err = ErrNaN
				return old, Keep
			}
			if _, _, perr := cur.Parse(string(old.Value), 0); perr != nil {
				cur.SetFloat64(f)
			}
			if cur.MantExp(nil) > longDoubleMaxExp {
				err = ErrNotFloat // beyond long double: strtold overflows
				return old, Keep
			}
		}
		d := new(big.Float).SetPrec(longDoublePrec)
		if _, _, perr := d.Parse(strconv.FormatFloat(delta, 'g', -1, 64), 10); perr != nil {
			d.SetFloat64(delta)
		}
		cur.Add(cur, d)
		if cur.MantExp(nil) > longDoubleMaxExp {
			err = ErrNaN // the long double sum is infinite
			return old, Keep
		}
		out = trimFloat(cur.Append(make([]byte, 0, 24), 'f', 17))
		return Entry{Value: out, ExpireAt: old.ExpireAt, StoredAt: now}, Write
	})
	return out, firstErr(cerr, err)
}

// longDoublePrec is the mantissa precision of C's long double on x86-64,
// which Redis's INCRBYFLOAT computes in.
const longDoublePrec = 64

// longDoubleMaxExp is the binary exponent (mantissa in [0.5, 1), as
// big.Float.MantExp reports it) of the largest finite long double.
const longDoubleMaxExp = 16384

// Append appends value to key's value (creating it) and returns the new
// length. It grows the slice in place when capacity allows; see Entry.
func (c *Cache) Append(key string, value []byte) (int, error) {
	if err := c.CheckKey(key); err != nil {
		return 0, err
	}
	now := c.now()
	var n int
	var err error
	_, _, cerr := c.kv.compute(key, func(old Entry, found bool) (Entry, Op) {
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
	return n, firstErr(cerr, err)
}

// SetRange overwrites key's value from offset with value, zero-padding, and
// returns the new length. An empty value leaves the key unchanged.
func (c *Cache) SetRange(key string, offset int, value []byte) (int, error) {
	if err := c.CheckKey(key); err != nil {
		return 0, err
	}
	if offset < 0 || offset > math.MaxInt-len(value) {
		// Front ends reject a negative offset first ("offset is out of
		// range"); this only keeps offset+len(value) from overflowing.
		return 0, ErrValueTooLarge
	}
	now := c.now()
	var n int
	var err error
	_, _, cerr := c.kv.compute(key, func(old Entry, found bool) (Entry, Op) {
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
	return n, firstErr(cerr, err)
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

// ParseFloat parses a Redis float as strtold does: decimal or hexadecimal
// ("0x1p3", "0x10"), "inf" and "infinity" in any case, no surrounding spaces,
// no '_' (which strconv accepts between digits), no NaN. Unlike Redis, whose
// long double reaches 1e4932, a value beyond the float64 range is refused.
func ParseFloat(b []byte) (float64, error) {
	f, err := parseFloat(b)
	if err != nil {
		return 0, ErrNotFloat
	}
	return f, nil
}

// parseFloat is ParseFloat that reports a value beyond float64's range as
// an error wrapping strconv.ErrRange.
func parseFloat(b []byte) (float64, error) {
	s := string(b)
	if s == "" || strings.TrimSpace(s) != s || strings.IndexByte(s, '_') >= 0 {
		return 0, ErrNotFloat
	}
	switch strings.ToLower(s) {
	case "inf", "+inf", "infinity", "+infinity":
		return math.Inf(1), nil
	case "-inf", "-infinity":
		return math.Inf(-1), nil
	}
	if isHexMantissa(s) {
		s += "p0" // strtold makes the binary exponent optional, strconv does not
	}
	f, err := strconv.ParseFloat(s, 64)
	if errors.Is(err, strconv.ErrRange) && !math.IsInf(f, 0) {
		return f, nil // underflow to 0 or a denormal: strtold accepts it too
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%w: %w", ErrNotFloat, strconv.ErrRange)
	}
	if err != nil || math.IsNaN(f) {
		return 0, ErrNotFloat
	}
	return f, nil
}

// FormatFloat formats f as Redis's INCRBYFLOAT prints a value: plain decimal
// notation, at most 17 digits after the point, no trailing zeros, and "0" for
// negative zero. It prints the shortest text that reads back as f, rounded to
// 17 decimals where that is longer (Redis prints 1e-20 as "0"). IncrByFloat
// does not use it: see there for why its sums need more precision.
func FormatFloat(f float64) []byte {
	b := strconv.AppendFloat(nil, f, 'f', -1, 64)
	if i := bytes.IndexByte(b, '.'); i >= 0 && len(b)-i-1 > 17 {
		b = strconv.AppendFloat(b[:0], f, 'f', 17, 64)
	}
	return trimFloat(b)
}

// trimFloat removes the trailing zeros after a decimal point, and the point
// if nothing follows it, and turns "-0" into "0", as Redis's ld2string does.
func trimFloat(b []byte) []byte {
	if bytes.IndexByte(b, '.') >= 0 {
		b = bytes.TrimRight(b, "0")
		b = bytes.TrimSuffix(b, []byte("."))
	}
	if len(b) == 2 && b[0] == '-' && b[1] == '0' {
		b = b[1:]
	}
	return b
}

// isHexMantissa reports whether s is hexadecimal without a 'p' exponent.
func isHexMantissa(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !strings.ContainsAny(s, "pP")
}
