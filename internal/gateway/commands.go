package gateway

import "strings"

// KeySpec says which arguments of a RESP command are keys, with Redis's
// convention (COMMAND INFO's first key, last key and step): args[First],
// args[First+Step], ... up to args[Last], where a negative Last counts
// from the end (-1 is the last argument). The zero KeySpec means no keys.
type KeySpec struct {
	First, Last, Step int
}

// Keys calls fn with each key of args (args[0] is the command name) until
// fn returns false, and reports whether it went through them all. It does
// not allocate.
func (ks KeySpec) Keys(args [][]byte, fn func(key []byte) bool) bool {
	if ks.First <= 0 || ks.Step <= 0 || ks.First >= len(args) {
		return true
	}
	last := ks.Last
	if last < 0 {
		last += len(args)
	}
	last = min(last, len(args)-1)
	for i := ks.First; i <= last; i += ks.Step {
		if !fn(args[i]) {
			return false
		}
	}
	return true
}

// Command is how the gateway classifies one RESP command.
type Command struct {
	// Name is the lower-case command name, with the subcommand for
	// commands that have them ("config|set"), as in -NOPERM replies.
	Name string
	// Scope is what the principal needs to run it.
	Scope Scope
	// Keys locates the key arguments; every key must be within the
	// principal's prefixes.
	Keys KeySpec
	// NoAuth is set for the commands an unauthenticated client may send,
	// as Redis's no-auth flag: AUTH, HELLO (only with its AUTH option),
	// QUIT and RESET.
	NoAuth bool
	// Keyspace is set for commands over the whole key space (KEYS, SCAN,
	// RANDOMKEY, DBSIZE), which a principal limited to prefixes may not
	// run.
	Keyspace bool
	// Data is set for commands that count against the principal's rate
	// limit: those that read or write keys. Connection, introspection and
	// admin commands are exempt.
	Data bool
}

// cmdSpec is one row of the command table.
type cmdSpec struct {
	name     string // lower case, filled in by nameCommands
	scope    Scope
	keys     KeySpec
	noAuth   bool
	keyspace bool
	// subs are the subcommands' scopes; a subcommand not listed needs
	// ScopeAdmin, so that a new one is closed until classified.
	subs map[string]Scope
	// setGet marks SET, whose GET option also reads the old value.
	setGet bool
}

// Abbreviations for the command table.
const (
	scR  = ScopeRead
	scW  = ScopeWrite
	scRW = ScopeRead | ScopeWrite
	scA  = ScopeAdmin
)

// Key specs shared by many commands.
var (
	ksOne   = KeySpec{1, 1, 1}  // GET key
	ksAll   = KeySpec{1, -1, 1} // DEL key [key ...]
	ksPairs = KeySpec{1, -1, 2} // MSET key value [key value ...]
	ksTwo   = KeySpec{1, 2, 1}  // RENAME key newkey
)

// commands classifies every command strata serves over RESP; keys and
// arity follow Redis 7's command table, as internal/server/resp's does. A
// command that returns a value it also changes (GETSET, GETDEL, INCR)
// needs read and write, like Redis ACL's RW key flags. A command missing
// from this table needs ScopeAdmin, so that adding one to the server
// without classifying it here fails closed.
var commands = nameCommands(map[string]*cmdSpec{
	// Strings.
	"get": {scope: scR, keys: ksOne}, "set": {scope: scW, keys: ksOne, setGet: true},
	"setnx": {scope: scW, keys: ksOne}, "setex": {scope: scW, keys: ksOne}, "psetex": {scope: scW, keys: ksOne},
	"getset": {scope: scRW, keys: ksOne}, "getdel": {scope: scRW, keys: ksOne}, "getex": {scope: scRW, keys: ksOne},
	"mget": {scope: scR, keys: ksAll}, "mset": {scope: scW, keys: ksPairs}, "msetnx": {scope: scW, keys: ksPairs},
	"append": {scope: scW, keys: ksOne}, "strlen": {scope: scR, keys: ksOne},
	"getrange": {scope: scR, keys: ksOne}, "substr": {scope: scR, keys: ksOne}, "setrange": {scope: scW, keys: ksOne},
	"incr": {scope: scRW, keys: ksOne}, "decr": {scope: scRW, keys: ksOne}, "incrby": {scope: scRW, keys: ksOne},
	"decrby": {scope: scRW, keys: ksOne}, "incrbyfloat": {scope: scRW, keys: ksOne},

	// strata's own commands.
	"strata.get": {scope: scR, keys: ksOne}, "strata.explain": {scope: scR, keys: ksOne},

	// Keys.
	"del": {scope: scW, keys: ksAll}, "unlink": {scope: scW, keys: ksAll},
	"exists": {scope: scR, keys: ksAll}, "touch": {scope: scR, keys: ksAll}, "type": {scope: scR, keys: ksOne},
	"rename": {scope: scRW, keys: ksTwo}, "renamenx": {scope: scRW, keys: ksTwo}, "copy": {scope: scRW, keys: ksTwo},
	"expire": {scope: scW, keys: ksOne}, "pexpire": {scope: scW, keys: ksOne},
	"expireat": {scope: scW, keys: ksOne}, "pexpireat": {scope: scW, keys: ksOne},
	"expiretime": {scope: scR, keys: ksOne}, "pexpiretime": {scope: scR, keys: ksOne},
	"ttl": {scope: scR, keys: ksOne}, "pttl": {scope: scR, keys: ksOne}, "persist": {scope: scW, keys: ksOne},
	"keys": {scope: scR, keyspace: true}, "scan": {scope: scR, keyspace: true},
	"randomkey": {scope: scR, keyspace: true}, "dbsize": {scope: scR, keyspace: true},
	"flushdb": {scope: scA, keyspace: true}, "flushall": {scope: scA, keyspace: true},
	"select": {},

	// Connection.
	"ping": {}, "echo": {}, "time": {},
	"quit": {noAuth: true}, "reset": {noAuth: true}, "hello": {noAuth: true}, "auth": {noAuth: true},
	"client": {subs: map[string]Scope{
		"id": 0, "setname": 0, "getname": 0, "info": 0, "setinfo": 0, "no-touch": 0, "help": 0,
		"list": scA, "kill": scA, "no-evict": scA,
	}},

	// Server.
	"command": {subs: map[string]Scope{"": 0, "count": 0, "docs": 0, "info": 0, "list": 0, "getkeys": 0, "help": 0}},
	"config":  {subs: map[string]Scope{"get": scA, "set": scA, "resetstat": scA, "rewrite": scA, "help": 0}},
	"info":    {},
	"slowlog": {subs: map[string]Scope{"get": scA, "len": scA, "reset": scA, "help": 0}},
	"latency": {subs: map[string]Scope{"latest": scA, "history": scA, "histogram": scA, "reset": scA, "doctor": scA, "graph": scA, "help": 0}},
	"memory": {subs: map[string]Scope{
		"usage": scR, "stats": 0, "doctor": 0, "help": 0, "malloc-stats": 0, "purge": scA,
	}},

	// Transactions. The queued commands are checked when queued.
	"multi": {}, "exec": {}, "discard": {}, "unwatch": {},
	"watch": {scope: scR, keys: ksAll},
})

