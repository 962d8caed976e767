// Package redis is strata's L2: a tier shared by every node of a fleet, on
// Redis Cluster (or one standalone Redis), through rueidis.
//
// It keeps three things in Redis, all under the configured prefix:
//
//   - resource entries, "<prefix>r{<hash>}<key>": an encoded cache entry
//     with a TTL, written only by a fenced fill;
//   - fences, "<prefix>f{<hash>}<key>": a random token that every
//     invalidation of the key replaces, in the same hash slot as the entry,
//     so that a fill can check atomically (one Lua script) that no
//     invalidation happened since it took its token, on any node;
//   - resource epochs, "<prefix>e:<resource>", bumped by a resource-wide
//     invalidation, and the WAL leader's applied position, "<prefix>wal:applied".
//
// Coherence of the L1s: every connection turns on Redis's broadcast client
// tracking for the fence and epoch prefixes, so each invalidation of a key,
// made by any node, reaches every node as a RESP3 push on the connection to
// the key's shard, in order with that shard's replies. When a connection is
// lost (or Redis is flushed) rueidis reports it and the node drops what it
// can no longer vouch for. A watcher pings every shard and watches the
// masters; after a loss or a failover the L2 is kept out of the read path
// for failover_settle while the node replays its recent invalidations onto
// the new masters (replication is asynchronous: a failover can lose an
// acknowledged write).
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/rueidis"
)

// FenceTTL is how long a fence outlives the invalidation that set it. A
// fill whose token is older than MaxFillAge is not stored, so an expired
// fence can never let a fill through that it should have stopped.
const (
	FenceTTL   = 2 * time.Minute
	MaxFillAge = time.Minute
)

// maxReplay bounds the replay log; past it a failover replays every
// resource as a resource-wide invalidation instead.
const maxReplay = 200_000

// Handler receives what the invalidation feed says. The cache implements
// it. Every method must be fast: it runs on the connection's reader.
type Handler interface {
	// InvalidateLocal removes key from this node's L1 and fences its fills.
	InvalidateLocal(key string)
	// InvalidateResourceLocal does that for every key of a resource.
	InvalidateResourceLocal(name string)
	// DropAll drops every entry this node can no longer vouch for.
	DropAll(reason string)
}

// Options configure an L2.
type Options struct {
	Addrs              []string
	Username, Password string
	Prefix             string
	// Timeout bounds each operation.
	Timeout time.Duration
	// FailoverSettle, ReplayWindow, WatchInterval and FailoverWait: see
	// config.RedisConfig.
	FailoverSettle, ReplayWindow, WatchInterval, FailoverWait time.Duration
	// Resources are the resource names, whose epochs the node follows.
	Resources []string
	Logger    *slog.Logger

	// manualWatch stops the watcher from running by itself (tests call
	// round), so a test can look at the state between a failover and the
	// replay.
	manualWatch bool
}

// Stats are the L2's counters, for /v1/stats and metrics.
type Stats struct {
	Usable          bool    `json:"usable"`
	Mode            string  `json:"mode"`
	Reason          string  `json:"reason,omitempty"`
	Hits            uint64  `json:"hits"`
	Misses          uint64  `json:"misses"`
	Errors          uint64  `json:"errors"`
	Stores          uint64  `json:"stores"`
	StoresRejected  uint64  `json:"stores_rejected"`
	Invalidations   uint64  `json:"invalidations"`
	PushesReceived  uint64  `json:"pushes_received"`
	FeedLosses      uint64  `json:"feed_losses"`
	MasterChanges   uint64  `json:"master_changes"`
	Replayed        uint64  `json:"replayed"`
	DegradedSeconds float64 `json:"degraded_seconds"`
}

type replayItem struct {
	at       time.Time
	key      string // a key, or "" with resource set
	resource string
}

