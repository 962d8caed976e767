package gateway

import (
	"net/http/httptest"
	"testing"

	"github.com/strata-cache/strata/internal/config"
)

func TestClientIP(t *testing.T) {
	g := newTestGateway(t, config.GatewayConfig{TrustedProxies: []string{"10.0.0.0/8", "127.0.0.1", "fd00::/8"}}, Options{})
	tests := []struct {
		name, remote, xff, want string
	}{
		{"no proxy", "203.0.113.9:5000", "", "203.0.113.9"},
		{"untrusted peer's XFF is ignored", "203.0.113.9:5000", "1.2.3.4", "203.0.113.9"},
		{"trusted peer", "10.0.0.2:5000", "198.51.100.7", "198.51.100.7"},
		{"trusted peer, no XFF", "10.0.0.2:5000", "", "10.0.0.2"},
		{"spoofed left entries are skipped", "10.0.0.2:5000", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
		{"trusted hops are skipped", "127.0.0.1:5000", "6.6.6.6, 198.51.100.7, 10.1.1.1, 10.2.2.2", "198.51.100.7"},
		{"all hops trusted", "10.0.0.2:5000", "10.9.9.9, 10.8.8.8", "10.9.9.9"},
		{"garbage ends the walk", "10.0.0.2:5000", "198.51.100.7, <script>, 10.3.3.3", "10.3.3.3"},
		{"garbage right away", "10.0.0.2:5000", "not-an-ip", "10.0.0.2"},
		{"ports in XFF", "10.0.0.2:5000", "198.51.100.7:1234", "198.51.100.7"},
		{"IPv6", "[fd00::1]:5000", "2001:db8::5", "2001:db8::5"},
		{"IPv6 with port", "[fd00::1]:5000", "[2001:db8::5]:80", "2001:db8::5"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.2]:5000", "198.51.100.7", "198.51.100.7"},
		{"IPv4-mapped client", "10.0.0.2:5000", "::ffff:198.51.100.7", "198.51.100.7"},
		{"zone dropped", "10.0.0.2:5000", "fe80::1%eth0", "fe80::1"},
		{"empty entries", "10.0.0.2:5000", " , ,198.51.100.7,", "198.51.100.7"},
		{"peer without port", "203.0.113.9", "1.2.3.4", "203.0.113.9"},
		{"unix socket peer", "@", "1.2.3.4", "@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.ClientIP(tt.remote, tt.xff); got != tt.want {
				t.Fatalf("ClientIP(%q, %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func TestClientIPNoTrustedProxies(t *testing.T) {
	g := newTestGateway(t, config.GatewayConfig{}, Options{})
	if got := g.ClientIP("127.0.0.1:1", "1.2.3.4"); got != "127.0.0.1" {
		t.Fatalf("ClientIP = %q; with no trusted proxies XFF must be ignored", got)
	}
}

func TestClientIPFromRequest(t *testing.T) {
	g := newTestGateway(t, config.GatewayConfig{TrustedProxies: []string{"10.0.0.0/8"}}, Options{})
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.2:5000"
	r.Header.Add("X-Forwarded-For", "6.6.6.6")
	r.Header.Add("X-Forwarded-For", "198.51.100.7, 10.1.1.1")
	if got := g.ClientIPFromRequest(r); got != "198.51.100.7" {
		t.Fatalf("ClientIPFromRequest = %q", got)
	}
}

func TestClientIPBoundedWork(t *testing.T) {
	g := newTestGateway(t, config.GatewayConfig{TrustedProxies: []string{"10.0.0.0/8"}}, Options{})
	xff := "198.51.100.7"
	for range 1000 {
		xff += ", 10.0.0.1"
	}
	// Only maxForwardedHops entries are examined; all of them are trusted,
	// so the leftmost examined one is the answer.
	if got := g.ClientIP("10.0.0.2:1", xff); got != "10.0.0.1" {
		t.Fatalf("ClientIP = %q", got)
	}
}
