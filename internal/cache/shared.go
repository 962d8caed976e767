package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// Shared is the L2: a tier shared by every node of a fleet (package
// tier/redis implements it over Redis Cluster). It holds resource entries
// and the cross-node fences that keep fills from storing stale values, and
// it carries invalidations to every node's L1 (the cache is its Handler:
// InvalidateLocal, InvalidateResourceLocal, DropAll).
type Shared interface {
	// Usable reports whether the L2 may be read and written now; when it
	// may not (a shard unreachable, a failover settling), reads go L1 ->
	// origin.
	Usable() bool
	// Epoch returns the resource's fleet-wide epoch, and false while it is
	// unknown.
	Epoch(resource string) (uint64, bool)
	// Read returns key's encoded entry and its fence token, atomically.
	Read(ctx context.Context, key string) (SharedFetch, error)
	// Store stores data under key for ttl if no invalidation of key
	// happened, on any node, since f was read. It reports whether it did.
	Store(ctx context.Context, key string, f SharedFetch, data []byte, ttl time.Duration) (bool, error)
	// Invalidate fences key fleet-wide and deletes its entry; every node
	// evicts it from L1.
	Invalidate(ctx context.Context, key string) error
	// InvalidateResource moves the resource's fleet-wide epoch.
	InvalidateResource(ctx context.Context, name string) error
	// SharedKV holds the plain keys.
	SharedKV
	// Sync returns once every invalidation Redis had queued for this node
	// when Sync began has been handled.
	Sync(ctx context.Context) error
}

// SharedFetch is what Shared.Read returns.
type SharedFetch struct {
	Data  []byte
	Found bool
	// Token is the implementation's fence token, given back to Store.
	Token any
}

// sharedTimeout bounds the L2 calls the cache makes on behalf of clients
// (the implementation bounds each call too).
const sharedTimeout = time.Second

// Entries are stored in the L2 as a fixed header and the value:
//
//	version(1) flags(1) epoch(8) fresh_until(8) expire_at(8) stored_at(8) duration(8) value
//
// epoch is the resource's fleet-wide epoch the fill was made in; times are
// Unix nanoseconds on the filling node's clock.
const (
	sharedVersion   = 1
	sharedHeader    = 2 + 5*8
	sharedNegative  = 1
	sharedKindShift = 1
)

func encodeShared(e Entry, epoch uint64) []byte {
	b := make([]byte, sharedHeader, sharedHeader+len(e.Value))
	b[0] = sharedVersion
	if e.Fill.Negative {
		b[1] |= sharedNegative
	}
	b[1] |= byte(e.Fill.Kind) << sharedKindShift
	binary.BigEndian.PutUint64(b[2:], epoch)
	binary.BigEndian.PutUint64(b[10:], uint64(e.Fill.FreshUntil))
	binary.BigEndian.PutUint64(b[18:], uint64(e.ExpireAt))
	binary.BigEndian.PutUint64(b[26:], uint64(e.StoredAt))
	binary.BigEndian.PutUint64(b[34:], uint64(e.Fill.Duration))
	return append(b, e.Value...)
}

var errSharedFormat = errors.New("cache: malformed L2 entry")

// decodeShared decodes an L2 entry of resource rs; the Fill's local epoch
// is left for the caller.
func decodeShared(b []byte) (e Entry, epoch uint64, err error) {
	if len(b) < sharedHeader || b[0] != sharedVersion {
		return Entry{}, 0, errSharedFormat
	}
	f := &Fill{
		Negative:   b[1]&sharedNegative != 0,
		Kind:       FillKind(b[1] >> sharedKindShift),
		FreshUntil: int64(binary.BigEndian.Uint64(b[10:])),
		Duration:   time.Duration(binary.BigEndian.Uint64(b[34:])),
	}
	e = Entry{
		ExpireAt: int64(binary.BigEndian.Uint64(b[18:])),
		StoredAt: int64(binary.BigEndian.Uint64(b[26:])),
		Fill:     f,
	}
	if !f.Negative {
		v := b[sharedHeader:]
		e.Value = v[:len(v):len(v)]
	}
	return e, binary.BigEndian.Uint64(b[2:]), nil
}

