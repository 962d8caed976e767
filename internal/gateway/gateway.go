// Package gateway is the API gateway built into every strata node and
// shared by both front ends: API keys and their scopes, per-key rate
// limits, TLS certificates that reload without a restart, the client
// address behind trusted proxies, and the budget of an unauthenticated RESP
// client.
//
// The front ends own the wire: they find the credential (an Authorization
// header, AUTH or HELLO ... AUTH), ask the Gateway who it belongs to
// (Authenticate), whether that principal may do what the request does
// (Authorize, or Session.Check for RESP) and whether it is within its rate
// (Allow), and turn the errors into replies. Errors are sentinels and types
// to branch on: ErrNoAuth, ErrBadAuth, ErrForbidden (*ForbiddenError) and
// ErrRateLimited (*RateLimitError, which carries the retry-after duration).
//
// With no keys configured the gateway is open: every request runs as the
// Anonymous principal with every scope and no rate limit, which is how the
// embedded default works on a fresh machine. ProtectedMode then keeps such
// a node on loopback (CheckListen), as Redis's protected mode does.
package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/strata-cache/strata/internal/config"
)

// Errors the gateway returns. Front ends branch on them with errors.Is and
// errors.As and map them to the wire in their error tables.
var (
	// ErrNoAuth means the request carried no credential and one is required
	// (HTTP 401, RESP -NOAUTH).
	ErrNoAuth = errors.New("gateway: authentication required")
	// ErrBadAuth means the credential matched no configured key, or named
	// a user the key does not belong to (HTTP 401, RESP -WRONGPASS).
	ErrBadAuth = errors.New("gateway: invalid API key")
	// ErrForbidden means the principal is authenticated but its scopes or
	// key prefixes do not allow the request (HTTP 403, RESP -NOPERM). The
	// error is a *ForbiddenError.
	ErrForbidden = errors.New("gateway: forbidden")
	// ErrRateLimited means the principal has used up its rate (HTTP 429,
	// RESP -RATELIMITED). The error is a *RateLimitError.
	ErrRateLimited = errors.New("gateway: rate limit exceeded")
	// ErrProtectedMode means CheckListen refused a non-loopback address
	// because no keys are configured.
	ErrProtectedMode = errors.New("gateway: protected mode")
)

// Scope is a set of permissions. A request needs every bit of its scope;
// the zero Scope needs only authentication.
type Scope uint8

// The scopes, as named in gateway.keys[].scopes.
const (
	// ScopeRead allows reading keys.
	ScopeRead Scope = 1 << iota
	// ScopeWrite allows writing and deleting keys. It does not imply
	// ScopeRead: a command that returns a value it changes (GETSET, INCR)
	// needs both.
	ScopeWrite
	// ScopeAdmin allows administrative commands and routes.
	ScopeAdmin

	// ScopeAll is every scope: the Anonymous principal's.
	ScopeAll = ScopeRead | ScopeWrite | ScopeAdmin
)

// ParseScope returns the scope named s: "read", "write" or "admin".
func ParseScope(s string) (Scope, error) {
	switch s {
	case config.ScopeRead:
		return ScopeRead, nil
	case config.ScopeWrite:
		return ScopeWrite, nil
	case config.ScopeAdmin:
		return ScopeAdmin, nil
	}
	return 0, fmt.Errorf("gateway: unknown scope %q (want read, write or admin)", s)
}

