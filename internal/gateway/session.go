package gateway

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PreAuthLimits bound what an unauthenticated RESP client may send, so
// that a client without a key cannot make the server buffer much on its
// behalf. They apply only while authentication is required and the
// connection has not authenticated; the RESP reader enforces them in
// place of its usual limits and closes the connection after replying
// ReplyUnauthMultibulk or ReplyUnauthBulk, as Redis does.
type PreAuthLimits struct {
	// MaxMultibulkLen bounds the number of elements of one request array
	// (the command and its arguments). Redis: 10.
	MaxMultibulkLen int64
	// MaxBulkLen bounds one argument, in bytes. Redis: 16 KiB.
	MaxBulkLen int64
}

// DefaultPreAuthLimits are Redis's: an unauthenticated client may send
// arrays of at most 10 elements and arguments of at most 16 KiB, enough
// for AUTH and HELLO ... AUTH ... SETNAME.
var DefaultPreAuthLimits = PreAuthLimits{MaxMultibulkLen: 10, MaxBulkLen: 16 << 10}

// RESP error replies, without the leading "-", in Redis's words where
// Redis has them so that clients recognise them.
const (
	// ReplyNoAuth answers a command other than AUTH, HELLO, QUIT and RESET
	// before authentication.
	ReplyNoAuth = "NOAUTH Authentication required."
	// ReplyHelloNoAuth answers HELLO without its AUTH option before
	// authentication.
	ReplyHelloNoAuth = "NOAUTH HELLO must be called with the client already authenticated, " +
		"otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate " +
		"the client and select the RESP protocol version at the same time"
	// ReplyWrongPass answers AUTH or HELLO ... AUTH with a wrong key or a
	// user name that is not the key's.
	ReplyWrongPass = "WRONGPASS invalid username-password pair or user is disabled."
	// ReplyNoPassword answers AUTH <password> when no keys are configured.
	ReplyNoPassword = "ERR AUTH <password> called without any password configured for the default user. " +
		"Are you sure your configuration is correct?"
	// ReplyNoPermKey answers a command with a key outside the principal's
	// prefixes.
	ReplyNoPermKey = "NOPERM No permissions to access a key"
	// ReplyUnauthMultibulk is the protocol error for an unauthenticated
	// request array longer than PreAuthLimits.MaxMultibulkLen.
	ReplyUnauthMultibulk = "ERR Protocol error: unauthenticated multibulk length"
	// ReplyUnauthBulk is the protocol error for an unauthenticated
	// argument longer than PreAuthLimits.MaxBulkLen.
	ReplyUnauthBulk = "ERR Protocol error: unauthenticated bulk length"
)

// Reply returns the RESP error reply, without the leading "-", for an
// error from this package, and "" for nil or any other error:
//
//	ErrNoAuth          NOAUTH Authentication required.
//	ErrBadAuth         WRONGPASS invalid username-password pair or user is disabled.
//	*ForbiddenError    NOPERM User app has no permissions to run the 'set' command
//	                   NOPERM No permissions to access a key
//	*RateLimitError    RATELIMITED rate limit exceeded for 'app' (100/s, burst 200); retry after 12ms
//
// RATELIMITED is strata's own error code (Redis has no rate limits);
// clients see it as an ordinary error reply and can branch on the code.
func Reply(err error) string {
	if err == nil {
		return "" // before the declarations below, which escape
	}
	var fe *ForbiddenError
	var rl *RateLimitError
	switch {
	case errors.As(err, &fe):
		if fe.KeyDenied {
			return ReplyNoPermKey
		}
		return "NOPERM User " + fe.Principal + " has no permissions to run the '" + fe.Command + "' command"
	case errors.As(err, &rl):
		return fmt.Sprintf("RATELIMITED rate limit exceeded for '%s' (%s/s, burst %d); retry after %s",
			rl.Principal, strconv.FormatFloat(rl.Rate, 'f', -1, 64), rl.Burst, ceilMillis(rl.RetryAfter))
	case errors.Is(err, errHelloNoAuth):
		return ReplyHelloNoAuth
	case errors.Is(err, ErrNoAuth):
		return ReplyNoAuth
	case errors.Is(err, ErrBadAuth):
		return ReplyWrongPass
	}
	return ""
}

