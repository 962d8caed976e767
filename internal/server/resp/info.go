package resp

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// infoSections are INFO's sections in output order; the default ones are
// printed by INFO with no argument, the rest only when named or with
// "all"/"everything".
var infoSections = []struct {
	name   string
	dflt   bool
	render func(s *Server, b *strings.Builder)
}{
	{"server", true, infoServer},
	{"clients", true, infoClients},
	{"memory", true, infoMemory},
	{"persistence", true, infoPersistence},
	{"stats", true, infoStats},
	{"replication", true, infoReplication},
	{"commandstats", false, infoCommandStats},
	{"keyspace", true, infoKeyspace},
	{"strata", true, infoStrata},
}

func cmdInfo(c *conn, args [][]byte) {
	want := map[string]bool{}
	all := len(args) == 1
	for _, a := range args[1:] {
		s := strings.ToLower(string(a))
		switch s {
		case "all", "everything":
			all = true
			want["commandstats"] = true
		case "default":
			all = true
		default:
			want[s] = true
		}
	}
	var b strings.Builder
	for _, sec := range infoSections {
		if !(all && sec.dflt) && !want[sec.name] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + strings.ToUpper(sec.name[:1]) + sec.name[1:] + "\r\n")
		sec.render(c.s, &b)
	}
	c.wr.AppendVerbatim("txt", b.String())
}

func field(b *strings.Builder, k, v string) {
	b.WriteString(k)
	b.WriteByte(':')
	b.WriteString(v)
	b.WriteString("\r\n")
}

func fieldInt(b *strings.Builder, k string, v int64) { field(b, k, strconv.FormatInt(v, 10)) }

// nodeInfo returns the node's fields, with defaults where no InfoFunc is set.
func (s *Server) nodeInfo() NodeInfo {
	var ni NodeInfo
	if s.opts.Info != nil {
		ni = s.opts.Info()
	}
	if ni.Started.IsZero() {
		ni.Started = s.started
	}
	if ni.TCPPort == 0 {
		if a := s.Addr(); a != nil {
			if _, p, err := splitPort(a.String()); err == nil {
				ni.TCPPort = p
			}
		}
	}
	return ni
}

func splitPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr, 0, strconv.ErrSyntax
	}
	p, err := strconv.Atoi(addr[i+1:])
	return addr[:i], p, err
}

func infoServer(s *Server, b *strings.Builder) {
	ni := s.nodeInfo()
	up := time.Since(ni.Started)
	field(b, "redis_version", RedisVersion)
	field(b, "strata_version", ni.Version)
	field(b, "redis_mode", "standalone")
	field(b, "os", runtime.GOOS+" "+runtime.GOARCH)
	field(b, "arch_bits", strconv.Itoa(strconv.IntSize))
	field(b, "go_version", runtime.Version())
	fieldInt(b, "process_id", int64(os.Getpid()))
	field(b, "run_id", ni.RunID)
	fieldInt(b, "tcp_port", int64(ni.TCPPort))
	fieldInt(b, "http_port", int64(ni.HTTPPort))
	fieldInt(b, "server_time_usec", time.Now().UnixMicro())
	fieldInt(b, "uptime_in_seconds", int64(up/time.Second))
	fieldInt(b, "uptime_in_days", int64(up/(24*time.Hour)))
	field(b, "executable", executable())
	field(b, "config_file", ni.ConfigFile)
}

func executable() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	return p
}

func infoClients(s *Server, b *strings.Builder) {
	fieldInt(b, "connected_clients", int64(s.connectedClients()))
	fieldInt(b, "maxclients", int64(s.opts.MaxClients))
	fieldInt(b, "blocked_clients", 0)
}

// humanBytes formats n as Redis's bytesToHuman.
func humanBytes(n uint64) string {
	f := float64(n)
	switch {
	case n < 1<<10:
		return strconv.FormatUint(n, 10) + "B"
	case n < 1<<20:
		return strconv.FormatFloat(f/(1<<10), 'f', 2, 64) + "K"
	case n < 1<<30:
		return strconv.FormatFloat(f/(1<<20), 'f', 2, 64) + "M"
	case n < 1<<40:
		return strconv.FormatFloat(f/(1<<30), 'f', 2, 64) + "G"
	}
	return strconv.FormatFloat(f/(1<<40), 'f', 2, 64) + "T"
}

func infoMemory(s *Server, b *strings.Builder) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	l1 := s.cache.L1()
	field(b, "used_memory", strconv.FormatUint(ms.HeapAlloc, 10))
	field(b, "used_memory_human", humanBytes(ms.HeapAlloc))
	field(b, "used_memory_rss", strconv.FormatUint(ms.Sys, 10))
	field(b, "used_memory_rss_human", humanBytes(ms.Sys))
	field(b, "used_memory_dataset", strconv.FormatUint(l1.UsedBytes(), 10))
	field(b, "maxmemory", strconv.FormatUint(l1.MaxBytes(), 10))
	field(b, "maxmemory_human", humanBytes(l1.MaxBytes()))
	field(b, "maxmemory_policy", "allkeys-lfu")
	field(b, "mem_allocator", "go")
}