// String returns the scope's names joined by "+", e.g. "read+write", or
// "none" for the zero Scope.
func (s Scope) String() string {
	var parts []string
	for _, x := range []struct {
		s    Scope
		name string
	}{{ScopeRead, config.ScopeRead}, {ScopeWrite, config.ScopeWrite}, {ScopeAdmin, config.ScopeAdmin}} {
		if s&x.s != 0 {
			parts = append(parts, x.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

// Principal is who a request runs as: one configured key, or Anonymous.
// It is immutable and shared by every connection that authenticated with
// the same key, so its rate limit is per key, not per connection.
type Principal struct {
	// Name is the key's name (gateway.keys[].name), "default" for
	// Anonymous. It appears in logs and in -NOPERM replies.
	Name string
	// Scopes are what the principal may do.
	Scopes Scope
	// Prefixes, when not empty, are the only key prefixes the principal
	// may touch.
	Prefixes []string

	limiter *rate.Limiter // nil: unlimited
	burst   int
	rate    float64
}

// Anonymous is the principal of every request when no keys are
// configured: every scope, every key, no rate limit.
var Anonymous = &Principal{Name: "default", Scopes: ScopeAll}

// Has reports whether the principal holds every scope in s.
func (p *Principal) Has(s Scope) bool { return p.Scopes&s == s }

// CanAccess reports whether the principal's prefixes allow key.
func (p *Principal) CanAccess(key string) bool {
	if len(p.Prefixes) == 0 {
		return true
	}
	for _, pre := range p.Prefixes {
		if strings.HasPrefix(key, pre) {
			return true
		}
	}
	return false
}

// canAccessBytes is CanAccess for a key as bytes, without allocating.
func (p *Principal) canAccessBytes(key []byte) bool {
	if len(p.Prefixes) == 0 {
		return true
	}
	for _, pre := range p.Prefixes {
		if len(key) >= len(pre) && string(key[:len(pre)]) == pre {
			return true
		}
	}
	return false
}

// Limited reports whether the principal is rate limited, and at what rate
// (requests per second) and burst.
func (p *Principal) Limited() (ok bool, perSecond float64, burst int) {
	return p.limiter != nil, p.rate, p.burst
}

// ForbiddenError is ErrForbidden with what was refused.
type ForbiddenError struct {
	// Principal is the name of the principal refused.
	Principal string
	// Command is what was refused: the RESP command in lower case, with
	// its subcommand as "config|set", or the HTTP route. It may be "".
	Command string
	// Missing are the scopes the principal lacks; zero when a key was
	// refused.
	Missing Scope
	// Key is the first key outside the principal's prefixes, when a key
	// was refused; KeyDenied tells this case apart from an empty key.
	Key       string
	KeyDenied bool
	// Keyspace is set when the command reads the whole key space (KEYS,
	// SCAN) and the principal is limited to prefixes.
	Keyspace bool
}

// Error describes the refusal without echoing the key, which may be
// sensitive and is attacker-controlled.
func (e *ForbiddenError) Error() string {
	what := "the request"
	if e.Command != "" {
		what = "'" + e.Command + "'"
	}
	switch {
	case e.KeyDenied:
		return fmt.Sprintf("gateway: %s may not access a key outside its prefixes in %s", e.Principal, what)
	case e.Keyspace:
		return fmt.Sprintf("gateway: %s is limited to key prefixes and may not run %s over the whole key space", e.Principal, what)
	}
	return fmt.Sprintf("gateway: %s lacks the %s scope for %s", e.Principal, e.Missing, what)
}

// Is reports whether target is ErrForbidden.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Options configures a Gateway beyond its configuration section.
type Options struct {
	// Now is the clock of the rate limiters; nil uses time.Now. Tests pass
	// a fake clock to simulate seconds of traffic in microseconds.
	Now func() time.Time
	// PreAuth bounds requests from unauthenticated RESP clients; the zero
	// value takes DefaultPreAuthLimits.
	PreAuth PreAuthLimits
}

// Gateway holds the keys, principals and trusted proxies of one node. It
// is safe for concurrent use; build it with New and rebuild it to change
// keys (principals, and so rate-limit state, belong to one Gateway).
type Gateway struct {
	// byHash maps the SHA-256 of each configured key to its principal.
	byHash    map[[sha256.Size]byte]*Principal
	byName    map[string]*Principal
	protected bool
	trusted   []netip.Prefix
	now       func() time.Time
	preAuth   PreAuthLimits
}

// New builds a Gateway from a validated configuration section. It
// re-checks what it relies on and returns an error rather than build a
// gateway that would let the wrong requests through.
func New(cfg config.GatewayConfig, opts Options) (*Gateway, error) {
	g := &Gateway{
		byHash:    make(map[[sha256.Size]byte]*Principal, len(cfg.Keys)),
		byName:    make(map[string]*Principal, len(cfg.Keys)),
		protected: cfg.ProtectedMode,
		now:       opts.Now,
		preAuth:   opts.PreAuth,
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.preAuth == (PreAuthLimits{}) {
		g.preAuth = DefaultPreAuthLimits
	}
	for i, s := range cfg.TrustedProxies {
		pre, err := config.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("strata: gateway: gateway.trusted_proxies[%d]: %w", i, err)
		}
		g.trusted = append(g.trusted, pre)
	}
	for i, k := range cfg.Keys {
		p, sum, err := newPrincipal(k)
		if err != nil {
			return nil, fmt.Errorf("strata: gateway: gateway.keys[%d]: %w", i, err)
		}
		if _, dup := g.byHash[sum]; dup {
			return nil, fmt.Errorf("strata: gateway: gateway.keys[%d]: duplicate hash", i)
		}
		if _, dup := g.byName[p.Name]; dup {
			return nil, fmt.Errorf("strata: gateway: gateway.keys[%d]: duplicate name %q", i, p.Name)
		}
		g.byHash[sum] = p
		g.byName[p.Name] = p
	}
	return g, nil
}

// newPrincipal builds the principal of one key entry and returns the
// digest it is looked up by.
func newPrincipal(k config.KeyConfig) (*Principal, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	h, ok := config.ParseKeyHash(k.Hash)
	if !ok {
		return nil, sum, fmt.Errorf("hash must be %q followed by 64 hex digits", config.HashPrefix)
	}
	if _, err := hex.Decode(sum[:], []byte(h)); err != nil {
		return nil, sum, fmt.Errorf("hash: %w", err)
	}
	if k.Name == "" {
		return nil, sum, errors.New("name must not be empty")
	}
	p := &Principal{Name: k.Name, Prefixes: append([]string(nil), k.Prefixes...)}
	for _, s := range k.Scopes {
		sc, err := ParseScope(s)
		if err != nil {
			return nil, sum, err
		}
		p.Scopes |= sc
	}
	if p.Scopes == 0 {
		return nil, sum, errors.New("scopes must not be empty")
	}
	if k.Rate > 0 && !math.IsInf(k.Rate, 0) {
		burst := k.Burst
		if burst <= 0 {
			burst = max(1, int(math.Ceil(k.Rate)))
		}
		p.rate, p.burst = k.Rate, burst
		p.limiter = rate.NewLimiter(rate.Limit(k.Rate), burst)
	}
	return p, sum, nil
}

// Required reports whether requests must authenticate, that is whether
// any key is configured. When it is false every request runs as
// Anonymous.
func (g *Gateway) Required() bool { return len(g.byHash) > 0 }

// Principals returns the configured principals' names, sorted, for
// start-up logs.
func (g *Gateway) Principals() []string {
	return slices.Sorted(maps.Keys(g.byName))
}

// Authenticate returns the principal whose key is secret. It returns
// ErrNoAuth for an empty secret and ErrBadAuth for one that matches no
// key. When no keys are configured every secret, even "", authenticates
// as Anonymous.
//
// The lookup is constant-time with respect to the secret: the secret is
// hashed once, and only its SHA-256 digest is compared, by a map lookup
// on the digest. A timing difference in that lookup can reveal at most how
// the presented digest relates to a stored one, and since an attacker
// cannot steer a digest's bytes without inverting SHA-256, that says
// nothing about any byte of a valid key. No code path compares the secret
// itself byte by byte. (Whether the key exists is not hidden: the reply
// says so anyway.)
//
// The digest is a single unsalted SHA-256, not a slow password hash such
// as bcrypt or argon2: keys are 256-bit random secrets (see NewKey), so
// there is no dictionary to slow down, and a slow hash would cost
// milliseconds on every connection and every HTTP request.
func (g *Gateway) Authenticate(secret string) (*Principal, error) {
	if !g.Required() {
		return Anonymous, nil
	}
	if secret == "" {
		return nil, ErrNoAuth
	}
	p, ok := g.byHash[sha256.Sum256([]byte(secret))]
	if !ok {
		return nil, ErrBadAuth
	}
	return p, nil
}

// AuthenticateUser is Authenticate for clients that also send a user name,
// as RESP's AUTH user password and HELLO ... AUTH user password do. The
// user must be "" or "default" (what clients send when given only a
// password) or the name of the key; any other name is ErrBadAuth, checked
// after the lookup so that it does not change the lookup's timing.
func (g *Gateway) AuthenticateUser(user, secret string) (*Principal, error) {
	p, err := g.Authenticate(secret)
	if err != nil {
		return nil, err
	}
	if user != "" && user != "default" && user != p.Name {
		return nil, ErrBadAuth
	}
	return p, nil
}

// Authorize reports whether p may perform a request that needs scope and
// touches keys: nil, or a *ForbiddenError (errors.Is ErrForbidden). A nil
// p is ErrNoAuth. Every key must lie within p's prefixes, so a multi-key
// request is refused as a whole if one key is outside them.
func (g *Gateway) Authorize(p *Principal, scope Scope, keys ...string) error {
	if p == nil {
		return ErrNoAuth
	}
	if !p.Has(scope) {
		return &ForbiddenError{Principal: p.Name, Missing: scope &^ p.Scopes}
	}
	for _, k := range keys {
		if !p.CanAccess(k) {
			return &ForbiddenError{Principal: p.Name, Key: k, KeyDenied: true}
		}
	}
	return nil
}

// CheckListen returns an error wrapping ErrProtectedMode if the gateway is
// in protected mode, no keys are configured, and one of addrs (host:port,
// "" for a disabled listener) is not a loopback address. A host name other
// than "localhost" counts as non-loopback, since it may resolve to
// anything; an empty host means every interface.
func (g *Gateway) CheckListen(addrs ...string) error {
	if !g.protected || g.Required() {
		return nil
	}
	for _, addr := range addrs {
		if addr == "" {
			continue
		}
		if !isLoopback(addr) {
			return fmt.Errorf("strata: %w: refusing to listen on %s, which is not a loopback address, "+
				"because no API keys are configured and anyone who can reach it could read and write every key; "+
				"configure gateway.keys (strata keys new prints one) or set gateway.protected_mode: false", ErrProtectedMode, addr)
		}
	}
	return nil
}

// isLoopback reports whether addr's host is a loopback address or
// "localhost".
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
