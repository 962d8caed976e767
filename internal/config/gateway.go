package config

import (
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strings"
	"unicode"
)

// Scopes a gateway key may hold. Package gateway parses the same names.
const (
	// ScopeRead allows commands and routes that read keys.
	ScopeRead = "read"
	// ScopeWrite allows commands and routes that write or delete keys. It
	// does not imply read.
	ScopeWrite = "write"
	// ScopeAdmin allows administrative commands and routes (FLUSHALL,
	// CONFIG SET, CLIENT KILL, SLOWLOG RESET, /v1/stats).
	ScopeAdmin = "admin"
)

// HashPrefix starts every gateway.keys[].hash: the hash function's name,
// so that another one can be added later without ambiguity.
const HashPrefix = "sha256:"

// GatewayConfig configures the gateway that every node runs in front of
// both listeners: API keys, their scopes and rate limits, and the proxies
// whose X-Forwarded-For is believed.
type GatewayConfig struct {
	// ProtectedMode, like Redis's protected-mode, refuses to start a node
	// that has no keys configured and would listen on an address other
	// than loopback, because such a node is open to anyone who can reach
	// it. It has no effect once keys are configured. Default true.
	ProtectedMode bool `koanf:"protected_mode" yaml:"protected_mode"`
	// TrustedProxies lists the peers, as CIDR prefixes or single IP
	// addresses, whose X-Forwarded-For header is used to find the client's
	// address for logs. Default none: the TCP peer is the client. From the
	// environment, give a comma-separated list.
	TrustedProxies []string `koanf:"trusted_proxies" yaml:"trusted_proxies"`
	// Keys are the API keys clients authenticate with. Default none, which
	// allows every request without authentication (see ProtectedMode).
	// Keys can only be set in the configuration file.
	Keys []KeyConfig `koanf:"keys" yaml:"keys"`
}

// KeyConfig is one API key. The key itself is never stored, only its hash;
// "strata keys new" prints a new key and this entry for it.
type KeyConfig struct {
	// Name identifies the key in logs, metrics and error replies, and is
	// the user name for RESP's AUTH user password. Required, unique, no
	// spaces.
	Name string `koanf:"name" yaml:"name"`
	// Hash is "sha256:" followed by the 64 hex digits of the SHA-256 of the
	// key. Required, unique.
	Hash string `koanf:"hash" yaml:"hash"`
	// Scopes are what the key may do: read, write, admin. At least one.
	Scopes []string `koanf:"scopes" yaml:"scopes"`
	// Prefixes, when set, limit the key to cache keys that start with one
	// of them; commands over the whole key space (KEYS, SCAN, DBSIZE) are
	// then refused. Default none: every key.
	Prefixes []string `koanf:"prefixes" yaml:"prefixes"`
	// Rate is the sustained number of data requests per second this key
	// may make on one node; 0 means unlimited. Default 0.
	Rate float64 `koanf:"rate" yaml:"rate"`
	// Burst is how many requests may arrive at once above Rate (the token
	// bucket's size). 0 means one second's worth of Rate, at least 1.
	// Default 0.
	Burst int `koanf:"burst" yaml:"burst"`
}

// TLSConfig configures TLS on both listeners. The files are read again on
// SIGHUP, so certificates can be renewed without a restart.
type TLSConfig struct {
	// CertFile is the PEM certificate chain, leaf first. Default "", which
	// serves plain TCP. Requires KeyFile.
	CertFile string `koanf:"cert_file" yaml:"cert_file"`
	// KeyFile is the PEM private key of the certificate. Default "".
	// Requires CertFile.
	KeyFile string `koanf:"key_file" yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// validate reports problems with the gateway section.
func (g GatewayConfig) validate(p *problems) {
	for i, s := range g.TrustedProxies {
		if _, err := ParsePrefix(s); err != nil {
			p.add(fmt.Sprintf("gateway.trusted_proxies[%d]", i), "%v", err)
		}
	}
	names := map[string]int{}
	hashes := map[string]int{}
	for i, k := range g.Keys {
		key := fmt.Sprintf("gateway.keys[%d]", i)
		switch {
		case k.Name == "":
			p.add(key+".name", "must not be empty")
		case strings.IndexFunc(k.Name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
			p.add(key+".name", "must not contain spaces or control characters, got %q", k.Name)
		default:
			if j, dup := names[k.Name]; dup {
				p.add(key+".name", "duplicate name %q (also gateway.keys[%d])", k.Name, j)
			} else {
				names[k.Name] = i
			}
		}
		if h, ok := ParseKeyHash(k.Hash); !ok {
			p.add(key+".hash", "must be %q followed by 64 hex digits (strata keys new prints one), got %q", HashPrefix, k.Hash)
		} else if j, dup := hashes[h]; dup {
			p.add(key+".hash", "duplicate hash (also gateway.keys[%d]): two entries for one key", j)
		} else {
			hashes[h] = i
		}
		if len(k.Scopes) == 0 {
			p.add(key+".scopes", "must list at least one of read, write, admin")
		}
		for _, s := range k.Scopes {
			switch s {
			case ScopeRead, ScopeWrite, ScopeAdmin:
			default:
				p.add(key+".scopes", "unknown scope %q (want read, write or admin)", s)
			}
		}
		for j, pre := range k.Prefixes {
			if pre == "" {
				p.add(fmt.Sprintf("%s.prefixes[%d]", key, j), "must not be empty (an empty prefix matches every key; omit prefixes instead)")
			}
		}
		if k.Rate < 0 || math.IsNaN(k.Rate) || math.IsInf(k.Rate, 0) {
			p.add(key+".rate", "must be >= 0 requests per second, got %v", k.Rate)
		}
		if k.Burst < 0 {
			p.add(key+".burst", "must be >= 0, got %d", k.Burst)
		}
	}
}

// ParsePrefix parses a trusted-proxy entry: a CIDR prefix ("10.0.0.0/8")
// or a single address ("10.1.2.3", meaning /32 or /128). Host bits set in
// a prefix ("10.0.0.1/8") are an error, since they suggest a typo.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pre, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix: %q", s)
		}
		if pre.Masked() != pre {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, pre.Masked())
		}
		return pre, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix: %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseKeyHash returns the lower-case hex digest of a gateway.keys[].hash
// ("sha256:<64 hex digits>") and whether it is well formed.
func ParseKeyHash(s string) (string, bool) {
	h, ok := strings.CutPrefix(s, HashPrefix)
	if !ok || len(h) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	return strings.ToLower(h), true
}

// validate reports a half-configured TLS section and files that cannot be
// loaded, naming the file at fault.
func (t TLSConfig) validate(p *problems) {
	if !t.Enabled() {
		return
	}
	switch {
	case t.CertFile == "":
		p.add("tls.cert_file", "must be set when tls.key_file is")
		return
	case t.KeyFile == "":
		p.add("tls.key_file", "must be set when tls.cert_file is")
		return
	}
	cert, err := os.ReadFile(t.CertFile)
	if err != nil {
		p.add("tls.cert_file", "%v", err)
	}
	key, kerr := os.ReadFile(t.KeyFile)
	if kerr != nil {
		p.add("tls.key_file", "%v", kerr)
	}
	if err != nil || kerr != nil {
		return
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		p.add("tls.cert_file", "cannot use %s with tls.key_file %s: %v", t.CertFile, t.KeyFile, err)
	}
}
