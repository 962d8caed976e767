package config

import (
	"time"
	"unicode"
)

// WALConfig configures invalidation from PostgreSQL's write-ahead log
// (package invalidate/pgwal). It takes effect when at least one resource
// binds tables (resources.<name>.tables); without bindings nothing here is
// used and no replication slot is created.
type WALConfig struct {
	// Slot is the logical replication slot's name. Default "strata". A
	// slot that exists is reused (and resumed from). PostgreSQL lets one
	// connection use a slot at a time: nodes of a fleet (redis.addrs set)
	// share one slot and elect the one node that streams it; nodes that
	// run alone against one database need a slot each.
	Slot string `koanf:"slot" yaml:"slot"`
	// Publication is the publication's name; strata creates it for the
	// bound tables or adds missing tables to it. Default "strata".
	Publication string `koanf:"publication" yaml:"publication"`
	// Heartbeat is the interval of the heartbeat messages that keep the
	// slot advancing and prove freshness while bound tables are idle.
	// Default 1s.
	Heartbeat time.Duration `koanf:"heartbeat" yaml:"heartbeat"`
	// StatusInterval is the interval of standby status updates to the
	// server (the slot's confirmed position). Default 1s; keep it well
	// below the server's wal_sender_timeout (60s by default).
	StatusInterval time.Duration `koanf:"status_interval" yaml:"status_interval"`
	// MaxStaleness is the default bound on how far behind the database a
	// bound resource may be served from cache (resources.<name>.max_staleness
	// overrides it). Beyond it reads go to PostgreSQL. Default 5s; it must
	// exceed Heartbeat.
	MaxStaleness time.Duration `koanf:"max_staleness" yaml:"max_staleness"`
	// MinLSNWait bounds how long a read-your-writes read (X-Strata-Min-LSN,
	// STRATA.GET key MINLSN lsn) waits for its WAL position before it reads
	// PostgreSQL instead. Default 1s.
	MinLSNWait time.Duration `koanf:"min_lsn_wait" yaml:"min_lsn_wait"`
}

// defaultWAL is WALConfig's defaults, for Default.
func defaultWAL() WALConfig {
	return WALConfig{
		Slot: "strata", Publication: "strata", Heartbeat: time.Second, StatusInterval: time.Second,
		MaxStaleness: 5 * time.Second, MinLSNWait: time.Second,
	}
}

// WALEnabled reports whether any resource binds tables.
func (c Config) WALEnabled() bool {
	for _, s := range c.Resources {
		if len(s.Tables) > 0 {
			return true
		}
	}
	return false
}

// validateWAL checks the wal section.
func (c Config) validateWAL(p *problems) {
	w := c.WAL
	for _, f := range []struct{ key, v string }{{"wal.slot", w.Slot}, {"wal.publication", w.Publication}} {
		if f.v == "" || len(f.v) > 63 {
			p.add(f.key, "must be 1 to 63 characters, got %q", f.v)
			continue
		}
		for _, r := range f.v {
			if !(r == '_' || unicode.IsDigit(r) || 'a' <= r && r <= 'z') {
				p.add(f.key, "only lower-case letters, digits and '_' are allowed (a replication slot name), got %q", f.v)
				break
			}
		}
	}
	for _, f := range []struct {
		key string
		v   time.Duration
	}{{"wal.heartbeat", w.Heartbeat}, {"wal.status_interval", w.StatusInterval}, {"wal.max_staleness", w.MaxStaleness}} {
		if f.v <= 0 {
			p.add(f.key, "must be > 0, got %s", f.v)
		}
	}
	nonNegative(p, "wal.min_lsn_wait", w.MinLSNWait)
	if w.Heartbeat > 0 && w.MaxStaleness > 0 && w.MaxStaleness <= w.Heartbeat {
		p.add("wal.max_staleness", "must exceed wal.heartbeat (%s), got %s: freshness is proven once per heartbeat", w.Heartbeat, w.MaxStaleness)
	}
	for _, s := range c.ResourceSpecs() {
		if s.MaxStaleness > 0 && w.Heartbeat > 0 && s.MaxStaleness <= w.Heartbeat {
			p.add("resources."+s.Name+".max_staleness", "must exceed wal.heartbeat (%s), got %s", w.Heartbeat, s.MaxStaleness)
		}
	}
}
