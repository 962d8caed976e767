package postgres

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestParamCheck(t *testing.T) {
	tests := []struct {
		oid  uint32
		ok   []string
		fail []string
	}{
		{pgtype.TextOID,
			[]string{"", "ada", "' OR '1'='1", "1;DROP TABLE users--", `back\slash`, "ünïcode", "\u2028"},
			[]string{"a\x00b", "\xff", "\xc3\x28"}},
		{pgtype.Int2OID, []string{"0", "-32768", "32767"}, []string{"32768", "abc", "01", "+1", "-0", "", " 1", "1.0", "1;DROP TABLE users--"}},
		{pgtype.Int4OID, []string{"2147483647"}, []string{"2147483648", "1e3", "0x10"}},
		{pgtype.Int8OID, []string{"9223372036854775807", "-9223372036854775808", "42"}, []string{"9223372036854775808", "42 ", "٣"}},
		{pgtype.NumericOID,
			[]string{"0", "1.50", "-3.25", "12345678901234567890.1"},
			[]string{"", "-", ".5", "5.", "01", "-0", "-0.00", "1e5", "NaN", "Infinity", "1.2.3", strings.Repeat("9", 1001)}},
		{pgtype.UUIDOID,
			[]string{"0b6f2a4e-8f0c-4d36-9a57-3d6b8a1f2c10"},
			[]string{"0B6F2A4E-8F0C-4D36-9A57-3D6B8A1F2C10", "{0b6f2a4e-8f0c-4d36-9a57-3d6b8a1f2c10}", "0b6f2a4e8f0c4d369a573d6b8a1f2c10", "0b6f2a4e-8f0c-4d36-9a57-3d6b8a1f2c1g"}},
		{pgtype.BoolOID, []string{"true", "false"}, []string{"t", "TRUE", "1", "yes", ""}},
		{pgtype.DateOID, []string{"2024-02-29", "0001-01-01"}, []string{"2023-02-29", "0000-01-01", "2024-2-1", "2024-02-01T00:00:00Z", "today"}},
		{pgtype.TimestamptzOID,
			[]string{"2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123456Z", "2024-05-01T12:00:00.5Z"},
			[]string{"2024-05-01T12:00:00+00:00", "2024-05-01T12:00:00+02:00", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00.1234567Z", "2024-05-01T12:00:00.50Z", "2024-05-01T12:00:00"}},
		{pgtype.TimestampOID, []string{"2024-05-01T12:00:00", "2024-05-01T12:00:00.25"}, []string{"2024-05-01T12:00:00Z", "2024-05-01T24:00:00", "now"}},
	}
	for _, tt := range tests {
		p := param{name: "p", kind: paramKindFor(tt.oid), pgType: "t"}
		if p.kind == 0 {
			t.Fatalf("oid %d unsupported", tt.oid)
		}
		for _, v := range tt.ok {
			if err := p.check(v); err != nil {
				t.Errorf("oid %d: check(%q) = %v, want ok", tt.oid, v, err)
			}
		}
		for _, v := range tt.fail {
			if err := p.check(v); err == nil {
				t.Errorf("oid %d: check(%q) accepted", tt.oid, v)
			}
		}
	}
	if paramKindFor(pgtype.Float8OID) != 0 || paramKindFor(pgtype.JSONBOID) != 0 {
		t.Error("float8 or jsonb parameters accepted")
	}
}

func TestTrimQuery(t *testing.T) {
	for in, want := range map[string]string{
		" SELECT 1 ; ;\n": "SELECT 1",
		"SELECT 1":        "SELECT 1",
		";":               "",
	} {
		if got := trimQuery(in); got != want {
			t.Errorf("trimQuery(%q) = %q, want %q", in, got, want)
		}
	}
}