// L2 is the shared tier. It is safe for concurrent use.
type L2 struct {
	c       rueidis.Client
	opts    Options
	log     *slog.Logger
	nodeID  string
	fenceN  atomic.Uint64
	handler atomic.Pointer[handlerBox]

	storeFill, invalidate, readFill, publish *rueidis.Lua

	mu           sync.Mutex
	healthy      bool      // the last watcher round reached every shard
	problemAt    time.Time // last loss, failed round or master change
	reason       string
	masters      string
	candidate    string // a new master set seen once, not yet confirmed
	epochs       map[string]uint64
	epochStale   map[string]bool
	replay       []replayItem
	replayFull   bool
	needReplay   bool
	degradedFrom time.Time
	degraded     time.Duration

	hits, misses, errs, stores, rejected, invals, pushes, losses, changes, replayed atomic.Uint64

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

type handlerBox struct{ h Handler }

// New connects to Redis, checks that it can track invalidations, reads the
// resource epochs and starts the watcher. An unreachable Redis is an error
// naming redis.addrs: a node should not start half-configured.
func New(ctx context.Context, opts Options) (*L2, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	l := &L2{opts: opts, log: opts.Logger, nodeID: hex.EncodeToString(id[:]),
		epochs: map[string]uint64{}, epochStale: map[string]bool{},
		kick: make(chan struct{}, 1), stop: make(chan struct{})}
	l.storeFill = rueidis.NewLuaScript(`local f = redis.call('GET', KEYS[1])
if f == false then f = '' end
if f ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1`)
	l.invalidate = rueidis.NewLuaScript(`redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('DEL', KEYS[2])`)
	l.readFill = rueidis.NewLuaScriptReadOnly(`return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}`)
	l.publish = rueidis.NewLuaScript(`local cur = redis.call('GET', KEYS[1])
if cur == false or cur < ARGV[1] then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`)
	p := opts.Prefix
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: opts.Addrs,
		Username:    opts.Username,
		Password:    opts.Password,
		// Broadcast tracking: Redis pushes every change of a key under
		// these prefixes to every tracking connection, whether or not it
		// read the key. The fence and epoch keys are what invalidations
		// write, plain keys change by writes; resource entries change
		// only by fenced fills, which need not evict anyone's copy.
		// NOLOOP: a node applies its own writes and invalidations to its
		// L1 itself. (Redis 7.0 still echoes changes made by scripts, and
		// a node may hold several connections to a shard: an echo only
		// evicts the node's own fresh copy, which is safe.)
		ClientTrackingOptions: []string{"BCAST", "NOLOOP", "PREFIX", p + "f{", "PREFIX", p + "e:", "PREFIX", p + "k:"},
		OnInvalidations:       l.onInvalidations,
		ConnWriteTimeout:      max(opts.Timeout*4, time.Second),
		Dialer:                netDialer(opts.Timeout),
		DisableRetry:          true,
		// One connection per shard (-1: one pipe, also for a standalone
		// Redis, where 0 would mean two): NOLOOP then spares a node the
		// echo of its own plain SETs.
		PipelineMultiplex: -1,
		// Reads stay off a shard while it fails over, so no MOVED or
		// error would make the client look again: it rescans the
		// topology by itself, as often as the watcher looks.
		ClusterOption: rueidis.ClusterOption{ShardsRefreshInterval: opts.WatchInterval},
	})
	if err != nil {
		return nil, fmt.Errorf("redis.addrs %v: %w (is Redis 7+ running there, with RESP3? check redis.addrs, redis.username and redis.password)", opts.Addrs, err)
	}
	l.c = c
	cctx, cancel := context.WithTimeout(ctx, max(opts.Timeout, 2*time.Second))
	defer cancel()
	if err := c.Do(cctx, c.B().Ping().Build()).Error(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis.addrs %v: %w", opts.Addrs, err)
	}
	for _, name := range opts.Resources {
		l.epochStale[name] = true
	}
	l.refreshEpochs(cctx)
	l.masters, _ = l.topology(cctx)
	l.healthy = l.pingAll(cctx) == nil
	if !l.healthy {
		l.problemAt, l.reason = time.Now(), "not every shard answered at start-up"
	}
	if !opts.manualWatch {
		l.wg.Add(1)
		go l.watch()
	}
	return l, nil
}

// SetHandler installs the receiver of invalidations. Pushes that arrive
// before it are dropped: nothing can be cached yet.
func (l *L2) SetHandler(h Handler) { l.handler.Store(&handlerBox{h}) }

// Close stops the watcher and closes the connections.
func (l *L2) Close() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	l.wg.Wait()
	// Connections rueidis closes later (it retires replaced ones after a
	// delay) must not reach a cache that is closing.
	l.handler.Store(nil)
	l.c.Close()
}