// ceilMillis rounds d up to the millisecond, for messages.
func ceilMillis(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// Session is the gateway's state for one RESP connection: who it has
// authenticated as. It belongs to the connection's goroutine and is not
// safe for concurrent use.
type Session struct {
	g *Gateway
	p *Principal // nil until authenticated
}

// NewSession returns the state of a new RESP connection: authenticated as
// Anonymous when no keys are configured, else not yet authenticated.
func (g *Gateway) NewSession() *Session {
	s := &Session{g: g}
	s.Reset()
	return s
}

// Principal returns who the connection runs as, nil before it has
// authenticated.
func (s *Session) Principal() *Principal { return s.p }

// Authenticated reports whether the connection may run commands beyond
// AUTH, HELLO, QUIT and RESET.
func (s *Session) Authenticated() bool { return s.p != nil }

// PreAuth returns the limits the RESP reader must apply to the next
// request, and true, while the connection has not authenticated; it
// returns false once the reader's usual limits apply.
func (s *Session) PreAuth() (PreAuthLimits, bool) {
	if s.p != nil {
		return PreAuthLimits{}, false
	}
	return s.g.preAuth, true
}

// Reset returns the connection to its state at connect, as RESET does:
// with keys configured it must authenticate again.
func (s *Session) Reset() {
	s.p = nil
	if !s.g.Required() {
		s.p = Anonymous
	}
}

// Auth authenticates the connection for AUTH [user] password and HELLO
// ... AUTH user password; user is nil for the one-argument AUTH. It
// returns "" on success, else the error reply; a failed attempt leaves an
// already authenticated connection as it was, as in Redis.
//
// With no keys configured it behaves as Redis without requirepass: AUTH
// password is an error, and AUTH default <anything> succeeds.
func (s *Session) Auth(user, pass []byte) string {
	if !s.g.Required() {
		switch {
		case user == nil:
			return ReplyNoPassword
		case string(user) == "default":
			return ""
		}
		return ReplyWrongPass
	}
	p, err := s.g.AuthenticateUser(string(user), string(pass))
	if err != nil {
		return ReplyWrongPass // also for an empty password
	}
	s.p = p
	return ""
}

// Check decides whether the command in args (args[0] is its name) may run
// on this connection, and takes a token from the principal's rate limit if
// it is a data command. It returns "" to run it, else the error reply to
// send instead. Call it for every command, including each command queued
// inside MULTI (at queue time, as Redis checks ACLs), and after the
// server's own unknown-command and arity checks, which Redis answers
// first. It allocates only to build a refusal or a subcommand's name.
func (s *Session) Check(args [][]byte) string {
	if _, err := s.Authorize(args); err != nil {
		return Reply(err)
	}
	return ""
}

// Authorize is Check returning the classification and an error to branch
// on (ErrNoAuth, *ForbiddenError, *RateLimitError) instead of a reply. A
// HELLO without AUTH before authentication is ErrNoAuth but is answered
// ReplyHelloNoAuth by Check.
func (s *Session) Authorize(args [][]byte) (Command, error) {
	cmd := Classify(args)
	p := s.p
	if p == nil {
		if !cmd.NoAuth {
			return cmd, ErrNoAuth
		}
		if cmd.Name == "hello" && !helloHasAuth(args) {
			return cmd, errHelloNoAuth
		}
		return cmd, nil
	}
	if cmd.NoAuth {
		return cmd, nil
	}
	if !p.Has(cmd.Scope) {
		return cmd, &ForbiddenError{Principal: p.Name, Command: cmd.Name, Missing: cmd.Scope &^ p.Scopes}
	}
	if cmd.Keyspace && len(p.Prefixes) > 0 {
		return cmd, &ForbiddenError{Principal: p.Name, Command: cmd.Name, Keyspace: true}
	}
	if !cmd.Keys.Keys(args, p.canAccessBytes) {
		return cmd, &ForbiddenError{Principal: p.Name, Command: cmd.Name, KeyDenied: true}
	}
	if cmd.Data && p.limiter != nil {
		if _, err := s.g.Allow(p); err != nil {
			return cmd, err
		}
	}
	return cmd, nil
}

// errHelloNoAuth is ErrNoAuth for HELLO without AUTH; Reply gives it
// Redis's own message.
var errHelloNoAuth = &helloNoAuth{}

type helloNoAuth struct{}

func (*helloNoAuth) Error() string        { return "gateway: HELLO without AUTH before authentication" }
func (*helloNoAuth) Is(target error) bool { return target == ErrNoAuth }

// helloHasAuth reports whether HELLO's arguments include AUTH user pass,
// read as the server reads them: options after the protocol version.
func helloHasAuth(args [][]byte) bool {
	for j := 2; j+2 < len(args); j++ {
		if strings.EqualFold(string(args[j]), "auth") {
			return true
		}
	}
	return false
}
