package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Bytes is a size in bytes. In YAML, environment variables and flags it is
// written either as a plain non-negative integer (bytes) or as an integer
// followed by a unit, case-insensitively, with Redis semantics:
//
//	b           1
//	k           1000             kb, kib   1024
//	m           1000*1000        mb, mib   1024*1024
//	g           1000*1000*1000   gb, gib   1024*1024*1024
//
// So "1gb" and "1GiB" are both 1073741824 bytes, while "1g" is 1000000000,
// exactly as in redis.conf. Fractions ("1.5gb") and negative sizes are
// rejected.
type Bytes uint64

// Common sizes, for defaults and tests.
const (
	KiB Bytes = 1 << 10
	MiB Bytes = 1 << 20
	GiB Bytes = 1 << 30
)

// unitMultiplier returns the multiplier of a lower-case unit suffix.
func unitMultiplier(unit string) (uint64, bool) {
	switch unit {
	case "", "b":
		return 1, true
	case "k":
		return 1000, true
	case "kb", "kib":
		return 1 << 10, true
	case "m":
		return 1000 * 1000, true
	case "mb", "mib":
		return 1 << 20, true
	case "g":
		return 1000 * 1000 * 1000, true
	case "gb", "gib":
		return 1 << 30, true
	}
	return 0, false
}

// ErrInvalidSize is wrapped by every error ParseBytes returns.
var ErrInvalidSize = errors.New("invalid size")

// ParseBytes parses s as a Bytes value; see Bytes for the accepted syntax.
// Leading and trailing spaces and tabs are ignored, as are spaces between
// the number and the unit ("512 mb").
func ParseBytes(s string) (Bytes, error) {
	t := strings.Trim(s, " \t")
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%w %q: want an integer with an optional unit (b, k, kb, kib, m, mb, mib, g, gb, gib)", ErrInvalidSize, s)
	}
	n, err := strconv.ParseUint(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: out of range", ErrInvalidSize, s)
	}
	unit := strings.ToLower(strings.TrimLeft(t[i:], " \t"))
	mul, ok := unitMultiplier(unit)
	if !ok {
		return 0, fmt.Errorf("%w %q: unknown unit %q (want b, k, kb, kib, m, mb, mib, g, gb or gib)", ErrInvalidSize, s, t[i:])
	}
	if n > math.MaxUint64/mul {
		return 0, fmt.Errorf("%w %q: out of range", ErrInvalidSize, s)
	}
	return Bytes(n * mul), nil
}

// String returns b in the largest binary unit that divides it exactly
// ("1GiB", "512MiB", "64KiB"), or as a plain number of bytes otherwise, so
// that ParseBytes(b.String()) == b always holds.
func (b Bytes) String() string {
	switch {
	case b == 0:
		return "0"
	case b%GiB == 0:
		return strconv.FormatUint(uint64(b/GiB), 10) + "GiB"
	case b%MiB == 0:
		return strconv.FormatUint(uint64(b/MiB), 10) + "MiB"
	case b%KiB == 0:
		return strconv.FormatUint(uint64(b/KiB), 10) + "KiB"
	default:
		return strconv.FormatUint(uint64(b), 10)
	}
}

// MarshalText implements encoding.TextMarshaler using String.
func (b Bytes) MarshalText() ([]byte, error) {
	return []byte(b.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler using ParseBytes.
func (b *Bytes) UnmarshalText(text []byte) error {
	v, err := ParseBytes(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Set implements pflag.Value, so a Bytes can back a command-line flag.
func (b *Bytes) Set(s string) error {
	return b.UnmarshalText([]byte(s))
}

// Type implements pflag.Value; it names the value in flag help.
func (b *Bytes) Type() string {
	return "size"
}
