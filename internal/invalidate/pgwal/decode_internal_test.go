package pgwal

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestCanonical(t *testing.T) {
	for _, tc := range []struct {
		oid      uint32
		in, want string
		ok       bool
	}{
		{pgtype.Int8OID, "42", "42", true},
		{pgtype.BoolOID, "t", "true", true},
		{pgtype.BoolOID, "f", "false", true},
		{pgtype.TimestamptzOID, "2024-05-01 12:00:00+00", "2024-05-01T12:00:00Z", true},
		{pgtype.TimestamptzOID, "2024-05-01 14:00:00.120+02", "2024-05-01T12:00:00.12Z", true},
		{pgtype.TimestamptzOID, "2024-05-01 17:30:00+05:30", "2024-05-01T12:00:00Z", true},
		{pgtype.TimestamptzOID, "infinity", "", false},
		{pgtype.TimestampOID, "2024-05-01 12:00:00.5", "2024-05-01T12:00:00.5", true},
		{pgtype.DateOID, "2024-05-01", "2024-05-01", true},
		{pgtype.DateOID, "2024-05-01 BC", "", false},
		{pgtype.TextOID, "O'Brien", "O'Brien", true},
		{pgtype.UUIDOID, "0a1b2c3d-0000-4000-8000-000000000000", "0a1b2c3d-0000-4000-8000-000000000000", true},
	} {
		got, ok := canonical(tc.oid, tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("canonical(%d, %q) = %q, %v; want %q, %v", tc.oid, tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzCanonical: converting any text value of a key column never panics,
// and what it accepts for a timestamptz is a canonical RFC 3339 UTC form
// that converts to itself.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"2024-05-01 12:00:00+00", "2024-05-01 14:00:00.120+02", "infinity", "t", "42", "2024-05-01", "2024-05-01 BC", "\x00"} {
		f.Add(uint32(pgtype.TimestamptzOID), s)
		f.Add(uint32(pgtype.DateOID), s)
		f.Add(uint32(pgtype.BoolOID), s)
	}
	f.Fuzz(func(t *testing.T, oid uint32, v string) {
		out, ok := canonical(oid, v)
		if !ok || oid != pgtype.TimestamptzOID {
			return
		}
		back, err := time.Parse(time.RFC3339Nano, out)
		if err != nil || back.UTC().Format("2006-01-02T15:04:05.999999Z") != out {
			t.Fatalf("canonical(timestamptz, %q) = %q, not canonical", v, out)
		}
	})
}
