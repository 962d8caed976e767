package resp

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/server/resp/wire"
	"github.com/strata-cache/strata/internal/tier/local"
)

// maxBulk returns the configured largest argument, Redis's
// proto-max-bulk-len.
func (s *Server) maxBulk() int64 {
	if n := s.opts.Limits.MaxBulkLen; n > 0 {
		return n
	}
	return wire.DefaultMaxBulkLen
}

// cmdCommand is COMMAND [COUNT|DOCS|INFO|LIST|GETKEYS].
func cmdCommand(c *conn, args [][]byte) {
	t := c.s.table
	if len(args) == 1 {
		c.wr.AppendArrayLen(len(t.list))
		for _, cmd := range t.list {
			writeCommandInfo(c.wr, cmd)
		}
		return
	}
	switch strings.ToLower(string(args[1])) {
	case "count":
		c.wr.AppendInt(int64(len(t.list)))
	case "list":
		c.wr.AppendArrayLen(len(t.list))
		for _, cmd := range t.list {
			c.wr.AppendBulkString(cmd.name)
		}
	case "info":
		names := args[2:]
		if len(names) == 0 {
			cmdCommand(c, args[:1])
			return
		}
		c.wr.AppendArrayLen(len(names))
		for _, n := range names {
			if cmd := t.lookup(n); cmd != nil {
				writeCommandInfo(c.wr, cmd)
			} else {
				c.wr.AppendNullArray()
			}
		}
	case "docs":
		// Clients (redis-cli 7) ask for the docs on connect to build
		// hints. strata gives each command's group and a summary; without
		// "arguments" redis-cli simply shows no hints.
		var cmds []*command
		if len(args) == 2 {
			cmds = t.list
		} else {
			for _, n := range args[2:] {
				if cmd := t.lookup(n); cmd != nil {
					cmds = append(cmds, cmd)
				}
			}
		}
		c.wr.AppendMapLen(len(cmds))
		for _, cmd := range cmds {
			c.wr.AppendBulkString(cmd.name)
			c.wr.AppendMapLen(2)
			c.wr.AppendBulkString("summary")
			c.wr.AppendBulkString(commandSummary(cmd))
			c.wr.AppendBulkString("group")
			c.wr.AppendBulkString(commandGroup(cmd))
		}
	case "getkeys":
		cmd := t.lookup(args[2])
		if cmd == nil || !arityOK(cmd.arity, len(args)-2) {
			c.errReply("ERR Invalid command specified")
			return
		}
		if cmd.firstKey == 0 {
			c.errReply("ERR The command has no key arguments")
			return
		}
		keys := args[2:]
		last := cmd.lastKey
		if last < 0 {
			last += len(keys)
		}
		var out [][]byte
		for i := cmd.firstKey; i <= last && i < len(keys); i += cmd.step {
			out = append(out, keys[i])
		}
		c.wr.AppendArrayLen(len(out))
		for _, k := range out {
			c.wr.AppendBulk(k)
		}
	case "help":
		c.wr.AppendArrayLen(1)
		c.wr.AppendSimple("COMMAND [COUNT|DOCS|INFO|LIST|GETKEYS]")
	}
}

// writeCommandInfo writes one command in Redis 7's COMMAND format: name,
// arity, flags, first key, last key, step, ACL categories, tips, key specs
// and subcommands.
func writeCommandInfo(w *wire.Writer, cmd *command) {
	w.AppendArrayLen(10)
	w.AppendBulkString(cmd.name)
	w.AppendInt(int64(cmd.arity))
	var flags []string
	for _, f := range flagNames {
		if cmd.flags&f.f != 0 {
			flags = append(flags, f.name)
		}
	}
	w.AppendSetLen(len(flags))
	for _, f := range flags {
		w.AppendSimple(f)
	}
	w.AppendInt(int64(cmd.firstKey))
	w.AppendInt(int64(cmd.lastKey))
	w.AppendInt(int64(cmd.step))
	cats := cmd.categories
	if cmd.flags&flagWrite != 0 {
		cats = append([]string{"@write"}, cats...)
	} else if cmd.flags&flagReadonly != 0 {
		cats = append([]string{"@read"}, cats...)
	}
	w.AppendSetLen(len(cats))
	for _, cat := range cats {
		w.AppendSimple(cat)
	}
	w.AppendSetLen(0) // tips
	w.AppendArrayLen(0)
	subs := slices.Sorted(func(yield func(string) bool) {
		for s := range cmd.subs {
			if !yield(s) {
				return
			}
		}
	})
	w.AppendArrayLen(len(subs))
	for _, s := range subs {
		w.AppendArrayLen(10)
		w.AppendBulkString(cmd.name + "|" + s)
		w.AppendInt(int64(cmd.subs[s]))
		w.AppendSetLen(0)
		w.AppendInt(0)
		w.AppendInt(0)
		w.AppendInt(0)
		w.AppendSetLen(0)
		w.AppendSetLen(0)
		w.AppendArrayLen(0)
		w.AppendArrayLen(0)
	}
}