// Usable reports whether the L2 may be read and written: every shard
// answered the last watcher round, and failover_settle passed since the
// last loss or master change.
func (l *L2) Usable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usableLocked(time.Now())
}

func (l *L2) usableLocked(now time.Time) bool {
	return l.healthy && !l.needReplay && now.Sub(l.problemAt) >= l.opts.FailoverSettle
}

// Epoch returns the resource's epoch in Redis as this node knows it, and
// false when it is being re-read (an epoch push arrived): the L2 must not
// be used for the resource until then.
func (l *L2) Epoch(resource string) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epochs[resource], !l.epochStale[resource]
}

// Names of the keys in Redis.
func (l *L2) tag(key string) string {
	return "{" + strconv.FormatUint(xxhash.Sum64String(key), 16) + "}"
}
func (l *L2) dataKey(key string) string   { return l.opts.Prefix + "r" + l.tag(key) + key }
func (l *L2) fenceKey(key string) string  { return l.opts.Prefix + "f" + l.tag(key) + key }
func (l *L2) epochKey(name string) string { return l.opts.Prefix + "e:" + name }
func (l *L2) walKey() string              { return l.opts.Prefix + "wal:applied" }

// Fetched is what ReadFill found.
type Fetched struct {
	// Data is the encoded entry, valid when Found.
	Data  []byte
	Found bool
	// Fence is the key's token: pass it to StoreFill.
	Fence string
	// At is when the token was taken.
	At time.Time
}

// ReadFill reads key's entry and its fence in one atomic step.
func (l *L2) ReadFill(ctx context.Context, key string) (Fetched, error) {
	at := time.Now()
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	arr, err := l.readFill.Exec(ctx, l.c, []string{l.fenceKey(key), l.dataKey(key)}, nil).ToArray()
	if err != nil || len(arr) != 2 {
		l.errs.Add(1)
		if err == nil {
			err = errors.New("unexpected reply to the read script")
		}
		return Fetched{}, err
	}
	f := Fetched{At: at}
	f.Fence, _ = arr[0].ToString()
	if b, err := arr[1].AsBytes(); err == nil {
		f.Data, f.Found = b, true
		l.hits.Add(1)
	} else {
		l.misses.Add(1)
	}
	return f, nil
}