// nameCommands fills in each spec's name from its key, so that Classify
// can return it without allocating.
func nameCommands(m map[string]*cmdSpec) map[string]*cmdSpec {
	for name, spec := range m {
		spec.name = name
	}
	return m
}

// memoryUsage locates MEMORY USAGE's key, the only subcommand with one.
var memoryUsage = KeySpec{2, 2, 1}

// CommandScope returns the scope a RESP command needs and where its keys
// are, for a lower-case name such as "get" or, for commands with
// subcommands, "config|set". An unknown command or subcommand needs
// ScopeAdmin.
func CommandScope(name string) (Scope, KeySpec) {
	base, sub, hasSub := strings.Cut(name, "|")
	spec, ok := commands[base]
	if !ok {
		return ScopeAdmin, KeySpec{}
	}
	if spec.subs == nil {
		return spec.scope, spec.keys
	}
	if !hasSub {
		sub = "" // COMMAND with no subcommand
	}
	sc, ok := spec.subs[sub]
	if !ok {
		return ScopeAdmin, KeySpec{}
	}
	if base == "memory" && sub == "usage" {
		return sc, memoryUsage
	}
	return sc, KeySpec{}
}

// maxName is the longest command or subcommand name looked up; longer
// names are unknown without a map access.
const maxName = 32

// lookup finds the spec named by name, case-insensitively, without
// allocating: the lower-cased copy lives on the stack, and a map index
// with a string conversion does not allocate.
func lookup[M ~map[string]V, V any](m M, name []byte) (V, bool) {
	if len(name) > maxName {
		var zero V
		return zero, false
	}
	var buf [maxName]byte
	for i, ch := range name {
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	v, ok := m[string(buf[:len(name)])]
	return v, ok
}

// Classify returns the classification of the command in args (args[0] is
// its name, in any case). Options change it where they change what the
// command does: SET ... GET also needs read. It allocates only for
// commands with subcommands, whose Name it builds.
func Classify(args [][]byte) Command {
	if len(args) == 0 {
		return Command{Scope: ScopeAdmin}
	}
	spec, ok := lookup(commands, args[0])
	if !ok {
		return Command{Name: strings.ToLower(string(args[0])), Scope: ScopeAdmin}
	}
	c := Command{Name: spec.name, Scope: spec.scope, Keys: spec.keys, NoAuth: spec.noAuth, Keyspace: spec.keyspace}
	if spec.subs != nil {
		sub := ""
		if len(args) > 1 {
			sub = strings.ToLower(string(args[1]))
			c.Name = spec.name + "|" + sub
		}
		c.Scope, c.Keys = CommandScope(spec.name + "|" + sub)
	}
	if spec.setGet && len(args) > 3 {
		for _, opt := range args[3:] {
			if len(opt) == 3 && strings.EqualFold(string(opt), "get") {
				c.Scope |= ScopeRead
				break
			}
		}
	}
	c.Data = c.Scope&(ScopeRead|ScopeWrite) != 0 && c.Scope&ScopeAdmin == 0
	return c
}
