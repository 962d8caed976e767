package resp

// buildTable returns the command table. Arity, flags and key positions
// follow Redis 7.0's command table, which COMMAND reports to clients
// (cluster-aware clients and proxies route by the key positions).
func buildTable() *commandTable {
	const (
		w  = flagWrite
		r  = flagReadonly
		m  = flagDenyOOM
		f  = flagFast
		a  = flagAdmin
		ld = flagLoading
		st = flagStale
		x  = flagExclusive
		mc = flagMultiCtl
	)
	str := []string{"@string"}
	ks := []string{"@keyspace"}
	conn := []string{"@connection"}
	list := []*command{
		// Strings.
		{name: "get", arity: 2, flags: r | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdGet, categories: str},
		{name: "set", arity: -3, flags: w | m, firstKey: 1, lastKey: 1, step: 1, fn: cmdSet, categories: str},
		{name: "setnx", arity: 3, flags: w | m | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdSetNX, categories: str},
		{name: "setex", arity: 4, flags: w | m, firstKey: 1, lastKey: 1, step: 1, fn: cmdSetEX, categories: str},
		{name: "psetex", arity: 4, flags: w | m, firstKey: 1, lastKey: 1, step: 1, fn: cmdSetEX, categories: str},
		{name: "getset", arity: 3, flags: w | m | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdGetSet, categories: str},
		{name: "getdel", arity: 2, flags: w | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdGetDel, categories: str},
		{name: "getex", arity: -2, flags: w | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdGetEX, categories: str},
		{name: "mget", arity: -2, flags: r | f, firstKey: 1, lastKey: -1, step: 1, fn: cmdMGet, categories: str},
		{name: "mset", arity: -3, flags: w | m | x, firstKey: 1, lastKey: -1, step: 2, fn: cmdMSet, categories: str},
		{name: "msetnx", arity: -3, flags: w | m | x, firstKey: 1, lastKey: -1, step: 2, fn: cmdMSetNX, categories: str},
		{name: "append", arity: 3, flags: w | m | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdAppend, categories: str},
		{name: "strlen", arity: 2, flags: r | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdStrlen, categories: str},
		{name: "getrange", arity: 4, flags: r, firstKey: 1, lastKey: 1, step: 1, fn: cmdGetRange, categories: str},
		{name: "substr", arity: 4, flags: r, firstKey: 1, lastKey: 1, step: 1, fn: cmdGetRange, categories: str},
		{name: "setrange", arity: 4, flags: w | m, firstKey: 1, lastKey: 1, step: 1, fn: cmdSetRange, categories: str},
		{name: "incr", arity: 2, flags: w | m | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdIncr, categories: str},
		{name: "decr", arity: 2, flags: w | m | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdIncr, categories: str},
		{name: "incrby", arity: 3, flags: w | m | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdIncr, categories: str},
		{name: "decrby", arity: 3, flags: w | m | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdIncr, categories: str},
		{name: "incrbyfloat", arity: 3, flags: w | m | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdIncrByFloat, categories: str},

		// strata's own commands, namespaced as Redis modules name theirs.
		{name: "strata.get", arity: -2, flags: r, firstKey: 1, lastKey: 1, step: 1, fn: cmdStrataGet, categories: str},
		{name: "strata.explain", arity: 2, flags: r, firstKey: 1, lastKey: 1, step: 1, fn: cmdStrataExplain, categories: ks},

		// Keys.
		{name: "del", arity: -2, flags: w, firstKey: 1, lastKey: -1, step: 1, fn: cmdDel, categories: ks},
		{name: "unlink", arity: -2, flags: w | f, firstKey: 1, lastKey: -1, step: 1, fn: cmdDel, categories: ks},
		{name: "exists", arity: -2, flags: r | f, firstKey: 1, lastKey: -1, step: 1, fn: cmdExists, categories: ks},
		{name: "touch", arity: -2, flags: r | f, firstKey: 1, lastKey: -1, step: 1, fn: cmdTouch, categories: ks},
		{name: "type", arity: 2, flags: r | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdType, categories: ks},
		{name: "rename", arity: 3, flags: w | x, firstKey: 1, lastKey: 2, step: 1, fn: cmdRename, categories: ks},
		{name: "renamenx", arity: 3, flags: w | f | x, firstKey: 1, lastKey: 2, step: 1, fn: cmdRename, categories: ks},
		{name: "copy", arity: -3, flags: w | m | x, firstKey: 1, lastKey: 2, step: 1, fn: cmdCopy, categories: ks},
		{name: "expire", arity: -3, flags: w | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdExpire, categories: ks},
		{name: "pexpire", arity: -3, flags: w | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdExpire, categories: ks},
		{name: "expireat", arity: -3, flags: w | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdExpire, categories: ks},
		{name: "pexpireat", arity: -3, flags: w | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdExpire, categories: ks},
		{name: "expiretime", arity: 2, flags: r | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdTTL, categories: ks},
		{name: "pexpiretime", arity: 2, flags: r | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdTTL, categories: ks},
		{name: "ttl", arity: 2, flags: r | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdTTL, categories: ks},
		{name: "pttl", arity: 2, flags: r | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdTTL, categories: ks},
		{name: "persist", arity: 2, flags: w | f, firstKey: 1, lastKey: 1, step: 1, fn: cmdPersist, categories: ks},
		{name: "keys", arity: 2, flags: r, fn: cmdKeys, categories: ks},
		{name: "scan", arity: -2, flags: r, fn: cmdScan, categories: ks},
		{name: "randomkey", arity: 1, flags: r, fn: cmdRandomKey, categories: ks},
		{name: "dbsize", arity: 1, flags: r | f, fn: cmdDBSize, categories: ks},
		{name: "flushdb", arity: -1, flags: w | x, fn: cmdFlush, categories: ks},
		{name: "flushall", arity: -1, flags: w | x, fn: cmdFlush, categories: ks},
		{name: "select", arity: 2, flags: ld | st | f, fn: cmdSelect, categories: conn},

		// Connection.
		{name: "ping", arity: -1, flags: f | st, fn: cmdPing, categories: conn},
		{name: "echo", arity: 2, flags: f, fn: cmdEcho, categories: conn},
		{name: "time", arity: 1, flags: ld | st | f, fn: cmdTime},
		{name: "quit", arity: -1, flags: ld | st | f | mc, fn: cmdQuit, categories: conn},
		{name: "reset", arity: 1, flags: ld | st | f | mc, fn: cmdReset, categories: conn},
		{name: "hello", arity: -1, flags: ld | st | f, fn: cmdHello, categories: conn},
		{name: "auth", arity: -2, flags: ld | st | f, fn: cmdAuth, categories: conn},
		{name: "client", arity: -2, flags: ld | st, fn: cmdClient, categories: conn, subs: map[string]int{
			"id": 2, "setname": 3, "getname": 2, "list": -2, "info": 2, "setinfo": 4,
			"no-evict": 3, "no-touch": 3, "kill": -3, "help": 2,
		}},

		// Server.
		{name: "command", arity: -1, flags: ld | st, fn: cmdCommand, categories: conn, subs: map[string]int{
			"count": 2, "docs": -2, "info": -2, "list": -2, "getkeys": -4, "help": 2,
		}},
		{name: "config", arity: -2, flags: a | ld | st, fn: cmdConfig, subs: map[string]int{
			"get": -3, "set": -4, "resetstat": 2, "rewrite": 2, "help": 2,
		}},
		{name: "info", arity: -1, flags: ld | st, fn: cmdInfo},
		{name: "slowlog", arity: -2, flags: a | ld | st, fn: cmdSlowlog, subs: map[string]int{
			"get": -2, "len": 2, "reset": 2, "help": 2,
		}},
		{name: "latency", arity: -2, flags: a | ld | st, fn: cmdLatency, subs: map[string]int{
			"latest": 2, "history": 3, "reset": -2, "doctor": 2, "graph": 3, "histogram": -2, "help": 2,
		}},
		{name: "memory", arity: -2, flags: r, fn: cmdMemory, subs: map[string]int{
			"usage": -3, "stats": 2, "doctor": 2, "help": 2, "purge": 2, "malloc-stats": 2,
		}},

		// Transactions.
		{name: "multi", arity: 1, flags: ld | st | f | mc, fn: cmdMulti},
		{name: "exec", arity: 1, flags: ld | st | x | mc, fn: cmdExec},
		{name: "discard", arity: 1, flags: ld | st | f | mc, fn: cmdDiscard},
		{name: "watch", arity: -2, flags: ld | st | f | mc, firstKey: 1, lastKey: -1, step: 1, fn: cmdWatch},
		{name: "unwatch", arity: 1, flags: ld | st | f, fn: cmdUnwatch},
	}
	t := &commandTable{list: list, byName: make(map[string]*command, len(list))}
	for i, cmd := range list {
		cmd.idx = i
		cmd.readOnlyCheck = cmd.flags&flagWrite != 0 && cmd.firstKey > 0 && cmd.name != "del" && cmd.name != "unlink"
		t.byName[cmd.name] = cmd
	}
	return t
}