// StoreFill stores data under key for ttl if the key's fence still holds
// f's token, and reports whether it did.
func (l *L2) StoreFill(ctx context.Context, key string, f Fetched, data []byte, ttl time.Duration) (bool, error) {
	if time.Since(f.At) > MaxFillAge || ttl < time.Millisecond {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	n, err := l.storeFill.Exec(ctx, l.c, []string{l.fenceKey(key), l.dataKey(key)},
		[]string{f.Fence, rueidis.BinaryString(data), strconv.FormatInt(ttl.Milliseconds(), 10)}).AsInt64()
	if err != nil {
		l.errs.Add(1)
		return false, err
	}
	if n == 0 {
		l.rejected.Add(1)
		return false, nil
	}
	l.stores.Add(1)
	return true, nil
}

// Invalidate replaces key's fence and deletes its entry, in one script: a
// fill on any node that took its token before can no longer store, and
// every node's connection to the shard gets the push that evicts its L1
// copy. The invalidation is remembered for replay after a failover, also
// when it fails (it is then replayed once Redis is back).
func (l *L2) Invalidate(ctx context.Context, key string) error {
	l.remember(replayItem{at: time.Now(), key: key})
	return l.invalidateOne(ctx, key)
}

// InvalidateAgain retries an Invalidate that failed (it is already in the
// replay log).
func (l *L2) InvalidateAgain(ctx context.Context, key string) error { return l.invalidateOne(ctx, key) }

func (l *L2) invalidateOne(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	token := l.nodeID + ":" + strconv.FormatUint(l.fenceN.Add(1), 36)
	err := l.invalidate.Exec(ctx, l.c, []string{l.fenceKey(key), l.dataKey(key)},
		[]string{token, strconv.FormatInt(FenceTTL.Milliseconds(), 10)}).Error()
	if err != nil {
		l.errs.Add(1)
		// It may have reached Redis or not: replay it (and keep the L2 out
		// of the read path until that is done).
		l.mu.Lock()
		l.needReplay = true
		l.mu.Unlock()
		l.wake()
		return err
	}
	l.invals.Add(1)
	return nil
}

// InvalidateResource bumps the resource's epoch in Redis: every node drops
// the resource from its L1 when the push arrives, and entries in Redis
// from older epochs are never served again.
func (l *L2) InvalidateResource(ctx context.Context, name string) error {
	l.remember(replayItem{at: time.Now(), resource: name})
	return l.bumpEpoch(ctx, name)
}

// InvalidateResourceAgain retries an InvalidateResource that failed (it
// is already in the replay log).
func (l *L2) InvalidateResourceAgain(ctx context.Context, name string) error {
	return l.bumpEpoch(ctx, name)
}

func (l *L2) bumpEpoch(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	n, err := l.c.Do(ctx, l.c.B().Incr().Key(l.epochKey(name)).Build()).AsInt64()
	if err != nil {
		l.errs.Add(1)
		return err
	}
	l.invals.Add(1)
	l.mu.Lock()
	if uint64(n) > l.epochs[name] {
		l.epochs[name] = uint64(n)
	}
	l.mu.Unlock()
	return nil
}

// PublishApplied records the WAL leader's applied position (it only
// moves forward): every invalidation up to lsn is in Redis.
func (l *L2) PublishApplied(ctx context.Context, lsn uint64) error {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	return l.publish.Exec(ctx, l.c, []string{l.walKey()}, []string{fmt.Sprintf("%016X", lsn)}).Error()
}

// Applied returns the position the WAL leader last published (0 if none).
func (l *L2) Applied(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	s, err := l.c.Do(ctx, l.c.B().Get().Key(l.walKey()).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(s, 16, 64)
}

// Sync makes one round trip on every shard's connection. When it returns
// nil, every push a shard had queued for this node before Sync began has
// been handled: replies and pushes share the connection, in order.
func (l *L2) Sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	return l.pingAll(ctx)
}

// onInvalidations handles the tracking pushes (rueidis's reader calls it).
// nil means the connection was lost or Redis was flushed.
func (l *L2) onInvalidations(msgs []rueidis.RedisMessage) {
	hb := l.handler.Load()
	if msgs == nil {
		if hb == nil {
			// Before the node has a cache nothing can be stale, and the
			// cluster client closes the seed connections it does not keep.
			return
		}
		l.losses.Add(1)
		l.problem("invalidation feed lost (connection closed or Redis flushed)", false)
		if hb != nil {
			hb.h.DropAll("invalidation feed lost")
		}
		return
	}
	l.pushes.Add(1)
	for _, m := range msgs {
		k, err := m.ToString()
		if err != nil {
			continue
		}
		kind, name := classify(l.opts.Prefix, k)
		switch kind {
		case pushKey:
			if hb != nil {
				hb.h.InvalidateLocal(name)
			}
		case pushEpoch:
			l.mu.Lock()
			l.epochStale[name] = true
			l.mu.Unlock()
			if hb != nil {
				hb.h.InvalidateResourceLocal(name)
			}
			l.wake()
		}
	}
}

// What a pushed Redis key names.
const (
	pushOther = iota // not strata's, or not tracked
	pushKey          // a client key: a fence changed, or a plain key was written
	pushEpoch        // a resource's fleet epoch moved
)

// classify maps a Redis key from an invalidation push to what it names:
// "<prefix>f{<hash>}<key>" and "<prefix>k:<key>" name key,
// "<prefix>e:<resource>" a resource.
func classify(prefix, k string) (kind int, name string) {
	rest, ok := strings.CutPrefix(k, prefix)
	if !ok {
		return pushOther, ""
	}
	switch {
	case strings.HasPrefix(rest, "f{"):
		if i := strings.IndexByte(rest, '}'); i >= 0 {
			return pushKey, rest[i+1:]
		}
	case strings.HasPrefix(rest, "k:"):
		return pushKey, rest[2:]
	case strings.HasPrefix(rest, "e:"):
		return pushEpoch, rest[2:]
	}
	return pushOther, ""
}

func (l *L2) wake() {
	if l.opts.manualWatch {
		return
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// problem records a loss, failure or master change: L2 stays out of the
// read path for failover_settle from now.
func (l *L2) problem(reason string, changed bool) {
	l.mu.Lock()
	now := time.Now()
	if l.usableLocked(now) || l.degradedFrom.IsZero() {
		l.degradedFrom = now
	}
	l.problemAt, l.reason = now, reason
	if changed {
		l.needReplay = true
	}
	l.healthy = false
	l.mu.Unlock()
	l.wake()
}

func (l *L2) remember(it replayItem) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.replay) >= maxReplay {
		l.trimLocked(it.at)
	}
	if len(l.replay) >= maxReplay {
		l.replayFull = true
		return
	}
	l.replay = append(l.replay, it)
}

func (l *L2) trimLocked(now time.Time) {
	i := 0
	for i < len(l.replay) && now.Sub(l.replay[i].at) > l.opts.ReplayWindow {
		i++
	}
	if i > 0 {
		l.replay = slices.Delete(l.replay, 0, i)
	}
	if len(l.replay) == 0 {
		l.replayFull = false
	}
}

// watch checks the shards every WatchInterval (and when woken): pings,
// master changes, epochs, replay.
func (l *L2) watch() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		case <-l.kick:
		}
		l.round()
	}
}