func infoPersistence(_ *Server, b *strings.Builder) {
	fieldInt(b, "loading", 0)
	fieldInt(b, "rdb_changes_since_last_save", 0)
	fieldInt(b, "rdb_bgsave_in_progress", 0)
	fieldInt(b, "aof_enabled", 0)
}

func infoStats(s *Server, b *strings.Builder) {
	fieldInt(b, "total_connections_received", int64(s.totalConns.Load()))
	fieldInt(b, "total_commands_processed", int64(s.totalCmds.Load()))
	fieldInt(b, "total_net_input_bytes", int64(s.netIn.Load()))
	fieldInt(b, "total_net_output_bytes", int64(s.netOut.Load()))
	fieldInt(b, "rejected_connections", int64(s.rejected.Load()))
	st, _ := s.l1Stats()
	fieldInt(b, "expired_keys", int64(st.Expirations))
	fieldInt(b, "evicted_keys", int64(st.Evictions))
	// In a fleet a read that missed L1 may have found the key in the L2.
	l2hits, _ := s.cache.L2Reads()
	fieldInt(b, "keyspace_hits", int64(st.Hits+l2hits))
	fieldInt(b, "keyspace_misses", int64(st.Misses-min(st.Misses, l2hits)))
	fieldInt(b, "pubsub_channels", 0)
	var failed, rejected uint64
	for i := range s.stats {
		failed += s.stats[i].failed.Load()
		rejected += s.stats[i].rejected.Load()
	}
	fieldInt(b, "total_error_replies", int64(failed+rejected))
}

func infoReplication(_ *Server, b *strings.Builder) {
	field(b, "role", "master")
	fieldInt(b, "connected_slaves", 0)
}

func infoCommandStats(s *Server, b *strings.Builder) {
	for i, cmd := range s.table.list {
		st := &s.stats[i]
		calls, rejected, failed := st.calls.Load(), st.rejected.Load(), st.failed.Load()
		if calls == 0 && rejected == 0 && failed == 0 {
			continue
		}
		usec := st.nanos.Load() / 1000
		perCall := 0.0
		if calls > 0 {
			perCall = float64(usec) / float64(calls)
		}
		b.WriteString("cmdstat_" + cmd.name + ":calls=" + strconv.FormatUint(calls, 10) +
			",usec=" + strconv.FormatUint(usec, 10) +
			",usec_per_call=" + strconv.FormatFloat(perCall, 'f', 2, 64) +
			",rejected_calls=" + strconv.FormatUint(rejected, 10) +
			",failed_calls=" + strconv.FormatUint(failed, 10) + "\r\n")
	}
}

// infoKeyspace reports db0 as Redis does, omitting an empty database. The
// expires count walks the key space (strata keeps no running count), so
// INFO keyspace costs time proportional to the number of keys.
func infoKeyspace(s *Server, b *strings.Builder) {
	keys := s.cache.Len()
	if keys == 0 {
		return
	}
	expires := 0
	var ttlSum, ttlN int64
	now := s.cache.Now()
	s.cache.L1().Each(func(k string) bool {
		if e, ok := s.cache.L1().Peek(k); ok && e.ExpireAt != 0 {
			expires++
			ttlSum += (e.ExpireAt - now) / 1e6
			ttlN++
		}
		return true
	})
	avg := int64(0)
	if ttlN > 0 {
		avg = ttlSum / ttlN
	}
	field(b, "db0", "keys="+strconv.Itoa(keys)+",expires="+strconv.Itoa(expires)+",avg_ttl="+strconv.FormatInt(avg, 10))
}

func infoStrata(s *Server, b *strings.Builder) {
	st, _ := s.l1Stats()
	fieldInt(b, "l1_keys", int64(s.cache.Len()))
	fieldInt(b, "l1_hits", int64(st.Hits))
	fieldInt(b, "l1_misses", int64(st.Misses))
	fieldInt(b, "l1_evictions", int64(st.Evictions))
	fieldInt(b, "l1_expirations", int64(st.Expirations))
	fieldInt(b, "l1_used_bytes", int64(s.cache.L1().UsedBytes()))
	fieldInt(b, "l1_max_bytes", int64(s.cache.L1().MaxBytes()))
	fieldInt(b, "panics_recovered", int64(s.panics.Load()))
	fieldInt(b, "slowlog_len", int64(s.slow.Len()))
}
