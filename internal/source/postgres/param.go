package postgres

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// paramKind is how a key parameter is checked before it is sent, as text,
// to a query parameter of a given PostgreSQL type.
type paramKind uint8

const (
	kindText paramKind = iota + 1
	kindInt2
	kindInt4
	kindInt8
	kindNumeric
	kindUUID
	kindBool
	kindDate
	kindTimestamptz
	kindTimestamp
)

// supportedParamTypes names the types paramKindFor accepts, for errors.
const supportedParamTypes = "text, varchar, char, name, int2, int4, int8, numeric, uuid, bool, date, timestamp, timestamptz"

// paramKindFor returns the kind for a query parameter's type OID, or 0 if
// a key parameter cannot be bound to it.
func paramKindFor(oid uint32) paramKind {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return kindText
	case pgtype.Int2OID:
		return kindInt2
	case pgtype.Int4OID:
		return kindInt4
	case pgtype.Int8OID:
		return kindInt8
	case pgtype.NumericOID:
		return kindNumeric
	case pgtype.UUIDOID:
		return kindUUID
	case pgtype.BoolOID:
		return kindBool
	case pgtype.DateOID:
		return kindDate
	case pgtype.TimestamptzOID:
		return kindTimestamptz
	case pgtype.TimestampOID:
		return kindTimestamp
	}
	return 0
}

// param is one bound query parameter.
type param struct {
	name   string // the template parameter's name
	kind   paramKind
	pgType string // e.g. "int8", for messages
}

const maxNumericLen = 1000

var (
	errNotText      = errors.New("text must be valid UTF-8 without NUL bytes")
	errNotInt       = errors.New("not a canonical integer in range")
	errNotNumeric   = errors.New("not a canonical decimal number")
	errNotUUID      = errors.New("not a lower-case UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
	errNotBool      = errors.New(`not "true" or "false"`)
	errNotDate      = errors.New("not a date YYYY-MM-DD")
	errNotTimestamp = errors.New("not a canonical RFC 3339 timestamp (UTC, \"Z\" for timestamptz, at most 6 fractional digits without trailing zeros)")
)

// check reports whether v is acceptable for the parameter. The errors do
// not repeat v: keys come from clients and end up in logs.
func (p *param) check(v string) error {
	var err error
	switch p.kind {
	case kindText:
		if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
			err = errNotText
		}
	case kindInt2:
		err = checkInt(v, 16)
	case kindInt4:
		err = checkInt(v, 32)
	case kindInt8:
		err = checkInt(v, 64)
	case kindNumeric:
		err = checkNumeric(v)
	case kindUUID:
		err = checkUUID(v)
	case kindBool:
		if v != "true" && v != "false" {
			err = errNotBool
		}
	case kindDate:
		err = checkDate(v)
	case kindTimestamptz:
		err = checkTimestamp(v, true)
	case kindTimestamp:
		err = checkTimestamp(v, false)
	default:
		err = errors.New("unsupported parameter type " + p.pgType)
	}
	if err != nil {
		return &paramError{pgType: p.pgType, err: err}
	}
	return nil
}

// paramError says which type a key parameter failed to convert to.
type paramError struct {
	pgType string
	err    error
}

func (e *paramError) Error() string { return "cannot convert to " + e.pgType + ": " + e.err.Error() }
func (e *paramError) Unwrap() error { return e.err }

func checkInt(v string, bits int) error {
	n, err := strconv.ParseInt(v, 10, bits)
	// The round trip rejects "+1", "01" and "-0": one row, one key.
	if err != nil || strconv.FormatInt(n, 10) != v {
		return errNotInt
	}
	return nil
}

func checkNumeric(v string) error {
	if len(v) == 0 || len(v) > maxNumericLen {
		return errNotNumeric
	}
	s := strings.TrimPrefix(v, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if !allDigits(intPart) || (len(intPart) > 1 && intPart[0] == '0') || (hasFrac && !allDigits(frac)) {
		return errNotNumeric
	}
	if s != v && strings.Trim(s, "0.") == "" { // "-0", "-0.00"
		return errNotNumeric
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkUUID(v string) error {
	if len(v) != 36 {
		return errNotUUID
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return errNotUUID
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return errNotUUID
			}
		}
	}
	return nil
}

func checkDate(v string) error {
	t, err := time.Parse(time.DateOnly, v)
	if err != nil || t.Year() < 1 || t.Format(time.DateOnly) != v {
		return errNotDate
	}
	return nil
}

func checkTimestamp(v string, utc bool) error {
	body := v
	if utc {
		var ok bool
		if body, ok = strings.CutSuffix(v, "Z"); !ok {
			return errNotTimestamp
		}
	}
	const layout = "2006-01-02T15:04:05.999999"
	if _, frac, ok := strings.Cut(body, "."); ok && len(frac) > 6 {
		return errNotTimestamp
	}
	t, err := time.Parse(layout, body)
	if err != nil || t.Year() < 1 || t.Format(layout) != body {
		return errNotTimestamp
	}
	return nil
}
