package gateway

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"unicode"

	"github.com/strata-cache/strata/internal/config"
)

// FuzzClientIP feeds arbitrary peers and X-Forwarded-For values to
// ClientIP. It must not panic; the answer must be the peer's host or a
// canonical IP address with no room for log injection; an untrusted peer's
// header must be ignored.
func FuzzClientIP(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.2:5000", "198.51.100.7"},
		{"10.0.0.2:5000", "6.6.6.6, 198.51.100.7, 10.1.1.1"},
		{"[fd00::1]:5000", "[2001:db8::5]:80, fe80::1%eth0"},
		{"203.0.113.9:1", "1.2.3.4"},
		{"[::ffff:10.0.0.2]:5000", "::ffff:1.2.3.4,,,"},
		{"10.0.0.2:5000", "1.2.3.4\r\nX-Evil: 1"},
		{"@", ""},
	} {
		f.Add(s[0], s[1])
	}
	g, err := New(config.GatewayConfig{TrustedProxies: []string{"10.0.0.0/8", "fd00::/8", "127.0.0.1"}}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		got := g.ClientIP(remote, xff)
		a, err := netip.ParseAddr(got)
		if err != nil {
			// Only a peer that is not an IP address comes back verbatim
			// (its host part, if it has one). The peer comes from the
			// kernel, not the client.
			host, _, herr := net.SplitHostPort(remote)
			if got != remote && (herr != nil || got != host) {
				t.Fatalf("ClientIP(%q, %q) = %q: neither an IP nor the peer", remote, xff, got)
			}
			return
		}
		if a.String() != got || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("ClientIP(%q, %q) = %q, not canonical", remote, xff, got)
		}
		if strings.IndexFunc(got, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
			t.Fatalf("ClientIP(%q, %q) = %q contains spaces or control characters", remote, xff, got)
		}
		if peer, err := netip.ParseAddrPort(remote); err == nil && !g.trusts(peer.Addr().Unmap()) && got != peer.Addr().Unmap().WithZone("").String() {
			t.Fatalf("ClientIP(%q, %q) = %q believed an untrusted peer's header", remote, xff, got)
		}
	})
}

// FuzzSessionCheck feeds arbitrary RESP commands (arguments separated by
// NUL) to an unauthenticated and an authenticated session. It must not
// panic, an unauthenticated session must refuse everything but AUTH,
// HELLO, QUIT and RESET, and a prefix-limited one must never allow a data
// command with a key outside its prefixes.
func FuzzSessionCheck(f *testing.F) {
	for _, s := range []string{
		"GET\x00users:1", "MSET\x00users:1\x00v\x00orders:1\x00v", "SET\x00users:1\x00v\x00GET",
		"CONFIG\x00SET\x00a\x00b", "HELLO\x003\x00AUTH\x00u\x00p", "MEMORY\x00USAGE", "RENAME\x00users:1",
		"COMMAND", "KEYS\x00*", "DEL",
	} {
		f.Add([]byte(s))
	}
	g, err := New(testConfig(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		args := bytes.Split(line, []byte{0})
		anon := g.NewSession()
		if reply := anon.Check(args); reply == "" {
			if c := Classify(args); !c.NoAuth {
				t.Fatalf("unauthenticated session ran %q", args)
			}
		}
		s := g.NewSession()
		if s.Auth([]byte("users"), []byte(keyUsers)) != "" {
			t.Fatal("auth failed")
		}
		if reply := s.Check(args); reply == "" {
			c := Classify(args)
			c.Keys.Keys(args, func(k []byte) bool {
				if !bytes.HasPrefix(k, []byte("users:")) && !bytes.HasPrefix(k, []byte("session:")) {
					t.Fatalf("allowed %q with key %q outside the prefixes", args, k)
				}
				return true
			})
			if c.Scope&ScopeAdmin != 0 || (c.Keyspace && c.Data) {
				t.Fatalf("allowed %q (%+v) to a read/write key limited to prefixes", args, c)
			}
		}
	})
}
