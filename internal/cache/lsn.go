package cache

import (
	"errors"
	"strconv"
	"strings"
)

// ErrBadLSN is returned by ParseLSN.
var ErrBadLSN = errors.New(`invalid WAL position: want PostgreSQL's pg_lsn text form, e.g. "0/16B3748"`)

// ParseLSN parses a WAL position in PostgreSQL's text form "XXX/YYY" (two
// hexadecimal 32-bit halves), as pg_current_wal_lsn() returns it, for
// ReadOptions.MinLSN. It does not allocate.
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, ErrBadLSN
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, ErrBadLSN
	}
	return h<<32 | l, nil
}