func (l *L2) round() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*l.opts.Timeout+time.Second)
	defer cancel()
	masters, terr := l.topology(ctx)
	perr := l.pingAll(ctx)
	if terr == nil && masters != "" {
		// During a failover nodes disagree for a moment, and the client
		// asks a random one: a new master set counts once two rounds in a
		// row report it.
		l.mu.Lock()
		changed := false
		switch {
		case l.masters == "" || masters == l.masters:
			l.masters, l.candidate = masters, ""
		case masters == l.candidate:
			l.masters, l.candidate, changed = masters, "", true
		default:
			// Out of the read path at once; counted and replayed once
			// confirmed (replayAll also runs on the next healthy round).
			l.candidate = masters
			l.mu.Unlock()
			l.problem("Redis masters changing", true)
			l.mu.Lock()
		}
		l.mu.Unlock()
		if changed {
			l.changes.Add(1)
			l.log.Warn("redis masters changed; replaying recent invalidations", slog.String("masters", masters))
			l.problem("Redis masters changed (failover)", true)
			if hb := l.handler.Load(); hb != nil {
				hb.h.DropAll("redis masters changed")
			}
		}
	}
	if terr != nil || perr != nil {
		err := errors.Join(terr, perr)
		l.mu.Lock()
		was := l.healthy
		l.mu.Unlock()
		if was {
			l.log.Warn("redis shard unreachable; serving from L1 and PostgreSQL", slog.String("error.message", err.Error()))
		}
		l.problem("a Redis shard is unreachable: "+err.Error(), false)
		return
	}
	l.mu.Lock()
	wasHealthy, replay := l.healthy, l.needReplay
	l.mu.Unlock()
	if !wasHealthy {
		// Entries stored while a connection was down may have missed
		// invalidations: drop them before trusting the feed again.
		if hb := l.handler.Load(); hb != nil {
			hb.h.DropAll("invalidation feed regained")
		}
		replay = true
	}
	l.refreshEpochs(ctx)
	if replay && !l.replayAll(ctx) {
		return
	}
	l.mu.Lock()
	now := time.Now()
	l.healthy = true
	l.needReplay = false
	if now.Sub(l.problemAt) >= l.opts.FailoverSettle && !l.degradedFrom.IsZero() {
		l.degraded += l.problemAt.Add(l.opts.FailoverSettle).Sub(l.degradedFrom)
		l.degradedFrom = time.Time{}
		l.reason = ""
	}
	l.mu.Unlock()
}

// replayAll re-applies every invalidation of the replay window and reports
// whether all of them reached Redis.
func (l *L2) replayAll(ctx context.Context) bool {
	l.mu.Lock()
	l.trimLocked(time.Now())
	items := slices.Clone(l.replay)
	full := l.replayFull
	l.mu.Unlock()
	seen := map[string]bool{}
	if full {
		for _, name := range l.opts.Resources {
			if l.bumpEpoch(ctx, name) != nil {
				return false
			}
		}
	}
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		id := it.key
		if it.resource != "" {
			id = "\x00" + it.resource
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		var err error
		if it.resource != "" {
			err = l.bumpEpoch(ctx, it.resource)
		} else {
			err = l.invalidateOne(ctx, it.key)
		}
		if err != nil {
			l.log.Warn("replaying invalidations failed; will retry", slog.String("error.message", err.Error()))
			return false
		}
		l.replayed.Add(1)
	}
	return true
}

