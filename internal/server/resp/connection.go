package resp

import (
	"strconv"
	"strings"
	"time"
)

func cmdPing(c *conn, args [][]byte) {
	if len(args) > 2 {
		c.errReply("ERR wrong number of arguments for 'ping' command")
		return
	}
	if len(args) == 2 {
		c.wr.AppendBulk(args[1])
		return
	}
	c.wr.AppendSimple("PONG")
}

func cmdEcho(c *conn, args [][]byte) { c.wr.AppendBulk(args[1]) }

func cmdTime(c *conn, _ [][]byte) {
	now := time.Now()
	c.wr.AppendArrayLen(2)
	c.wr.AppendBulkInt(now.Unix())
	c.wr.AppendBulkInt(int64(now.Nanosecond() / 1000))
}

func cmdQuit(c *conn, _ [][]byte) {
	c.wr.AppendOK()
	c.quit = true
}

// cmdReset returns the connection to its initial state, as Redis's RESET:
// out of MULTI, no watched keys, no name, RESP2.
func cmdReset(c *conn, _ [][]byte) {
	c.discardMulti()
	c.s.watch.unwatchAll(c)
	c.mu.Lock()
	c.name = ""
	c.mu.Unlock()
	c.setProto(2)
	c.noEvict.Store(false)
	c.noTouch.Store(false)
	c.sess.Reset()
	c.wr.AppendSimple("RESET")
}

func (c *conn) setProto(v int) {
	c.proto.Store(int32(v))
	c.wr.SetProto(v)
}

// cmdAuth is AUTH [username] password, answered by the gateway session:
// with keys configured the password is an API key and the user name "",
// "default" or the key's name; without keys, as Redis without
// requirepass, AUTH password is an error and AUTH default <any> succeeds.
func cmdAuth(c *conn, args [][]byte) {
	var msg string
	switch len(args) {
	case 2:
		msg = c.sess.Auth(nil, args[1])
	case 3:
		msg = c.sess.Auth(args[1], args[2])
	default:
		c.errReply(errSyntax)
		return
	}
	if msg != "" {
		c.errReply(msg)
		return
	}
	c.wr.AppendOK()
}

// cmdHello is HELLO [protover [AUTH username password] [SETNAME name]].
func cmdHello(c *conn, args [][]byte) {
	ver := int64(0)
	next := 1
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		if !ok {
			c.errReply("ERR Protocol version is not an integer or out of range")
			return
		}
		if v < 2 || v > 3 {
			c.errReply("NOPROTO unsupported protocol version")
			return
		}
		ver, next = v, 2
	}
	var user, pass, name []byte
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case eqFold(args[j], "auth") && more >= 2:
			user, pass = args[j+1], args[j+2]
			j += 2
		case eqFold(args[j], "setname") && more >= 1:
			name = args[j+1]
			j++
		default:
			c.errReply("ERR Syntax error in HELLO option '" + truncate(string(args[j]), 128) + "'")
			return
		}
	}
	if user != nil {
		if msg := c.sess.Auth(user, pass); msg != "" {
			c.errReply(msg)
			return
		}
	}
	if name != nil && !c.setName(name) {
		return
	}
	if ver != 0 {
		c.setProto(int(ver))
	}
	c.wr.AppendMapLen(7)
	c.wr.AppendBulkString("server")
	c.wr.AppendBulkString("redis")
	c.wr.AppendBulkString("version")
	c.wr.AppendBulkString(RedisVersion)
	c.wr.AppendBulkString("proto")
	c.wr.AppendInt(int64(c.wr.Proto()))
	c.wr.AppendBulkString("id")
	c.wr.AppendInt(int64(c.id))
	c.wr.AppendBulkString("mode")
	c.wr.AppendBulkString("standalone")
	c.wr.AppendBulkString("role")
	c.wr.AppendBulkString("master")
	c.wr.AppendBulkString("modules")
	c.wr.AppendArrayLen(0)
}

// validName reports whether a client name or library field has only the
// characters Redis allows (printable ASCII without spaces).
func validName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

// setName sets the client name, answering the error itself.
func (c *conn) setName(b []byte) bool {
	if !validName(b) {
		c.errReply("ERR Client names cannot contain spaces, newlines or special characters.")
		return false
	}
	c.mu.Lock()
	c.name = string(b)
	c.mu.Unlock()
	return true
}

// cmdClient is CLIENT and its subcommands.
func cmdClient(c *conn, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	switch sub {
	case "id":
		c.wr.AppendInt(int64(c.id))
	case "setname":
		if c.setName(args[2]) {
			c.wr.AppendOK()
		}
	case "getname":
		if n := c.getName(); n != "" {
			c.wr.AppendBulkString(n)
		} else {
			c.wr.AppendNull()
		}
	case "info":
		c.wr.AppendVerbatim("txt", c.describe(c, "client|info"))
	case "list":
		clientList(c, args)
	case "setinfo":
		attr := strings.ToLower(string(args[2]))
		if attr != "lib-name" && attr != "lib-ver" {
			c.errReply("ERR Unrecognized option '" + truncate(string(args[2]), 128) + "'")
			return
		}
		if !validName(args[3]) {
			c.errReply("ERR " + attr + " cannot contain spaces, newlines or special characters.")
			return
		}
		c.mu.Lock()
		if attr == "lib-name" {
			c.libName = string(args[3])
		} else {
			c.libVer = string(args[3])
		}
		c.mu.Unlock()
		c.wr.AppendOK()
	case "no-evict", "no-touch":
		on := eqFold(args[2], "on")
		if !on && !eqFold(args[2], "off") {
			c.errReply(errSyntax)
			return
		}
		if sub == "no-evict" {
			c.noEvict.Store(on)
		} else {
			c.noTouch.Store(on)
		}
		c.wr.AppendOK()
	case "kill":
		clientKill(c, args)
	case "help":
		c.wr.AppendArrayLen(1)
		c.wr.AppendSimple("CLIENT ID|SETNAME|GETNAME|LIST|INFO|SETINFO|NO-EVICT|NO-TOUCH|KILL")
	}
}

