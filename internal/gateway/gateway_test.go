package gateway

import (
	"crypto/sha256"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-cache/strata/internal/config"
)

// Keys of the test gateway. Their hashes, not the keys, go into the
// configuration, as in production.
const (
	keyApp   = "sk_app-secret-0123456789"
	keyRO    = "sk_readonly-secret"
	keyAdmin = "sk_admin-secret"
	keyUsers = "sk_users-only"
)

func testConfig() config.GatewayConfig {
	return config.GatewayConfig{
		ProtectedMode: true,
		Keys: []config.KeyConfig{
			{Name: "app", Hash: HashKey(keyApp), Scopes: []string{"read", "write"}},
			{Name: "ro", Hash: HashKey(keyRO), Scopes: []string{"read"}},
			{Name: "ops", Hash: HashKey(keyAdmin), Scopes: []string{"admin"}},
			{Name: "users", Hash: HashKey(keyUsers), Scopes: []string{"read", "write"}, Prefixes: []string{"users:", "session:"}},
		},
	}
}

func newTestGateway(t testing.TB, cfg config.GatewayConfig, opts Options) *Gateway {
	t.Helper()
	c := config.Default()
	c.Gateway = cfg
	if err := c.Validate(); err != nil {
		t.Fatalf("test configuration is invalid: %v", err)
	}
	g, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAuthenticate(t *testing.T) {
	g := newTestGateway(t, testConfig(), Options{})
	tests := []struct {
		name, user, secret string
		want               string // principal name, or "" for an error
		err                error
	}{
		{"valid key", "", keyApp, "app", nil},
		{"valid key, default user", "default", keyRO, "ro", nil},
		{"valid key, its own name", "ops", keyAdmin, "ops", nil},
		{"valid key, another key's name", "app", keyRO, "", ErrBadAuth},
		{"missing", "", "", "", ErrNoAuth},
		{"wrong", "", "sk_nope", "", ErrBadAuth},
		{"prefix of a key", "", keyApp[:len(keyApp)-1], "", ErrBadAuth},
		{"key plus a byte", "", keyApp + "x", "", ErrBadAuth},
		{"the hash instead of the key", "", HashKey(keyApp), "", ErrBadAuth},
		{"case changed", "", strings.ToUpper(keyApp), "", ErrBadAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := g.AuthenticateUser(tt.user, tt.secret)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || p != nil {
					t.Fatalf("AuthenticateUser(%q, %q) = %v, %v; want %v", tt.user, tt.secret, p, err, tt.err)
				}
				return
			}
			if err != nil || p.Name != tt.want {
				t.Fatalf("AuthenticateUser(%q, %q) = %v, %v; want %s", tt.user, tt.secret, p, err, tt.want)
			}
		})
	}
}

// TestLookupIsByDigest pins down the shape that makes Authenticate
// constant-time with respect to the secret: the gateway keeps only
// SHA-256 digests, one map entry per key, and looks a secret up by its
// digest; nothing holds or compares the secret itself.
func TestLookupIsByDigest(t *testing.T) {
	g := newTestGateway(t, testConfig(), Options{})
	if len(g.byHash) != 4 {
		t.Fatalf("%d digests for 4 keys", len(g.byHash))
	}
	for _, k := range []string{keyApp, keyRO, keyAdmin, keyUsers} {
		p, ok := g.byHash[sha256.Sum256([]byte(k))]
		if !ok {
			t.Fatalf("no entry under the digest of %q", k)
		}
		if got, _ := g.Authenticate(k); got != p {
			t.Fatalf("Authenticate(%q) = %v, want the principal stored under its digest", k, got)
		}
	}
	// No field of the gateway or a principal can hold a secret: the only
	// strings are names, prefixes and nothing else.
	checkNoSecretFields(t, reflect.TypeFor[Gateway]())
	checkNoSecretFields(t, reflect.TypeFor[Principal]())
	if a := testing.AllocsPerRun(100, func() { _, _ = g.Authenticate(keyApp) }); a > 1 {
		t.Errorf("Authenticate allocates %v times, want at most 1 (the []byte of the secret)", a)
	}
}

func checkNoSecretFields(t *testing.T, rt reflect.Type) {
	t.Helper()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if n := strings.ToLower(f.Name); strings.Contains(n, "secret") || strings.Contains(n, "password") || n == "key" {
			t.Errorf("%s.%s looks like it stores a secret", rt.Name(), f.Name)
		}
	}
}