// configParam is one CONFIG GET/SET parameter.
type configParam struct {
	name string
	get  func(s *Server) string
	// set applies a value; nil makes the parameter read-only.
	set func(s *Server, v string) error
}

// configParams are the parameters strata answers. Those that clients and
// tools (redis-benchmark, redis-cli, client libraries) ask about but strata
// does not have report fixed values describing strata's behaviour.
var configParams = []configParam{
	{name: "maxmemory",
		get: func(s *Server) string { return strconv.FormatUint(s.cache.L1().MaxBytes(), 10) },
		set: func(s *Server, v string) error {
			n, err := parseMemory(v)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("argument must be greater than 0 (strata always bounds memory)")
			}
			s.cache.L1().SetMaxBytes(n)
			return nil
		}},
	{name: "maxmemory-policy", get: func(*Server) string { return "allkeys-lfu" }},
	{name: "slowlog-log-slower-than",
		get: func(s *Server) string {
			d := s.slow.Threshold()
			if d < 0 {
				return "-1"
			}
			return strconv.FormatInt(d.Microseconds(), 10)
		},
		set: func(s *Server, v string) error {
			n, err := parseConfigInt(v, -1)
			if err != nil {
				return err
			}
			s.slow.SetThreshold(time.Duration(n) * time.Microsecond)
			return nil
		}},
	{name: "slowlog-max-len",
		get: func(s *Server) string { return strconv.Itoa(s.slow.MaxLen()) },
		set: func(s *Server, v string) error {
			n, err := parseConfigInt(v, 0)
			if err != nil {
				return err
			}
			s.slow.SetMaxLen(int(min(n, 1<<30)))
			return nil
		}},
	{name: "save", get: func(*Server) string { return "" }},
	{name: "appendonly", get: func(*Server) string { return "no" }},
	{name: "databases", get: func(*Server) string { return "1" }},
	{name: "timeout", get: func(s *Server) string { return strconv.FormatInt(int64(s.opts.IdleTimeout/time.Second), 10) }},
	{name: "proto-max-bulk-len", get: func(s *Server) string { return strconv.FormatInt(s.maxBulk(), 10) }},
	{name: "maxclients", get: func(s *Server) string { return strconv.Itoa(s.opts.MaxClients) }},
	{name: "port", get: func(s *Server) string { return strconv.Itoa(s.nodeInfo().TCPPort) }},
	{name: "cluster-enabled", get: func(*Server) string { return "no" }},
	{name: "client-output-buffer-limit", get: func(s *Server) string {
		return "normal " + strconv.Itoa(s.opts.OutputLimit) + " 0 0 slave 0 0 0 pubsub 0 0 0"
	}},
	{name: "notify-keyspace-events", get: func(*Server) string { return "" }},
}