// describe formats one CLIENT LIST line for o, seen from connection c. The
// fields are Redis 7's; those strata does not track are reported as zero.
func (c *conn) describe(o *conn, current string) string {
	o.mu.Lock()
	name, libName, libVer := o.name, o.libName, o.libVer
	o.mu.Unlock()
	now := time.Now()
	cmd := "NULL"
	if o == c {
		cmd = current
	} else if i := o.lastCmd.Load(); i >= 0 {
		cmd = c.s.table.list[i].name
	}
	flags := ""
	if o.multiLen.Load() >= 0 {
		flags += "x"
	}
	if o.noEvict.Load() {
		flags += "e"
	}
	if o.noTouch.Load() {
		flags += "T"
	}
	if flags == "" {
		flags = "N"
	}
	var b strings.Builder
	b.WriteString("id=" + strconv.FormatUint(o.id, 10))
	b.WriteString(" addr=" + o.addr + " laddr=" + o.laddr + " fd=-1 name=" + name)
	b.WriteString(" age=" + strconv.FormatInt(int64(now.Sub(o.created)/time.Second), 10))
	b.WriteString(" idle=" + strconv.FormatInt((c.s.mono()-o.lastActive.Load())/1e9, 10))
	b.WriteString(" flags=" + flags + " db=0 sub=0 psub=0 ssub=0")
	b.WriteString(" multi=" + strconv.Itoa(int(o.multiLen.Load())))
	b.WriteString(" qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r")
	b.WriteString(" cmd=" + cmd + " user=default redir=-1 resp=" + strconv.Itoa(int(o.proto.Load())))
	b.WriteString(" lib-name=" + libName + " lib-ver=" + libVer + "\n")
	return b.String()
}

// clientList is CLIENT LIST [TYPE normal] [ID id...].
func clientList(c *conn, args [][]byte) {
	var ids map[uint64]bool
	for j := 2; j < len(args); j++ {
		switch {
		case eqFold(args[j], "type") && j+1 < len(args):
			j++
			t := strings.ToLower(string(args[j]))
			if t != "normal" && t != "master" && t != "replica" && t != "slave" && t != "pubsub" {
				c.errReply("ERR Unknown client type '" + truncate(string(args[j]), 128) + "'")
				return
			}
			if t != "normal" {
				ids = map[uint64]bool{} // strata has only normal clients
			}
		case eqFold(args[j], "id") && j+1 < len(args):
			if ids == nil {
				ids = map[uint64]bool{}
			}
			for j++; j < len(args); j++ {
				id, err := strconv.ParseUint(string(args[j]), 10, 64)
				if err != nil || id == 0 {
					c.errReply("ERR Invalid client ID")
					return
				}
				ids[id] = true
			}
		default:
			c.errReply(errSyntax)
			return
		}
	}
	var b strings.Builder
	for _, o := range c.s.connList() {
		if ids == nil || ids[o.id] {
			b.WriteString(c.describe(o, "client|list"))
		}
	}
	c.wr.AppendVerbatim("txt", b.String())
}

// clientKill is CLIENT KILL addr, or CLIENT KILL with ID, ADDR, LADDR and
// SKIPME filters.
func clientKill(c *conn, args [][]byte) {
	if len(args) == 3 {
		// The old form: CLIENT KILL addr:port.
		for _, o := range c.s.connList() {
			if o.addr == string(args[2]) {
				o.kill(c)
				c.wr.AppendOK()
				return
			}
		}
		c.errReply("ERR No such client")
		return
	}
	var id uint64
	var addr, laddr string
	skipMe := true
	for j := 2; j < len(args); j += 2 {
		if j+1 >= len(args) {
			c.errReply(errSyntax)
			return
		}
		v := string(args[j+1])
		switch {
		case eqFold(args[j], "id"):
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				c.errReply("ERR client-id should be greater than 0")
				return
			}
			id = n
		case eqFold(args[j], "addr"):
			addr = v
		case eqFold(args[j], "laddr"):
			laddr = v
		case eqFold(args[j], "skipme"):
			switch strings.ToLower(v) {
			case "yes":
				skipMe = true
			case "no":
				skipMe = false
			default:
				c.errReply(errSyntax)
				return
			}
		case eqFold(args[j], "type"), eqFold(args[j], "user"), eqFold(args[j], "maxage"):
			// Accepted; every strata client is a normal client of the
			// default user.
		default:
			c.errReply(errSyntax)
			return
		}
	}
	n := 0
	for _, o := range c.s.connList() {
		if (id != 0 && o.id != id) || (addr != "" && o.addr != addr) || (laddr != "" && o.laddr != laddr) {
			continue
		}
		if o == c && skipMe {
			continue
		}
		o.kill(c)
		n++
	}
	c.wr.AppendInt(int64(n))
}

// kill closes c; killing one's own connection takes effect after the reply.
func (c *conn) kill(by *conn) {
	if c == by {
		c.quit = true
		return
	}
	c.nc.Close()
}
