package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// RedisConfig configures the shared L2 tier on Redis (package tier/redis):
// distributed mode. With no addresses the node runs alone on its L1, as in
// embedded mode. With them, resource entries are shared through Redis, every
// node's L1 is kept coherent by Redis's invalidation messages, and the nodes
// that bind tables elect one WAL consumer among themselves.
type RedisConfig struct {
	// Addrs are the seed addresses of a Redis Cluster ("host:port", any
	// few of its nodes), or the one address of a standalone Redis. Redis 7
	// or later (RESP3 and broadcast client tracking). Default none.
	Addrs []string `koanf:"addrs" yaml:"addrs"`
	// Username and Password authenticate to Redis (ACL user, or only the
	// password for requirepass). Default none.
	Username string `koanf:"username" yaml:"username"`
	Password string `koanf:"password" yaml:"password"`
	// Prefix starts every key strata writes to Redis, so that strata can
	// share a cluster with other data and track only its own keys. It must
	// not contain '{' or '}' (Redis Cluster hash tags). Default "strata:".
	Prefix string `koanf:"prefix" yaml:"prefix"`
	// Timeout bounds each L2 operation. A resource read that takes longer
	// is answered from PostgreSQL instead; a plain-key command answers
	// -TRYAGAIN. Default 1s, generous for a busy machine; with Redis on a
	// quiet network 100ms keeps slow shards out of the read path sooner.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// FailoverSettle is how long a node keeps L2 out of its read path after
	// it lost a connection to Redis or saw the cluster's masters change. In
	// that time every node replays its recent invalidations onto the new
	// masters (an invalidation Redis acknowledged can be lost by a
	// failover: replication is asynchronous). Default 2s.
	FailoverSettle time.Duration `koanf:"failover_settle" yaml:"failover_settle"`
	// ReplayWindow is how far back a node remembers the invalidations it
	// wrote, to replay them after a failover. It must cover Redis's
	// replication lag plus the failover's detection time. Default 30s.
	ReplayWindow time.Duration `koanf:"replay_window" yaml:"replay_window"`
	// FailoverWait is how long a plain-key command waits for the shard
	// that holds its key when that shard does not answer (its master died
	// and a replica is being promoted), retrying, before it answers
	// -TRYAGAIN. Set it above the time a failover takes (about twice
	// cluster-node-timeout). Reads are retried whatever happened; a write
	// is retried only when Redis surely did not run it. Default 5s.
	FailoverWait time.Duration `koanf:"failover_wait" yaml:"failover_wait"`
	// WatchInterval is how often a node checks that its invalidation feed
	// is alive and whether the masters changed. Default 250ms.
	WatchInterval time.Duration `koanf:"watch_interval" yaml:"watch_interval"`
}

// defaultRedis is RedisConfig's defaults, for Default.
func defaultRedis() RedisConfig {
	return RedisConfig{
		Prefix: "strata:", Timeout: time.Second, FailoverSettle: 2 * time.Second,
		ReplayWindow: 30 * time.Second, WatchInterval: 250 * time.Millisecond, FailoverWait: 5 * time.Second,
	}
}

// Distributed reports whether an L2 on Redis is configured.
func (c Config) Distributed() bool { return len(c.Redis.Addrs) > 0 }

// validateRedis checks the redis section.
func (c Config) validateRedis(p *problems) {
	r := c.Redis
	for i, a := range r.Addrs {
		key := fmt.Sprintf("redis.addrs[%d]", i)
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			p.add(key, "must be host:port, got %q", a)
		}
	}
	if r.Prefix == "" || strings.ContainsAny(r.Prefix, "{}") {
		p.add("redis.prefix", "must be non-empty and must not contain '{' or '}' (Redis Cluster hash tags), got %q", r.Prefix)
	}
	for _, f := range []struct {
		key string
		v   time.Duration
	}{{"redis.timeout", r.Timeout}, {"redis.failover_settle", r.FailoverSettle},
		{"redis.replay_window", r.ReplayWindow}, {"redis.watch_interval", r.WatchInterval}, {"redis.failover_wait", r.FailoverWait}} {
		if f.v <= 0 {
			p.add(f.key, "must be > 0, got %s", f.v)
		}
	}
	if r.WatchInterval > 0 && r.FailoverSettle > 0 && r.FailoverSettle < 2*r.WatchInterval {
		p.add("redis.failover_settle", "must be at least twice redis.watch_interval (%s), got %s: a node must see the new masters before it trusts L2 again", r.WatchInterval, r.FailoverSettle)
	}
	if r.ReplayWindow > 0 && r.FailoverSettle > 0 && r.ReplayWindow < r.FailoverSettle {
		p.add("redis.replay_window", "must be at least redis.failover_settle (%s), got %s", r.FailoverSettle, r.ReplayWindow)
	}
}