// parseMemory parses a Redis memory value: bytes, or a number with k, kb,
// m, mb, g or gb (k = 1000, kb = 1024, as Redis's memtoull).
func parseMemory(v string) (uint64, error) {
	v = strings.ToLower(v)
	mul := uint64(1)
	for _, u := range []struct {
		suffix string
		mul    uint64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mul = strings.TrimSuffix(v, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || (mul > 1 && n > ^uint64(0)/mul) {
		return 0, fmt.Errorf("argument must be a memory value")
	}
	return n * mul, nil
}

// cmdConfig is CONFIG GET, SET, RESETSTAT and REWRITE.
func cmdConfig(c *conn, args [][]byte) {
	switch strings.ToLower(string(args[1])) {
	case "get":
		var found []configParam
		for _, p := range configParams {
			for _, pat := range args[2:] {
				if cache.Match(strings.ToLower(string(pat)), p.name) {
					found = append(found, p)
					break
				}
			}
		}
		c.wr.AppendMapLen(len(found))
		for _, p := range found {
			c.wr.AppendBulkString(p.name)
			c.wr.AppendBulkString(p.get(c.s))
		}
	case "set":
		configSet(c, args)
	case "resetstat":
		c.s.resetStats()
		c.wr.AppendOK()
	case "rewrite":
		c.errReply("ERR The server is running without a config file")
	case "help":
		c.wr.AppendArrayLen(1)
		c.wr.AppendSimple("CONFIG GET|SET|RESETSTAT")
	}
}

// configSet applies CONFIG SET param value [param value ...]: every
// parameter is checked before any is applied, as in Redis 7.
func configSet(c *conn, args [][]byte) {
	if len(args)%2 != 0 {
		c.errReply("ERR wrong number of arguments for 'config|set' command")
		return
	}
	type change struct {
		p configParam
		v string
	}
	var changes []change
	for j := 2; j < len(args); j += 2 {
		name := strings.ToLower(string(args[j]))
		i := slices.IndexFunc(configParams, func(p configParam) bool { return p.name == name })
		if i < 0 {
			c.errReply("ERR Unknown option or number of arguments for CONFIG SET - '" + truncate(string(args[j]), 128) + "'")
			return
		}
		if configParams[i].set == nil {
			c.errReply("ERR CONFIG SET failed (possibly related to argument '" + name + "') - can't set immutable config")
			return
		}
		changes = append(changes, change{configParams[i], string(args[j+1])})
	}
	// Validate by parsing everything first; setters only fail on parse.
	for _, ch := range changes {
		if err := validateConfig(ch.p.name, ch.v); err != nil {
			c.errReply("ERR CONFIG SET failed (possibly related to argument '" + ch.p.name + "') - " + err.Error())
			return
		}
	}
	for _, ch := range changes {
		_ = ch.p.set(c.s, ch.v)
	}
	c.wr.AppendOK()
}

// errConfigNotInteger is Redis's CONFIG SET wording for a non-numeric value.
var errConfigNotInteger = errors.New("argument couldn't be parsed into an integer")

// validateConfig checks a value without applying it.
func validateConfig(name, v string) error {
	switch name {
	case "maxmemory":
		n, err := parseMemory(v)
		if err == nil && n == 0 {
			err = fmt.Errorf("argument must be greater than 0 (strata always bounds memory)")
		}
		return err
	case "slowlog-log-slower-than":
		_, err := parseConfigInt(v, -1)
		return err
	case "slowlog-max-len":
		_, err := parseConfigInt(v, 0)
		return err
	}
	return nil
}

// parseConfigInt parses an integer CONFIG SET value of at least lo, with
// Redis's wording for each failure.
func parseConfigInt(v string, lo int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errConfigNotInteger
	}
	if n < lo {
		return 0, fmt.Errorf("argument must be between %d and 9223372036854775807 inclusive", lo)
	}
	return n, nil
}

// resetStats is CONFIG RESETSTAT: command statistics and counters restart.
func (s *Server) resetStats() {
	for i := range s.stats {
		st := &s.stats[i]
		st.calls.Store(0)
		st.nanos.Store(0)
		st.failed.Store(0)
		st.rejected.Store(0)
	}
	s.totalConns.Store(0)
	s.rejected.Store(0)
	s.totalCmds.Store(0)
	s.netIn.Store(0)
	s.netOut.Store(0)
}

// cmdSlowlog is SLOWLOG GET [count], LEN and RESET.
func cmdSlowlog(c *conn, args [][]byte) {
	switch strings.ToLower(string(args[1])) {
	case "get":
		n := int64(10)
		if len(args) > 2 {
			var ok bool
			n, ok = parseInt(args[2])
			if !ok || n < -1 {
				c.errReply("ERR count should be greater than or equal to -1")
				return
			}
		}
		entries := c.s.slow.Get(int(min(n, 1<<30)))
		c.wr.AppendArrayLen(len(entries))
		for _, e := range entries {
			c.wr.AppendArrayLen(6)
			c.wr.AppendInt(e.ID)
			c.wr.AppendInt(e.Time.Unix())
			c.wr.AppendInt(e.Duration.Microseconds())
			c.wr.AppendArrayLen(len(e.Args))
			for _, a := range e.Args {
				c.wr.AppendBulkString(a)
			}
			c.wr.AppendBulkString(e.ClientAddr)
			c.wr.AppendBulkString(e.ClientName)
		}
	case "len":
		c.wr.AppendInt(int64(c.s.slow.Len()))
	case "reset":
		c.s.slow.Reset()
		c.wr.AppendOK()
	case "help":
		c.wr.AppendArrayLen(1)
		c.wr.AppendSimple("SLOWLOG GET [<count>]|LEN|RESET")
	}
}

// cmdMemory is MEMORY USAGE, STATS, DOCTOR, PURGE and MALLOC-STATS.
func cmdMemory(c *conn, args [][]byte) {
	switch strings.ToLower(string(args[1])) {
	case "usage":
		if len(args) != 3 && !(len(args) == 5 && eqFold(args[3], "samples")) {
			c.errReply(errSyntax)
			return
		}
		if n, ok := c.s.cache.MemoryUsage(view(args[2])); ok {
			c.wr.AppendInt(int64(n))
		} else {
			c.wr.AppendNull()
		}
	case "stats":
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		l1 := c.s.cache.L1()
		fields := []struct {
			k string
			v int64
		}{
			{"peak.allocated", int64(ms.HeapSys)},
			{"total.allocated", int64(ms.HeapAlloc)},
			{"keys.count", int64(l1.Len())},
			{"dataset.bytes", int64(l1.UsedBytes())},
			{"maxmemory", int64(l1.MaxBytes())},
		}
		c.wr.AppendMapLen(len(fields))
		for _, f := range fields {
			c.wr.AppendBulkString(f.k)
			c.wr.AppendInt(f.v)
		}
	case "doctor":
		c.wr.AppendVerbatim("txt", "strata's memory is bounded by maxmemory; see INFO memory and INFO strata.")
	case "purge":
		c.wr.AppendOK()
	case "malloc-stats":
		c.wr.AppendVerbatim("txt", "Stats not supported for the current allocator")
	case "help":
		c.wr.AppendArrayLen(1)
		c.wr.AppendSimple("MEMORY USAGE <key>|STATS|DOCTOR|PURGE|MALLOC-STATS")
	}
}

// l1Stats returns the L1's counters when the tier provides them.
func (s *Server) l1Stats() (local.Stats, bool) {
	if st, ok := s.cache.L1().(interface{ Stats() local.Stats }); ok {
		return st.Stats(), true
	}
	return local.Stats{}, false
}

// commandGroup returns the Redis documentation group of cmd, derived from
// its ACL categories.
func commandGroup(cmd *command) string {
	for _, cat := range cmd.categories {
		switch cat {
		case "@string":
			return "string"
		case "@keyspace":
			return "generic"
		case "@transaction":
			return "transactions"
		case "@connection":
			return "connection"
		}
	}
	return "server"
}

// commandSummary returns a one-line description of cmd for COMMAND DOCS.
func commandSummary(cmd *command) string {
	if s, ok := summaries[cmd.name]; ok {
		return s
	}
	return strings.ToUpper(cmd.name) + ": see docs/api.md."
}

// summaries describe the most used commands for COMMAND DOCS.
var summaries = map[string]string{
	"get":    "Returns the string value of a key.",
	"set":    "Sets the string value of a key, with optional expiry and conditions.",
	"del":    "Deletes one or more keys.",
	"mget":   "Atomically returns the string values of one or more keys.",
	"mset":   "Atomically creates or modifies the string values of one or more keys.",
	"incr":   "Increments the integer value of a key by one.",
	"expire": "Sets the expiration time of a key in seconds.",
	"ttl":    "Returns the expiration time in seconds of a key.",
	"scan":   "Iterates over the key names in the database.",
	"info":   "Returns information and statistics about the server.",
	"ping":   "Returns the server's liveliness response.",
}

// cmdLatency answers LATENCY as a server with no latency events recorded:
// strata does not keep Redis's latency monitor (its per-command latency
// histograms are in /metrics), but monitoring tools such as redis_exporter
// ask for LATENCY LATEST and expect a well-formed, empty answer.
func cmdLatency(c *conn, args [][]byte) {
	switch strings.ToLower(string(args[1])) {
	case "latest", "history", "histogram":
		c.wr.AppendArrayLen(0)
	case "reset":
		c.wr.AppendInt(0)
	case "doctor", "graph":
		c.wr.AppendBulkString("strata does not record latency events; see the strata_command_duration_seconds histograms in /metrics.")
	case "help":
		c.wr.AppendArrayLen(1)
		c.wr.AppendSimple("LATENCY [LATEST|HISTORY|RESET|DOCTOR|HISTOGRAM] (no events are recorded)")
	}
}
