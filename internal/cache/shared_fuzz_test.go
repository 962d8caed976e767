package cache

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeShared: any bytes read back from Redis under an entry's key
// decode or are refused, never panic; what encodeShared wrote decodes to
// the same entry.
func FuzzDecodeShared(f *testing.F) {
	rs := &resState{}
	for _, e := range []Entry{
		{Value: []byte("v"), ExpireAt: 3e18, StoredAt: 1e18, Fill: &Fill{FreshUntil: 2e18, Duration: time.Millisecond, Kind: FillOrigin, res: rs}},
		{ExpireAt: 5, StoredAt: 1, Fill: &Fill{FreshUntil: 4, Negative: true, Kind: FillRefresh, res: rs}},
	} {
		f.Add(encodeShared(e, 7))
	}
	f.Add([]byte{})
	f.Add([]byte{sharedVersion})
	f.Add(bytes.Repeat([]byte{0xff}, sharedHeader+3))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, epoch, err := decodeShared(b)
		if err != nil {
			return
		}
		if e.Fill == nil {
			t.Fatal("decoded entry without fill metadata")
		}
		again, epoch2, err := decodeShared(encodeShared(e, epoch))
		if err != nil || epoch2 != epoch || !bytes.Equal(again.Value, e.Value) || again.ExpireAt != e.ExpireAt ||
			again.StoredAt != e.StoredAt || *again.Fill != *e.Fill {
			t.Fatalf("re-encoding changed the entry: %+v %+v -> %+v %+v (%v)", e, *e.Fill, again, again.Fill, err)
		}
	})
}