func TestAuthorize(t *testing.T) {
	g := newTestGateway(t, testConfig(), Options{})
	get := func(secret string) *Principal {
		p, err := g.Authenticate(secret)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	app, ro, ops, users := get(keyApp), get(keyRO), get(keyAdmin), get(keyUsers)
	tests := []struct {
		name  string
		p     *Principal
		scope Scope
		keys  []string
		err   error
	}{
		{"no principal", nil, ScopeRead, []string{"k"}, ErrNoAuth},
		{"read with read", ro, ScopeRead, []string{"k"}, nil},
		{"write with read only", ro, ScopeWrite, []string{"k"}, ErrForbidden},
		{"read+write with read+write", app, ScopeRead | ScopeWrite, []string{"k"}, nil},
		{"admin with read+write", app, ScopeAdmin, nil, ErrForbidden},
		{"admin with admin", ops, ScopeAdmin, nil, nil},
		{"read with admin only", ops, ScopeRead, []string{"k"}, ErrForbidden},
		{"auth only", ro, 0, nil, nil},
		{"key within prefixes", users, ScopeRead, []string{"users:42"}, nil},
		{"keys within two prefixes", users, ScopeWrite, []string{"users:42", "session:9"}, nil},
		{"one key outside prefixes", users, ScopeRead, []string{"users:42", "orders:1", "session:9"}, ErrForbidden},
		{"prefix itself", users, ScopeRead, []string{"users:"}, nil},
		{"shorter than prefix", users, ScopeRead, []string{"users"}, ErrForbidden},
		{"empty key", users, ScopeRead, []string{""}, ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.Authorize(tt.p, tt.scope, tt.keys...)
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("Authorize = %v, want %v", err, tt.err)
			}
		})
	}
	var fe *ForbiddenError
	if err := g.Authorize(ro, ScopeRead|ScopeWrite); !errors.As(err, &fe) || fe.Missing != ScopeWrite || fe.Principal != "ro" {
		t.Fatalf("Authorize(ro, read+write) = %#v", err)
	}
	if err := g.Authorize(users, ScopeRead, "users:1", "secret-key"); !errors.As(err, &fe) || !fe.KeyDenied || fe.Key != "secret-key" {
		t.Fatalf("Authorize(users, other key) = %#v", err)
	} else if strings.Contains(err.Error(), "secret-key") {
		t.Errorf("error %q echoes the key", err)
	}
}

func TestNoKeysAllowsEverything(t *testing.T) {
	g := newTestGateway(t, config.GatewayConfig{ProtectedMode: true}, Options{})
	if g.Required() {
		t.Fatal("Required() with no keys")
	}
	for _, secret := range []string{"", "anything"} {
		p, err := g.Authenticate(secret)
		if err != nil || p != Anonymous {
			t.Fatalf("Authenticate(%q) = %v, %v; want Anonymous", secret, p, err)
		}
	}
	if err := g.Authorize(Anonymous, ScopeAll, "any", "key"); err != nil {
		t.Fatal(err)
	}
	if q, err := g.Allow(Anonymous); !q.OK || err != nil || q.Limit != 0 {
		t.Fatalf("Allow(Anonymous) = %+v, %v", q, err)
	}
}

func TestCheckListen(t *testing.T) {
	open := newTestGateway(t, config.GatewayConfig{ProtectedMode: true}, Options{})
	for _, ok := range [][]string{
		{"127.0.0.1:6380", "127.0.0.1:8080"},
		{"localhost:6380", "[::1]:8080"},
		{"127.0.0.2:1", ""},
		{"[::ffff:127.0.0.1]:6380"},
		nil,
	} {
		if err := open.CheckListen(ok...); err != nil {
			t.Errorf("CheckListen(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:6380", ":6380", "[::]:6380", "10.1.2.3:6380", "cache.internal:6380"} {
		err := open.CheckListen("127.0.0.1:8080", bad)
		if !errors.Is(err, ErrProtectedMode) {
			t.Fatalf("CheckListen(%q) = %v, want ErrProtectedMode", bad, err)
		}
		for _, want := range []string{bad, "configure gateway.keys", "gateway.protected_mode: false"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("CheckListen(%q) = %q, does not mention %q", bad, err, want)
			}
		}
	}
	unprotected := newTestGateway(t, config.GatewayConfig{ProtectedMode: false}, Options{})
	if err := unprotected.CheckListen("0.0.0.0:6380"); err != nil {
		t.Errorf("protected_mode false: %v", err)
	}
	withKeys := newTestGateway(t, testConfig(), Options{})
	if err := withKeys.CheckListen("0.0.0.0:6380"); err != nil {
		t.Errorf("with keys: %v", err)
	}
}

// TestConfigScopesParse keeps config's scope names and ParseScope in step.
func TestConfigScopesParse(t *testing.T) {
	for _, s := range []string{config.ScopeRead, config.ScopeWrite, config.ScopeAdmin} {
		sc, err := ParseScope(s)
		if err != nil || sc.String() != s {
			t.Errorf("ParseScope(%q) = %v, %v", s, sc, err)
		}
	}
	if _, err := ParseScope("wrte"); err == nil {
		t.Error("ParseScope accepted wrte")
	}
	if got := (ScopeRead | ScopeAdmin).String(); got != "read+admin" {
		t.Errorf("String() = %q", got)
	}
}

func TestNewRejectsWhatValidateRejects(t *testing.T) {
	for _, cfg := range []config.GatewayConfig{
		{Keys: []config.KeyConfig{{Name: "a", Hash: "sha256:zz", Scopes: []string{"read"}}}},
		{Keys: []config.KeyConfig{{Name: "a", Hash: HashKey("x"), Scopes: []string{"wrte"}}}},
		{Keys: []config.KeyConfig{{Name: "a", Hash: HashKey("x")}}},
		{Keys: []config.KeyConfig{{Name: "a", Hash: HashKey("x"), Scopes: []string{"read"}}, {Name: "b", Hash: HashKey("x"), Scopes: []string{"read"}}}},
		{TrustedProxies: []string{"10.0.0.0/33"}},
	} {
		if _, err := New(cfg, Options{}); err == nil || !strings.HasPrefix(err.Error(), "strata: gateway: gateway.") {
			t.Errorf("New(%+v) = %v, want an error naming the key", cfg, err)
		}
	}
}
