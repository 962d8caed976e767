package redis

import (
	"strings"
	"testing"
)

// FuzzClassify: any key a push may carry is classified without panicking,
// and the keys strata writes come back as the client key they were made
// from.
func FuzzClassify(f *testing.F) {
	l := &L2{opts: Options{Prefix: "strata:"}}
	for _, k := range []string{"users:42", "", "}", "a}b{c", "{x}", "k:1", "e:users"} {
		f.Add("strata:", l.fenceKey(k))
		f.Add("strata:", l.kvKey(k))
		f.Add("strata:", l.epochKey(k))
	}
	f.Add("strata:", "other:key")
	f.Add("", "f{")
	f.Fuzz(func(t *testing.T, prefix, k string) {
		kind, name := classify(prefix, k)
		if kind == pushOther && name != "" {
			t.Fatalf("classify(%q, %q) = other with name %q", prefix, k, name)
		}
		if kind != pushOther && !strings.HasSuffix(k, name) {
			t.Fatalf("classify(%q, %q) named %q, not a suffix of the key", prefix, k, name)
		}
		if strings.ContainsAny(prefix, "{}") || prefix == "" {
			return
		}
		// What strata writes round-trips.
		l := &L2{opts: Options{Prefix: prefix}}
		if kind, name := classify(prefix, l.fenceKey(k)); kind != pushKey || name != k {
			t.Fatalf("fence key of %q classified as %d %q", k, kind, name)
		}
		if kind, name := classify(prefix, l.kvKey(k)); kind != pushKey || name != k {
			t.Fatalf("plain key of %q classified as %d %q", k, kind, name)
		}
		if kind, name := classify(prefix, l.epochKey(k)); kind != pushEpoch || name != k {
			t.Fatalf("epoch key of %q classified as %d %q", k, kind, name)
		}
	})
}