// readShared looks key up in the L2 for a fill that took tok. It returns
// the fetch (whose token a later store needs; ok false when the L2 is not
// in use) and the entry when the L2 holds a fresh one of the current epoch.
func (c *Cache) readShared(rs *resState, key string) (f SharedFetch, ok bool, e Entry, hit bool) {
	if c.l2 == nil || !c.l2.Usable() {
		return SharedFetch{}, false, Entry{}, false
	}
	epoch, known := c.l2.Epoch(rs.r.Spec.Name)
	if !known {
		return SharedFetch{}, false, Entry{}, false
	}
	ctx, cancel := context.WithTimeout(c.rt.base, sharedTimeout)
	defer cancel()
	f, err := c.l2.Read(ctx, key)
	if err != nil {
		return SharedFetch{}, false, Entry{}, false
	}
	if !f.Found {
		return f, true, Entry{}, false
	}
	e, ep, err := decodeShared(f.Data)
	if err != nil || ep != epoch || c.now() >= e.Fill.FreshUntil {
		return f, true, Entry{}, false
	}
	return f, true, e, true
}

// storeShared stores a fill's entry in the L2, fenced by f's token.
func (c *Cache) storeShared(rs *resState, key string, f SharedFetch, e Entry) {
	// Not after Redis lost or changed something since the read: the
	// replays that restore fences run before the L2 is usable again.
	if !c.l2.Usable() {
		return
	}
	epoch, known := c.l2.Epoch(rs.r.Spec.Name)
	ttl := time.Duration(e.ExpireAt - c.now())
	if !known || ttl <= 0 || (!e.Fill.Negative && c.CheckValue(len(e.Value)) != nil) {
		return
	}
	if e.Fill.Negative && rs.r.Spec.NegativeTTL <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(c.rt.base, sharedTimeout)
	defer cancel()
	_, _ = c.l2.Store(ctx, key, f, encodeShared(e, epoch), ttl)
}

// InvalidateLocal removes key from this node's L1 and fences this node's
// fills of it, without telling the L2: the L2 calls it when another node
// invalidated (a resource key) or wrote (a plain key) key fleet-wide.
func (c *Cache) InvalidateLocal(key string) {
	if c.ResourceOf(key) != nil {
		c.invalidateL1(key)
		return
	}
	if s := c.shared; s != nil {
		s.evict(key)
		if h := c.remoteWrite.Load(); h != nil {
			(*h)(key)
		}
	}
}

// OnRemoteWrite installs fn, called with a plain key another node wrote
// (and with "" when this node may have missed such writes): RESP marks its
// WATCHers dirty with it. fn must be fast.
func (c *Cache) OnRemoteWrite(fn func(key string)) { c.remoteWrite.Store(&fn) }

// SyncRemote returns once every write of another node that Redis had
// acknowledged before the call has reached this node (OnRemoteWrite
// included). Alone, it returns at once.
func (c *Cache) SyncRemote(ctx context.Context) error {
	if c.l2 == nil {
		return nil
	}
	if err := c.l2.Sync(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// InvalidateResourceLocal is InvalidateLocal for a whole resource.
func (c *Cache) InvalidateResourceLocal(name string) {
	c.invalidateResourceL1(name)
}

// DropAll drops every resource entry of this node's L1 and fences every
// fill in flight: the L2 calls it when the node may have missed
// invalidations (a connection to Redis lost, masters changed).
func (c *Cache) DropAll(reason string) {
	if s := c.shared; s != nil {
		s.drop() // every plain copy stored so far is dead at once
		c.sweepPlain(s.dropped.Load())
		if h := c.remoteWrite.Load(); h != nil {
			(*h)("")
		}
	}
	if c.rt == nil {
		return
	}
	c.rt.bumpAll()
	c.sweepAsync(func(*Fill) bool { return true })
}

// sweepPlain frees the plain L1 copies stored at or before t, in the
// background (the cache's Close waits for it).
func (c *Cache) sweepPlain(t int64) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		c.l1.Each(func(k string) bool {
			c.l1.Compute(k, func(old Entry, found bool) (Entry, Op) {
				if found && old.Fill == nil && old.StoredAt <= t {
					return old, Remove
				}
				return old, Keep
			})
			return true
		})
	}()
}

// toShared runs an invalidation on the L2 (when there is one), bounded by
// sharedTimeout. A failure needs no handling here: the L2 counts it and
// replays the invalidation once Redis answers again.
func (c *Cache) toShared(op func(ctx context.Context) error) {
	if c.l2 == nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.rt.base, sharedTimeout)
	defer cancel()
	_ = op(ctx)
}
