package redis

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/testenv/rediscluster"
	"github.com/strata-cache/strata/internal/testenv/redisserver"
)

// recorder is a Handler that records what the feed said.
type recorder struct {
	mu        sync.Mutex
	keys      []string
	resources []string
	drops     []string
	notify    chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1024)} }

func (r *recorder) InvalidateLocal(key string) {
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.mu.Unlock()
	r.ping()
}

func (r *recorder) InvalidateResourceLocal(name string) {
	r.mu.Lock()
	r.resources = append(r.resources, name)
	r.mu.Unlock()
	r.ping()
}

func (r *recorder) DropAll(reason string) {
	r.mu.Lock()
	r.drops = append(r.drops, reason)
	r.mu.Unlock()
	r.ping()
}

func (r *recorder) ping() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) has(f func(*recorder) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(r)
}

// waitFor waits up to 10 s for cond.
func (r *recorder) waitFor(t *testing.T, what string, cond func(*recorder) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !r.has(cond) {
		select {
		case <-r.notify:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func testOptions(addrs []string) Options {
	return Options{Addrs: addrs, Prefix: "t:", Timeout: time.Second, FailoverSettle: 500 * time.Millisecond,
		ReplayWindow: 30 * time.Second, WatchInterval: 100 * time.Millisecond, Resources: []string{"users"}}
}

func open(t *testing.T, opts Options) (*L2, *recorder) {
	t.Helper()
	l, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	l.SetHandler(rec)
	t.Cleanup(l.Close)
	return l, rec
}

// fenceAndFeed checks, between two nodes, the cross-node fence and that an
// invalidation reaches the other node's handler.
func fenceAndFeed(t *testing.T, a, b *L2, recB *recorder) {
	ctx := context.Background()
	const key = "users:42"

	// A fill that took its token before another node's invalidation is
	// refused.
	f, err := a.ReadFill(ctx, key)
	if err != nil || f.Found {
		t.Fatalf("ReadFill on an empty key: %+v %v", f, err)
	}
	if err := b.Invalidate(ctx, key); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.StoreFill(ctx, key, f, []byte("v1"), time.Minute); ok || err != nil {
		t.Fatalf("StoreFill after another node's invalidation = %v, %v; want refused", ok, err)
	}
	// One that took it after is stored, and the other node reads it.
	f, _ = a.ReadFill(ctx, key)
	if ok, err := a.StoreFill(ctx, key, f, []byte("v2"), time.Minute); !ok || err != nil {
		t.Fatalf("StoreFill = %v, %v; want stored", ok, err)
	}
	got, err := b.ReadFill(ctx, key)
	if err != nil || !got.Found || string(got.Data) != "v2" {
		t.Fatalf("other node reads %+v %v; want v2", got, err)
	}

	// An invalidation by A reaches B's L1, and the entry is gone.
	start := time.Now()
	if err := a.Invalidate(ctx, key); err != nil {
		t.Fatal(err)
	}
	recB.waitFor(t, "the invalidation push on the other node", func(r *recorder) bool { return slices.Contains(r.keys, key) })
	t.Logf("invalidation reached the other node in %s", time.Since(start))
	if got, _ := b.ReadFill(ctx, key); got.Found {
		t.Fatal("the entry survived its invalidation")
	}

	// A resource-wide invalidation moves the epoch on every node.
	if err := a.InvalidateResource(ctx, "users"); err != nil {
		t.Fatal(err)
	}
	recB.waitFor(t, "the epoch push", func(r *recorder) bool { return slices.Contains(r.resources, "users") })
	deadline := time.Now().Add(10 * time.Second)
	for {
		ea, oka := a.Epoch("users")
		eb, okb := b.Epoch("users")
		if oka && okb && ea == eb && ea >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("epochs did not converge: a=%d,%v b=%d,%v", ea, oka, eb, okb)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Sync returns once queued pushes are handled, and the applied
	// position only moves forward.
	if err := a.PublishApplied(ctx, 0x20); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishApplied(ctx, 0x10); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Applied(ctx); err != nil || n != 0x20 {
		t.Fatalf("Applied = %#x, %v; want 0x20", n, err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStandalone(t *testing.T) {
	srv := redisserver.New(t, redisserver.Options{})
	a, _ := open(t, testOptions([]string{srv.Addr()}))
	b, recB := open(t, testOptions([]string{srv.Addr()}))
	if st := a.Stats(); st.Mode != "standalone" || !st.Usable {
		t.Fatalf("stats %+v", st)
	}
	fenceAndFeed(t, a, b, recB)
}

func TestCluster(t *testing.T) {
	c := rediscluster.New(t, rediscluster.Options{})
	a, _ := open(t, testOptions(c.Addrs()))
	b, recB := open(t, testOptions(c.Addrs()))
	if st := a.Stats(); st.Mode != "cluster" || !st.Usable {
		t.Fatalf("stats %+v", st)
	}
	fenceAndFeed(t, a, b, recB)
}

// TestLostInvalidationReplayed makes Redis lose an acknowledged
// invalidation in a failover (the replica is cut off while its master takes
// the write, then the master dies) and checks that the node that wrote it
// replays it onto the promoted replica, so the stale entry does not come
// back, and that every node dropped its L1 when its connection was lost.
func TestLostInvalidationReplayed(t *testing.T) {
	c := rediscluster.New(t, rediscluster.Options{})
	ctx := context.Background()
	opts := testOptions(c.Addrs())
	// A's watcher is driven by hand below, so that the state after the
	// failover and before the replay can be looked at.
	opts.manualWatch = true
	a, recA := open(t, opts)
	b, recB := open(t, testOptions(c.Addrs()))
	const key = "users:7"

	f, _ := a.ReadFill(ctx, key)
	if ok, err := a.StoreFill(ctx, key, f, []byte("stale"), time.Hour); !ok || err != nil {
		t.Fatalf("StoreFill = %v, %v", ok, err)
	}
	rc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs()})
	defer rc.Close()
	dataKey := a.dataKey(key)
	master, err := rc.MasterForKey(ctx, dataKey)
	if err != nil {
		t.Fatal(err)
	}
	masterAddr := master.Options().Addr
	replica := replicaOf(t, ctx, c, masterAddr)
	// Wait until the replica has the entry, then freeze it.
	rep := goredis.NewClient(&goredis.Options{Addr: replica})
	defer rep.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep.Do(ctx, "READONLY")
		if n, _ := rep.Exists(ctx, dataKey).Result(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica never received the entry")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Freeze the replica and cut its replication link, so the master
	// acknowledges the invalidation without it ever leaving the master
	// (a paused process would still receive bytes into its socket).
	if err := c.Pause(replica); err != nil {
		t.Fatal(err)
	}
	mc := goredis.NewClient(&goredis.Options{Addr: masterAddr})
	defer mc.Close()
	if err := mc.Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Invalidate(ctx, key); err != nil {
		t.Fatalf("Invalidate (acknowledged by the master): %v", err)
	}
	if err := c.Kill(masterAddr); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(replica); err != nil {
		t.Fatal(err)
	}
	recA.waitFor(t, "node A to drop its L1 on the lost connection", func(r *recorder) bool { return len(r.drops) > 0 })
	recB.waitFor(t, "node B to drop its L1 on the lost connection", func(r *recorder) bool { return len(r.drops) > 0 })
	if b.Usable() {
		t.Error("node B still uses the L2 right after losing a shard")
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := c.WaitHealthy(wctx); err != nil {
		t.Fatal(err)
	}
	// The promoted replica never saw the invalidation: the stale entry
	// is back in Redis. This is the loss the replay exists for.
	rc.ReloadState(ctx)
	lost := false
	for i := 0; i < 100 && !lost; i++ {
		if v, err := rc.Get(ctx, dataKey).Result(); err == nil && v == "stale" {
			lost = true
			break
		}
		time.Sleep(50 * time.Millisecond)
		rc.ReloadState(ctx)
	}
	if !lost {
		t.Fatal("the failover did not lose the invalidation; the test did not set up what it tests")
	}
	// A notices the new masters, replays, and trusts the L2 again.
	deadline = time.Now().Add(60 * time.Second)
	for !a.Usable() {
		if time.Now().After(deadline) {
			t.Fatalf("node A never trusted the L2 again: %+v", a.Stats())
		}
		a.round()
		time.Sleep(100 * time.Millisecond)
	}
	if got, err := a.ReadFill(ctx, key); err != nil || got.Found {
		t.Fatalf("after the replay the entry is %+v, %v; want gone", got, err)
	}
	st := a.Stats()
	if st.Replayed == 0 || st.MasterChanges == 0 || st.FeedLosses == 0 {
		t.Errorf("stats %+v: want replayed, master change and feed loss counted", st)
	}
	t.Logf("node A: %+v", st)
	deadline = time.Now().Add(60 * time.Second)
	for !b.Usable() {
		if time.Now().After(deadline) {
			t.Fatalf("node B never trusted the L2 again: %+v", b.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("node B: %+v", b.Stats())
	if err := c.Restart(ctx, masterAddr); err != nil {
		t.Fatal(err)
	}
}

// replicaOf returns the address of the replica of the master at addr.
func replicaOf(t *testing.T, ctx context.Context, c *rediscluster.Cluster, addr string) string {
	t.Helper()
	cl := goredis.NewClient(&goredis.Options{Addr: addr})
	defer cl.Close()
	id, err := cl.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cl.Do(ctx, "CLUSTER", "REPLICAS", id).StringSlice()
	if err != nil || len(out) == 0 {
		t.Fatalf("CLUSTER REPLICAS %s: %v %v", id, out, err)
	}
	// "<id> <ip:port@cport> ..."
	var f []string
	for _, w := range splitFields(out[0]) {
		f = append(f, w)
	}
	hp := f[1]
	for i := range hp {
		if hp[i] == '@' {
			hp = hp[:i]
			break
		}
	}
	return hp
}

func splitFields(s string) []string {
	var out []string
	cur := ""
	for _, r := range s {
		if r == ' ' {
			if cur != "" {
				out = append(out, cur)
			}
			cur = ""
			continue
		}
		cur += string(r)
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}