// refreshEpochs re-reads the epochs marked stale.
func (l *L2) refreshEpochs(ctx context.Context) {
	l.mu.Lock()
	var names []string
	for name, stale := range l.epochStale {
		if stale {
			names = append(names, name)
		}
	}
	l.mu.Unlock()
	for _, name := range names {
		n, err := l.c.Do(ctx, l.c.B().Get().Key(l.epochKey(name)).Build()).AsUint64()
		if rueidis.IsRedisNil(err) {
			n, err = 0, nil
		}
		if err != nil {
			continue
		}
		l.mu.Lock()
		l.epochs[name] = n
		l.epochStale[name] = false
		l.mu.Unlock()
	}
}

// topology returns the masters and their slot ranges, "" for a standalone
// Redis.
func (l *L2) topology(ctx context.Context) (string, error) {
	if l.c.Mode() != rueidis.ClientModeCluster {
		return "", nil
	}
	// Ask the nodes in turn: the client's own pick may be a node that is
	// down (a failed master stays in the cluster's node list).
	var arr []rueidis.RedisMessage
	var err error
	for _, nc := range l.c.Nodes() {
		if arr, err = nc.Do(ctx, nc.B().ClusterSlots().Build()).ToArray(); err == nil {
			break
		}
	}
	if arr == nil && err == nil {
		err = errors.New("no Redis node known")
	}
	if err != nil {
		return "", err
	}
	var parts []string
	for _, r := range arr {
		f, err := r.ToArray()
		if err != nil || len(f) < 3 {
			continue
		}
		lo, _ := f[0].AsInt64()
		hi, _ := f[1].AsInt64()
		m, err := f[2].ToArray()
		if err != nil || len(m) < 2 {
			continue
		}
		host, _ := m[0].ToString()
		port, _ := m[1].AsInt64()
		parts = append(parts, fmt.Sprintf("%d-%d@%s:%d", lo, hi, host, port))
	}
	slices.Sort(parts)
	return strings.Join(parts, ","), nil
}

// pingAll pings every master (the one server of a standalone Redis): the
// connections whose pushes carry the invalidations. A failed master that
// the cluster still lists without slots is not one of them.
func (l *L2) pingAll(ctx context.Context) error {
	masters, err := l.masterClients(ctx)
	if err != nil {
		return err
	}
	if len(masters) == 0 {
		return errors.New("no Redis master known")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, nc := range masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := nc.Do(ctx, nc.B().Ping().Build()).Error(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Stats returns the counters.
func (l *L2) Stats() Stats {
	l.mu.Lock()
	now := time.Now()
	st := Stats{Usable: l.usableLocked(now), DegradedSeconds: l.degraded.Seconds()}
	if !st.Usable {
		st.Reason = l.reason
		if st.Reason == "" {
			st.Reason = "settling after a failover"
		}
	}
	if !l.degradedFrom.IsZero() {
		st.DegradedSeconds += now.Sub(l.degradedFrom).Seconds()
	}
	l.mu.Unlock()
	st.Mode = "standalone"
	if l.c.Mode() == rueidis.ClientModeCluster {
		st.Mode = "cluster"
	}
	st.Hits, st.Misses, st.Errors = l.hits.Load(), l.misses.Load(), l.errs.Load()
	st.Stores, st.StoresRejected, st.Invalidations = l.stores.Load(), l.rejected.Load(), l.invals.Load()
	st.PushesReceived, st.FeedLosses, st.MasterChanges, st.Replayed = l.pushes.Load(), l.losses.Load(), l.changes.Load(), l.replayed.Load()
	return st
}

func netDialer(timeout time.Duration) net.Dialer {
	return net.Dialer{Timeout: max(timeout*4, time.Second), KeepAlive: 15 * time.Second}
}
