package resp

import (
	"time"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/gateway"
	"github.com/strata-cache/strata/internal/server/resp/wire"
)

// This file wires the gateway (Options.Gateway) into connections: each
// connection has a gateway.Session that knows whom it has authenticated
// as. The rules, as in Redis:
//
//   - Before authentication only AUTH, HELLO ... AUTH, QUIT and RESET run;
//     everything else is answered -NOAUTH without running, and the reader
//     applies the pre-authentication budget (gateway.PreAuthLimits: 10
//     arguments of 16 KiB), closing the connection after
//     "-ERR Protocol error: unauthenticated ..." when it is exceeded.
//   - Every command is checked after the unknown-command and arity checks,
//     and a command queued inside MULTI is checked when it is queued: a
//     refusal answers the error and makes EXEC abort, so EXEC never runs a
//     command that was not checked. Should the principal change between
//     queueing and EXEC (a queued AUTH), the later commands are checked
//     again against the new one when EXEC runs them.
//   - Data commands take a token from the principal's rate limit; a
//     refusal is "-RATELIMITED ... retry after <duration>".
//
// With no Gateway, or one without keys, every connection runs as
// gateway.Anonymous and no check is made, which is today's embedded
// behaviour.

// openGateway returns g, or for nil a gateway without keys: every
// connection then runs as gateway.Anonymous, and AUTH answers as Redis
// without requirepass.
func openGateway(g *gateway.Gateway) *gateway.Gateway {
	if g != nil {
		return g
	}
	g, err := gateway.New(config.GatewayConfig{}, gateway.Options{})
	if err != nil {
		panic("resp: building the open gateway: " + err.Error()) // cannot fail without keys
	}
	return g
}

// initGateway gives a new connection its session.
func (c *conn) initGateway() {
	g := c.s.opts.Gateway
	c.sess = g.NewSession()
	c.gated = g.Required()
	c.syncLimits()
}

// syncLimits applies the pre-authentication budget to the reader while
// the connection has not authenticated, and the server's limits after. It
// is called after every command, and is cheap when nothing changed.
func (c *conn) syncLimits() {
	if !c.gated {
		return
	}
	pre, ok := c.sess.PreAuth()
	if ok == c.preAuth {
		return
	}
	c.preAuth = ok
	if !ok {
		c.rd.SetLimits(c.s.opts.Limits)
		return
	}
	lim := c.s.opts.Limits
	lim.MaxMultibulkLen = min(pre.MaxMultibulkLen, orDefault(lim.MaxMultibulkLen, wire.DefaultMaxMultiBulkLen))
	lim.MaxBulkLen = min(pre.MaxBulkLen, orDefault(lim.MaxBulkLen, wire.DefaultMaxBulkLen))
	lim.Unauthenticated = true
	c.rd.SetLimits(lim)
}

func orDefault(v, d int64) int64 {
	if v <= 0 {
		return d
	}
	return v
}

// gate asks the session whether args may run (or be queued) and returns
// "" or the error reply. A refused command with an unknown subcommand or
// a wrong subcommand arity is answered with that error instead, since
// Redis reports it before authentication and permissions.
func (c *conn) gate(cmd *command, args [][]byte) string {
	if !c.gated {
		return ""
	}
	msg := c.sess.Check(args)
	if msg == "" {
		return ""
	}
	if sub := c.checkSubcommand(cmd, args); sub != "" {
		return sub
	}
	return msg
}

// gateQueued is gate for a command EXEC is about to run: it checks again
// only if the principal changed since the command was queued (c.queuedAs),
// which only a queued AUTH or HELLO ... AUTH can do.
func (c *conn) gateQueued(cmd *command, args [][]byte) string {
	if !c.gated || c.sess.Principal() == c.queuedAs {
		return ""
	}
	return c.gate(cmd, args)
}

// writeDeadline arms the write deadline of a flush: a client that does not
// read its replies for Options.WriteTimeout is disconnected instead of
// holding its goroutine and reply buffer for ever.
func (c *conn) writeDeadline() {
	if d := c.s.opts.WriteTimeout; d > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(d))
	}
}
